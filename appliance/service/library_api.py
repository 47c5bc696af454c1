"""API v1: the sound library (search, play, add your own sound, remove it) and its categories."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from appliance.errors import UsageError
from appliance.library import Template, audio_io, load_catalog, searcher
from appliance.library.store import UserLibrary
from appliance.service.child_call import ChildFailed, call_in_child
from appliance.service.picker import source_label
from appliance.service.shared import client_file_label, disk_full, error, missing_fields, not_utf8, service_folder

library_api = Blueprint("library_api", __name__)
ADD_TIMEOUT_S = 300
"""An add that has not finished by then is stopped (its child killed) and answered 503."""


def sound_file_name(raw: str | None) -> str:
    """The uploaded sound's name in the scratch folder (it becomes part of the template id):
    letters, digits, `.`, `_` and `-` only, never `.`/`..` or a hidden name, and short."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", client_file_label(raw)).lstrip(".")[-80:]
    return name if name.strip("._-") else "sound"


def template_json(template: Template, score: float | None = None) -> dict:
    catalog = load_catalog()
    data = {"id": template.id, "category": template.category, "kind": catalog.categories[template.category].kind,
            "description": template.description, "tags": list(template.tags), "duration": template.duration,
            "licence": template.licence, "author": template.author, "origin": template.origin,
            "source": source_label(template)}
    if score is not None:
        data["score"] = round(score, 4)
    return data


@library_api.get("/api/v1/categories")
def categories():
    catalog = load_catalog()
    return jsonify(categories=[{"name": c.name, "kind": c.kind, "description": c.description}
                               for c in sorted(catalog.categories.values(), key=lambda c: c.name)])


@library_api.get("/api/v1/library")
def list_library():
    catalog = load_catalog()
    try:
        limit = max(1, min(1000, int(request.args.get("limit", 500))))
    except ValueError:
        return error("'limit' must be a whole number", 400)
    query = (request.args.get("q") or "").strip()
    if query:
        matches = searcher(catalog).search(query, k=limit)
        templates = [template_json(m.template, m.score) for m in matches]
    else:
        templates = [template_json(t) for t in catalog.templates[:limit]]
    return jsonify(library_version=catalog.version, templates=templates)


@library_api.post("/api/v1/library")
def add_sound():
    upload = request.files.get("file")
    category = request.form.get("category")
    if upload is None or not category:
        return missing_fields("fields 'file' (the sound) and 'category' are required (multipart upload)")
    words = {name: request.form.get(name, "") for name in ("tags", "author", "description")}
    mangled = not_utf8(*words)
    if mangled:
        return mangled
    full = disk_full(request.content_length or 0, 2)
    if full:
        return full
    uploads = service_folder() / "uploads"
    uploads.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads) as scratch:
        # The sound keeps a sanitized name (it becomes part of the template id), never a path.
        path = Path(scratch) / sound_file_name(upload.filename)
        upload.save(path)
        try:
            # Length from the header, then counted in bounded blocks, before anything decodes
            # the whole file into memory (an audio decompression bomb stops here).
            audio_io.check_before_decode(path, path.name)
            template = add_in_child(path, category, licence=request.form.get("licence") or None, **words)
        except UsageError as exc:
            return error(str(exc).replace(str(path), "the upload"), 400)
        except (ChildFailed, OSError):
            return error("the sound could not be processed right now (its converter stopped); try again", 503,
                         **{"Retry-After": "10"})
    return jsonify(template_json(template)), 201


def _add(path: Path, category: str, **fields) -> Template:
    return UserLibrary().add(path, category, **fields)


def add_in_child(path: Path, category: str, **fields) -> Template:
    """UserLibrary.add (decode, resample, measure, encode, embed) in a short-lived child process:
    its memory (a 30 s sound peaks at ~150 MB) is returned to the system when it ends, and the
    web process only sees the catalog change (load_catalog reloads on the index's stamp)."""
    return call_in_child(_add, path, category, timeout=ADD_TIMEOUT_S, **fields)


@library_api.delete("/api/v1/library/<template_id>")
def remove_sound(template_id: str):
    catalog = load_catalog()
    if template_id not in catalog.by_id:
        return error(f"no template {template_id[:80]!r}", 404)
    if catalog.by_id[template_id].origin != "user":
        return error(f"{template_id} is a bundled recording; only your own sounds can be removed", 409)
    try:
        UserLibrary().remove(template_id)
    except UsageError:  # removed by a concurrent request since the catalog was read
        return error(f"no template {template_id[:80]!r}", 404)
    return "", 204


@library_api.get("/api/v1/library/<template_id>/audio")
def template_audio(template_id: str):
    template = load_catalog().recording(template_id)  # a removed sound of yours a result still plays
    if template is None:
        return error(f"no template {template_id[:80]!r}", 404)
    return send_file(template.path, mimetype="audio/ogg")
