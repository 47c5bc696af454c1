"""`foley eval DIR... [--folds K] [--labels labels.json] [--no-description] [--json]`.

Scores every clip of the folders with its own audio ignored and compares the generated track
with the clip's original sound: onset accuracy / precision / F1 / AP (CondFoleyGen protocol),
category fit, ambient scenes, with the two naive baselines in the same run.

With --folds K (default 5) the evaluation is cross-validated (`crossval`): folds split by
`recording_id`, the event model fitted on the other folds' contact clips only and the category
probe on their clips labelled with a category, each clip scored with models that never saw its
recording. --folds 0 scores every clip with the bundled models as they are (which were fitted on
whatever they were fitted on: say so when quoting it). A fold whose training folds give the
event model nothing to learn from (no contact clip with onsets of its own sound: a folder
without labels has no contact clip) is scored with the bundled event model, and the report marks
that fold ("event_model": "bundled" and why; a line under the table). Any folder of clips works;
each folder's labels.json is optional ({"clips": [{"file", "description", "category", "action",
"recording_id"}]}; those four text or null, `file` naming a file of the folder — of one of the
folders for --labels — or the command refuses the entry by its number). Needs the `eval` extra
(librosa), and for --folds the `train` extra (scikit-learn, skl2onnx).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from appliance.cli_args import within
from appliance.cli_progress import counted, say
from appliance.engine.options import MAX_SEED, SEEDS
from appliance.engine.pipeline import Engine
from appliance.errors import UsageError
from appliance.library import load_catalog
from appliance.os_text import display_name

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


TEXT_FIELDS = ("description", "category", "action", "recording_id")
"""The label fields the evaluation reads (corpus.py, crossval.py): text or null. Other fields
(material, category_fit, notes …) are not read, so any value passes."""


def load_labels(path: Path | None, folders: list[Path] = ()) -> dict[str, dict]:
    """File name → its entry; every entry checked (`check_entry`), so a wrong field is one line
    naming it, not a traceback deep in the evaluation."""
    if path is None:
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["clips"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable labels file ({exc})") from None
    if not isinstance(entries, list):
        raise UsageError(f"{path}: not a readable labels file (\"clips\" is not a list)")
    folders = [folder for folder in folders if folder.is_dir()]  # a missing one is refused on its turn
    names = {p.name for folder in folders for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES}
    categories = set(load_catalog().categories)
    labelled: set[str] = set()
    for number, entry in enumerate(entries, 1):
        where = f"{path}: clip entry {number}"
        check_entry(entry, names, where, " or ".join(map(str, folders)))
        if entry.get("category") is not None and entry["category"] not in categories:  # counted as a miss without a word
            raise UsageError(f"{where} ({entry['file']}): \"category\" {entry['category']!r} is no library category "
                             "(null where none fits)")
        if entry["file"] in labelled:  # the last one won without a word
            raise UsageError(f"{where}: {entry['file']} is labelled twice")
        labelled.add(entry["file"])
    return {entry["file"]: entry for entry in entries}


def check_entry(entry, names: set[str], where: str, folders: str) -> None:
    """UsageError unless `entry` is an object whose `file` names one of `names` (the video files
    of `folders`: a misspelt name would leave its clip unlabelled without a word) and whose read
    fields are text or null."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: not an object ({{\"file\": …}}) but {type(entry).__name__}")
    file = entry.get("file")
    if not isinstance(file, str) or file not in names:
        raise UsageError(f"{where}: \"file\" must name a file in {folders}, not {file!r}")
    for key in TEXT_FIELDS:
        if not isinstance(entry.get(key), (str, type(None))):
            raise UsageError(f"{where} ({file}): \"{key}\" must be text or null, not {entry[key]!r}")


