"""`foley eval DIR [--labels labels.json] [--no-description] [--json]`.

Scores every clip of DIR with its own audio ignored, then compares the generated track with the
clip's original sound: onset accuracy / precision / F1 / AP (CondFoleyGen protocol), AV-Align,
and — when labels are given — whether the chosen sound's category fits the labelled material or
action. Any folder of clips works; labels.json is optional ({"clips": [{"file", "description",
"category", "material", "action"}]}).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.evaluation.avalign import flow_peaks
from appliance.evaluation.clip import evaluate_clip, summarise
from appliance.mixing import SAMPLE_RATE
from appliance.video import read_audio

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}


def load_labels(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    try:
        return {entry["file"]: entry for entry in json.loads(path.read_text(encoding="utf-8"))["clips"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable labels file ({exc})") from None


def dominant_category(timeline: Timeline) -> str | None:
    """The category most of the clip's sounds came from (what category fit judges)."""
    counts = Counter(e.category for e in timeline.events)
    return counts.most_common(1)[0][0] if counts else timeline.ambience.category


def evaluate_folder(folder: Path, labels: dict[str, dict], use_descriptions: bool, engine: Engine) -> list[dict]:
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise UsageError(f"{folder}: no video clips ({', '.join(sorted(VIDEO_SUFFIXES))})")
    rows = []
    for clip in clips:
        label = labels.get(clip.name)
        description = label.get("description") if (label and use_descriptions) else None
        result = engine.score(clip, ScoreOptions(description=description))
        timeline = result.timeline
        reference = read_audio(clip, SAMPLE_RATE)
        chosen = dominant_category(timeline)
        scores = evaluate_clip(reference, SAMPLE_RATE, result.audio, SAMPLE_RATE,
                               video_peaks=flow_peaks(result.trace.times, result.trace.flow),
                               frame_period=1 / timeline.clip.fps, chosen_category=chosen, label=label)
        rows.append({"clip": clip.name, "description": description, "category": chosen,
                     "events": len(timeline.events), **scores})
    return rows


def print_table(rows: list[dict], summary: dict) -> None:
    print("| clip | category | fit | ref onsets | gen onsets | accuracy | precision | F1 | AP | AV-Align |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fit = {True: "yes", False: "no"}.get(r.get("category_fit"), "–")
        print(f"| {r['clip']} | {r['category']} | {fit} | {r['reference_onsets']} | {r['generated_onsets']} | "
              f"{r['accuracy']:.2f} | {r['precision']:.2f} | {r['f1']:.2f} | {r['ap']:.2f} | {r.get('av_align', 0):.2f} |")
    print(f"| overall ({summary['clips']} clips, pooled) | | {summary.get('category_fit', '–')} | | | "
          f"{summary['accuracy']:.2f} | {summary['precision']:.2f} | {summary['f1']:.2f} | "
          f"{summary['mean_ap']:.2f} | {summary['mean_av_align']:.2f} |")


def handle(args) -> int:
    if importlib.util.find_spec("librosa") is None:
        raise UsageError("evaluation needs the `eval` extra (librosa): pip install 'foley-appliance[eval]'")
    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    labels_path = Path(args.labels) if args.labels else (folder / "labels.json" if (folder / "labels.json").is_file() else None)
    rows = evaluate_folder(folder, load_labels(labels_path), not args.no_description, Engine(cache=None))
    summary = summarise(rows)
    if args.json:
        json.dump({"clips": rows, "overall": summary}, sys.stdout, indent=2)
        print()
    else:
        print_table(rows, summary)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="score a folder of clips and compare with their own sound")
    parser.add_argument("dir", help="folder of clips with their original sound")
    parser.add_argument("--labels", help="labels.json (default: DIR/labels.json when present)")
    parser.add_argument("--no-description", action="store_true", help="ignore the labels' descriptions")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handle)
