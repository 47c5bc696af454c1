"""The command line on unlucky disks and odd numbers: a damaged cache database (rebuilt, as the
service does), a state folder that is read-only or full (computed tables used from memory; the
cache one line), an output disk that fills up (one line naming the output, the previous outputs
kept, no temporary file left), `--max-seconds nan`, and Ctrl-C inside libsndfile's writes."""
from __future__ import annotations

import contextlib
import json
import math
import os

import numpy as np
import pytest

from appliance import atomic
from appliance.atomic import write_json_atomic
from appliance.mixing import wavio
from appliance.video.synthetic import render_scene
from tests.conftest import fill_leaving, run_foley, small_disk


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return render_scene("stick", tmp_path_factory.mktemp("unlucky") / "stick.mp4", width=160, height=120, fps=15,
                        seconds=2, seed=5)


def one_line_error(result, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert all(word in lines[0] for word in words), lines[0]


def test_a_damaged_cache_is_rebuilt_by_the_command_line(isolated_state):
    (isolated_state / "cache").mkdir(parents=True)
    (isolated_state / "cache" / "cache.sqlite3").write_bytes(os.urandom(8192))
    cleared = run_foley("cache", "clear")
    assert cleared.returncode == 0 and "Traceback" not in cleared.stderr, cleared.stderr[-2000:]
    assert "rebuilt" in cleared.stderr
    stats = run_foley("cache", "stats")
    assert stats.returncode == 0 and "frames cached:     0" in stats.stdout, stats.stderr[-2000:]


def test_a_state_disk_too_full_for_the_cache_is_one_line(tmp_path):
    with small_disk(tmp_path / "state", "200k") as state:
        fill_leaving(state, 0)
        one_line_error(run_foley("cache", "stats", env={"FOLEY_STATE_DIR": str(state)}),
                       str(state / "cache"), "no space left")


def test_no_cache_scores_on_a_read_only_state_folder(clip, tmp_path):
    with small_disk(tmp_path / "state", "1m", read_only=True) as state:
        result = run_foley("score", str(clip.path), "-o", str(tmp_path / "a.wav"), "--no-cache",
                           env={"FOLEY_STATE_DIR": str(state)})
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr.count("used from memory") == 1 and (tmp_path / "a.wav").is_file()


def test_a_table_that_does_not_fit_is_kept_in_memory_and_leaves_nothing(tmp_path, caplog):
    from appliance.atomic import save_table  # new: the tables' writers left an empty .npy.tmp on a full disk

    with small_disk(tmp_path / "state", "64k") as state:
        fill_leaving(state, 4096)
        for name in ("one.npy", "two.npy"):
            assert save_table(state / "cache" / name, np.ones(100_000, np.float32)) is False
        assert os.listdir(state / "cache") == []
    assert sum("used from memory" in r.message for r in caplog.records) == 1
    assert save_table(tmp_path / "fits.npy", np.arange(3.0)) and np.load(tmp_path / "fits.npy").tolist() == [0, 1, 2]


def test_a_full_output_disk_is_one_line_and_keeps_the_previous_outputs(clip, tmp_path):
    """First the WAV does not fit, then the WAV fits and the timeline does not."""
    wav_bytes = round(clip.duration * 48000) * 4 + 44
    with small_disk(tmp_path / "out", "1m") as out:
        (out / "a.wav").write_bytes(b"the previous WAV")
        (out / "t.json").write_text("{}")
        for room, failing in ((100_000, "a.wav"), (wav_bytes + 8192, "t.json")):
            (out / "filler").unlink(missing_ok=True)
            fill_leaving(out, room)
            result = run_foley("score", str(clip.path), "-o", str(out / "a.wav"), "--timeline", str(out / "t.json"),
                               "--no-cache")
            one_line_error(result, f"cannot write {out / failing}: no space left on the device")
            assert (out / "a.wav").read_bytes() == b"the previous WAV" and (out / "t.json").read_text() == "{}"
            assert sorted(os.listdir(out)) == ["a.wav", "filler", "t.json"]


def test_an_mp4_that_does_not_fit_is_named_as_given(clip, tmp_path):
    """Not by its staged and temporary names, with Python's errno text (as it was)."""
    with small_disk(tmp_path / "out", "256k") as out:
        fill_leaving(out, 8192)
        result = run_foley("score", str(clip.path), "-o", str(tmp_path / "a.wav"), "--mp4", str(out / "v.mp4"),
                           "--no-cache")
        one_line_error(result, f"cannot write {out / 'v.mp4'}: no space left on the device")
        assert os.listdir(out) == ["filler"] and not (tmp_path / "a.wav").exists()


@pytest.mark.parametrize("option, value, allowed", [("--max-seconds", "nan", "between 1 and 86400"),
                                                    ("--max-seconds", "inf", "between 1 and 86400"),
                                                    ("--lufs", "-90", "between -70 and 0"),
                                                    ("--seed", "-1", "between 0 and 4294967295")])
def test_numbers_out_of_range_are_refused_naming_their_option(clip, tmp_path, option, value, allowed):
    result = run_foley("score", str(clip.path), "-o", str(tmp_path / "a.wav"), f"{option}={value}", "--no-cache")
    one_line_error(result, f"{option} must be", allowed)
    assert not (tmp_path / "a.wav").exists()


def test_json_outputs_never_hold_nan(tmp_path):
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            write_json_atomic(tmp_path / "t.json", {"max_seconds": bad})
    assert os.listdir(tmp_path) == []
    write_json_atomic(tmp_path / "t.json", {"max_seconds": 600.0})
    assert json.loads((tmp_path / "t.json").read_text()) == {"max_seconds": 600.0}


def test_ctrl_c_inside_an_audio_write_is_a_keyboard_interrupt(tmp_path, monkeypatch):
    """libsndfile writes through a Python callback; a KeyboardInterrupt there was swallowed by
    cffi and came out as soundfile's AssertionError (exit 1 and a traceback, not Ctrl-C's 130)."""
    class Interrupted:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            raise KeyboardInterrupt

        def __getattr__(self, name):
            return getattr(self.file, name)

    real = atomic.atomic_open

    @contextlib.contextmanager
    def interrupted_open(path, binary=False):
        with real(path, binary=binary) as handle:
            yield Interrupted(handle)

    monkeypatch.setattr(wavio, "atomic_open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        wavio.write_audio_atomic(tmp_path / "a.wav", np.zeros((48000, 2), np.float32), 48000)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("stop", ["SIGINT", "SIGHUP"])
def test_ctrl_c_between_the_renames_waits_for_the_last(tmp_path, monkeypatch, stop):
    """A Ctrl-C between two of the outputs' renames left a new WAV beside the previous MP4 and
    timeline. It now comes once every output is in place; so does a closed terminal's SIGHUP,
    which `foley score` takes as Ctrl-C (it was not held)."""
    import os
    import signal

    from appliance.engine import outputs
    from appliance.engine.score_cli import stop_as_interrupted

    targets = [tmp_path / name for name in ("out.wav", "out.mp4", "out.json")]
    for target in targets:
        target.write_text("old")
    stage = outputs.Staging()
    for target in targets:
        stage.path(target).write_text("new")
    renames = []
    real_replace = os.replace

    def replace_then_interrupt(source, target):
        real_replace(source, target)
        renames.append(target)
        if len(renames) == 1:
            os.kill(os.getpid(), getattr(signal, stop))

    monkeypatch.setattr(outputs.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt), stop_as_interrupted():
        stage.commit()
    assert [target.read_text() for target in targets] == ["new", "new", "new"]


def test_every_staged_output_is_durable_before_its_rename(tmp_path, monkeypatch):
    """A cached result's MP4 was a plain copy staged beside the others and renamed without its
    data ever fsynced (the other outputs' writers fsync their own): after a power cut a finished
    job could hold an empty video. The commit now makes each staged file durable first."""
    from appliance.engine import outputs
    from tests.conftest import trace_durability

    stage = outputs.Staging()
    targets = [tmp_path / name for name in ("out.wav", "out.mp4", "out.json")]
    for target in targets:
        stage.path(target).write_text("new")  # written as shutil.copyfile writes: no fsync of its own
    steps = trace_durability(monkeypatch, lambda: 0)
    stage.commit()
    for target in targets:
        renamed = steps.index(("replace", target.name, 0))
        assert any(step[0] == "fsync" and step[1].startswith(f".{target.name}.") for step in steps[:renamed]), steps
    assert [target.read_text() for target in targets] == ["new"] * 3
