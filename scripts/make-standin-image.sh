#!/usr/bin/env bash
# Builds a small Debian arm64 disk image that stands in for Raspberry Pi OS Lite (64-bit) in
# `make test-image`: Raspberry Pi OS is Debian (trixie now, bookworm before) with Raspberry Pi
# packages, and its image has the same shape — an MBR disk with a FAT32 boot partition (p1,
# mounted at /boot/firmware) and an ext4 root partition (p2). What differs: Debian's arm64
# kernel (bootable by qemu-system-aarch64 -M virt) instead of the Pi's kernel and firmware, and
# systemd-networkd (DHCP on the virtual NIC) instead of NetworkManager. The root partition is
# left nearly full, like the real image's, so build-image.sh has to grow it.
#
# Usage: scripts/make-standin-image.sh [--suite trixie|bookworm] [--force] [OUT.img]
#   --suite  the Debian release (default: $SUITE, else trixie, Python 3.13; bookworm has 3.11)
#   --force  rebuild OUT.img (an existing one is reused otherwise)
# Needs root. Default OUT: .cache/image/standin-SUITE-arm64.img
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/image.sh
. "$repo/scripts/lib/image.sh"

force=0 out="" suite=${SUITE:-$DEFAULT_SUITE}
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=1 ;;
    --suite)
      [ $# -ge 2 ] || { echo "make-standin-image.sh: --suite needs a name" >&2; exit 2; }
      suite=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done
check_suite "$suite"
out=${out:-$repo/.cache/image/standin-$suite-arm64.img}
if [ -f "$out" ] && [ "$force" = 0 ]; then
  echo "stand-in image (Debian $suite): $out (cached; --force rebuilds it)"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, loop devices, mounts)"
start=$(date +%s)
say() { printf '[standin %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

need_packages mmdebstrap arch-test qemu-user-static binfmt-support dosfstools fdisk e2fsprogs
enable_binfmt
mirror=$(host_mirror)
[ -n "$mirror" ] || die "no Debian mirror found in the host's apt sources"

mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")   # mmdebstrap wants absolute paths
cache=$(dirname "$out")
work=$(mktemp -d "$cache/.standin-XXXXXX")
# --one-file-system: should an unmount ever fail, never follow a mount (the host's /dev) out of it.
remove_work="rm -rf --one-file-system $(printf %q "$work")"
on_exit "$remove_work"
# The root tree is kept until the image is packed: building it under qemu-user takes long,
# a failure after it should not cost that again. One per suite, so a switch never mixes them.
root=$cache/standin-$suite-root
log=$cache/standin-$suite-mmdebstrap.log
label_id=0x0f01e700  # MBR disk identifier: partitions are PARTUUID=0f01e700-01 / -02, as on the Pi

# What Raspberry Pi OS Lite brings that the appliance relies on (python3, python3-venv,
# openssh-server, avahi-daemon, systemd as init), plus Debian's arm64 kernel for qemu.
# libgomp1 (ONNX Runtime's OpenMP) is left out on purpose: install.sh must add it with apt.
include=systemd,systemd-sysv,udev,dbus,kmod,linux-image-arm64,initramfs-tools,python3,python3-venv,openssh-server,avahi-daemon,iproute2,netbase,ca-certificates,dosfstools,e2fsprogs,sudo,procps
if [ ! -f "$root/.complete" ]; then
  rm -rf --one-file-system "$root"
  # mmdebstrap resolves and downloads with the host's apt; only dpkg and the packages' scripts
  # run under qemu-user. debootstrap's second stage ran its Perl resolver emulated, once per
  # package batch: ~25 min for bookworm, over an hour for trixie without getting through the base.
  say "mmdebstrap $suite arm64 (the packages' scripts under qemu-user; the kernel's initramfs is slow)"
  mmdebstrap --mode=root --architectures=arm64 --variant=minbase --include="$include" \
    "$suite" "$root" "$mirror" >"$log" 2>&1 \
    || { tail -20 "$log" >&2; die "mmdebstrap failed"; }
  [ -x "$root/usr/bin/python$(suite_python "$suite")" ] || die "no python$(suite_python "$suite") in $suite's root tree"
  # systemd-networkd is part of systemd in bookworm; a release that ships it as a package of its
  # own gets that package (the unit is what the DHCP set-up below enables).
  if ! compgen -G "$root/usr/lib/systemd/system/systemd-networkd.service" >/dev/null; then
    say "adding systemd-networkd (a package of its own in $suite)"
    prepare_chroot "$root"
    if ! { chroot "$root" apt-get update -qq &&
           chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
             systemd-networkd; } >>"$log" 2>&1; then
      tail -20 "$log" >&2; die "installing systemd-networkd failed"
    fi
    undo_after "$remove_work"  # the chroot's mounts and files go before the tree is packed
  fi

  say "configuring like Raspberry Pi OS (hostname, fstab, network)"
  echo raspberrypi > "$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\traspberrypi\n' > "$root/etc/hosts"
  cat > "$root/etc/fstab" <<EOF
proc            /proc           proc    defaults          0       0
PARTUUID=${label_id#0x}-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=${label_id#0x}-02  /               ext4    defaults,noatime  0       1
EOF
  mkdir -p "$root/boot/firmware"
  # DHCP on whatever wired NIC qemu gives (virtio-net), as NetworkManager does on the Pi.
  cat > "$root/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=yes
EOF
  chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
  chroot "$root" apt-get clean
  touch "$root/.complete"
fi

# Sizes: boot 512 MiB at sector 8192 (as Raspberry Pi OS bookworm and trixie); root = what is used + 25 %
# + 256 MiB, so the appliance (about 1 GB with its venv) does not fit without growing it.
used_mib=$(du -sxm "$root" | cut -f1)
root_mib=$(( used_mib * 5 / 4 + 256 ))
total_mib=$(( 4 + 512 + root_mib ))
say "packing into a ${total_mib} MiB disk image (root ${root_mib} MiB, ${used_mib} MiB used)"
img=$work/standin.img
truncate -s "${total_mib}M" "$img"
sfdisk --quiet "$img" <<EOF
label: dos
label-id: $label_id
start=8192, size=$(( 512 * 2048 )), type=c
start=$(( 8192 + 512 * 2048 )), type=83
EOF
attach_image "$img"
mkfs.vfat -F 32 -n bootfs "${LOOP}p1" >/dev/null
mkfs.ext4 -q -L rootfs "${LOOP}p2"
mnt=$work/mnt
mount_image "$LOOP" "$mnt"
tar -C "$root" --numeric-owner --xattrs --acls --exclude=./.complete -cf - . | tar -C "$mnt" --numeric-owner --xattrs --acls -xf -
# What the Pi's firmware reads from p1 (not used by qemu, which boots Debian's kernel directly).
cat > "$mnt/boot/firmware/config.txt" <<'EOF'
# Stand-in for Raspberry Pi OS's config.txt: this image boots in qemu-system-aarch64 with
# Debian's arm64 kernel passed by -kernel; no Raspberry Pi firmware is on it.
arm_64bit=1
EOF
echo "console=ttyAMA0 root=PARTUUID=${label_id#0x}-02 rootfstype=ext4 fsck.repair=yes rootwait" \
  > "$mnt/boot/firmware/cmdline.txt"
unmount_image "$mnt"
detach_image
mkdir -p "$(dirname "$out")"
mv "$img" "$out"
rm -rf --one-file-system "$root"
say "stand-in image (Debian $suite, Python $(suite_python "$suite")): $out ($(du -h --apparent-size "$out" | cut -f1))"
