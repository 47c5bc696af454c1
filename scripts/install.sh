#!/usr/bin/env bash
# Installs the Foley appliance onto Raspberry Pi OS (64-bit, Debian trixie or bookworm based) or
# Debian; the venv is made with the system's python3 (3.13 on trixie, 3.11 on bookworm).
#
# Usage: sudo scripts/install.sh [--wheels DIR] [--no-start]
#   --wheels DIR  install the Python packages offline from the wheels in DIR (pip --no-index);
#                 without it they come from the package index (network needed)
#   --no-start    enable the services but do not start them (automatic in a chroot, where
#                 build-image.sh runs this script, and wherever systemd is not running)
#
# What it sets up, each step only when it is not already so (a second run changes nothing):
#   Debian packages   python3, python3-venv, libgomp1, avahi-daemon, libportaudio2 (+ on Raspberry Pi OS:
#                     python3-picamera2, python3-gpiozero, python3-lgpio)
#   user              foley (system user), in the groups foley, video, gpio, audio
#   /opt/foley/src    this source tree (models and sound library included)
#   /opt/foley/venv   a venv with --system-site-packages (picamera2 comes from apt) holding the
#                     project and the versions in scripts/requirements-pinned.txt
#   /etc/foley/config.yaml   written only if absent (service on port 80); checked either way
#   /etc/systemd/system      foley-web, foley-capture, foley-firstboot units, enabled
#   /usr/local/bin/foley     the command for a shell on the board (scripts/foley-shell.sh)
# User data lives in /var/lib/foley (created by systemd, StateDirectory=). scripts/uninstall.sh
# removes all of this again.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

src=$(cd "$(dirname "$0")/.." && pwd)
wheels=""
start=auto
while [ $# -gt 0 ]; do
  case $1 in
    --wheels)
      [ $# -ge 2 ] || { echo "install: --wheels needs a folder" >&2; exit 2; }
      wheels=$2; shift ;;
    --wheels=*) wheels=${1#--wheels=} ;;
    --no-start) start=no ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$wheels" ]; then
  [ -d "$wheels" ] || { echo "install: --wheels $wheels: no such folder" >&2; exit 2; }
  wheels=$(cd "$wheels" && pwd)
fi
[ "$(id -u)" = 0 ] || die "needs root (sudo $0 $*)"
if [ ! -f "$src/setup.py" ] || [ ! -d "$src/appliance" ] || [ ! -d "$src/systemd" ]; then
  die "$src is not the appliance's source tree"
fi

prefix=/opt/foley
venv=$prefix/venv
dest=$prefix/src
config=/etc/foley/config.yaml
units=(foley-web.service foley-capture.service foley-firstboot.service)
changed=0   # anything the running services would have to pick up (decides restart vs start)

# Starting services only makes sense on a running system: not in a chroot (an image being
# built) and not where systemd is not PID 1.
if [ "$start" = auto ]; then
  if systemd-detect-virt --chroot --quiet 2>/dev/null || [ ! -d /run/systemd/system ]; then
    start=no
  else
    start=yes
  fi
fi

# --- Debian packages -----------------------------------------------------------------------
# python3-venv: the venv; libgomp1: ONNX Runtime's OpenMP; avahi-daemon: the board answers as
# HOSTNAME.local; libportaudio2: `foley live` plays through PortAudio (python-sounddevice). The capture daemon's Pi libraries — python3-picamera2 (CSI camera),
# python3-gpiozero with python3-lgpio (record button) — come from Raspberry Pi OS's archive and
# reach the venv through its system site packages; they are added only where that archive is
# (Debian has no picamera2 or lgpio; without them the daemon runs without CSI camera or button).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
has_candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -qv '(none)'; }
missing=()
for pkg in python3 python3-venv libgomp1 avahi-daemon libportaudio2; do installed "$pkg" || missing+=("$pkg"); done
# apt's lists are refreshed only when something is missing (an offline re-run needs no network).
[ ${#missing[@]} -eq 0 ] || apt-get update -qq || die "apt-get update failed (network?); needed: ${missing[*]}"
if installed python3-picamera2 || has_candidate python3-picamera2; then
  for pkg in python3-picamera2 python3-gpiozero python3-lgpio; do
    if ! installed "$pkg" && has_candidate "$pkg"; then missing+=("$pkg"); fi
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- user and groups -------------------------------------------------------------------------
# The units run as foley with SupplementaryGroups video, gpio (capture) and audio (web): a group that does not exist
# stops the unit from starting, so missing ones (gpio on plain Debian) are made system groups.
for group in video gpio audio; do
  getent group "$group" >/dev/null || { say "creating system group $group"; groupadd --system "$group"; }
done
if ! getent passwd foley >/dev/null; then
  say "creating system user foley"
  # The group foley survives `uninstall.sh` when it still has other members; reuse it then.
  if getent group foley >/dev/null; then group_opt=(--gid foley); else group_opt=(--user-group); fi
  useradd --system "${group_opt[@]}" --home-dir /var/lib/foley --no-create-home \
    --shell /usr/sbin/nologin --comment "Foley appliance" foley
fi
current=" $(id -nG foley) "
for group in video gpio audio; do
  case $current in *" $group "*) ;; *) usermod -a -G "$group" foley; say "added foley to group $group" ;; esac
