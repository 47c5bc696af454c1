#!/usr/bin/env python3
"""Category fit, cross-validated by recording: which picture evidence to trust, and what a description adds.

    python scripts/eval_category.py ../shared/eval/corpus ../shared/eval/clips [--folds 5]

Every folder holds clips and a labels.json (file, category, optional recording_id; a clip without
one is its own recording; `category: null` clips are not counted). A few frames per clip, spread
over it, meet the vision encoder (embeddings and ImageNet logits, cached beside the state
cache). Folds are split by recording_id. Six methods, each choosing one category per clip among
all the library's categories (no event kind narrows them here, as it does in the engine):
  majority  the most frequent category of the training folds;
  zeroshot  the engine's zero-shot reading (ImageNet labels → categories, engine/zeroshot.py),
            averaged over the clip's frames; nothing is trained;
  probe     logistic regression on the frames' vision embeddings, trained on the training folds
            (the recipe of appliance/evaluation/category_training.py, which
            scripts/train_category_probe.py ships), run as ONNX like the shipped probe,
            log-probabilities averaged over the frames;
  combined  zero-shot and probe votes standardised over the categories and added
            (engine/zeroshot.py with_probe), as the engine reads a keyframe;
  described the clip's labelled description alone, through the description reader
            (library/description.py);
  both      description and combined picture votes added as the engine adds them, the picture's
            weight chosen on the training folds (appliance/evaluation/vote_weights.py).
Fit: the chosen category is the labelled one, or both are footsteps_* (a family). Prints per-fold
and pooled fits for every method in one run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np

from appliance.engine.choose import WEIGHTS, standardised
from appliance.engine.zeroshot import ZeroShot, with_probe
from appliance.evaluation.category_training import C, FRAMES, RECIPE_VERSION, clip_frames, fit_probe
from appliance.evaluation.corpus import category_fits
from appliance.evaluation.vote_weights import VoteClip, fit_vision_weight
from appliance.inference import embed_text, vision_encoder
from appliance.inference.manifest import load_manifest
from appliance.library import load_catalog, searcher
from appliance.library.description import reader_for
from appliance.paths import state_dir

METHODS = ("majority", "zeroshot", "probe", "combined", "described", "both")


def load_clips(folders: list[Path]) -> list[dict]:
    clips = []
    for folder in folders:
        for entry in json.loads((folder / "labels.json").read_text(encoding="utf-8"))["clips"]:
            if entry.get("category"):
                clips.append({**entry, "path": folder / entry["file"],
                              "recording": entry.get("recording_id") or f"{folder.name}/{entry['file']}"})
    return clips


def features(clips: list[dict], count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per clip (embeddings (count, 1280), logits (count, 1000)), cached by file content and model."""
    encoder = vision_encoder()
    folder = state_dir() / "cache" / "eval-category"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for clip in clips:
        key = hashlib.sha256(clip["path"].read_bytes() + encoder.entry.sha256.encode()
                             + bytes([count, RECIPE_VERSION])).hexdigest()[:16]
        cached = folder / f"{key}.npz"
        if not cached.is_file():
            embeddings, logits = encoder.embed(clip_frames(clip["path"], count))
            np.savez(cached, embeddings=embeddings, logits=logits)
        data = np.load(cached)
        out.append((data["embeddings"], data["logits"]))
    return out


def recording_folds(clips: list[dict], k: int, seed: int = 0) -> list[int]:
    """Fold number per clip: recordings shuffled (seeded) and dealt round-robin."""
    recordings = sorted({c["recording"] for c in clips})
    order = np.random.default_rng(seed).permutation(len(recordings))
    fold_of = {recordings[i]: n % k for n, i in enumerate(order)}
    return [fold_of[c["recording"]] for c in clips]


def vote_evidence(clips: list[dict], feats: list) -> tuple[list[str], list[VoteClip]]:
    """The library's categories, and per clip its description's scores (the description reader),
    its frames' zero-shot scores (averaged) and embeddings: what the methods vote with."""
    catalog = load_catalog()
    names = sorted(n for n in catalog.categories if catalog.in_category(n))
    zero_shot = ZeroShot(searcher(catalog), vision_encoder().labels, load_manifest()["text-encoder"].sha256,
                         state_dir() / "cache")
    reader = reader_for(searcher(catalog), embed_text)
    return names, [VoteClip(c["recording"], c["category"], reader.scores(c["description"]),
                            {n: float(np.mean([zero_shot.scores(row)[n] for row in logits])) for n in names},
                            embeddings)
                   for c, (embeddings, logits) in zip(clips, feats)]


def cross_validate(clips: list[dict], feats: list, k: int, c: float, verbose: bool = True) -> dict[str, list[list[bool]]]:
    """Per method, per fold, whether each held-out clip's category fits."""
    names, evidence = vote_evidence(clips, feats)
    zs_scores = [e.zero_shot for e in evidence]
    described = [standardised(e.described, names) for e in evidence]
    folds = recording_folds(clips, k)
    hits = {m: [[] for _ in range(k)] for m in METHODS}
    for fold in range(k):
        train = [i for i, f in enumerate(folds) if f != fold]
        counts = Counter(clips[i]["category"] for i in train)
        majority = min(counts, key=lambda n: (-counts[n], n))
        probe = fit_probe([feats[i][0] for i in train], [clips[i]["category"] for i in train], c).probe()
        weight = fit_vision_weight([evidence[i] for i in train], names)
        if verbose:
            print(f"fold {fold}: the picture's vote weight chosen on the training folds: {weight:g}")
        for i in (i for i, f in enumerate(folds) if f == fold):
            probe_scores = probe.log_probabilities(feats[i][0])
            combined = standardised(with_probe(zs_scores[i], probe_scores), names)
            both = {n: WEIGHTS["description"] * described[i][n] + weight * combined[n] for n in names}
            chosen = {"majority": majority,
                      "zeroshot": max(names, key=lambda n: zs_scores[i][n]),
                      "probe": max(probe_scores, key=probe_scores.get),
                      "combined": max(names, key=lambda n: combined[n]),
                      "described": max(names, key=lambda n: described[i][n]),
                      "both": max(names, key=both.get)}
            for method in METHODS:
                hits[method][fold].append(bool(category_fits(chosen[method], clips[i])))
            if verbose:
                print(f"fold {fold} {clips[i]['file']:<26} {clips[i]['category']:<16} "
                      + " ".join(f"{m}={chosen[m]}" for m in METHODS[1:]))
    return hits


def pooled(hits: dict[str, list[list[bool]]]) -> dict[str, float]:
    return {m: round(float(np.mean([x for fold in h for x in fold])), 3) for m, h in hits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=FRAMES, help=f"frames per clip (default {FRAMES})")
    parser.add_argument("--probe-c", type=float, default=C, help=f"the probe's inverse regularisation (default {C:g})")
    args = parser.parse_args(argv)

    clips = load_clips(args.folders)
    hits = cross_validate(clips, features(clips, args.frames), args.folds, args.probe_c)
    print(f"\n{len(clips)} clips with a category, {len({c['recording'] for c in clips})} recordings, "
          f"{args.folds} folds by recording, {args.frames} frames per clip, probe C={args.probe_c:g}")
    print("method    " + " ".join(f"fold{f}".rjust(8) for f in range(args.folds)) + "   pooled")
    for method in METHODS:
        cells = [f"{sum(h)}/{len(h)}".rjust(8) for h in hits[method]]
        flat = [x for h in hits[method] for x in h]
        print(f"{method:<10}" + " ".join(cells) + f"   {sum(flat)}/{len(flat)} = {np.mean(flat):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
