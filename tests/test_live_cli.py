"""`foley live` from the command line: a recorded session on the seam reports itself as JSON and
files the recording in the history; a camera that cannot work, a --duration or a --seed out of
range is one clear line, exit code 2."""
import json

import pytest

from appliance.video.synthetic import render_scene
from tests.conftest import run_foley


def test_live_command_records_and_reports(tmp_path):
    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, seconds=2.0, seed=2)
    out = tmp_path / "live.mp4"
    done = run_foley("live", "--camera", f"file:{clip.path}", "--output", "seam", "--duration", "2",
                     "--record", str(out), "--json", "-d", "footsteps")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["recording"] == str(out) and out.is_file() and out.with_suffix(".json").is_file()
    assert report["history_job"] and report["frames"] > 30 and report["output"].startswith("audio seam")
    assert report["impacts"] == report["sounded"] + report["dropped_late"] + report["dropped_no_device"]


def test_live_command_refuses_a_missing_camera_clearly(tmp_path):
    done = run_foley("live", "--camera", f"file:{tmp_path / 'none.mp4'}", "--output", "seam", "--duration", "1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("foley live:") and "no such video file" in done.stderr
    assert "--camera:" in done.stderr  # where the user gave it, not the config key it overrides


@pytest.mark.parametrize("option, value, expected", [
    ("--duration", "0", "finite number of seconds above 0, not 0"), ("--duration", "-1", "above 0, not -1"),
    ("--duration", "nan", "above 0, not nan"), ("--duration", "abc", "above 0, not 'abc'"),
    ("--duration", "1e10", "at most 31536000 seconds (a year), not 1e10"),
    ("--seed", "-1", "between 0 and 4294967295, not -1"), ("--seed", str(2**32), "between 0 and 4294967295")])
def test_live_command_refuses_a_bad_duration_or_seed_before_the_camera(tmp_path, option, value, expected):
    """--duration 0 ran forever, a negative one or NaN stopped at once (exit 0); --seed -1 was
    numpy's traceback and 2**32 failed only when the finished recording was filed. Each is one
    line naming the option, exit 2, before the camera (here a missing one) is looked at."""
    done = run_foley("live", "--camera", f"file:{tmp_path / 'none.mp4'}", "--output", "seam", f"{option}={value}")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"foley live: {option} must be ") and expected in done.stderr, done.stderr


def test_a_recording_that_cannot_be_written_is_refused_clearly(tmp_path):
    """A full disk (or no inode left, or a name too long) made `foley live --record` end in
    libsndfile's traceback, its empty partial left behind; a folder named like the recording was
    found only once the whole performance was over (all of it lost). One line, exit 2, nothing left."""
    from tests.conftest import fill_leaving, small_disk

    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, seconds=2.0, seed=2)
    camera = f"file:{clip.path}"
    (tmp_path / "taken.mp4").mkdir()
    done = run_foley("live", "--camera", camera, "--output", "seam", "--duration", "1", "--no-history",
                     "--record", str(tmp_path / "taken.mp4"))
    assert done.returncode == 2 and "is a folder" in done.stderr, done.stderr
    original = clip.path.read_bytes()
    done = run_foley("live", "--camera", f"file:{tmp_path}/./steps.mp4", "--output", "seam", "--duration", "1",
                     "--no-history", "--record", str(clip.path))  # the camera's clip, named another way
    assert done.returncode == 2 and "would overwrite the file camera's clip" in done.stderr, done.stderr
    assert clip.path.read_bytes() == original  # was replaced by the recording of itself
    long_name = tmp_path / ("x" * 240 + ".mp4")
    done = run_foley("live", "--camera", camera, "--output", "seam", "--duration", "1", "--no-history",
                     "--record", str(long_name))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("foley live: --record"), done.stderr
    assert "Traceback" not in done.stderr and "File name too long" in done.stderr, done.stderr
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill_leaving(disk, 0)
        done = run_foley("live", "--camera", camera, "--output", "seam", "--duration", "1", "--no-history",
                         "--record", str(disk / "live.mp4"))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "the recording cannot be written there (No space left on device)" in done.stderr, done.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_recording_on_another_disk_reaches_the_history(tmp_path):
    """A recording written to another file system (a USB stick, a tmpfs /tmp) could not be
    filed: "[Errno 18] Invalid cross-device link", an empty job folder left in the history's."""
    from tests.conftest import small_disk

    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, seconds=2.0, seed=2)
    state = tmp_path / "state"
    with small_disk(tmp_path / "stick", "50m") as stick:
        done = run_foley("live", "--camera", f"file:{clip.path}", "--output", "seam", "--duration", "2", "--json",
                         "--record", str(stick / "live.mp4"), env={"FOLEY_STATE_DIR": str(state)})
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["history_job"], done.stderr
        assert (stick / "live.mp4").is_file() and not list(stick.glob(".*partial*"))
    jobs = list((state / "service" / "jobs").iterdir())
    assert [job.name for job in jobs] == [report["history_job"]]
    assert {"input", "audio.wav", "video.mp4", "timeline.json"} <= {p.name for p in jobs[0].iterdir()}, \
        sorted(p.name for p in jobs[0].iterdir())


def test_partials_of_a_killed_recording_are_removed_at_the_next(tmp_path):
    """Only the service removed what a killed recording left; `foley live --record` into the
    same folder left them for ever (~23 MB of sound a minute). Ones being written (changed within
    the last minute: another `foley live --output seam`) are left alone."""
    import os
    import time

    clip = render_scene("steps", tmp_path / "steps.mp4", width=320, height=240, seconds=2.0, seed=2)
    old = tmp_path / ".killed.mp4.audio.partial.wav"
    busy = tmp_path / ".busy.mp4.audio.partial.wav"
    for path in (old, busy):
        path.write_bytes(b"RIFF")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    done = run_foley("live", "--camera", f"file:{clip.path}", "--output", "seam", "--duration", "1", "--no-history",
                     "--record", str(tmp_path / "again.mp4"))
    assert done.returncode == 0, done.stderr
    assert not old.exists() and busy.exists()
