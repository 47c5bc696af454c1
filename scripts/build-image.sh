#!/usr/bin/env bash
# Builds a flashable SD-card image of the Foley appliance from a Raspberry Pi OS Lite (64-bit)
# image (trixie or bookworm based: the wheels follow its Python): foley-<version>-arm64.img.xz
# (and its .sha256) in the output folder.
#
# Usage: sudo scripts/build-image.sh BASE.img[.xz] [options]
#        sudo scripts/build-image.sh --url URL --sha256 SUM [options]
#   BASE              a Raspberry Pi OS Lite (64-bit) image (.img or .img.xz) on disk
#   --url URL         download the base image instead (only then is anything downloaded); it is
#   --sha256 SUM      checked against SUM (also allowed with BASE) and cached in .cache/image
#   --out DIR         where the image goes (default: dist/)
#   --wheels DIR      aarch64 wheels to install from (default: downloaded on this machine into
#                     .cache/aarch64/, for the Python version found in the base image)
#   --worktree        install the working tree as it is (uncommitted changes included) instead
#                     of the last commit; the version marker then says "dirty"
#   --check-reinstall also run install.sh a second time in the image and fail if it changed
#                     anything, then uninstall.sh and install.sh again (make test-image uses it)
#
# How: the base is copied, its root partition grown when it has less than 1 GiB free, both
# partitions loop-mounted (root at /, FAT boot at /boot/firmware as on the Pi), and
# scripts/install.sh run inside through qemu-user (binfmt) with the wheels, offline. Then the
# image is made generic: hostname foley (foley.local through avahi), a version marker in
# /etc/foley-release, no secrets (SSH host keys and machine-id are removed and made again on
# first boot; the API token is created by the service on its first start), and a commented
# foley.txt.example on the boot partition. Needs root, loop devices, about 2x the image size
# of free disk. Every mount and loop device is released on any exit, success or not.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
fail_usage() { echo "build-image: $*" >&2; echo "usage: build-image.sh BASE.img[.xz] | --url URL --sha256 SUM [--out DIR] (see --help)" >&2; exit 2; }

base="" url="" sha256="" out=$repo/dist wheels="" worktree=0 check_reinstall=0
while [ $# -gt 0 ]; do
  case $1 in
    --url|--sha256|--out|--wheels)
      [ $# -ge 2 ] || fail_usage "$1 needs a value"
      case $1 in --url) url=$2 ;; --sha256) sha256=$2 ;; --out) out=$2 ;; --wheels) wheels=$2 ;; esac
      shift ;;
    --worktree) worktree=1 ;;
    --check-reinstall) check_reinstall=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) fail_usage "unknown option $1" ;;
    *) [ -z "$base" ] || fail_usage "only one base image, got $base and $1"; base=$1 ;;
  esac
  shift
done

# --- arguments, checked before anything is touched ---------------------------------------------
if [ -n "$url" ] && [ -n "$base" ]; then fail_usage "give a base image path or --url, not both"; fi
if [ -z "$url" ] && [ -z "$base" ]; then fail_usage "no base image given"; fi
if [ -n "$url" ] && [ -z "$sha256" ]; then fail_usage "--url needs --sha256 (the download is checked against it)"; fi
if [ -n "$sha256" ]; then
  sha256=${sha256,,}
  [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || fail_usage "--sha256 must be 64 hex digits"
fi
name=${url:-$base}
name=${name%%\?*}
case $name in
  *.img.xz) ext=img.xz ;;
  *.img) ext=img ;;
  *) fail_usage "the base image must be a .img or .img.xz file: $name" ;;
esac
if [ -n "$base" ] && [ ! -f "$base" ]; then fail_usage "base image $base: no such file"; fi
if [ -n "$wheels" ] && [ ! -d "$wheels" ]; then fail_usage "--wheels $wheels: no such folder"; fi
[ "$(id -u)" = 0 ] || { echo "build-image: needs root (loop devices, mounts, chroot)" >&2; exit 1; }

