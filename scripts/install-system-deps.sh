#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/system-packages.txt that are not yet installed.
# Idempotent and quiet when nothing is missing; skips (with a note) when not root or not on Debian.
# A package counts as present when dpkg has it or when a command of its name is on PATH: npm
# comes inside NodeSource's nodejs, which Debian's npm package conflicts with.
set -euo pipefail
case ${1:-} in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$here/system-packages.txt" | awk '{print $1}')
[ ${#wanted[@]} -gt 0 ] || exit 0
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && continue
  command -v "$pkg" >/dev/null 2>&1 && continue
  missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0
if ! command -v apt-get >/dev/null; then
  echo "note: not a Debian system; please install: ${missing[*]}" >&2; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: run as root (or: sudo apt-get install ${missing[*]})" >&2; exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
