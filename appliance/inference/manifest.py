"""The models manifest: which ONNX files the appliance expects, and their checksums.

Every model is verified against `models/manifest.json` before a session is created, so a
truncated copy, a half-finished upgrade or a hand-edited file is reported by name with the way
to restore it, instead of surfacing later as wrong sounds or a crash deep inside ONNX Runtime.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ModelFileError
from appliance.paths import models_dir

MANIFEST_NAME = "manifest.json"
RESTORE_HINT = (
    "restore it with `git checkout -- models/` in a source checkout, by reinstalling the "
    "appliance, or rebuild it with `python scripts/export_models.py` (needs the export extra)"
)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the manifest: its name, resolved file path and recorded properties."""

    name: str
    path: Path
    sha256: str
    info: dict

    def fp32_path(self) -> Path:
        """Where a locally exported FP32 twin would sit (never shipped; for benchmarks)."""
        return self.path.with_name(self.path.name.replace(".int8.", ".fp32."))


def load_manifest(directory: Path | None = None) -> dict[str, ModelEntry]:
    """Read the manifest; a missing or unreadable manifest is itself a model-file error."""
    directory = directory or models_dir()
    path = directory / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        models = raw["models"]
    except FileNotFoundError:
        raise ModelFileError(f"model manifest {path} is missing; {RESTORE_HINT}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"model manifest {path} is unreadable ({exc}); {RESTORE_HINT}") from None
    return {
        name: ModelEntry(name=name, path=directory / info["file"], sha256=info["sha256"], info=info)
        for name, info in models.items()
    }


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(entry: ModelEntry) -> None:
    """Raise ModelFileError naming the file when it is missing or its sha256 differs."""
    if not entry.path.is_file():
        raise ModelFileError(f"model file {entry.path} is missing; {RESTORE_HINT}")
    actual = sha256_of(entry.path)
    if actual != entry.sha256:
        raise ModelFileError(
            f"model file {entry.path} is corrupt (sha256 {actual[:12]}… but the manifest "
            f"expects {entry.sha256[:12]}…); {RESTORE_HINT}"
        )
