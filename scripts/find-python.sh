#!/usr/bin/env bash
# Prints the path of a Python interpreter that runs, given its name (python3.13) or a path: the
# name itself when it runs, else one pyenv has installed without selecting it (pyenv's shim then
# refuses the name: "pyenv: python3.13: command not found"). Exit 1 with a message when there is
# none. Used by the Makefile (make test PYTHON=python3.13) and .ci/run.
# Usage: scripts/find-python.sh NAME
set -euo pipefail
[ $# = 1 ] || { echo "usage: find-python.sh NAME" >&2; exit 2; }
for candidate in "$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/"$1"; do
  if "$candidate" -c '' >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
echo "find-python.sh: no $1 that runs here (neither on PATH nor installed by pyenv)" >&2
exit 1
