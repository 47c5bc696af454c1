#!/usr/bin/env python3
"""Rebuild models/events.onnx (the learned event model) from folders of clips with their own sound.

Usage: .venv/bin/python scripts/train_events.py DIR [DIR ...] [--folds 5] [--seed 0] [--spread 3] [--frame-step 2]
Needs the `eval` and `train` extras. Every folder needs a labels.json (action, recording_id …):
only contact clips train the model (appliance/evaluation/corpus.py). Prints the per-fold figures
of the held-out clips (event times matched to the clips' own onsets, ±0.1 s, no sound library),
then fits the trees and picking on every contact clip and writes the model and its manifest
entry (training counts, features, CV figures, size — never a file of the training data).
`--spread K` also prints (and records) the pooled held-out F1 with K other fold seeds: on a few
dozen recordings a figure moves by about ±0.03 with the split alone, so a change to the model is
judged on several splits, not on one (docs/benchmarks.md).
`--frame-step N` also scores the held-out clips with only every Nth frame kept (their times
unchanged), by the same fits: how the model holds up under a camera at a lower rate, such as a
Pi camera at 15 fps in dim light. The clips at the lower rate are never trained on.
The whole-engine figures come from `foley eval DIR... --folds 5` (docs/benchmarks.md).
Data no model can be fitted on (a folder that is missing or holds no clips, too few contact
clips for the folds, or contact clips — of all, or of a fold's training part — whose own sound
has no onset) is one line on stderr and exit status 2, before anything is written.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from appliance.atomic import write_json_atomic
from appliance.evaluation.cli import folder_clips
from appliance.evaluation.corpus import assign_folds
from appliance.evaluation.crossval import analyse_for_training
from appliance.errors import UsageError
from appliance.evaluation.event_training import (BETA, LABEL_TOLERANCE_S, TREES, Counts, OneClass, count_matches,
                                                 difference_peaks, fit_difference_picking, fit_events,
                                                 interval_rows, rendered_clips)
from appliance.inference.manifest import MANIFEST_NAME, sha256_of
from appliance.motion.event_model import pick_onsets
from appliance.motion.onset_features import FEATURE_NAMES
from appliance.paths import models_dir

MODEL_NAME = "events.onnx"


def scored(clips, model, picking, difference_picking) -> tuple[Counts, Counts]:
    """Pooled counts of the model's event times and of frame-difference peaks on `clips`."""
    placed = sum((count_matches(c.onsets, [o.time for o in pick_onsets(c.rows, model.probabilities(c.matrix()), picking)])
                  for c in clips), Counts())
    peaks = sum((count_matches(c.onsets, difference_peaks(c.rows, difference_picking)) for c in clips), Counts())
    return placed, peaks


def held_out_figures(clips, rendered, folds: int, seed: int, log: bool = True, slower: dict | None = None) -> dict:
    """Per-fold F1 of the model and of the frame-difference baseline, each fitted without the fold.

    slower: clip name → the same clip at a lower frame rate (`--frame-step`), scored by the same
    fits (made on the clips at their own rate)."""
    fold_of = assign_folds([c.recording for c in clips], folds, seed)
    model_total, baseline_total, slower_total, slower_baseline_total, per_fold = Counts(), Counts(), Counts(), Counts(), []
    for fold in range(folds):
        train = [c for c in clips if fold_of[c.recording] != fold]
        held = [c for c in clips if fold_of[c.recording] == fold]
        if not held:
            continue
        fitted, difference_picking = fit_events(train, rendered, seed), fit_difference_picking(train)
        model = fitted.model()
        model_counts, baseline_counts = scored(held, model, fitted.picking, difference_picking)
        model_total, baseline_total = model_total + model_counts, baseline_total + baseline_counts
        figures = {"fold": fold, "clips": len(held), "f1": round(model_counts.f(), 3),
                   "difference_peaks_f1": round(baseline_counts.f(), 3)}
        line = (f"fold {fold}: {len(held)} clips, F1 {model_counts.f():.3f} (accuracy {model_counts.accuracy:.2f}, "
                f"precision {model_counts.precision:.2f}); frame-difference peaks {baseline_counts.f():.3f}")
        if slower:
            slow, slow_baseline = scored([slower[c.name] for c in held], model, fitted.picking, difference_picking)
            slower_total, slower_baseline_total = slower_total + slow, slower_baseline_total + slow_baseline
            figures.update(slower_f1=round(slow.f(), 3), slower_difference_peaks_f1=round(slow_baseline.f(), 3))
            line += f"; at the lower rate {slow.f():.3f} and {slow_baseline.f():.3f}"
        per_fold.append(figures)
        if log:
            print(line, flush=True)
    result = {"folds": per_fold, "pooled_f1": round(model_total.f(), 3),
              "pooled_accuracy": round(model_total.accuracy, 3), "pooled_precision": round(model_total.precision, 3),
              "difference_peaks_pooled_f1": round(baseline_total.f(), 3)}
    if slower:
        result["slower"] = {"pooled_f1": round(slower_total.f(), 3), "pooled_precision": round(slower_total.precision, 3),
                            "difference_peaks_pooled_f1": round(slower_baseline_total.f(), 3)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spread", type=int, default=0, metavar="K",
                        help="also the pooled held-out F1 with K other fold seeds (seed+1 … seed+K)")
    parser.add_argument("--frame-step", type=int, default=1, metavar="N",
                        help="also score the held-out clips with only every Nth frame (a camera at 1/N of the "
                             "rate), by the same fits; reported, never trained on")
    args = parser.parse_args()
    if args.frame_step < 1:
        parser.error("--frame-step: 1 (every frame) or more")
    if args.folds < 2:
        parser.error("--folds: at least 2 (the figures are held-out ones)")
    try:
        return train(args)
    except UsageError as exc:  # a missing folder, no clips, a bad labels.json or clip: said as `foley eval` says it
        print(f"train_events.py: {exc}", file=sys.stderr)
    except OneClass as exc:
        # `foley eval` scores such a fold with the bundled model instead (crossval.fold_event_model);
        # a script whose job is to replace that model has nothing to write: it says why and stops.
        print(f"train_events.py: cannot fit the event model: {exc}", file=sys.stderr)
    return 2