# shellcheck source=scripts/lib/image.sh
. "$repo/scripts/lib/image.sh"
start=$(date +%s)
say() { printf '[build-image %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
cache=${FOLEY_IMAGE_CACHE:-$repo/.cache/image}   # downloaded base images, by sha256
mkdir -p "$cache" "$out"
out=$(cd "$out" && pwd)

# --- the base image --------------------------------------------------------------------------
verify() {  # verify FILE: its sha256 is the expected one, else it is deleted
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    rm -f "$1"
    die "sha256 mismatch for ${url:-$base}: expected $sha256, got $got"
  fi
}
if [ -n "$url" ]; then
  base=$cache/base-$sha256.$ext
  if [ ! -f "$base" ]; then
    say "downloading $url"
    part=$base.part
    on_exit "rm -f $(printf %q "$part")"
    curl -fL --retry 3 -o "$part" "$url" || die "download of $url failed"
    mv "$part" "$base"
  fi
  verify "$base"
elif [ -n "$sha256" ]; then
  got=$(sha256sum "$base" | cut -d' ' -f1)
  [ "$got" = "$sha256" ] || die "sha256 mismatch for $base: expected $sha256, got $got"
fi

need_packages qemu-user-static binfmt-support fdisk e2fsprogs dosfstools xz-utils
enable_binfmt

version=$(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$repo/appliance/__init__.py")
[ -n "$version" ] || die "no __version__ in appliance/__init__.py"
commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$worktree" = 1 ] && [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then commit="$commit-dirty"; fi
final=$out/foley-$version-arm64.img.xz

work=$(mktemp -d "$out/.build-XXXXXX")
# --one-file-system: should an unmount ever fail, never follow a mount (the host's /dev) out of it.
on_exit "rm -rf --one-file-system $(printf %q "$work")"
img=$work/foley.img
say "copying the base image $(basename "$base")"
if [ "$ext" = img.xz ]; then xz -dc -T2 "$base" > "$img"; else cp --sparse=always "$base" "$img"; fi

# --- room for the appliance ------------------------------------------------------------------
# The venv (ONNX Runtime, OpenCV, PyAV, numpy) and the source with models and sounds take about
# 0.5 GB; the real image's root partition has only a few hundred MB free. Partition 2 is the
# last one on the card (the Pi's first boot later grows it to the whole card).
need_mib=1024
attach_image "$img"
[ "$(sfdisk -d "$LOOP" | grep -c '^/dev')" = 2 ] || die "expected a boot and a root partition in $base"
free_mib=$(dumpe2fs -h "${LOOP}p2" 2>/dev/null | awk -F: '/^Free blocks/ {f=$2} /^Block size/ {b=$2} END {print int(f*b/1048576)}')
if [ "$free_mib" -lt "$need_mib" ]; then
  grow=$(( need_mib - free_mib + 128 ))
  say "growing the root partition by $grow MiB (it has $free_mib MiB free)"
  detach_image
  truncate -s "+${grow}M" "$img"
  echo ", +" | sfdisk --quiet --no-reread -N 2 "$img"
  attach_image "$img"
  e2fsck -f -y "${LOOP}p2" >/dev/null || [ $? -le 1 ] || die "e2fsck found errors it could not fix on the root partition"
  resize2fs "${LOOP}p2" >/dev/null 2>&1
fi

root=$work/root
mount_image "$LOOP" "$root"
if [ ! -f "$root/etc/debian_version" ] || [ ! -d "$root/usr/lib/aarch64-linux-gnu" ]; then
  die "$base does not look like a Debian-based arm64 system"
fi
[ -x "$root/usr/bin/python3" ] || die "the base image has no /usr/bin/python3 (Raspberry Pi OS Lite has)"
prepare_chroot "$root"
pyver=$(chroot "$root" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
say "base: $(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' "$root/etc/os-release"), Python $pyver"

# --- wheels (downloaded here, on this machine; the chroot installs offline) -------------------
if [ -z "$wheels" ]; then
  wheels=$repo/.cache/aarch64/wheels-cp${pyver/./}-pinned
  py=${PYTHON:-$repo/.venv/bin/python}
  [ -x "$py" ] || py=python3
  # Every manylinux tag spelled out: with fewer, pip picks stale versions (DESIGN.md).
  platforms=()
  for v in 39 38 37 36 35 34 33 32 31 30 29 28 27 26 17; do platforms+=(--platform "manylinux_2_${v}_aarch64"); done
  platforms+=(--platform manylinux2014_aarch64)
  say "downloading the pinned aarch64 wheels for Python $pyver into $wheels"
  mkdir -p "$wheels"
  # setuptools and wheel: pip builds the project itself from source in the chroot.
  "$py" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --python-version "$pyver" \
    "${platforms[@]}" -d "$wheels" -r "$repo/scripts/requirements-pinned.txt" setuptools wheel
fi

# --- install inside the image ----------------------------------------------------------------
stage=$root/tmp/foley-build
on_exit "rm -rf --one-file-system $(printf %q "$stage")"
mkdir -p "$stage/src" "$stage/wheels"
if [ "$worktree" = 1 ]; then
  git -C "$repo" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do if [ -e "$repo/$f" ]; then printf '%s\0' "$f"; fi; done |
    (cd "$repo" && tar --null -T - -cf -) | tar -C "$stage/src" -xf -
else
  git -C "$repo" archive HEAD | tar -C "$stage/src" -xf -
fi
cp "$wheels"/*.whl "$stage/wheels/"
in_image() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
say "running install.sh in the image (qemu-user: a few minutes)"
in_image /bin/bash /tmp/foley-build/src/scripts/install.sh --wheels /tmp/foley-build/wheels --no-start

if [ "$check_reinstall" = 1 ]; then
  # What install.sh owns: every file's path, mode, owner, size, mtime (tab-separated: paths may
  # hold spaces) and checksum.
  snapshot() {
    (cd "$root" && find opt/foley etc/foley etc/systemd/system -xdev -printf '%p\t%m\t%U:%G\t%s\t%T@\t%l\n' | LC_ALL=C sort
     cd "$root" && find opt/foley etc/foley etc/systemd/system -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
     grep -h '^foley:\|^gpio:\|^video:\|^audio:' etc/passwd etc/group)
  }
  snapshot > "$work/first.txt"
  say "install.sh a second time: must change nothing"
  in_image /bin/bash /tmp/foley-build/src/scripts/install.sh --wheels /tmp/foley-build/wheels --no-start
  snapshot > "$work/second.txt"
  diff -u "$work/first.txt" "$work/second.txt" >&2 || die "the second install.sh run changed the files above"
  say "uninstall.sh: removes the appliance, keeps /etc/foley"
  in_image /bin/bash /opt/foley/src/scripts/uninstall.sh
  if [ -e "$root/opt/foley" ] || [ -e "$root/etc/systemd/system/foley-web.service" ]; then die "uninstall.sh left files behind"; fi
  ! grep -q '^foley:' "$root/etc/passwd" || die "uninstall.sh left the user foley"
  [ -f "$root/etc/foley/config.yaml" ] || die "uninstall.sh removed /etc/foley/config.yaml (user data)"
  say "install.sh again after uninstall.sh: must give the same files"
  in_image /bin/bash /tmp/foley-build/src/scripts/install.sh --wheels /tmp/foley-build/wheels --no-start
  # A reinstall writes new files: compare without mtimes, and without what pip makes per build
  # (compiled .pyc embed the source mtime; direct_url.json names the temporary build folder).
  comparable() { grep -v -e '\.pyc$' -e $'\\.pyc\t' -e 'direct_url.json' -e '/RECORD' "$1" | awk -F'\t' -v OFS='\t' '{ if (NF >= 5) $5 = ""; print }'; }
  diff -u <(comparable "$work/first.txt") <(snapshot > "$work/third.txt"; comparable "$work/third.txt") >&2 \
    || die "install.sh after uninstall.sh gave other files than the first install"
fi

# --- make it the appliance, and generic -------------------------------------------------------
say "hostname foley, first-boot units, version marker, no secrets"
echo foley > "$root/etc/hostname"
sed -i '/^127\.0\.1\.1/d' "$root/etc/hosts"
printf '127.0.1.1\tfoley\n' >> "$root/etc/hosts"
install -m 644 "$repo/scripts/image/foley-sshkeys.service" "$root/etc/systemd/system/foley-sshkeys.service"
in_image systemctl enable --quiet foley-sshkeys.service
# An empty machine-id makes this boot a "first boot" for systemd, which then starts
# systemd-firstboot's interactive prompts (locale, timezone) on the console and waits there —
# a headless board would hang. Raspberry Pi OS configures those itself; mask the prompt.
if [ -e "$root/lib/systemd/system/systemd-firstboot.service" ]; then
  ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
fi
cat > "$root/etc/foley-release" <<EOF
FOLEY_VERSION=$version
FOLEY_COMMIT=$commit
FOLEY_BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
FOLEY_BASE=$(basename "${url:-$base}")
EOF
install -m 644 "$repo/scripts/image/foley.txt.example" "$root/boot/firmware/foley.txt.example"
[ ! -e "$root/boot/firmware/foley.txt" ] || die "the base image has an active /boot/firmware/foley.txt: refusing to ship it"

# No secrets and nothing unique to this build: every board makes its own on first boot.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
[ -L "$root/var/lib/dbus/machine-id" ] || rm -f "$root/var/lib/dbus/machine-id"
rm -f "$root/var/lib/systemd/random-seed"
rm -f "$root/var/lib/foley/api-token" "$root/etc/foley/api-token"
in_image apt-get clean
rm -rf "$root/root/.cache/pip" "$root/tmp/foley-build"
if find "$root/var/lib/foley" "$root/etc/foley" "$root/opt/foley" -name api-token 2>/dev/null | grep -q .; then
  die "an API token ended up in the image"
fi

# --- pack ------------------------------------------------------------------------------------
# Freed blocks (the staged wheels) hold old data; discarding them on the loop device turns them
# into holes, which compress to nothing.
fstrim "$root" 2>/dev/null || true
fstrim "$root/boot/firmware" 2>/dev/null || true
say "unmounting"
# Undo what was set up after the loop device, newest first (chroot mounts, then the partitions).
sync
undo_after "_detach $LOOP"
e2fsck -f -y "${LOOP}p2" >/dev/null 2>&1 || [ $? -le 1 ] || die "the root file system has errors after the build"
detach_image
say "compressing to $(basename "$final") (xz -T2)"
xz -T2 -c "$img" > "$work/out.img.xz"
rm -f "$img"
mv "$work/out.img.xz" "$final"
(cd "$out" && sha256sum "$(basename "$final")" > "$(basename "$final").sha256")
say "done: $final ($(du -h "$final" | cut -f1)); version $version, commit $commit"