done

# --- the source tree -------------------------------------------------------------------------
# /opt/foley/src is what the units point at (FOLEY_MODELS_DIR=/opt/foley/src/models). A new copy
# is staged next to it and swapped in only when its content differs.
source_files() {
  # A git checkout: its tracked and untracked-but-not-ignored files (no .venv, caches, fp32
  # models). Otherwise (a tarball, or the copy build-image.sh stages) everything but known junk.
  if [ -e "$src/.git" ] && command -v git >/dev/null; then
    git -c safe.directory="$src" -C "$src" ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [ -e "$src/$f" ]; then printf '%s\0' "$f"; fi; done
  else
    (cd "$src" && find . \( -name .git -o -name .venv -o -name .cache -o -name __pycache__ \
      -o -name '*.egg-info' -o -name build -o -name dist -o -name .pytest_cache -o -name .state \
      -o -name test-artifacts \) -prune -o \( -type f -o -type l \) -printf '%P\0')
  fi
}
check_config() {  # $1: the appliance source tree whose loader judges $config; its one-line reason on stderr.
  # Exit 3: that tree's loader cannot run in this venv (a dependency it adds is not installed yet).
  # No bytecode: a __pycache__ left in the tree would make the next run see a changed source.
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$1" "$venv/bin/python" -B - "$config" <<'PY'
import sys
from pathlib import Path

try:
    from appliance.config import load_config
    from appliance.errors import UsageError
except ImportError as exc:
    print(f"(the config is checked after the install: {exc})", file=sys.stderr)
    sys.exit(3)
try:
    load_config(Path(sys.argv[1]))
except UsageError as exc:
    sys.exit(str(exc))
PY
}
if [ "$src" != "$dest" ]; then
  # Compared in a scratch folder first, so a run with nothing new touches nothing under $prefix.
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  source_files | (cd "$src" && tar --null -T - -cf -) | tar -C "$scratch" --no-same-owner -xf -
  chmod -R u+rwX,go+rX,go-w "$scratch"
  if [ -d "$dest" ] && diff -r --no-dereference -q "$dest" "$scratch" >/dev/null 2>&1; then
    :
  else
    # An upgrade: the kept config is checked by the new code before anything is swapped, so a
    # config the new version refuses leaves the board as it was (and running), not half-upgraded.
    if [ -f "$config" ] && [ -x "$venv/bin/python" ]; then
      checked=0
      check_config "$scratch" || checked=$?
      [ "$checked" = 0 ] || [ "$checked" = 3 ] ||
        die "$config is not valid for the version being installed (message above): fix it, then run this again; nothing was changed"
    fi
    say "installing the source tree in $dest"
    mkdir -p "$prefix"
    stage=$prefix/src.new
    rm -rf "$stage" "$dest.old"
    cp -a "$scratch" "$stage"  # on the same file system as $dest: the swap below is two renames
    [ ! -d "$dest" ] || mv "$dest" "$dest.old"
    mv "$stage" "$dest"
    rm -rf "$dest.old"
    changed=1
  fi
  rm -rf "$scratch"
  trap - EXIT
fi

# --- the venv --------------------------------------------------------------------------------
# --system-site-packages: picamera2 and libcamera only come from Raspberry Pi OS's apt archive.
# A venv of another Python (after a distribution upgrade) is rebuilt.
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$pyver" ]; then
  :
