"""`foley eval DIR`: scores a folder of clips with their audio ignored and compares with it."""
from __future__ import annotations

import json

from appliance.evaluation.own_clips import with_hit_sounds
from appliance.video.synthetic import render_scene
from tests.conftest import run_foley


def test_eval_folder_with_labels(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for seed in (1, 2):
        silent = render_scene("steps", tmp_path / f"s{seed}.mp4", width=320, height=240, seconds=4, seed=seed)
        with_hit_sounds(silent.path, silent.duration, silent.impacts, folder / f"steps-{seed}.mp4", seed)
    (folder / "labels.json").write_text(json.dumps({"clips": [
        {"file": "steps-1.mp4", "description": "footsteps on a wooden floor", "category": "footsteps_wood",
         "material": "wood", "action": "walk"}]}))
    result = run_foley("eval", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {r["clip"]: r for r in report["clips"]}
    assert set(rows) == {"steps-1.mp4", "steps-2.mp4"}
    labelled, unlabelled = rows["steps-1.mp4"], rows["steps-2.mp4"]
    assert labelled["description"] == "footsteps on a wooden floor" and "category_fit" in labelled
    assert unlabelled["description"] is None and "category_fit" not in unlabelled
    for row in rows.values():
        assert row["reference_onsets"] >= 5, "the hit sounds are found in the clip's own track"
        assert 0 <= row["f1"] <= 1 and "av_align" in row
        assert row["matched"] >= 1, "the footsteps engine lands some sounds on the landings"
    assert report["overall"]["clips"] == 2 and report["overall"]["category_fit"] in ("0/1", "1/1")
    table = run_foley("eval", str(folder), "--no-description")
    assert table.returncode == 0 and "| overall (2 clips, pooled)" in table.stdout


def test_eval_bad_folder(tmp_path):
    assert run_foley("eval", str(tmp_path / "missing")).returncode == 2
    empty = run_foley("eval", str(tmp_path))
    assert empty.returncode == 2 and "no video clips" in empty.stderr
    (tmp_path / "x.mp4").write_text("not a video")
    (tmp_path / "labels.json").write_text("{broken")
    assert "not a readable labels file" in run_foley("eval", str(tmp_path)).stderr
