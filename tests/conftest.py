"""Shared test fixtures: an isolated state directory for every test, and CLI helpers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """Every test gets its own state directory, so tests never touch a user's state."""
    state = tmp_path / "state"
    monkeypatch.setenv("FOLEY_STATE_DIR", str(state))
    return state


def run_foley(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `foley` command line in a child process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO,
    )
