#!/bin/sh
# `foley` from a shell on the board: scripts/install.sh installs this as /usr/local/bin/foley.
# It runs the installed command with the models the services use. As the services' user
# (`sudo -u foley foley record --status`) it works the appliance's own state and camera daemon
# (/var/lib/foley, /run/foley), as the units set them; as anyone else it keeps that user's own
# state (~/.local/state/foley), as on any other machine.
# The folders are given as systemd gives them to the units (STATE_DIRECTORY, RUNTIME_DIRECTORY),
# so a state_dir in /etc/foley/config.yaml still wins, as it does for the services.
FOLEY_MODELS_DIR=/opt/foley/src/models
export FOLEY_MODELS_DIR
if [ "$(id -un)" = foley ]; then
  STATE_DIRECTORY=/var/lib/foley
  RUNTIME_DIRECTORY=/run/foley
  export STATE_DIRECTORY RUNTIME_DIRECTORY
fi
exec /opt/foley/venv/bin/foley "$@"
