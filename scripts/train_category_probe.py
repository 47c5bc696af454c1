"""Rebuild models/category-probe.onnx and its manifest entry from labelled real footage.

    python scripts/train_category_probe.py ../shared/eval/corpus ../shared/eval/clips

Cross-validates first (scripts/eval_category.py, folds by recording) and records the figures,
then fits the logistic probe on every labelled clip's frames and exports it with skl2onnx
(the `train` extra: scikit-learn, skl2onnx; never needed at run time). Only the model's weights
are shipped: no frame, clip or label file of the training folders.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_category import cross_validate, features, fit_probe, load_clips, pooled  # noqa: E402

from appliance.inference.manifest import sha256_of  # noqa: E402
from appliance.paths import models_dir  # noqa: E402

NAME, FILE = "category-probe", "category-probe.onnx"


def export(model, dim: int, path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = to_onnx(model, initial_types=[("embedding", FloatTensorType([None, dim]))],
                         options={id(model): {"zipmap": False}}, target_opset=17)
    assert [o.name for o in onnx_model.graph.output] == ["label", "probabilities"]
    path.write_bytes(onnx_model.SerializeToString())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--probe-c", type=float, default=1.0)
    args = parser.parse_args(argv)

    clips = load_clips(args.folders)
    feats = features(clips, args.frames)
    hits = cross_validate(clips, feats, args.folds, args.probe_c, verbose=False)
    embeddings = np.concatenate([e for e, _ in feats])
    labels = [c["category"] for c, (e, _) in zip(clips, feats) for _ in range(len(e))]
    probe = fit_probe(embeddings, labels, args.probe_c)
    target = models_dir() / FILE
    export(probe.model, embeddings.shape[1], target)

    manifest_path = models_dir() / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["models"][NAME] = {
        "file": FILE,
        "sha256": sha256_of(target),
        "size_bytes": target.stat().st_size,
        "classes": [str(c) for c in probe.model.classes_],
        "source": {"trained_by": "scripts/train_category_probe.py", "library": "scikit-learn LogisticRegression "
                   f"(C={args.probe_c:g}, lbfgs) exported by skl2onnx", "licence": "the project's"},
        "inputs": [{"name": "embedding", "type": "tensor(float)", "shape": ["n", int(embeddings.shape[1])],
                    "note": "the vision encoder's embedding, L2-normalised (appliance/inference/probe.py)"}],
        "outputs": [{"name": "probabilities", "type": "tensor(float)", "shape": ["n", len(probe.model.classes_)]}],
        "training": {
            "data": "real footage with its recorded sound labelled with a library category (the eval corpus "
                    "and development clips); no file of it is shipped",
            "clips": len(clips), "recordings": len({c["recording"] for c in clips}),
            "frames_per_clip": args.frames, "frames": int(len(labels)),
            "per_category": dict(sorted(Counter(c["category"] for c in clips).items())),
        },
        "cross_validation": {
            "folds": args.folds, "split": "by recording_id",
            "fit": "chosen category = labelled, or both footsteps_*; one category per clip from its frames",
            "pooled": pooled(hits),
            "per_fold": {m: " ".join(f"{sum(h)}/{len(h)}" for h in per_fold) for m, per_fold in hits.items()},
            "command": "python scripts/eval_category.py ../shared/eval/corpus ../shared/eval/clips",
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(manifest["models"][NAME]["cross_validation"], indent=2))
    print(f"wrote {target} ({target.stat().st_size} bytes) and its manifest entry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
