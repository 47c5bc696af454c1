"""User templates: add/list/remove through the Python API and the CLI, every bad input of the
issue (the library must be unchanged afterwards), atomic index writes, two processes adding."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.cli import main
from appliance.errors import UsageError
from appliance.library.catalog import Catalog, user_dir
from appliance.library.store import UserLibrary
from tests.conftest import REPO

RATE = 44_100


def hit(seconds: float = 0.4, rate: int = RATE, channels: int = 1, freq: float = 700.0, delay: float = 0.1) -> np.ndarray:
    """A decaying tone burst after `delay` s of silence: a synthetic 'impact'."""
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * freq * t) * np.exp(-t * 12) * 0.5
    signal = np.concatenate([np.zeros(int(delay * rate)), tone]).astype(np.float32)
    return np.repeat(signal[:, None], channels, axis=1)


def write(path: Path, data: np.ndarray, rate: int = RATE, **kwargs) -> Path:
    sf.write(str(path), data, rate, **kwargs)
    return path


def index_bytes() -> bytes | None:
    path = user_dir() / "index.json"
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize(
    "name, rate, channels, kwargs",
    [
        ("knock.wav", 44_100, 1, {}),
        ("slam.flac", 96_000, 2, {}),
        ("rustle.ogg", 22_050, 2, {"format": "OGG", "subtype": "VORBIS"}),
        ("tap.mp3", 32_000, 1, {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
        ("surround.wav", 48_000, 6, {}),
    ],
)
def test_add_converts_any_common_format(tmp_path, name, rate, channels, kwargs):
    source = write(tmp_path / name, hit(rate=rate, channels=channels, freq=500 + channels * 97 + rate / 1000), rate, **kwargs)
    template = UserLibrary().add(source, "impact_wood", tags="wood, test", licence="CC0-1.0", author="tester")
    assert template.origin == "user" and template.licence == "CC0-1.0"
    data, stored_rate = sf.read(str(template.path), always_2d=True)
    assert stored_rate == 48_000
    assert data.shape[1] == (channels if channels <= 2 else 1), "stereo kept, surround averaged to mono"
    assert 0.0 <= template.attack_time < 0.02, "leading silence is trimmed, the attack sits at the start"
    assert abs(template.duration - 0.4) < 0.1
    catalog = Catalog.load()
    assert catalog.get(template.id).category == "impact_wood"
    assert catalog.audio(template.id).dtype == np.float32


def test_add_list_remove_round_trip_and_version(tmp_path, capsys):
    before = Catalog.load().version
    source = write(tmp_path / "bang.wav", hit())
    assert main(["library", "add", str(source), "--category", "door_slam", "--tags", "door,slam"]) == 0
    added_line = capsys.readouterr().out
    template_id = added_line.split()[1]
    after_add = Catalog.load()
    assert after_add.version != before and after_add.get(template_id).licence == "user"
    assert main(["library", "list", "--user"]) == 0
    assert template_id in capsys.readouterr().out
    assert (user_dir() / "sounds" / f"{template_id}.ogg").exists()
    assert main(["library", "remove", template_id]) == 0
    assert "kept for the results" in capsys.readouterr().out
    after_remove = Catalog.load()
    assert after_remove.version == before and template_id not in after_remove.by_id
    assert main(["library", "list", "--user"]) == 0
    assert template_id not in capsys.readouterr().out
    # kept for the results that already placed it (Catalog.recording), never chosen again
    assert after_remove.recording(template_id).id == template_id
    assert (user_dir() / "sounds" / f"{template_id}.ogg").exists()


def test_user_templates_survive_a_new_catalog_and_are_searchable(tmp_path):
    from appliance.library.search import Searcher

    source = write(tmp_path / "zap.wav", hit(freq=1200))
    template = UserLibrary().add(source, "whoosh", tags="laser,zap,sci-fi", description="a sci-fi laser zap")
    matches = Searcher(Catalog.load()).search("a sci-fi laser zap", k=3)
    assert template.id in [m.template.id for m in matches]


def _bad_inputs(tmp_path: Path):
    good = write(tmp_path / "good.wav", hit())
    (tmp_path / "notes.txt").write_text("this is not audio\n")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good.read_bytes()[:30])  # a header cut short
    garbage = tmp_path / "garbage.ogg"
    garbage.write_bytes(os.urandom(4096))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    return {
        "empty": (tmp_path / "empty.wav", {}, "the file is empty"),
        "a folder": (tmp_path / "folder.wav", {}, "is a folder"),
        "not audio": (tmp_path / "notes.txt", {}, "not a readable audio file"),
        "corrupt wav": (corrupt, {}, "not a readable audio file"),
        "corrupt ogg": (garbage, {}, "not a readable audio file"),
        "missing file": (tmp_path / "nowhere.wav", {}, "no such file"),
        "silent": (write(tmp_path / "silent.wav", np.zeros((RATE, 1), np.float32)), {}, "silent"),
        "too short": (write(tmp_path / "short.wav", hit(seconds=0.01, delay=0.0)), {}, "at least 20 ms"),
        # 200 samples at 2 GHz resample to no samples at all: trimming them was a ValueError (a 500)
        "too short at 2 GHz": (write(tmp_path / "ghz.wav", np.full((200, 1), 0.5, np.float32), 2_000_000_000), {},
                               "at least 20 ms"),
        "too long": (write(tmp_path / "long.wav", (np.random.default_rng(0).standard_normal((31 * 8000, 1)) * 0.1).astype(np.float32), 8000), {}, "at most 30 s"),
        "unknown category": (good, {"category": "explosions"}, "unknown category"),
        "unknown licence": (good, {"licence": "WTFPL-9"}, "unknown licence"),
        # written into the credits, the MP4's comment tag and `foley library list`: a NUL cut the
        # MP4's credits short there, an escape sequence reached the terminal listing the library
        "a NUL in the description": (good, {"description": "a\x00b"}, r"control character \(U\+0000\)"),
        "an escape sequence as author": (good, {"author": "\x1b[31mred"}, "control character"),
        "a line break in a tag": (good, {"tags": ["door", "slam\nbang"]}, "control character"),
        "a bidi override in the tags": (good, {"tags": "door,\u202eevil"}, "control character"),
        "a description too long": (good, {"description": "d" * 501}, "at most 500"),
        "tags too long": (good, {"tags": ",".join(["tag"] * 200)}, "at most 500"),
    }


def test_every_bad_input_is_a_clear_error_and_changes_nothing(tmp_path):
    library = UserLibrary()
    library.add(write(tmp_path / "first.wav", hit(freq=300)), "knock")
    before = index_bytes()
    sounds_before = sorted(os.listdir(user_dir() / "sounds"))
    for label, (path, overrides, message) in _bad_inputs(tmp_path).items():
        kwargs = {"category": "impact_metal"} | overrides
        with pytest.raises(UsageError, match=message):
            library.add(path, **kwargs)
        assert index_bytes() == before, label
        assert sorted(os.listdir(user_dir() / "sounds")) == sounds_before, label


def test_a_long_sound_is_refused_before_it_is_read_or_decoded(tmp_path):
    """40 minutes of silence is a small FLAC; decoded it was gigabytes before the length check."""
    import tracemalloc

    bomb = tmp_path / "forty-minutes.flac"
    with sf.SoundFile(str(bomb), "w", 8000, 1, "PCM_16", format="FLAC") as out:
        for _ in range(40 * 60):
            out.write(np.zeros(8000, np.float32))
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match="lasts 2400.0 s"):
            UserLibrary().add(bomb, "knock")
        assert tracemalloc.get_traced_memory()[1] < 20 << 20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_pipe_or_a_device_is_not_a_sound_file(tmp_path, special):
    """A FIFO used to wait forever for a writer; /dev/zero ran out of memory."""
    from tests.conftest import run_foley

    path = tmp_path / "sound.wav" if special == "fifo" else Path(special)
    if special == "fifo":
        os.mkfifo(path)
    result = run_foley("library", "add", str(path), "--category", "knock", timeout=60)
    assert result.returncode == 2 and "a device, a pipe or a socket" in result.stderr, result.stderr


def test_duplicates_are_refused(tmp_path):
    library = UserLibrary()
    source = write(tmp_path / "a.wav", hit())
    first = library.add(source, "impact_metal")
    copy = tmp_path / "copy-of-a.wav"
    copy.write_bytes(source.read_bytes())
    with pytest.raises(UsageError, match=f"already in the library as {first.id}"):
        library.add(copy, "impact_wood")


def test_a_bundled_file_is_a_duplicate_too(tmp_path):
    # The bundled index keeps each original file's hash, so re-adding an original is caught.
    # The originals are not in the repo, so pretend a test file is the first bundled original.
    catalog = Catalog.load()
    bundled = catalog.templates[0]
    source = write(tmp_path / "b.wav", hit(freq=900))
    catalog.templates[0] = dataclasses.replace(bundled, source_sha256=hashlib.sha256(source.read_bytes()).hexdigest())
    with pytest.raises(UsageError, match=bundled.id):
        UserLibrary(catalog=catalog).add(source, "impact_wood")


def test_shared_library_needs_a_licence(tmp_path):
    source = write(tmp_path / "c.wav", hit())
    with pytest.raises(UsageError, match="needs a licence"):
        UserLibrary(shared=True).add(source, "impact_stone")
    with pytest.raises(UsageError, match="unknown licence"):
        UserLibrary(shared=True).add(source, "impact_stone", licence="user")
    assert index_bytes() is None
    assert UserLibrary(shared=True).add(source, "impact_stone", licence="CC-BY-3.0", author="me").licence == "CC-BY-3.0"


def test_cli_reports_bad_input_on_one_line_with_exit_2(tmp_path):
    from tests.conftest import run_foley

    (tmp_path / "x.txt").write_text("hello")
    result = run_foley("library", "add", str(tmp_path / "x.txt"), "--category", "knock", env={"FOLEY_STATE_DIR": str(tmp_path / "s")})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a readable audio file" in result.stderr
    result = run_foley("library", "remove", "footsteps_wood-ufoai-wood1", env={"FOLEY_STATE_DIR": str(tmp_path / "s")})
    assert result.returncode == 2 and "bundled template" in result.stderr
    result = run_foley("library", "remove", "user-nothing", env={"FOLEY_STATE_DIR": str(tmp_path / "s")})
    assert result.returncode == 2 and "no user template" in result.stderr


REAL_REPLACE = os.replace


def index_writes_fail(monkeypatch) -> None:
    """Every rename onto index.json fails from now on, as a power cut at that moment would."""

    def crash_on_index(src, dst):
        if str(dst).endswith("index.json"):
            raise OSError("simulated power cut")
        return REAL_REPLACE(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_index)


def test_a_crash_while_writing_the_index_leaves_the_old_one(tmp_path, monkeypatch):
    library = UserLibrary()
    library.add(write(tmp_path / "one.wav", hit(freq=400)), "knock")
    before = index_bytes()
    sounds_before = sorted(os.listdir(user_dir() / "sounds"))

    index_writes_fail(monkeypatch)
    with pytest.raises(OSError, match="power cut"):
        library.add(write(tmp_path / "two.wav", hit(freq=800)), "knock")
    assert index_bytes() == before
    assert sorted(os.listdir(user_dir() / "sounds")) == sounds_before
    assert not [p for p in user_dir().iterdir() if p.name.endswith(".tmp")]


def test_a_removed_sound_added_again_comes_back_with_its_recording(tmp_path, monkeypatch):
    """Removing a sound keeps its recording for the results that placed it; the same file added
    again has the same id and must bring that record back, not store a second copy over it: the
    id was listed and retired at once, and a failed index write deleted the kept recording."""
    library = UserLibrary()
    source = write(tmp_path / "clack.wav", hit(freq=950))
    first = library.add(source, "knock", author="first")
    stored = first.path.read_bytes()
    library.remove(first.id)

    index_writes_fail(monkeypatch)
    before = index_bytes()
    with pytest.raises(OSError, match="power cut"):
        UserLibrary().add(source, "knock", author="second")
    assert index_bytes() == before
    assert first.path.read_bytes() == stored, "the recording the results use is still there"
    assert Catalog.load().recording(first.id).author == "first"
    monkeypatch.setattr(os, "replace", REAL_REPLACE)

    for _ in range(3):  # remove and add again, as a user undecided about a sound
        again = UserLibrary().add(source, "knock", author="second", tags="clack")
        assert again.id == first.id and again.author == "second" and again.tags == ("clack",)
        assert again.path.read_bytes() == stored
        UserLibrary().remove(again.id)
    again = UserLibrary().add(source, "knock", author="second")
    index = json.loads(index_bytes())
    assert [r["id"] for r in index["templates"]] == [first.id]
    assert "retired" not in index
    catalog = Catalog.load()
    assert catalog.get(first.id).author == "second" and first.id not in catalog.retired


def test_a_sound_is_durable_before_the_index_names_it(tmp_path, monkeypatch):
    """After a power cut the index must not name a sound whose data or name was lost: the sound's
    content is fsynced before its rename, and its folder after, all before the index is replaced."""
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        steps.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        return real_fsync(fd)

    def replace(src, dst):
        steps.append(("replace", Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    template = UserLibrary().add(write(tmp_path / "tock.wav", hit(freq=1300)), "knock")
    sound = template.path.name
    renamed = steps.index(("replace", sound))
    assert steps[renamed - 1][0] == "fsync" and steps[renamed - 1][1].startswith(".add-"), steps
    assert steps[renamed + 1] == ("fsync", "sounds"), steps
    assert renamed + 1 < steps.index(("replace", "index.json")), steps


ADD_IN_CHILD = """
import sys
from pathlib import Path
from appliance.library.store import UserLibrary
UserLibrary().add(Path(sys.argv[1]), "impact_metal", tags="concurrent")
"""


def test_two_processes_adding_at_once_both_land(tmp_path):
    files = [write(tmp_path / f"p{k}.wav", hit(freq=350 + 250 * k)) for k in range(2)]
    env = {**os.environ, "FOLEY_STATE_DIR": os.environ["FOLEY_STATE_DIR"]}
    children = [
        subprocess.Popen([sys.executable, "-c", ADD_IN_CHILD, str(f)], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
        for f in files
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    records = json.loads((user_dir() / "index.json").read_text())["templates"]
    assert sorted(r["source"]["original_name"] for r in records) == ["p0.wav", "p1.wav"]
    for record in records:
        assert (user_dir() / record["file"]).exists()


def test_python_api_reloads_after_an_add(tmp_path):
    import appliance.library as library

    before = library.load_catalog()
    assert library.load_catalog() is before, "loaded once per process"
    template = library.add_sound(write(tmp_path / "api.wav", hit(freq=640)), "chop", tags=["knife"])
    after = library.load_catalog()
    assert after is not before and template.id in after.by_id
    assert library.searcher(after) is library.searcher(after)
    library.remove_sound(template.id)
    assert template.id not in library.load_catalog().by_id


@pytest.mark.parametrize("text", ["[]", "null", '{"format": 1}', '{"format": 1, "templates": [{"id": "x"}]}',
                                  '{"format": 1, "templates": [7]}'])
def test_an_index_of_the_wrong_shape_is_damaged_like_an_unparsable_one(text, capsys):
    """Valid JSON that is not a template index used to be a traceback in every command."""
    user_dir().mkdir(parents=True)
    (user_dir() / "index.json").write_text(text)
    assert main(["library", "list"]) == 2
    assert "is unreadable (not a template index" in capsys.readouterr().err
    (user_dir() / "index.json").write_text("{")
    assert main(["library", "list"]) == 2
    assert "is unreadable" in capsys.readouterr().err


def test_temporary_sounds_of_a_killed_add_are_swept(tmp_path):
    """An add killed while it encoded (kill -9) leaves its `.add-*.ogg`; the next change of the
    library removes it once it is stale, never a younger one (another add may be writing it); the
    same for a copy of the index killed while it was written (it stayed for ever)."""
    library = UserLibrary()
    library.add(write(tmp_path / "one.wav", hit(freq=410)), "knock")
    old, young = user_dir() / "sounds" / ".add-killed.ogg", user_dir() / "sounds" / ".add-busy.ogg"
    old_index, young_index = user_dir() / ".index.json.k1ll3d00.tmp", user_dir() / ".index.json.bu5y0000.tmp"
    for path in (old, young, old_index, young_index):
        path.write_bytes(b"half written")
    two_hours_ago = time.time() - 7200
    for path in (old, old_index):
        os.utime(path, (two_hours_ago, two_hours_ago))
    library.add(write(tmp_path / "two.wav", hit(freq=820)), "knock")
    assert not old.exists() and young.exists()
    assert not old_index.exists() and young_index.exists()


def test_text_that_is_not_utf8(tmp_path, capsys):
    """A file name in Latin-1 is added with its undecodable bytes replaced in the records; a
    query or description typed in another encoding is a usage error, not a traceback."""
    latin = write(tmp_path / "latin.wav", hit(freq=530)).rename(tmp_path / os.fsdecode(b"\xe9t\xe9.wav"))
    template = UserLibrary().add(latin, "knock")
    assert template.source["original_name"] == "\ufffdt\ufffd.wav" and "\ufffdt\ufffd" in template.description
    assert json.loads((user_dir() / "index.json").read_text(encoding="utf-8"))["templates"][0]["source"] == template.source
    other = write(tmp_path / "other.wav", hit(freq=610))
    for argv in (["library", "search", os.fsdecode(b"door \xff")],
                 ["library", "add", str(other), "--category", "knock", "--description", os.fsdecode(b"a \xff")]):
        assert main(argv) == 2
        assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("args, says", [
    (["--category", "nosuchcat"], "unknown category 'nosuchcat'; choose one of: "),
    (["--categories", "--category", "door_slam"], "--categories lists the categories, not templates"),
    (["--categories", "--user"], "--categories lists the categories, not templates")])
def test_list_refuses_an_unknown_category_or_categories_with_a_filter(capsys, args, says):
    """`list --category nosuchcat` printed no template and exit 0 where add and teach name the
    categories there are (Catalog.category, one check for the three); --categories silently
    dropped --category and --user."""
    assert main(["library", "list", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"foley library: {says}"), err
    if "nosuchcat" in says:
        assert "door_slam" in err


def test_a_file_name_brings_no_control_characters_into_the_library_or_the_credits(tmp_path):
    """The words a user types are refused with a control character, but the automatic
    description ("… (user sound NAME)") and the recorded original name came from the file's name,
    which on Linux may hold a newline, an escape sequence or a bidi override: they reached
    `foley library search`'s terminal, the credits and the MP4's comment tag."""
    import unicodedata

    from appliance.engine.credits import _source

    name = "we\nird\u202eevil\x1b[31m.wav"
    template = UserLibrary().add(write(tmp_path / name, hit()), "knock")
    for text in (template.description, template.source["original_name"], _source(template.source)):
        assert "\ufffd" in text and not any(unicodedata.category(c) == "Cc" or c == "\u202e" for c in text), text
    # a record stored before the cleaning is cleaned where the credits quote it
    assert _source({"type": "user", "original_name": name}) == \
        "a sound added on this appliance (we\ufffdird\ufffdevil\ufffd[31m.wav)"