else
  say "creating the venv $venv (Python $pyver, with system site packages)"
  rm -rf "$venv"
  python3 -m venv --system-site-packages "$venv"
  changed=1
fi

# pip runs only when the source (pins included) or the Python changed since the last install: a
# fingerprint of them is kept in the venv.
stamp=$venv/.foley-installed
fingerprint=$( { echo "python $pyver"; cd "$dest" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } |
               sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/foley" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
  :
else
  pip_args=(--quiet --disable-pip-version-check --no-cache-dir -c "$dest/scripts/requirements-pinned.txt")
  if [ -n "$wheels" ]; then
    say "installing the appliance and its pinned dependencies from $wheels (offline)"
    pip_args+=(--no-index --find-links "$wheels")
  else
    say "installing the appliance and its pinned dependencies from the package index"
  fi
  # pip builds in the tree it is given (build/, *.egg-info): build from a scratch copy of what
  # the package needs, so /opt/foley/src stays exactly the installed source.
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  cp -a "$dest/setup.py" "$dest/pyproject.toml" "$dest/README.md" "$dest/appliance" "$build/"
  "$venv/bin/pip" install "${pip_args[@]}" "$build"
  rm -rf "$build"
  trap - EXIT
  echo "$fingerprint" > "$stamp"
  changed=1
fi

# --- configuration ---------------------------------------------------------------------------
# Written once; the user's edits are never overwritten. Checked on every run with the appliance's
# own loader, so a typo is reported here rather than as a service that keeps restarting.
if [ ! -e "$config" ]; then
  say "writing $config"
  install -d /etc/foley
  cat > "$config" <<'EOF'
# Foley appliance settings. Every key is optional: the defaults and what each key means are in
# /opt/foley/src/appliance/config.py. An unknown key stops the service with a message in
# `journalctl -u foley-web`. After a change: sudo systemctl restart foley-web foley-capture
service:
  port: 80          # the page and the API: http://foley.local/
EOF
  changed=1
fi
# Readable by the service, not by every user (on every run: earlier installs wrote 0644): a
# fleet's redis_url and frontend_token go in this file.
chown root:foley /etc/foley "$config"
chmod 750 /etc/foley
chmod 640 "$config"
check_config "$dest" || die "$config is not valid (message above): fix it, or move it away and run this again"

# --- systemd units ---------------------------------------------------------------------------
units_changed=0
for unit in "${units[@]}"; do
  if ! cmp -s "$dest/systemd/$unit" "/etc/systemd/system/$unit"; then
    say "installing /etc/systemd/system/$unit"
    install -m 644 "$dest/systemd/$unit" "/etc/systemd/system/$unit"
    units_changed=1
    changed=1
  fi
done
[ "$start" = no ] || [ "$units_changed" = 0 ] || systemctl daemon-reload

# --- the command for a shell on the board ------------------------------------------------------
# Not over another program's foley: only where there is none, or ours (uninstall.sh's test).
if [ -e /usr/local/bin/foley ] && ! grep -qs "scripts/install.sh installs this" /usr/local/bin/foley; then
  say "left /usr/local/bin/foley alone: it is not ours (the command is /opt/foley/venv/bin/foley)"
elif ! cmp -s "$dest/scripts/foley-shell.sh" /usr/local/bin/foley; then
  say "installing /usr/local/bin/foley"
  install -D -m 755 "$dest/scripts/foley-shell.sh" /usr/local/bin/foley
fi
# Enabling is idempotent (no output, no change when already enabled). foley-firstboot stays
# enabled: it runs only on a boot that finds /boot/firmware/foley.txt (which it then renames).
systemctl enable --quiet avahi-daemon.service "${units[@]}"

if [ "$start" = yes ]; then
  if [ "$changed" = 1 ]; then
    say "restarting foley-web and foley-capture"
    systemctl restart foley-web.service
    systemctl restart foley-capture.service || say "foley-capture did not start (see: journalctl -u foley-capture)"
  else
    systemctl start foley-web.service foley-capture.service || true
  fi
  say "done: http://$(hostname).local/ (API token: sudo cat /var/lib/foley/api-token)"
else
  say "done (services enabled, not started: they start on the next boot)"
fi
