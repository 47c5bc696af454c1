"""The template index: what a template is, how the index is read, and the in-process catalog.

Two indexes make up the library: the bundled one (models/library/index.json, read-only, rebuilt
by scripts/build_library.py) and the user's (state_dir()/library/index.json, written by
store.py). The catalog merges them once per process; audio is decoded lazily and kept in a
bounded LRU so the engine can ask for the same hit many times in a clip without re-decoding.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.errors import UsageError
from appliance.library import audio_io
from appliance.paths import models_dir, state_dir

log = logging.getLogger(__name__)

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
KINDS = ("impact", "periodic", "sustained", "ambience")


def bundled_dir() -> Path:
    return models_dir() / "library"


def user_dir() -> Path:
    return state_dir() / "library"


@dataclass(frozen=True)
class Category:
    name: str
    kind: str  # impact | periodic | sustained | ambience: how the mixer places it
    description: str
    phrases: tuple[str, ...]  # ways people describe it; embedded for search


@dataclass(frozen=True)
class Template:
    """One recording the mixer can place. Times are seconds, levels dBFS / LUFS."""

    id: str
    category: str
    tags: tuple[str, ...]
    description: str
    path: Path  # the encoded 48 kHz file
    duration: float
    sample_rate: int
    channels: int
    attack_time: float
    peak_dbfs: float
    loudness_lufs: float
    max_momentary_lufs: float
    loop: bool
    source: dict  # {"package", "version", "path", "edits"} or {"type": "user", ...}
    licence: str
    author: str
    sha256: str  # of the stored file
    source_sha256: str  # of the file as it came in: what duplicate detection compares
    origin: str  # "bundled" or "user"

    def search_text(self, category: Category) -> str:
        """The sentence embedded for search: the template's own words, then its category's."""
        return f"{self.description}. {category.description}. {', '.join(self.tags)}"

    def to_record(self) -> dict:
        """The index entry (paths are relative to the index's folder)."""
        return {
            "id": self.id,
            "category": self.category,
            "tags": list(self.tags),
            "description": self.description,
            "file": f"sounds/{self.path.name}",
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "attack_time": self.attack_time,
            "peak_dbfs": self.peak_dbfs,
            "loudness_lufs": self.loudness_lufs,
            "max_momentary_lufs": self.max_momentary_lufs,
            "loop": self.loop,
            "source": self.source,
            "licence": self.licence,
            "author": self.author,
            "sha256": self.sha256,
            "source_sha256": self.source_sha256,
        }

    @classmethod
    def from_record(cls, record: dict, folder: Path, origin: str) -> "Template":
        return cls(
            id=record["id"],
            category=record["category"],
            tags=tuple(record["tags"]),
            description=record["description"],
            path=folder / record["file"],
            duration=record["duration"],
            sample_rate=record["sample_rate"],
            channels=record["channels"],
            attack_time=record["attack_time"],
            peak_dbfs=record["peak_dbfs"],
            loudness_lufs=record["loudness_lufs"],
            max_momentary_lufs=record["max_momentary_lufs"],
            loop=record["loop"],
            source=record["source"],
            licence=record["licence"],
            author=record["author"],
            sha256=record["sha256"],
            source_sha256=record["source_sha256"],
            origin=origin,
        )


def index_version(records: list[dict]) -> str:
    """Hash of every template's metadata (which includes its file's sha256): any added,
    removed, re-encoded or re-tagged template changes it, so caches keyed on it go stale."""
    canonical = json.dumps(sorted(records, key=lambda r: r["id"]), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_index(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise  # callers decide: missing bundled index is an error, missing user index is empty
    except (OSError, ValueError) as exc:
        raise _damaged(path, exc) from None
    try:  # valid JSON of another shape (`[]`, `null`, an entry without its keys) is damaged too
        for record in data["templates"] + data.get("retired", []):
            Template.from_record(record, path.parent, "checked")
    except (KeyError, TypeError) as exc:
        missing = f", {exc} missing" if isinstance(exc, KeyError) else ""
        raise _damaged(path, f"not a template index{missing}") from None
    if data.get("format") != INDEX_FORMAT:
        raise UsageError(f"library index {path} has format {data.get('format')!r}, expected {INDEX_FORMAT}")
    return data


def _damaged(path: Path, why) -> UsageError:
    return UsageError(f"library index {path} is unreadable ({why}); rebuild or restore it")


def read_user_index(folder: Path) -> dict:
    """The user's index, or an empty one before the first add."""
    try:
        return read_index(folder / INDEX_NAME)
    except FileNotFoundError:
        return {"format": INDEX_FORMAT, "templates": []}


class Catalog:
    """Bundled + user templates, loaded once. Thread-safe audio access with an LRU bounded in
    bytes (a few hundred one-shots fit; ambience beds are the big items)."""

    def __init__(self, bundled: dict, bundled_folder: Path, user: dict, user_folder: Path, cache_bytes: int = 64 << 20):
        self.bundled_index = bundled
        self.bundled_folder = bundled_folder
        self.user_index = user
        self.user_folder = user_folder
        self.categories = {
            name: Category(name, spec["kind"], spec["description"], tuple(spec["phrases"]))
            for name, spec in bundled["categories"].items()
        }
        self.licences: dict[str, dict] = bundled["licences"]
        self.templates = [Template.from_record(r, bundled_folder, "bundled") for r in bundled["templates"]]
        self.templates += [Template.from_record(r, user_folder, "user") for r in user["templates"]]
        self.by_id = {t.id: t for t in self.templates}
        self.retired = {r["id"]: Template.from_record(r, user_folder, "user") for r in user.get("retired", [])}
        """Your sounds removed from the library (UserLibrary.remove): never chosen, listed or
        offered again, but kept for the results that already use them (`recording`)."""
        self.version = hashlib.sha256(f"{bundled['version']}:{index_version(user['templates'])}".encode()).hexdigest()[:16]
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self.unreadable: dict[str, str] = {}
        """Recordings whose file failed to decode in this process (id → why): a sound damaged on disk
        (a truncated copy, a bad sector) is passed over by the picker (engine/choose.py) instead of
        failing every score that draws it; an edit naming it still says why it cannot be played."""
        self._readable: set[str] = set()

    @classmethod
    def load(cls, bundled_folder: Path | None = None, user_folder: Path | None = None) -> "Catalog":
        bundled_folder = bundled_folder or bundled_dir()
        user_folder = user_folder or user_dir()
        try:
            bundled = read_index(bundled_folder / INDEX_NAME)
        except FileNotFoundError:
            raise UsageError(
                f"the bundled sound library is missing ({bundled_folder / INDEX_NAME}); restore models/library "
                "or rebuild it with scripts/build_library.py"
            ) from None
        return cls(bundled, bundled_folder, read_user_index(user_folder), user_folder)

    def get(self, template_id: str) -> Template:
        try:
            return self.by_id[template_id]
        except KeyError:
            raise UsageError(f"no template {template_id!r} in the library (see `foley library list`)") from None

    def recording(self, template_id: str) -> Template | None:
        """The recording a result names: in the library, or one of your sounds removed from it
        since. A result keeps its sounds: with them gone, every edit of a result that used a
        removed sound twice (or as its bed) was refused for good, each naming the other use."""
        return self.by_id.get(template_id) or self.retired.get(template_id)

    def category(self, name: str) -> Category:
        """The category `name`, or a UsageError listing those there are: one check for every
        command that names one (`foley library add`, `teach`, `list --category`), so a misspelt
        one is never a sound filed where no scene asks for it, nor an empty list."""
        try:
            return self.categories[name]
        except KeyError:
            raise UsageError(f"unknown category {name!r}; choose one of: {', '.join(sorted(self.categories))}") from None

    def in_category(self, category: str) -> list[Template]:
        return [t for t in self.templates if t.category == category]

    def playable(self, template_id: str) -> bool:
        """Whether the recording's file decodes: decoded once per process (and kept while the LRU
        has room), then known until `audio` finds otherwise."""
        if template_id in self.unreadable:
            return False
        if template_id in self._readable:
            return True
        try:
            self.audio(template_id)
        except UsageError:
            return False
        return True

    def audio(self, template_id: str) -> np.ndarray:
        """float32 (frames, channels) at 48 kHz without DC or rumble (audio_io.without_rumble),
        decoded on first use and cached (LRU)."""
        with self._lock:
            if template_id in self._cache:
                self._cache.move_to_end(template_id)
                return self._cache[template_id]
        template = self.recording(template_id) or self.get(template_id)
        try:
            data, rate = audio_io.decode(template.path, name=template.id)
        except UsageError as exc:
            with self._lock:
                known = template_id in self.unreadable
                self.unreadable[template_id] = str(exc)
            if not known:
                log.warning("sound %s (%s) cannot be played: %s", template_id, template.path, exc)
            raise
        with self._lock:  # decodes again (a flaky read, a file restored): usable again
            self._readable.add(template_id)
            self.unreadable.pop(template_id, None)
        if rate != audio_io.SAMPLE_RATE:  # stored files are 48 kHz; tolerate a hand-placed one
            data = audio_io.to_template_format(data, rate)
        data = audio_io.without_rumble(data, loop=template.loop)  # once per load: the LRU keeps it
        data.setflags(write=False)  # shared between callers: nobody may mix into the cached copy
        with self._lock:
            self._cache[template_id] = data
            while sum(a.nbytes for a in self._cache.values()) > self._cache_bytes and len(self._cache) > 1:
                self._cache.popitem(last=False)
        return data
