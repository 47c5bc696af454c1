"""User templates: add and remove sounds in the state directory, safely.

User sounds live apart from the bundled library (state_dir()/library/: index.json + sounds/),
so an upgrade that replaces models/ never touches them. Every change is a read-modify-write of
index.json under an exclusive file lock (two processes adding at once both succeed, neither
loses the other's entry), and the new index replaces the old one with an atomic rename (a crash
mid-add leaves the previous index intact; at worst an unreferenced sound file, or the temporary
file of an add that was killed, stays behind and is swept by the next change).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from appliance.atomic import durable_replace, write_json_atomic
from appliance.errors import UsageError
from appliance.library import audio_io
from appliance.library.search import embed_for_index
from appliance.library.catalog import INDEX_FORMAT, INDEX_NAME, Catalog, Template, read_user_index, user_dir
from appliance.os_text import display_name, unfit_for_display

LOCK_NAME = ".lock"
HOLD_NAME = ".held"  # hold_library's lock file
USER_LICENCE = "user"  # the user's own recording, kept on this appliance, not redistributed
USER_QUALITY = 0.6  # Vorbis quality for user sounds: one file each, so size matters little
STALE_TEMP_S = 3600.0  # an add writes its temporary sound for seconds; one an hour old was left by a kill
RETIRED_AT = "retired_at"  # a removed sound's record: when it was removed (seconds since the epoch)


@contextmanager
def locked(folder: Path):
    """Exclusive lock on the user library for one read-modify-write."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def hold_library(folder: Path | None = None):
    """A shared lock that keeps the recordings of removed sounds (`purge` deletes none while one
    is held), for a process that keeps the library it loaded for long: a live session places
    sounds from the catalog it loaded when it started, however long it runs, and files its
    recordings as jobs that name them. Released by closing the returned file, or when the
    process ends."""
    folder = folder or user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / HOLD_NAME, "a")
    fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    return handle


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "sound"


def _check_regular(file: Path) -> None:
    """Only a regular file is a sound file: a FIFO waits for a writer forever, /dev/zero never
    ends, a folder has no samples."""
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{file}: is a folder, not a sound file")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{file}: a device, a pipe or a socket, not a sound file")


def _parse_tags(tags) -> tuple[str, ...]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = tuple(dict.fromkeys(t.strip().lower() for t in tags or () if t.strip()))
    return cleaned


STORED_FIELDS = ("file", "duration", "sample_rate", "channels", "attack_time", "peak_dbfs", "loudness_lufs",
                 "max_momentary_lufs", "sha256")
"""A template record's fields that describe its stored recording (the rest are the words the
user gave, which a new add may change)."""
MAX_TEXT = 500
"""Characters in a sound's description, in its author, and in its tags as one comma-separated
line (a clip's description may have as many): every catalog load reads them from the index, and every result that places the
sound copies them into its timeline and credits. Unbounded, one upload of 100,000-character
fields made the index 260 KB and a result's credits 200 KB."""
def plain_words(text: str) -> str:
    """`text` (a file name the library's own words quote) with what _check_words refuses
    replaced by U+FFFD: a name is the user's to choose, and a newline in it (legal on Linux)
    must not make every sound taught from that clip refused."""
    return "".join("\ufffd" if unfit_for_display(c) else c for c in text)


