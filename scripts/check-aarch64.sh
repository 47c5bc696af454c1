#!/usr/bin/env bash
# Checks the appliance on aarch64 without a Pi: a Debian arm64 root filesystem (trixie with
# Python 3.13, or bookworm with 3.11 when SUITE=bookworm; mmdebstrap + qemu-user-static, cached),
# the project installed there from aarch64 wheels for that Python at the versions the board gets
# (scripts/requirements-pinned.txt, as install.sh and build-image.sh use), `foley doctor` run under
# emulation, and both encoders' outputs compared with this machine's on fixed inputs
# (cosine >= 0.9999), and the events of a drawn scene (and of the clips of FOLEY_ARM64_CLIPS, a
# folder of real footage, when set) compared time for time. Needs root.
# Usage: [SUITE=trixie|bookworm] [FOLEY_ARM64_CLIPS=DIR] scripts/check-aarch64.sh
set -euo pipefail
case ${1:-} in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/image.sh
. "$repo/scripts/lib/image.sh"
suite=${SUITE:-$DEFAULT_SUITE}
check_suite "$suite"
pyver=$(suite_python "$suite")
cache=${FOLEY_ARM64_CACHE:-$repo/.cache/aarch64}
root=$cache/$suite-arm64
wheels=$cache/wheels-cp${pyver/./}-pinned
pins=$repo/scripts/requirements-pinned.txt
py=${PYTHON:-$repo/.venv/bin/python}
start=$(date +%s)
say() { printf '[check-aarch64 %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

need_packages qemu-user-static mmdebstrap arch-test binfmt-support
enable_binfmt
mirror=$(host_mirror)
[ -n "$mirror" ] || die "no Debian mirror found in the host's apt sources"

if [ ! -f "$root/.complete" ]; then
  say "building the arm64 root filesystem in $root (several minutes, cached afterwards)"
  rm -rf "$root"; mkdir -p "$root"
  # mmdebstrap: the host's apt resolves; only dpkg and the packages' scripts run under qemu-user
  # (debootstrap's emulated second stage took over an hour on trixie, scripts/make-standin-image.sh).
  mmdebstrap --mode=root --architectures=arm64 --variant=minbase \
    --include=python3,python3-venv,python3-pip,libgomp1 "$suite" "$root" "$mirror" >/dev/null
  touch "$root/.complete"
fi
say "root filesystem ready (Debian $suite, Python $pyver)"

# aarch64 wheels of the runtime dependencies (every manylinux tag spelled out, see DESIGN.md).
platforms=()
for v in 39 38 37 36 35 34 33 32 31 30 29 28 27 26 17; do platforms+=(--platform "manylinux_2_${v}_aarch64"); done
platforms+=(--platform manylinux2014_aarch64)
mapfile -t requirements < <("$py" - "$repo" <<'PY'
import ast, sys, pathlib
tree = ast.parse(pathlib.Path(sys.argv[1], "setup.py").read_text())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        for item in node.value.elts:
            print(item.value)
PY
)
mkdir -p "$wheels"
say "downloading aarch64 wheels (pinned by $(basename "$pins")): ${requirements[*]}"
"$py" -m pip download --quiet --only-binary=:all: --python-version "$pyver" "${platforms[@]}" \
  -c "$pins" -d "$wheels" "${requirements[@]}" setuptools wheel

say "installing the project into the arm64 venv"
rm -rf "$root/opt/foley-src" "$root/opt/wheels"
mkdir -p "$root/opt/foley-src"
git -C "$repo" ls-files -z --cached --others --exclude-standard | \
  (cd "$repo" && xargs -0 cp --parents -t "$root/opt/foley-src" 2>/dev/null || true)
cp -r "$wheels" "$root/opt/wheels"
chroot "$root" /bin/sh -ec '
  [ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
  /opt/venv/bin/pip install --quiet --no-index --find-links /opt/wheels \
    -c /opt/foley-src/scripts/requirements-pinned.txt /opt/foley-src
  /opt/venv/bin/python -m pip list --disable-pip-version-check 2>/dev/null | grep -iE "^(onnxruntime|opencv-python-headless|numpy|av) " || true
'
say "running foley doctor under qemu-aarch64"
chroot "$root" /usr/bin/env HOME=/root FOLEY_MODELS_DIR=/opt/foley-src/models \
  FOLEY_STATE_DIR=/tmp/foley-state /opt/venv/bin/foley doctor
clips=()
rm -rf "$root/tmp/foley-clips"
if [ -n "${FOLEY_ARM64_CLIPS:-}" ]; then
  mkdir -p "$root/tmp/foley-clips"
  for clip in "$FOLEY_ARM64_CLIPS"/*.mp4; do
    [ -f "$clip" ] || continue
    cp "$clip" "$root/tmp/foley-clips/"
    clips+=("$(basename "$clip")")
  done
  say "comparing the events of ${#clips[@]} clips of $FOLEY_ARM64_CLIPS too"
fi
chroot "$root" /usr/bin/env FOLEY_MODELS_DIR=/opt/foley-src/models FOLEY_STATE_DIR=/tmp/foley-state \
  /opt/venv/bin/python /opt/foley-src/scripts/encoder_fingerprint.py dump /tmp/arm64.json \
  "${clips[@]/#//tmp/foley-clips/}"
cp "$root/tmp/arm64.json" "$cache/arm64.json"
"$py" "$repo/scripts/encoder_fingerprint.py" dump "$cache/x86.json" "${clips[@]/#/$root/tmp/foley-clips/}"
"$py" "$repo/scripts/encoder_fingerprint.py" compare "$cache/x86.json" "$cache/arm64.json"
say "aarch64 check passed"
