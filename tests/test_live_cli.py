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


@pytest.mark.parametrize("option, value, expected", [
    ("--duration", "0", "finite number of seconds above 0, not 0"), ("--duration", "-1", "above 0, not -1"),
    ("--duration", "nan", "above 0, not nan"), ("--duration", "abc", "above 0, not 'abc'"),
    ("--seed", "-1", "between 0 and 4294967295, not -1"), ("--seed", str(2**32), "between 0 and 4294967295")])
def test_live_command_refuses_a_bad_duration_or_seed_before_the_camera(tmp_path, option, value, expected):
    """--duration 0 ran forever, a negative one or NaN stopped at once (exit 0); --seed -1 was
    numpy's traceback and 2**32 failed only when the finished recording was filed. Each is one
    line naming the option, exit 2, before the camera (here a missing one) is looked at."""
    done = run_foley("live", "--camera", f"file:{tmp_path / 'none.mp4'}", "--output", "seam", f"{option}={value}")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"foley live: {option} must be ") and expected in done.stderr, done.stderr
