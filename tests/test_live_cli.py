"""`foley live` from the command line: a recorded session on the seam reports itself as JSON and
files the recording in the history; a camera that cannot work is one clear line, exit code 2."""
import json

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