def _check_words(field: str, text: str) -> None:
    """UsageError unless `text` (a description, author or tags the user gave) is one line of at
    most MAX_TEXT characters without control characters or bidirectional overrides. They are
    written into the credits, the MP4's comment tag and the CLI's listings: a NUL ended the MP4's
    credits there (every sound after it and the licences' terms were lost), an escape sequence
    reached the terminal of whoever ran `foley library list`, and U+202E makes a credit read
    backwards as another name."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"the {field} is {len(text)} characters long; at most {MAX_TEXT} are accepted")
    bad = next((c for c in text if unfit_for_display(c)), None)
    if bad is not None:
        raise UsageError(f"the {field} holds a control character (U+{ord(bad):04X}); "
                         "write it as one line of plain text")


class UserLibrary:
    """The user's templates. `shared` marks a library others receive copies of (exported or
    synced): then every sound needs a real licence, not the private default."""

    def __init__(self, folder: Path | None = None, catalog: Catalog | None = None, shared: bool = False):
        self.folder = folder or user_dir()
        self.catalog = catalog or Catalog.load(user_folder=self.folder)
        self.shared = shared

    def add(
        self,
        file: Path,
        category: str,
        tags=(),
        licence: str | None = None,
        author: str = "",
        description: str = "",
        extra: dict | None = None,
    ) -> Template:
        """Convert and store one sound; returns its template. UsageError for anything the user
        must fix (the library is then unchanged). `extra` fields are kept in the template's
        index record (teach stores the visual exemplar of the taught moment there)."""
        file = Path(file)
        category_spec = self.catalog.category(category)
        licence = self.check_fields(tags, licence, author, description)
        _check_regular(file)
        name, stem = plain_words(display_name(file.name)), plain_words(display_name(file.stem))  # as teach does
        # Length from the header, then counted in bounded blocks, before the file is read or
        # decoded whole: a small file that decodes to an hour of samples stops here.
        audio_io.check_before_decode(file, name)
        raw = file.read_bytes()
        source_sha = hashlib.sha256(raw).hexdigest()
        self._check_duplicate(source_sha, self.catalog.templates)

        data, rate = audio_io.decode(raw, name=name)
        if not audio_io.MIN_DURATION <= len(data) / rate <= audio_io.MAX_DURATION:
            audio_io.check_usable(data, rate, name)  # the length limits, at the rate it came at
        data = audio_io.trim(audio_io.to_template_format(data, rate))
        audio_io.check_usable(data, audio_io.SAMPLE_RATE, name)
        data = audio_io.with_headroom(data)
        measured = audio_io.measure(data)

        tag_tuple = _parse_tags(tags) or (category,)
        description = description.strip() or f"{category_spec.description} (user sound {stem})"
        template_id = f"user-{category}-{_slug(stem)}-{source_sha[:8]}"

        sounds = self.folder / "sounds"
        sounds.mkdir(parents=True, exist_ok=True)
        final = sounds / f"{template_id}.ogg"
        fd, tmp_name = tempfile.mkstemp(dir=sounds, prefix=".add-", suffix=".ogg")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            audio_io.encode_ogg(data, tmp, USER_QUALITY)
            stored_sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
            template = Template(
                id=template_id, category=category, tags=tag_tuple, description=description, path=final,
                duration=round(measured.duration, 4), sample_rate=audio_io.SAMPLE_RATE, channels=measured.channels,
                attack_time=round(measured.attack_time, 4), peak_dbfs=round(measured.peak_dbfs, 2),
                loudness_lufs=round(measured.loudness_lufs, 2), max_momentary_lufs=round(measured.max_momentary_lufs, 2),
                loop=category_spec.kind == "ambience", licence=licence, author=author.strip() or "user",
                source={"type": "user", "original_name": name}, sha256=stored_sha,
                source_sha256=source_sha, origin="user",
            )
            embedding = embed_for_index(template.search_text(category_spec))
            with locked(self.folder):
                index = read_user_index(self.folder)
                self._check_duplicate(source_sha, [Template.from_record(r, self.folder, "user") for r in index["templates"]])
                record = template.to_record() | {"embedding": embedding} | (extra or {})
                earlier = self._take_retired(index, template_id)
                if earlier is not None:
                    record |= {field: earlier[field] for field in STORED_FIELDS if field in earlier}
                    self._write(index, index["templates"] + [record])
                    return Template.from_record(record, self.folder, "user")
                durable_replace(tmp, final)  # before the index names it
                try:
                    self._write(index, index["templates"] + [record])
                except BaseException:
                    final.unlink(missing_ok=True)
                    raise
        finally:
            tmp.unlink(missing_ok=True)
        return template

    def _take_retired(self, index: dict, template_id: str) -> dict | None:
        """The retired record of this id whose recording is still stored, taken out of
        `index["retired"]` (the caller writes the index), or None. The same file in the same
        category gets the same id, so a removed sound added again finds its old self: it comes
        back with the recording the results that placed it were mixed from, untouched. Storing
        the new file over it instead left the id both listed and retired (the retired list grew
        with every remove and add), and a failed index write then deleted the file those results
        still need."""
        retired = index.get("retired", [])
        earlier = next((r for r in retired if r["id"] == template_id), None)
        if earlier is None:
            return None
        index["retired"] = [r for r in retired if r["id"] != template_id]
        return earlier if Template.from_record(earlier, self.folder, "user").path.is_file() else None

    def remove(self, template_id: str) -> Template:
        """Take one user template out of the library (bundled ones are part of the release and
        stay): it is no longer chosen, listed, searched or offered. Its recording is kept, with
        its record under "retired", for the results that already use it (Catalog.recording):
        their edits, undo and credits need it, and a result cannot be re-mixed without it. Once
        none does, `purge` deletes it."""
        with locked(self.folder):
            index = read_user_index(self.folder)
            kept = [r for r in index["templates"] if r["id"] != template_id]
            if len(kept) == len(index["templates"]):
                if template_id in self.catalog.by_id:
                    raise UsageError(f"{template_id} is a bundled template; only user templates can be removed")
                raise UsageError(f"no user template {template_id!r} (see `foley library list --user`)")
            removed = next(r for r in index["templates"] if r["id"] == template_id)
            index["retired"] = index.get("retired", []) + [removed | {RETIRED_AT: time.time()}]
            self._write(index, kept)
        return Template.from_record(removed, self.folder, "user")

    def purge(self, in_use: set[str], keep_s: float, now: float | None = None) -> list[Template]:
        """Delete the recordings of removed sounds that no result uses any more (`in_use`: the
        template ids the kept results name) and that were removed at least `keep_s` seconds ago.
        Returns what was deleted: nothing while a `hold_library` is held.

        The wait is for the scoring that read the library before the sound was removed and has
        not written its result yet: it may still place the sound, and its result is not among
        those `in_use` was read from. A sound retired before removals were dated gets its date
        now, so it waits too."""
        now = time.time() if now is None else now
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / HOLD_NAME, "a") as hold:
            try:
                fcntl.flock(hold.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []
            return self._purge(in_use, keep_s, now)

    def _purge(self, in_use: set[str], keep_s: float, now: float) -> list[Template]:
        with locked(self.folder):
            index = read_user_index(self.folder)
            retired = index.get("retired", [])
            dated = [r if RETIRED_AT in r else r | {RETIRED_AT: now} for r in retired]
            gone = [r for r in dated if r["id"] not in in_use and now - r[RETIRED_AT] >= keep_s]
            if gone or dated != retired:
                index["retired"] = [r for r in dated if r not in gone]
                self._write(index, index["templates"])  # the sweep deletes the files no record names
        return [Template.from_record(r, self.folder, "user") for r in gone]

    def _write(self, index: dict, templates: list[dict]) -> None:
        retired = index.get("retired", [])
        write_json_atomic(self.folder / INDEX_NAME, {"format": INDEX_FORMAT, "templates": templates}
                          | ({"retired": retired} if retired else {}))
        self._sweep(templates + retired)

    def _sweep(self, templates: list[dict]) -> None:
        """Delete sound files no index entry references (left by a crash between storing the
        sound and writing the index), and temporary sounds and index copies older than
        STALE_TEMP_S (left by an add killed while it encoded or wrote the index). Never another process's add in progress: its temporary
        file is younger than that."""
        referenced = {Path(r["file"]).name for r in templates}
        sounds = self.folder / "sounds"
        for path in sounds.glob("user-*.ogg"):
            if path.name not in referenced:
                path.unlink(missing_ok=True)
        stale = time.time() - STALE_TEMP_S
        # and the index's own temporary copies (atomic.temp_beside), left by a kill mid-write:
        # each is the size of the whole index (its embeddings, ~6 KB a sound)
        for path in [*sounds.glob(".add-*.ogg"), *self.folder.glob(f".{INDEX_NAME}.*.tmp")]:
            with suppress(FileNotFoundError):  # another sweep was first
                if path.stat().st_mtime < stale:
                    path.unlink()

    def check_fields(self, tags=(), licence: str | None = None, author: str = "", description: str = "") -> str:
        """UsageError for a field `add` would refuse, else the licence it would record: for a
        caller (teach) that checks them before the long work that makes the sounds."""
        licence = self._check_licence(licence)
        for field, text in (("description", description), ("author", author),
                            ("tags", tags if isinstance(tags, str) else ",".join(tags or ()))):
            _check_words(field, text)
        return licence

    def _check_licence(self, licence: str | None) -> str:
        if not licence:
            if self.shared:
                raise UsageError(
                    "this library is shared, so every sound needs a licence: pass --licence "
                    f"(one of: {', '.join(sorted(self.catalog.licences))})"
                )
            return USER_LICENCE
        if licence == USER_LICENCE and not self.shared:
            return licence
        if licence not in self.catalog.licences:
            raise UsageError(f"unknown licence {licence!r}; use one of: {', '.join(sorted(self.catalog.licences))}")
        return licence

    @staticmethod
    def _check_duplicate(source_sha: str, templates: list[Template]) -> None:
        for template in templates:
            if template.source_sha256 == source_sha:
                raise UsageError(f"this file is already in the library as {template.id}")
