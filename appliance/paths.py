"""Where the appliance finds its bundled data and keeps its state.

Bundled data (ONNX models, the starter sound library) is read-only and ships with the code;
state (caches, user sounds, jobs, the API token) is writable and survives upgrades. Keeping the
two apart is what lets an upgrade replace the code and models without touching user data.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
_INSTALLED_MODELS = Path(sys.prefix) / "share" / "foley" / "models"


def models_dir() -> Path:
    """The bundled models folder: $FOLEY_MODELS_DIR, else the source checkout's models/,
    else the copy installed under sys.prefix/share/foley/models."""
    override = os.environ.get("FOLEY_MODELS_DIR")
    if override:
        return Path(override)
    if _REPO_MODELS.is_dir():
        return _REPO_MODELS
    return _INSTALLED_MODELS


def state_dir() -> Path:
    """The writable state folder: $FOLEY_STATE_DIR, else systemd's $STATE_DIRECTORY,
    else $XDG_STATE_HOME/foley (default ~/.local/state/foley). Created on first use."""
    chosen = os.environ.get("FOLEY_STATE_DIR") or os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if chosen:  # (systemd lists a unit's several state folders with ':'; a path of ours may hold one)
        path = Path(chosen)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(xdg) / "foley"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from appliance.errors import UsageError

        raise UsageError(f"the state folder {path} cannot be created ({exc.strerror or exc}): create it writable "
                         "for this user, or choose another with FOLEY_STATE_DIR or state_dir in the config") from None
    return path


def runtime_dir() -> Path:
    """Where the capture daemon's control socket lives: $FOLEY_RUNTIME_DIR, else systemd's
    $RUNTIME_DIRECTORY (/run/foley, shared by the web and capture units), else state_dir()/run.
    Created private to the user (0700): whoever can reach the socket can work the camera."""
    chosen = os.environ.get("FOLEY_RUNTIME_DIR") or os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    path = Path(chosen) if chosen else state_dir() / "run"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
