"""The sound-template library: real recordings the mixer places on detected actions.

What the rest of the appliance calls (the engine, the web service, the CLI):

    catalog = load_catalog()                 # bundled + user templates, loaded once per process
    catalog.templates / catalog.in_category("impact_metal") / catalog.get(id)
    catalog.categories[name].kind            # impact | periodic | sustained | ambience
    catalog.audio(id)                        # float32 (frames, channels) 48 kHz, LRU-cached
    catalog.version                          # changes whenever the library changes (cache key)
    searcher(catalog).search("footsteps on gravel", k=5)      # → [Match(template, score, …)]
    searcher(catalog).search_vector(embedding, k=5)          # for an already-embedded description
    add_sound(path, category, tags=…, licence=…), remove_sound(id)

Modules: audio_io (decode/convert/measure), catalog (index model + load), store (user
templates, locked atomic writes), search (embeddings + ranking), attribution, cli.
"""
from __future__ import annotations

import threading
from pathlib import Path

from appliance.library.catalog import INDEX_NAME, Catalog, Category, Template, bundled_dir, user_dir
from appliance.library.search import Match, Searcher
from appliance.library.store import UserLibrary

__all__ = ["Catalog", "Category", "Match", "Searcher", "Template", "add_sound", "load_catalog", "remove_sound", "searcher"]

_lock = threading.Lock()
_cached: dict[str, object] = {}


def _stamp() -> tuple:
    """Changes when either index file is replaced (atomic writes give a new mtime/inode)."""
    stamp = []
    for path in (bundled_dir() / INDEX_NAME, user_dir() / INDEX_NAME):
        try:
            info = path.stat()
            stamp.append((str(path), info.st_mtime_ns, info.st_ino))
        except FileNotFoundError:
            stamp.append((str(path), None, None))
    return tuple(stamp)


def load_catalog() -> Catalog:
    """The process-wide catalog, reloaded only when an index file changed (e.g. after an add
    by the CLI while the service runs)."""
    stamp = _stamp()
    with _lock:
        if _cached.get("stamp") != stamp:
            _cached.clear()
            _cached.update(stamp=stamp, catalog=Catalog.load())
        return _cached["catalog"]


def searcher(catalog: Catalog | None = None) -> Searcher:
    """The Searcher of a catalog (built once per catalog: it embeds what the index lacks)."""
    catalog = catalog or load_catalog()
    with _lock:
        found = _cached.get("searcher")
        if found is None or found.catalog is not catalog:
            found = _cached["searcher"] = Searcher(catalog)
        return found


def add_sound(file: Path, category: str, tags=(), licence: str | None = None, author: str = "",
              description: str = "", shared: bool = False) -> Template:
    return UserLibrary(shared=shared).add(Path(file), category, tags, licence, author, description)


def remove_sound(template_id: str) -> Template:
    return UserLibrary().remove(template_id)
