#!/usr/bin/env bash
# `make test-image`: the SD-card image, built and booted for real on this machine.
#   1. a Debian arm64 stand-in for Raspberry Pi OS Lite (make-standin-image.sh, cached): trixie
#      (Python 3.13, today's Raspberry Pi OS) or, with SUITE=bookworm, bookworm (Python 3.11)
#   2. build-image.sh on it, with --check-reinstall (install.sh run twice must change nothing;
#      uninstall.sh then install.sh must give the same files)
#   3. the result decompressed, checked offline (version marker, no secrets, the appliance in a
#      venv of the suite's Python), and given a foley.txt with a known API token and a bad line
#      (tests the first boot)
#   4. booted in qemu-system-aarch64 (-M virt, Debian's arm64 kernel from the image, TCG) with
#      guest port 80 on a free 127.0.0.1 port; /healthz awaited, the token refused when wrong,
#      a generated clip scored through the API with the token, the SSH host key fetched
#   5. powered off; the card checked again (foley.txt applied and renamed, token in place,
#      machine-id and SSH host keys made on first boot); build, boot and scoring times printed
# Needs root, about 10 GB of disk; the first run takes long (mmdebstrap under qemu-user, TCG boot). Logs and the
# last serial console: .cache/image/test-image/. Usage: [SUITE=trixie|bookworm] scripts/test-image.sh
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
[ "$(id -u)" = 0 ] || { echo "test-image: needs root (loop devices, mounts, chroot)" >&2; exit 1; }
start=$(date +%s)
say() { printf '[test-image %5ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
fail() { say "FAILED: $*"; exit 1; }

py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || die "$py missing: run make test-image (it sets up .venv first)"
need_packages qemu-system-arm qemu-user-static mmdebstrap arch-test binfmt-support dosfstools fdisk xz-utils e2fsprogs curl openssh-client
version=$(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$repo/appliance/__init__.py")
token=foley-image-test-token-0123456789
logs=$repo/.cache/image/test-image
mkdir -p "$logs"
work=$(mktemp -d "$repo/.cache/image/.test-XXXXXX")
on_exit "rm -rf --one-file-system $(printf %q "$work")"

# --- 1, 2: stand-in base and the build ----------------------------------------------------------
standin=$repo/.cache/image/standin-$suite-arm64.img
t=$(date +%s)
bash "$repo/scripts/make-standin-image.sh" --suite "$suite" "$standin"
standin_s=$(( $(date +%s) - t ))
say "building the image from the stand-in (log: $logs/build.log)"
build_args=("$standin" --out "$work/dist" --check-reinstall)
# FOLEY_TEST_WORKTREE=1: test uncommitted changes too (the default builds the last commit).
[ "${FOLEY_TEST_WORKTREE:-0}" = 0 ] || build_args+=(--worktree)
t=$(date +%s)
bash "$repo/scripts/build-image.sh" "${build_args[@]}" 2>&1 | tee "$logs/build.log"
build_s=$(( $(date +%s) - t ))
xzfile=$work/dist/foley-$version-arm64.img.xz
[ -f "$xzfile" ] || fail "build-image.sh did not write $xzfile"
(cd "$work/dist" && sha256sum -c --quiet "foley-$version-arm64.img.xz.sha256") || fail "the .sha256 does not match"

# --- 3: offline checks and the first-boot file --------------------------------------------------
img=$work/test.img
xz -dc -T2 "$xzfile" > "$img"
attach_image "$img"
mnt=$work/mnt
mount_image "$LOOP" "$mnt"
grep -qx "FOLEY_VERSION=$version" "$mnt/etc/foley-release" || fail "no version marker: $(cat "$mnt/etc/foley-release" 2>&1)"
grep -q '^FOLEY_COMMIT=[0-9a-f]\{40\}' "$mnt/etc/foley-release" || fail "no commit in /etc/foley-release"
[ "$(cat "$mnt/etc/hostname")" = foley ] || fail "hostname is not foley"
[ ! -s "$mnt/etc/machine-id" ] || fail "the image has a machine-id"
if compgen -G "$mnt/etc/ssh/ssh_host_*" >/dev/null; then fail "the image has SSH host keys"; fi
[ ! -e "$mnt/var/lib/foley/api-token" ] || fail "the image has an API token"
[ -d "$mnt/opt/foley/venv/lib/python$pyver/site-packages/appliance" ] || fail "the appliance is not installed for $suite's Python $pyver"
[ -f "$mnt/boot/firmware/foley.txt.example" ] || fail "no foley.txt.example on the boot partition"
[ ! -e "$mnt/boot/firmware/foley.txt" ] || fail "the image has an active foley.txt"
for unit in foley-web foley-capture foley-firstboot foley-sshkeys; do
  [ -L "$mnt/etc/systemd/system/multi-user.target.wants/$unit.service" ] || fail "$unit is not enabled"
done
# The test's first-boot file: a known token, a timezone, and a bad line that must be skipped.
printf '# written by test-image.sh\napi_token=%s\ntimezone=Europe/Berlin\ncolour=blue\n' "$token" > "$mnt/boot/firmware/foley.txt"
kernel=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -1)
initrd=$(find "$mnt/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then fail "no Debian arm64 kernel/initrd in the image's /boot"; fi
cp "$kernel" "$work/vmlinuz"; cp "$initrd" "$work/initrd.img"
unmount_image "$mnt"
detach_image
say "image checked offline; foley.txt with the test token written to its boot partition"

# --- 4: boot ----------------------------------------------------------------------------------
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port); ssh_port=$(free_port)
while [ "$ssh_port" = "$port" ]; do ssh_port=$(free_port); done
base=http://127.0.0.1:$port
console=$logs/console.log
qmp=$work/qmp.sock
say "booting in qemu-system-aarch64 (TCG; port $port -> guest 80; console: $console)"
t=$(date +%s)
# romfile= : no network boot ROM (the kernel is given directly; Debian ships the ROMs in ipxe-qemu,
# a recommends that is not installed).
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
  -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -append "root=/dev/vda2 rootfstype=ext4 rootwait console=ttyAMA0 fsck.repair=yes" \
  -drive "if=none,id=disk,format=raw,file=$img" -device virtio-blk-pci,drive=disk \
  -netdev "user,id=net,hostfwd=tcp:127.0.0.1:$port-:80,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
  -device virtio-net-pci,netdev=net,romfile= \
  -display none -serial "file:$console" -qmp "unix:$qmp,server=on,wait=off" &
qemu_pid=$!
on_exit "kill $qemu_pid 2>/dev/null || true; wait $qemu_pid 2>/dev/null || true"
qmp_command() {  # qmp_command NAME: one QEMU machine protocol command (system_powerdown)
  "$py" - "$qmp" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush(); f.readline()
PY
}

deadline=$(( $(date +%s) + ${FOLEY_BOOT_TIMEOUT:-1500} ))
until curl -fsS --max-time 10 "$base/healthz" -o "$work/healthz.json" 2>/dev/null; do
  kill -0 "$qemu_pid" 2>/dev/null || { tail -30 "$console"; fail "qemu exited during boot"; }
  [ "$(date +%s)" -lt "$deadline" ] || { tail -40 "$console"; fail "no /healthz within ${FOLEY_BOOT_TIMEOUT:-1500} s"; }
  sleep 5
done
boot_s=$(( $(date +%s) - t ))
say "/healthz answered after $boot_s s: $(cat "$work/healthz.json")"

curl -fsS "$base/api/v1/version" -H "Authorization: Bearer $token" -o "$work/version.json" || fail "/api/v1/version with the token failed"
grep -q "\"version\": *\"$version\"" "$work/version.json" || fail "unexpected version: $(cat "$work/version.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/version" -H "Authorization: Bearer wrong-token-0000000000")
[ "$code" = 401 ] || fail "a wrong token got HTTP $code, not 401 (the first-boot token was not applied?)"

clip=$work/clip.mp4
"$py" -c 'import sys; from appliance.video.synthetic import render_scene
render_scene("stick", sys.argv[1], width=320, height=240, fps=30, seconds=4, seed=7)' "$clip"
say "scoring a generated 4 s clip through the API (in the emulated board)"
t=$(date +%s)
code=$(curl -s -o "$work/out.wav" -w '%{http_code}' --max-time 900 -H "Authorization: Bearer $token" \
  -F "video=@$clip" -F "description=a wooden stick knocking on a wooden block" "$base/api/v1/score?wait=1")
if [ "$code" = 504 ]; then
  # The service gives up waiting after 600 s and names the job to poll (docs/api.md): emulation on a
  # loaded host can take longer than that to load the engine. Poll it, as a client would, up to 30 min.
  job=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"].rsplit("/", 1)[1])' "$work/out.wav") \
    || fail "a 504 without the job to poll: $(head -c 400 "$work/out.wav")"
  say "still scoring after the service's 600 s wait: polling job $job"
  while state=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/jobs/$job" \
                | "$py" -c 'import json, sys; print(json.load(sys.stdin)["state"])') && [ "$state" != "done" ]; do
    [ "$state" != "failed" ] || fail "job $job failed in the emulated board"
    [ $(( $(date +%s) - t )) -lt 1800 ] || fail "job $job still $state after 30 min"
    sleep 10
  done
  code=$(curl -s -o "$work/out.wav" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/v1/jobs/$job/audio.wav")
fi
score_s=$(( $(date +%s) - t ))
[ "$code" = 200 ] || fail "scoring answered HTTP $code: $(head -c 400 "$work/out.wav")"
if [ "$(head -c 4 "$work/out.wav")" != RIFF ] || [ "$(dd if="$work/out.wav" bs=1 skip=8 count=4 2>/dev/null)" != WAVE ]; then
  fail "the result is not a WAV file: $(head -c 200 "$work/out.wav")"
fi
say "scored in $score_s s: $(stat -c %s "$work/out.wav") bytes of WAV"

# SSH host keys were made on first boot (the image has none): sshd answers with one. Under emulation
# each connection costs sshd a fork+exec of sshd-session (OpenSSH >= 9.8, trixie) and a key exchange
# in emulated code, so one ed25519-only scan is given 120 s and three tries; a failure is judged after
# power-off, with sshd's own journal and a verbose client log in $logs to say why.
ssh_ok=0
for try in 1 2 3; do
  t=$(date +%s)
  if ssh-keyscan -T 120 -t ed25519 -p "$ssh_port" 127.0.0.1 2>>"$logs/ssh-keyscan.log" | grep -q 'ssh-ed25519'; then
    ssh_ok=1; say "sshd answers with a host key made on first boot (try $try, $(( $(date +%s) - t )) s)"; break
  fi
  say "ssh-keyscan try $try: no host key after $(( $(date +%s) - t )) s"
done
if [ "$ssh_ok" = 0 ]; then
  timeout 300 ssh -vvv -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=240 -p "$ssh_port" nobody@127.0.0.1 true >"$logs/ssh-client.log" 2>&1 || true
fi

# --- 5: power off, then look at the card ----------------------------------------------------------
say "powering off"
qmp_command system_powerdown || true
for _ in $(seq 1 120); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 2; done
if kill -0 "$qemu_pid" 2>/dev/null; then
  say "no clean power-off within 240 s; stopping qemu"
  kill "$qemu_pid"
fi
wait "$qemu_pid" 2>/dev/null || true
attach_image "$img"
mount_image "$LOOP" "$mnt"
[ ! -e "$mnt/boot/firmware/foley.txt" ] || fail "foley.txt is still there after the first boot"
[ -f "$mnt/boot/firmware/foley.txt.applied" ] || fail "foley.txt was not renamed foley.txt.applied"
[ "$(cat "$mnt/var/lib/foley/api-token" 2>/dev/null)" = "$token" ] || fail "/var/lib/foley/api-token is not the token from foley.txt"
[ "$(cat "$mnt/etc/timezone")" = Europe/Berlin ] || fail "the timezone from foley.txt was not applied"
[ -s "$mnt/etc/machine-id" ] || fail "no machine-id after the first boot"
compgen -G "$mnt/etc/ssh/ssh_host_ed25519_key" >/dev/null || fail "no SSH host key after the first boot"
# The journal is persistent on the image (as on Raspberry Pi OS): the first boot's report is in it.
[ -d "$mnt/var/log/journal" ] || fail "no persistent journal on the card: the first-boot report cannot be checked"
journalctl -D "$mnt/var/log/journal" -u foley-firstboot -u foley-web --no-pager -o short-monotonic > "$logs/journal.txt" 2>&1 || true
grep -q "skipped: line 4: unknown key 'colour'" "$logs/journal.txt" || fail "the bad foley.txt line was not reported (journal: $logs/journal.txt)"
grep -q "applied: timezone Europe/Berlin" "$logs/journal.txt" || fail "the good foley.txt lines were not reported as applied (journal: $logs/journal.txt)"
journalctl -D "$mnt/var/log/journal" -u ssh -u ssh.socket -u foley-sshkeys --no-pager -o short-monotonic > "$logs/sshd-journal.txt" 2>&1 || true
[ "$ssh_ok" = 1 ] || fail "sshd did not answer with a host key (sshd's journal: $logs/sshd-journal.txt; client: $logs/ssh-client.log)"
unmount_image "$mnt"
detach_image

say "PASSED (Debian $suite, Python $pyver)"
printf '  %-44s %6s s\n' "stand-in $suite base image (cached after the first run)" "$standin_s" \
  "build-image.sh --check-reinstall (incl. xz)" "$build_s" \
  "first boot to /healthz (qemu TCG, 2 vCPU)" "$boot_s" \
  "score a 4 s 320x240 clip via the API (TCG)" "$score_s"
