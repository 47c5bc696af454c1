#!/bin/sh
# `foley` from a shell on the board: scripts/install.sh installs this as /usr/local/bin/foley.
# It runs the installed command with the models the services use. As the services' user
# (`sudo -u foley foley record --status`) it works the appliance's own state and camera daemon
# (/var/lib/foley, /run/foley), as the units set them; as anyone else it keeps that user's own
# state (~/.local/state/foley), as on any other machine.
FOLEY_MODELS_DIR=/opt/foley/src/models
export FOLEY_MODELS_DIR
if [ "$(id -un)" = foley ]; then
  FOLEY_STATE_DIR=/var/lib/foley
  FOLEY_RUNTIME_DIR=/run/foley
  export FOLEY_STATE_DIR FOLEY_RUNTIME_DIR
fi
exec /opt/foley/venv/bin/foley "$@"
