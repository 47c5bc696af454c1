#!/usr/bin/env bash
# Removes what scripts/install.sh installed: the units, /usr/local/bin/foley, /opt/foley (venv
# and source) and the foley user. User data stays unless --purge: /var/lib/foley (recordings, user sounds, jobs,
# the API token) and /etc/foley (config), so a later install.sh picks them up again.
#
# Usage: sudo scripts/uninstall.sh [--purge]
#   --purge   also delete /var/lib/foley, /etc/foley, /etc/foley-release and the group foley
# Debian packages (avahi-daemon, python3-venv, ...) and the groups video, gpio and audio stay:
# other software may use them.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
say() { echo "uninstall: $*"; }

purge=0
while [ $# -gt 0 ]; do
  case $1 in
    --purge) purge=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "uninstall: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "uninstall: needs root (sudo $0)" >&2; exit 1; }

# Same rule as install.sh: stop services only on a running system, not in a chroot.
live=1
if systemd-detect-virt --chroot --quiet 2>/dev/null || [ ! -d /run/systemd/system ]; then live=0; fi

units=(foley-web.service foley-capture.service foley-firstboot.service)
removed=0
for unit in "${units[@]}"; do
  [ -e "/etc/systemd/system/$unit" ] || continue
  if [ "$live" = 1 ]; then systemctl stop "$unit" 2>/dev/null || true; fi
  systemctl disable --quiet "$unit" 2>/dev/null || true
  rm -f "/etc/systemd/system/$unit"
  say "removed $unit"
  removed=1
done
[ "$live" = 0 ] || [ "$removed" = 0 ] || systemctl daemon-reload

if grep -qs "scripts/install.sh installs this" /usr/local/bin/foley; then  # ours, not another program's
  rm -f /usr/local/bin/foley
  say "removed /usr/local/bin/foley"
fi
# The user first: userdel refuses while a process of it runs (a `sudo -u foley foley live`), and
# stopping here leaves the install whole rather than half removed.
if getent passwd foley >/dev/null; then
  userdel foley || { echo "uninstall: a process of the user foley still runs (see: ps -u foley); stop it and run this again" >&2; exit 1; }
  say "removed the user foley"
fi
if [ -d /opt/foley ]; then
  rm -rf /opt/foley
  say "removed /opt/foley (venv and source)"
fi

if [ "$purge" = 1 ]; then
  rm -rf /var/lib/foley /etc/foley /etc/foley-release
  if getent group foley >/dev/null; then groupdel foley; fi
  say "purged /var/lib/foley and /etc/foley"
else
  kept=()
  for path in /var/lib/foley /etc/foley; do [ ! -e "$path" ] || kept+=("$path"); done
  if [ ${#kept[@]} -gt 0 ]; then
    # Owned by root from now on: the removed user's id is free, and the next system user made
    # (apt install redis-server …) would own the API token and the recordings. A new install's
    # units hand /var/lib/foley back to foley (StateDirectory=), install.sh /etc/foley.
    chown -R root:root "${kept[@]}"
    say "kept ${kept[*]}, now owned by root (--purge deletes them)"
  fi
fi