def train(args) -> int:
    """The held-out figures, then the model fitted on every contact clip, written with its
    manifest entry. Raises UsageError or OneClass before writing anything."""
    labelled = [analyse_for_training(clip, label) for folder in args.dir for clip, label in folder_clips(folder, None)]
    clips = [c.training for c in labelled if c.role == "contact"]
    if len(clips) < args.folds:
        raise UsageError(f"only {len(clips)} contact clips (labelled with a contact `action` in their folder's "
                         f"labels.json): not enough for {args.folds} folds")
    print(f"{len(clips)} contact clips of {len(labelled)}, {len({c.recording for c in clips})} recordings", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        rendered = rendered_clips(scratch)
    slower = ({c.training.name: replace(c.training, rows=interval_rows(c.path, args.frame_step))
               for c in labelled if c.role == "contact"} if args.frame_step > 1 else None)
    figures, other_seeds = None, []
    for seed in range(args.seed, args.seed + 1 + args.spread):  # the first is the recorded split
        result = held_out_figures(clips, rendered, args.folds, seed, log=figures is None, slower=slower)
        print(f"seed {seed}: pooled F1 {result['pooled_f1']:.3f}; frame-difference peaks "
              f"{result['difference_peaks_pooled_f1']:.3f}"
              + (f"; at 1/{args.frame_step} of the frame rate: {result['slower']['pooled_f1']:.3f} and "
                 f"{result['slower']['difference_peaks_pooled_f1']:.3f}" if slower else ""), flush=True)
        if figures is None:
            figures = result
        else:
            other_seeds.append({"seed": seed, "pooled_f1": result["pooled_f1"],
                                "difference_peaks_pooled_f1": result["difference_peaks_pooled_f1"],
                                **({"slower": result["slower"]} if slower else {})})
    fitted = fit_events(clips, rendered, args.seed)
    target = models_dir() / MODEL_NAME
    target.write_bytes(fitted.onnx)
    manifest_path = models_dir() / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["models"]["events"] = {
        "file": MODEL_NAME, "sha256": sha256_of(target), "size_bytes": target.stat().st_size,
        "kind": "scikit-learn GradientBoostingClassifier → skl2onnx TreeEnsembleClassifier (ai.onnx.ml)",
        "trees": TREES, "features": list(FEATURE_NAMES), "picking": fitted.picking.as_dict(),
        "training": {"contact_clips": fitted.clips, "recordings": len({c.recording for c in clips}),
                     "intervals": fitted.intervals, "positive_intervals": fitted.positives,
                     "label": f"an onset of the clip's own sound within {LABEL_TOLERANCE_S} s of the interval",
                     "rendered_clips": fitted.rendered_clips, "rendered_intervals": fitted.rendered_intervals,
                     "rendered_share": round(fitted.rendered_intervals / (fitted.rendered_intervals + fitted.intervals), 3),
                     "picking_objective": f"F{BETA:g} on the real clips' out-of-fold probabilities"},
        "cross_validation": {**figures, "k": args.folds, "seed": args.seed, "other_seeds": other_seeds,
                             **({"slower_frame_step": args.frame_step} if slower else {}),
                             "protocol": "event times vs the clip's own onsets, ±0.1 s; folds by recording_id"},
    }
    write_json_atomic(manifest_path, manifest)
    print(f"wrote {target} ({target.stat().st_size} bytes), picking {fitted.picking.as_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
