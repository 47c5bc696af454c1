"""`foley eval DIR... --folds K`: cross-validated by recording, baselines in the same run."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import soundfile

from appliance.evaluation.corpus import assign_folds, category_fits, clip_role
from appliance.evaluation.own_clips import with_hit_sounds
from appliance.video.synthetic import render_scene
from tests.conftest import run_foley

EVAL_TIMEOUT_S = 900
"""A cross-validated run of a few clips takes about a minute; on a shared machine running two
suites at once two of them took over 300 s (the suite itself took twice its usual time)."""


def _folder(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    labels = []
    for n, (scene, seed, recording) in enumerate([("steps", 1, "walk"), ("steps", 2, "walk"), ("bounce", 3, "ball"),
                                                  ("bounce", 4, "ball2"), ("steps", 5, "walk3"), ("still", 6, None)]):
        silent = render_scene(scene, tmp_path / f"s{n}.mp4", width=320, height=240, seconds=3, seed=seed)
        name = f"{scene}-{n}.mp4"
        with_hit_sounds(silent.path, silent.duration, silent.impacts, folder / name, seed)
        labels.append({"file": name, "description": "footsteps on a wooden floor" if scene == "steps" else
                       "a ball bouncing on the floor", "action": "step" if scene == "steps" else "hit",
                       "category": "footsteps_wood" if scene == "steps" else "impact_soft",
                       **({"recording_id": recording} if recording else {})})
    labels[-1].update(action="ambient", category="ambience_room", description="a quiet room")
    (folder / "labels.json").write_text(json.dumps({"clips": labels}))
    return folder


def test_cross_validated_eval_reports_folds_baselines_and_roles(tmp_path):
    folder = _folder(tmp_path)
    # A sound of the user's own, as `foley library add` (or teach, from a clip being evaluated) makes it.
    own = tmp_path / "own-step.wav"
    soundfile.write(own, (0.5 * np.random.default_rng(0).standard_normal(4800) * np.exp(-np.arange(4800) / 600)
                          ).astype(np.float32), 48000)
    added = run_foley("library", "add", str(own), "--category", "footsteps_wood")
    assert added.returncode == 0, added.stderr
    result = run_foley("eval", str(folder), "--folds", "3", "--json", "--quiet", timeout=EVAL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["summary"]["library_templates"]) == {"bundled"}, "the user's sounds stay out of the evaluation"
    clips = {c["clip"]: c for c in report["clips"]}
    assert len(clips) == 6
    # Recordings stay together: both clips of "walk" are in one held-out fold.
    assert clips["steps-0.mp4"]["fold"] == clips["steps-1.mp4"]["fold"]
    assert clips["still-5.mp4"]["role"] == "ambient" and clips["steps-0.mp4"]["role"] == "contact"
    # The category probe of each fold was fitted on the other folds' labelled clips (any role,
    # the ambient one too), never on a clip of the fold it scored.
    categories = {c["file"]: c["category"] for c in json.loads((folder / "labels.json").read_text())["clips"]}
    for fitted in report["folds"]:
        trained_on = Counter(categories[name] for name, c in clips.items() if c["fold"] != fitted["fold"])
        probe = fitted["category_probe"]
        assert probe["per_category"] == dict(sorted(trained_on.items()))
        assert probe["clips"] == sum(trained_on.values()) < len(clips) and probe["frames"] == 5 * probe["clips"]
    summary = report["summary"]
    for method in ("engine", "engine_no_description", "difference_peaks", "random_clicks"):
        pooled = summary["onsets"][method]
        assert pooled["clips"] == 5 and 0 <= pooled["f1"] <= 1
        assert summary["per_fold"][method], "per-fold figures, not only the pooled one"
    assert summary["onsets"]["engine"]["reference_onsets"] >= 15, "the hit sounds are the reference"
    assert summary["category_fit"]["engine"]["clips"] == 6
    assert [a["clip"] for a in summary["ambient"]] == ["still-5.mp4"]
    # Nothing moves in it: a bed of the described room and no spot sound, with or without the words.
    assert clips["still-5.mp4"]["spot_events"] == {"engine": 0, "engine_no_description": 0}
    assert clips["still-5.mp4"]["beds"]["engine"] == "ambience_room" and clips["still-5.mp4"]["bed_fits"]["engine"]
    assert clips["still-5.mp4"]["beds"]["engine_no_description"] is not None
    assert len(report["folds"]) == 3 and all(f["picking"]["threshold"] >= 0 for f in report["folds"])
    table = run_foley("eval", str(folder), "--folds", "2", "--quiet", timeout=EVAL_TIMEOUT_S)
    assert table.returncode == 0 and "clicks at frame-difference peaks" in table.stdout


def test_label_rules():
    assert clip_role({"action": "hit"}) == "contact" and clip_role({"action": "bark"}) == "other"
    assert clip_role({"action": "pass", "category": "ambience_rain"}) == "ambient" and clip_role(None) == "other"
    assert category_fits("footsteps_gravel", {"category": "footsteps_wood"}) is True
    assert category_fits("impact_wood", {"category": "impact_metal"}) is False
    assert category_fits("impact_wood", {"category": None}) is None
    assert category_fits(None, {"category": "impact_metal"}) is False
    assert category_fits("impact_metal", {"category": "impact_metal", "material": "metal"}) is True
    folds = assign_folds(["a", "b", "a", "c", "d"], 2)
    assert set(folds) == {"a", "b", "c", "d"} and set(folds.values()) == {0, 1}


def test_eval_bad_folder(tmp_path):
    assert run_foley("eval", str(tmp_path / "missing")).returncode == 2
    empty = run_foley("eval", str(tmp_path))
    assert empty.returncode == 2 and "no video clips" in empty.stderr
    (tmp_path / "x.mp4").write_text("not a video")
    (tmp_path / "labels.json").write_text("{broken")
    assert "not a readable labels file" in run_foley("eval", str(tmp_path)).stderr
    assert run_foley("eval", str(tmp_path), "--folds", "1").returncode == 2


def test_train_events_scores_the_held_out_clips_at_a_lower_frame_rate_too(tmp_path):
    """`scripts/train_events.py --frame-step 2`: the held-out figures at half the frame rate, by
    the same fits, in its output and the manifest it writes (here into a copy of models/)."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    folder = _folder(tmp_path)
    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models)
    result = subprocess.run([sys.executable, "scripts/train_events.py", str(folder), "--folds", "2", "--frame-step", "2"],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "FOLEY_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    assert "at 1/2 of the frame rate" in result.stdout
    figures = json.loads((models / "manifest.json").read_text())["models"]["events"]["cross_validation"]
    assert figures["slower_frame_step"] == 2 and 0 <= figures["slower"]["pooled_f1"] <= 1
    assert all("slower_f1" in fold for fold in figures["folds"]) and len(figures["folds"]) == 2


def _clips(folder, tmp_path, onsets: list[list[float] | None]) -> list[str]:
    """One rendered clip per entry with a hit sound at each of its times (None: at its impacts)."""
    folder.mkdir()
    names = []
    for n, times in enumerate(onsets):
        silent = render_scene("bounce", tmp_path / f"silent{n}.mp4", width=160, height=120, seconds=2, seed=n + 1)
        names.append(f"clip{n}.mp4")
        with_hit_sounds(silent.path, silent.duration, silent.impacts if times is None else times, folder / names[-1], n)
    return names


def test_eval_folds_that_cannot_fit_the_event_model_use_the_bundled_one_and_say_so(tmp_path):
    """A folder without labels.json has no contact clip to fit on (was scikit-learn's "y contains
    1 class" traceback at the default --folds 5); nor do contact clips whose own sound has no onset
    (or one clip's: an inner fold choosing the picking sees none). Those folds are scored with the
    bundled event model, marked so in the JSON and in the table."""
    unlabelled = tmp_path / "unlabelled"
    _clips(unlabelled, tmp_path, [None] * 4)
    result = run_foley("eval", str(unlabelled), "--json", "--quiet", timeout=EVAL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["clips"]) == 4 and {f["event_model"] for f in report["folds"]} == {"bundled"}
    assert all("0 contact clips" in f["event_model_why"] for f in report["folds"])
    sparse = tmp_path / "sparse"
    names = _clips(sparse, tmp_path, [[0.8], []])
    (sparse / "labels.json").write_text(json.dumps({"clips": [{"file": n, "action": "hit"} for n in names]}))
    table = run_foley("eval", str(sparse), "--folds", "2", "--quiet", timeout=EVAL_TIMEOUT_S)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("scored with the bundled event model, not cross-validated") == 2
    assert "an inner fold choosing the picking" in table.stdout


def test_eval_refuses_label_entries_of_the_wrong_kind_naming_them(tmp_path):
    """A label field the evaluation reads that is not text (was an AttributeError from
    corpus.clip_role or the description reader), an entry that is not an object, or a `file`
    naming no file of the folder: one line naming the entry, exit 2."""
    from appliance.evaluation.cli import load_labels

    folder = tmp_path / "clips"
    _clips(folder, tmp_path, [[0.5]])
    labels = folder / "labels.json"
    for entry, says in [({"file": "clip0.mp4", "category": 5, "action": "hit", "recording_id": "r"}, '"category" must be text'),
                        ({"file": "clip0.mp4", "description": 7}, '"description" must be text'),
                        ({"file": "clip0.mp4", "recording_id": ["r"]}, '"recording_id" must be text'),
                        ({"file": "other.mp4", "action": "hit"}, '"file" must name a file in'),
                        ({"file": 3}, '"file" must name a file in'), ("clip0.mp4", "not an object")]:
        labels.write_text(json.dumps({"clips": [entry]}))
        result = run_foley("eval", str(folder), "--folds", "0", "--quiet")
        assert result.returncode == 2 and "clip entry 1" in result.stderr and says in result.stderr, (entry, result.stderr)
        assert "Traceback" not in result.stderr
    labels.write_text(json.dumps({"clips": [{"file": "clip0.mp4", "category": None, "material": 3, "category_fit": 1}]}))
    assert load_labels(labels, [folder])["clip0.mp4"]["material"] == 3, "fields it does not read are not judged"


def test_labels_with_an_unknown_category_or_a_clip_twice_are_refused(tmp_path):
    """An unknown category was counted as a category-fit miss, and a clip labelled twice took the
    last entry, both without a word; an entry may name only a video of the folder."""
    from appliance.errors import UsageError
    from appliance.evaluation.cli import load_labels

    folder = tmp_path / "clips"
    _clips(folder, tmp_path, [[0.5]])
    (folder / "notes.txt").write_text("not a clip")
    labels = folder / "labels.json"
    for entries, says in [([{"file": "clip0.mp4", "category": "impact_unicorn"}], "'impact_unicorn' is no library category"),
                          ([{"file": "clip0.mp4", "action": "hit"}, {"file": "clip0.mp4", "action": "bark"}],
                           "clip0.mp4 is labelled twice"),
                          ([{"file": "notes.txt"}], '"file" must name a file in')]:
        labels.write_text(json.dumps({"clips": entries}))
        with pytest.raises(UsageError, match=says):
            load_labels(labels, [folder])


def test_clips_of_the_same_name_in_two_folders_are_told_apart(tmp_path):
    """Two folders' x.mp4 were one recording (the same fold) and two identical rows; one shared
    --labels entry labelled both. Each is named with its folder now, and a shared labels file
    that cannot tell them apart is refused."""
    from appliance.evaluation.cli import clip_names

    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        _clips(folder, tmp_path, [[0.5]])
    pairs = [(first / "clip0.mp4", None), (second / "clip0.mp4", None), (first / "other.mp4", None)]
    assert list(clip_names(pairs).values()) == ["a/clip0.mp4", "b/clip0.mp4", "other.mp4"]
    shared = tmp_path / "labels.json"
    shared.write_text(json.dumps({"clips": [{"file": "clip0.mp4", "action": "hit"}]}))
    result = run_foley("eval", str(first), str(second), "--labels", str(shared), "--folds", "0", "--quiet")
    assert result.returncode == 2 and "clip0.mp4 is in more than one folder" in result.stderr, result.stderr


def test_methods_and_folds_without_clips_are_not_reported_as_zero(tmp_path):
    """A run without descriptions showed the engine's row as 0.00 in every fold, and a category
    fit of "0/0 (0%)"; the table's separator had a cell less than its rows when no fold had a
    contact clip. No clip: null in the JSON, "–" in the table."""
    import io

    from appliance.evaluation.crossval import ClipResult, print_report, summarise

    scores = {"reference_onsets": 4, "generated_onsets": 5, "matched": 3, "accuracy": 0.75, "precision": 0.6,
              "f1": 0.667, "ap": 0.5}
    results = [ClipResult("x.mp4", 0, "contact", scores={"engine_no_description": scores}),
               ClipResult("y.mp4", 1, "other")]
    summary = summarise(results, 2)
    assert summary["onsets"]["engine"] is None and summary["per_fold"]["engine"] == {}
    assert summary["per_fold"]["engine_no_description"] == {0: 0.6667}
    assert summary["category_fit"]["engine"]["share"] is None
    out = io.StringIO()
    print_report(results, summary, out)
    table = [line for line in out.getvalue().splitlines() if line.startswith("|")][:7]
    assert len({line.count("|") for line in table}) == 1, table
    assert table[2] == "| engine | – | – | – | – | – |" and "no clip with a fitting category" in out.getvalue()
    empty = summarise([ClipResult("y.mp4", 0, "other")], 2)
    out = io.StringIO()
    print_report([ClipResult("y.mp4", 0, "other")], empty, out)
    table = [line for line in out.getvalue().splitlines() if line.startswith("|")][:7]
    assert len({line.count("|") for line in table}) == 1, table


def test_train_events_refuses_data_it_cannot_fit_on_in_one_line(tmp_path):
    """`scripts/train_events.py` on a missing folder, a file, a folder without labels.json (no
    contact clip) or contact clips whose own sound has no onset (was event_training.OneClass's
    traceback, exit 1): one line on stderr, exit 2, the bundled model untouched."""
    import subprocess
    import sys

    from tests.conftest import REPO

    def train(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "scripts/train_events.py", *args, "--folds", "2"], cwd=REPO,
                              capture_output=True, text=True, timeout=600)

    model = (REPO / "models" / "events.onnx").read_bytes()
    unlabelled, silent = tmp_path / "unlabelled", tmp_path / "silent"
    _clips(unlabelled, tmp_path, [None, None])
    names = _clips(silent, tmp_path, [[], []])
    (silent / "labels.json").write_text(json.dumps({"clips": [{"file": n, "action": "hit"} for n in names]}))
    for args, says in [((str(tmp_path / "missing"),), "missing: not a folder"),
                       ((str(silent / names[0]),), "not a folder"),
                       ((str(unlabelled),), "only 0 contact clips"),
                       ((str(silent),), "cannot fit the event model: 1 contact clips"),
                       ((str(unlabelled), str(silent)), "cannot fit the event model")]:
        result = train(*args)
        assert result.returncode == 2 and says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (REPO / "models" / "events.onnx").read_bytes() == model


def test_eval_refuses_a_seed_out_of_range_before_any_clip_is_analysed(tmp_path):
    """--seed -1 was numpy's traceback in the fold split (after every clip was analysed), and
    with --folds 0 a refusal only when the first clip was scored: now one line naming --seed,
    exit 2, before any work (no progress line)."""
    folder = tmp_path / "clips"
    _clips(folder, tmp_path, [[0.5]])
    for seed, folds in (("-1", "2"), ("-1", "0"), (str(2**32), "0")):
        result = run_foley("eval", str(folder), "--folds", folds, f"--seed={seed}")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"foley eval: --seed must be between 0 and 4294967295, not {seed}", result.stderr
