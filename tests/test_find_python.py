"""scripts/find-python.sh, which lets `make test PYTHON=python3.13` and .ci/run find Python 3.13
where pyenv has it installed but not selected (its shim then refuses the name)."""
from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO

SCRIPT = REPO / "scripts/find-python.sh"


def find(name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), name], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_a_python_that_runs_is_given_back():
    result = find("python3")
    assert result.returncode == 0, result.stderr
    assert subprocess.run([result.stdout.strip(), "-c", ""]).returncode == 0


def test_an_installed_but_unselected_pyenv_version_is_found(tmp_path):
    interpreter = tmp_path / "versions/9.9.1/bin/python9.9"
    interpreter.parent.mkdir(parents=True)
    interpreter.write_text("#!/bin/sh\nexit 0\n")
    interpreter.chmod(0o755)
    result = find("python9.9", PYENV_ROOT=str(tmp_path))
    assert (result.returncode, result.stdout.strip()) == (0, str(interpreter)), result.stderr


def test_no_such_python_is_a_clear_error(tmp_path):
    result = find("python9.8", PYENV_ROOT=str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert "no python9.8 that runs here (neither on PATH nor installed by pyenv)" in result.stderr