def folder_clips(folder: Path, labels_path: Path | None, folders: list[Path] = ()) -> list[tuple[Path, dict | None]]:
    """(clip, its label or None) for every video of `folder`. The folder's own labels.json names
    its files; a labels file given for several `folders` names files of any of them."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    if labels_path is None and (folder / "labels.json").is_file():
        labels_path, folders = folder / "labels.json", ()
    labels = load_labels(labels_path, list(folders) or [folder])
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise UsageError(f"{folder}: no video clips ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return [(clip, labels.get(clip.name)) for clip in clips]


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"evaluation needs {', '.join(missing)}: pip install 'foley-appliance[eval,train]'")


def handle(args) -> int:
    from appliance.evaluation import crossval

    _require("librosa", *(("sklearn", "skl2onnx") if args.folds else ()))
    if args.folds == 1 or args.folds < 0:
        raise UsageError("--folds: 0 (no fitting) or at least 2")
    labels_path = Path(args.labels) if args.labels else None
    folders = [Path(folder) for folder in args.dir]
    pairs = [pair for folder in folders for pair in folder_clips(folder, labels_path, folders)]
    clashing = sorted(name for name, count in Counter(clip.name for clip, _ in pairs).items() if count > 1)
    if clashing and labels_path is not None:  # one entry would label every clip of that name
        raise UsageError(f"--labels names clips by file name, and {display_name(clashing[0])} is in more than one "
                         "folder: give each folder its own labels.json")
    if args.no_description:
        pairs = [(clip, {k: v for k, v in (label or {}).items() if k != "description"} or None) for clip, label in pairs]
    log = say if not args.quiet else (lambda line: None)
    with bundled_library_only():
        return _evaluate(args, pairs, log)


@contextlib.contextmanager
def bundled_library_only():
    """The run in a state folder of its own, so the engine sees the bundled library alone: a
    user's own sounds and taught exemplars (`foley library teach`) may come from a clip being
    evaluated, whose own sound would then score it."""
    before = os.environ.get("FOLEY_STATE_DIR")
    with tempfile.TemporaryDirectory(prefix="foley-eval-state-") as state:
        os.environ["FOLEY_STATE_DIR"] = state
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("FOLEY_STATE_DIR", None)
            else:
                os.environ["FOLEY_STATE_DIR"] = before


def clip_names(pairs) -> dict[Path, str]:
    """Each clip's name in the report (and its recording, without a recording_id): its file name,
    with its folder's where two folders hold the same name (they were one recording, shown twice
    alike); text, whatever bytes the name had."""
    counts = Counter(clip.name for clip, _ in pairs)
    return {clip: display_name(clip.name if counts[clip.name] == 1 else f"{clip.parent.name}/{clip.name}")
            for clip, _ in pairs}


def _evaluate(args, pairs, log) -> int:
    from appliance.evaluation import crossval
    from appliance.library import load_catalog

    engine = Engine(cache=None)
    vision = engine.vision if args.folds else None  # the per-fold probes' embeddings
    clips, names = [], clip_names(pairs)
    for clip, label in counted(pairs, "analysing clips"):
        clips.append(crossval.analyse_for_training(clip, label, vision, names[clip]))
        log(f"analysed {clips[-1].training.name}: {len(clips[-1].training.rows)} intervals, "
            f"{len(clips[-1].training.onsets)} onsets of its own sound, {clips[-1].role}")
    if args.folds:
        results, fitted = crossval.cross_validate(clips, args.folds, engine, args.seed, log)
        folds = args.folds
    else:
        results, fitted, folds = crossval.score_bundled(clips, engine, args.seed), [], 1
    summary = crossval.summarise(results, folds)
    summary["library_templates"] = Counter(t.origin for t in load_catalog().templates)
    if args.json:
        json.dump(crossval.as_json(results, summary, fitted), sys.stdout, indent=1, default=str)
        print()
    else:
        crossval.print_report(results, summary, fitted=fitted)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score folders of clips and compare with their own sound (cross-validated, with baselines)",
        description="Score folders of clips and compare each generated track with the clip's own sound, "
                    "cross-validated by recording, with the naive baselines in the same run.")
    parser.add_argument("dir", nargs="+", help="folders of clips with their original sound")
    parser.add_argument("--folds", type=int, default=5,
                        help="folds split by recording_id (default 5); 0 scores with the bundled model as it is")
    parser.add_argument("--labels", help="labels.json for every folder (default: each folder's own labels.json)")
    parser.add_argument("--no-description", action="store_true", help="ignore the labels' descriptions")
    parser.add_argument("--seed", type=within("--seed", SEEDS), default=0,
                        help=f"seed of the fold split, the trees and the random baseline, 0 to {MAX_SEED}")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--json", action="store_true", help="the whole result as JSON on stdout")
    parser.set_defaults(handler=handle)
