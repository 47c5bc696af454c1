#!/usr/bin/env python3
"""Rebuild models/category-probe.onnx and its manifest entry from labelled real footage.

    python scripts/train_category_probe.py ../shared/eval/corpus ../shared/eval/clips

Cross-validates first (scripts/eval_category.py, folds by recording) and records the figures,
chooses the picture's category vote weight on every labelled clip (appliance/evaluation/vote_weights.py,
shipped as the entry's `vote_weights`), then fits the probe on every labelled clip's frames by the recipe `foley eval --folds` fits per
fold (appliance/evaluation/category_training.py; the `train` extra: scikit-learn, skl2onnx; never
needed at run time). Only the model's weights are shipped: no frame, clip or label file of the
training folders.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval_category import cross_validate, features, load_clips, pooled, vote_evidence  # this script's folder: sys.path[0]

from appliance.evaluation.category_training import C, FRAMES, fit_probe
from appliance.evaluation.vote_weights import INNER_SPLITS, fit_counts, fit_vision_weight
from appliance.inference.manifest import sha256_of
from appliance.paths import models_dir

NAME, FILE = "category-probe", "category-probe.onnx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--probe-c", type=float, default=C)
    args = parser.parse_args(argv)

    clips = load_clips(args.folders)
    feats = features(clips, args.frames)
    hits = cross_validate(clips, feats, args.folds, args.probe_c, verbose=False)
    names, evidence = vote_evidence(clips, feats)
    weight_counts = fit_counts(evidence, names)
    vision_weight = fit_vision_weight(evidence, names)
    probe = fit_probe([e for e, _ in feats], [c["category"] for c in clips], args.probe_c)
    dim = int(feats[0][0].shape[1])
    target = models_dir() / FILE
    target.write_bytes(probe.onnx)

    manifest_path = models_dir() / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["models"][NAME] = {
        "file": FILE,
        "sha256": sha256_of(target),
        "size_bytes": target.stat().st_size,
        "classes": probe.classes,
        "source": {"trained_by": "scripts/train_category_probe.py", "library": "scikit-learn LogisticRegression "
                   f"(C={args.probe_c:g}, lbfgs) exported by skl2onnx", "licence": "the project's"},
        "inputs": [{"name": "embedding", "type": "tensor(float)", "shape": ["n", dim],
                    "note": "the vision encoder's embedding, L2-normalised (appliance/inference/probe.py)"}],
        "outputs": [{"name": "probabilities", "type": "tensor(float)", "shape": ["n", len(probe.classes)]}],
        "training": {
            "data": "real footage with its recorded sound labelled with a library category (the eval corpus "
                    "and development clips); no file of it is shipped",
            "clips": probe.clips, "recordings": len({c["recording"] for c in clips}),
            "frames_per_clip": args.frames, "frames": probe.frames, "per_category": probe.per_category,
        },
        "vote_weights": {"vision": vision_weight},
        "vote_weight_fit": {
            "what": "the picture's category vote weight against the description's (1), chosen on every labelled "
                    "clip by inner folds by recording (appliance/evaluation/vote_weights.py)",
            "clips_fitting_per_weight": {f"{w:g}": n for w, n in weight_counts.items()},
            "splits": INNER_SPLITS,
        },
        "cross_validation": {
            "folds": args.folds, "split": "by recording_id",
            "fit": "chosen category = labelled, or both footsteps_*; one category per clip from its frames",
            "pooled": pooled(hits),
            "per_fold": {m: " ".join(f"{sum(h)}/{len(h)}" for h in per_fold) for m, per_fold in hits.items()},
            "command": "python scripts/eval_category.py ../shared/eval/corpus ../shared/eval/clips",
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(manifest["models"][NAME]["cross_validation"], indent=2))
    print(f"wrote {target} ({target.stat().st_size} bytes) and its manifest entry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
