# Shared helpers for the SD-card image scripts (build-image.sh, make-standin-image.sh,
# test-image.sh). Sourced, not run. Everything that attaches a loop device or mounts something
# registers its own undo step first, so a failure at any point (or Ctrl-C) leaves no loop
# device, mount or half-written output behind: the undo steps run in reverse on every exit.
# shellcheck shell=bash

_cleanups=()

# Register a command (one string, eval'd) to run when the script exits, newest first.
on_exit() { _cleanups+=("$1"); }

# Forget the newest registered step whose text is exactly $1 (after it was done by hand).
drop_exit() {
  local i
  for (( i=${#_cleanups[@]}-1; i>=0; i-- )); do
    if [ "${_cleanups[$i]}" = "$1" ]; then unset '_cleanups[i]'; _cleanups=("${_cleanups[@]}"); return; fi
  done
}

# Run a registered step now and forget it (an orderly unmount in the middle of a script).
undo_now() { eval "$1"; drop_exit "$1"; }

# Run and forget every step registered after the step $1, newest first (e.g. prepare_chroot's
# mounts before a tree is packed or a loop device detached).
undo_after() {
  while [ ${#_cleanups[@]} -gt 0 ] && [ "${_cleanups[${#_cleanups[@]}-1]}" != "$1" ]; do
    undo_now "${_cleanups[${#_cleanups[@]}-1]}"
  done
}

_run_cleanups() {
  local status=$? i
  trap - EXIT INT TERM
  for (( i=${#_cleanups[@]}-1; i>=0; i-- )); do
    eval "${_cleanups[$i]}" || echo "cleanup step failed: ${_cleanups[$i]}" >&2
  done
  _cleanups=()
  exit "$status"
}
trap _run_cleanups EXIT
# A signal becomes an ordinary exit, so the EXIT trap does the cleanup exactly once.
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "${0##*/}: $*" >&2; exit 1; }

# The Debian releases the stand-in images are built from, each with the Python its python3 is:
# trixie (Debian 13, under Raspberry Pi OS now; the default) and bookworm (Debian 12, the one before).
SUITES="trixie bookworm"
# shellcheck disable=SC2034  # read by the scripts that source this file
DEFAULT_SUITE=trixie
suite_python() {  # suite_python SUITE: its Python version (3.13), or fail for an unknown suite
  case $1 in trixie) echo 3.13 ;; bookworm) echo 3.11 ;; *) return 1 ;; esac
}
# check_suite SUITE: exit 2 with a clear message unless SUITE is one of $SUITES.
check_suite() {
  suite_python "$1" >/dev/null || { echo "${0##*/}: unknown suite '$1' (one of: $SUITES)" >&2; exit 2; }
}

# Install the Debian packages (host side) that are missing, the way check-aarch64.sh does.
need_packages() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  echo "installing host packages: ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# Let the kernel run aarch64 binaries through qemu-user (chroot into an arm64 tree).
enable_binfmt() {
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "qemu-aarch64 binfmt handler not registered (qemu-user-static, binfmt-support)"
}

# The Debian mirror this machine already uses (so no script names a host of its own).
host_mirror() {
  awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security | head -1
}

# attach_image IMG: a loop device with partition nodes for IMG, detached on exit. Sets LOOP.
attach_image() {
  LOOP=$(losetup -P -f --show "$1")
  on_exit "_detach $LOOP"
  # The partition nodes appear asynchronously. Some kernels (this VM's) do not parse the MBR
  # themselves: then partx reads it and adds the partitions.
  local tries=100
  until [ -b "${LOOP}p2" ]; do
    (( tries-- > 0 )) || die "partitions of $1 did not appear on $LOOP"
    [ "$tries" != 90 ] || partx -a "$LOOP" 2>/dev/null || true
    sleep 0.1
  done
}
_detach() { partx -d "$1" 2>/dev/null || true; losetup -d "$1"; }

# mount_image LOOP DIR: the root partition (p2) at DIR and the boot partition (p1) at
# DIR/boot/firmware, as Raspberry Pi OS (bookworm and trixie) mounts them; both released on exit.
mount_image() {
  local loop=$1 dir=$2 q
  mkdir -p "$dir"
  mount "${loop}p2" "$dir"
  q=$(printf %q "$dir")
  on_exit "umount $q || umount -l $q"
  mkdir -p "$dir/boot/firmware"
  _attach_boot "${loop}p1" "$dir/boot/firmware"
  on_exit "_release_boot ${loop}p1 $q/boot/firmware"
}

# The boot partition is FAT. Where the kernel has no FAT driver (some VMs and containers, this
# one among them) its files are staged instead: copied with mtools into the (empty) mount point
# in the root tree, and on release written back and removed from the root tree. Scripts see
# the same /boot/firmware either way.
export MTOOLS_SKIP_CHECK=1
# mtools on a partition device warns that it has no floppy geometry: harmless, filtered.
_mt() { "$@" 2> >(grep -v '^Could not get geometry' >&2); }
_attach_boot() {  # _attach_boot PARTITION DIR
  if grep -qw vfat /proc/filesystems && mount -t vfat "$1" "$2"; then return; fi
  need_packages mtools
  [ -z "$(ls -A "$2")" ] || die "$2 is not empty: cannot stage the boot partition there"
  if [ -n "$(mdir -b -i "$1" ::/ 2>/dev/null)" ]; then
    _mt mcopy -s -p -m -n -i "$1" '::*' "$2/" || die "could not read the boot partition $1 with mtools"
  fi
  touch "$2/.foley-staged-fat"
}
_release_boot() {  # _release_boot PARTITION DIR: unmount, or write the staged files back
  if [ ! -e "$2/.foley-staged-fat" ]; then
    umount "$2" || umount -l "$2"
    return
  fi
  rm -f "$2/.foley-staged-fat"
  local entry
  while IFS= read -r entry; do
    case $entry in */) _mt mdeltree -i "$1" "${entry%/}" ;; *) _mt mdel -i "$1" "$entry" ;; esac
  done < <(mdir -b -i "$1" ::/ 2>/dev/null)
  while IFS= read -r -d '' entry; do
    _mt mcopy -s -p -m -i "$1" "$entry" ::/ || { echo "could not write $entry back to the boot partition $1" >&2; return 1; }
  done < <(find "$2" -mindepth 1 -maxdepth 1 -print0)
  find "$2" -mindepth 1 -delete
}

# prepare_chroot DIR: what apt, dpkg and systemctl need inside an arm64 tree under qemu-user:
# a fresh /proc (not the host's bind-mounted /proc and /sys — ONNX Runtime segfaults under
# qemu-user with those, see DESIGN.md), the host's /dev, the host's resolv.conf for apt, and a
# policy-rc.d so package scripts start no daemons in the chroot. All undone on exit.
prepare_chroot() {
  local dir=$1 q
  q=$(printf %q "$dir")
  mount -t proc proc "$dir/proc"
  on_exit "umount $q/proc || umount -l $q/proc"
  mount --bind /dev "$dir/dev"
  on_exit "umount $q/dev || umount -l $q/dev"
  if [ -e "$dir/etc/resolv.conf" ] || [ -L "$dir/etc/resolv.conf" ]; then
    mv "$dir/etc/resolv.conf" "$dir/etc/resolv.conf.foley-build"
    on_exit "rm -f $q/etc/resolv.conf; mv $q/etc/resolv.conf.foley-build $q/etc/resolv.conf"
  else
    on_exit "rm -f $q/etc/resolv.conf"
  fi
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  if [ ! -e "$dir/usr/sbin/policy-rc.d" ]; then
    printf '#!/bin/sh\n# build-time only: no daemons start inside the image chroot\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    on_exit "rm -f $q/usr/sbin/policy-rc.d"
  fi
}

# unmount_image DIR / detach_image: undo mount_image and attach_image now, in order, e.g. before
# compressing the image file.
unmount_image() {
  local q
  q=$(printf %q "$1")
  sync
  undo_now "_release_boot ${LOOP}p1 $q/boot/firmware"
  undo_now "umount $q || umount -l $q"
}
detach_image() { undo_now "_detach $LOOP"; }
