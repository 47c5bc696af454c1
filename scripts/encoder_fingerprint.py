#!/usr/bin/env python3
"""Dump both encoders' and the event model's outputs on fixed inputs, or compare two dumps
(cross-platform check).

    encoder_fingerprint.py dump OUT.json [CLIP ...]   # on each platform
    encoder_fingerprint.py compare A.json B.json [--min-cosine 0.9999]

The inputs are built from code (sentences, procedurally drawn images and frames), so they are
identical on every machine; the encoders are compared by cosine, since INT8 kernels may round
differently per CPU; the events a drawn scene gives must be the same (times to the microsecond,
confidences within 1e-4): the motion analysis and the trees decide what sounds, not a cosine.
Clips named after OUT (real footage, the same files on both sides) add each clip's event times,
compared the same way and counted: identical, moved within the evaluation's matching tolerance
(±0.1 s, appliance/evaluation/onsets.py), on one side only.
The optical flow (OpenCV's DIS) is not bit-identical across CPUs (docs/benchmarks.md, "aarch64
check"), so an event whose interval's probability is close to a neighbour's can move a frame.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

SENTENCES = [
    "footsteps on gravel",
    "a wooden door slams shut",
    "glass bottle smashes on the floor",
    "rain on a tin roof with distant thunder",
    "café crème brûlée, naïve Zoë",
    "knock knock",
]


def photos() -> list[np.ndarray]:
    """The held-out real photos shipped with the models (models/reference/vision-*.jpg)."""
    import cv2

    from appliance.paths import models_dir

    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted((models_dir() / "reference").glob("vision-*.jpg"))]


def patterns() -> list[np.ndarray]:
    """Deterministic synthetic BGR uint8 images: extreme inputs (flat gradients, hard edges)."""
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    gradient = np.stack([x / 320 * 255, y / 240 * 255, (x + y) / 560 * 255], axis=2)
    checker = (((x // 20 + y // 20) % 2) * 255)[..., None].repeat(3, axis=2)
    rings = (127 + 127 * np.sin(np.hypot(x - 160, y - 120) / 6))[..., None] * np.array([0.3, 0.8, 1.0])
    return [np.clip(a, 0, 255).astype(np.uint8) for a in (gradient, checker, rings)]


def scene_frames():
    """A textured background with a bright block that falls, stops, and is lifted, 3 times (30 fps)."""
    from appliance.video.decode import AnalysisFrame

    rng = np.random.default_rng(7)
    background = rng.integers(40, 120, (144, 256)).astype(np.uint8)
    for index in range(96):
        phase = index % 32
        top = 10 + (min(phase, 12) * 7 if phase < 20 else max(0, 84 - (phase - 20) * 7))
        grey = background.copy()
        grey[top:top + 30, 110:150] = 230
        yield AnalysisFrame(index=index, time=index / 30, grey=grey)


def events_of_scene() -> list[list[float]]:
    from appliance.motion import detect_events

    events, _ = detect_events(scene_frames())
    return [[round(e.time, 6), e.confidence if e.confidence is not None else -1.0] for e in events]


def events_of_clip(path: str) -> list[float]:
    """Event times of a real clip, from its analysis frames as the engine decodes them."""
    from pathlib import Path

    from appliance.engine.analysis import ANALYSIS_WIDTH
    from appliance.motion import detect_events
    from appliance.video import iter_frames

    events, _ = detect_events(iter_frames(Path(path), ANALYSIS_WIDTH))
    return [round(e.time, 6) for e in events]


def dump(path: str, clips: list[str] = ()) -> None:
    from pathlib import Path

    from appliance.inference import embed_frames, embed_text

    result = {"machine": platform.machine(), "text": {s: embed_text(s).tolist() for s in SENTENCES},
              "events": events_of_scene(), "clips": {Path(c).name: events_of_clip(c) for c in clips}}
    for name, frames in (("photos", photos()), ("patterns", patterns())):
        embeddings, logits = embed_frames(frames)
        result[f"{name}_embedding"], result[f"{name}_logits"] = embeddings.tolist(), logits.tolist()
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    print(f"wrote {path} ({platform.machine()})")


def _cosines(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def compare(path_a: str, path_b: str, minimum: float) -> int:
    with open(path_a) as fa, open(path_b) as fb:
        a, b = json.load(fa), json.load(fb)
    checks = {"text": _cosines([a["text"][s] for s in SENTENCES], [b["text"][s] for s in SENTENCES])}
    for name in ("photos", "patterns"):
        for output in ("embedding", "logits"):
            checks[f"vision {output} ({name})"] = _cosines(a[f"{name}_{output}"], b[f"{name}_{output}"])
    worst = min(float(c.min()) for c in checks.values())
    for name, cos in checks.items():
        print(f"{a['machine']} vs {b['machine']} {name}: min cosine {cos.min():.6f} mean {cos.mean():.6f}  "
              f"{' '.join(f'{c:.6f}' for c in cos)}")
    same_top = all(
        (np.argmax(a[f"{n}_logits"], axis=1) == np.argmax(b[f"{n}_logits"], axis=1)).all() for n in ("photos", "patterns")
    )
    print(f"vision top-1 classes equal: {same_top}")
    events_a, events_b = np.array(a["events"]).reshape(-1, 2), np.array(b["events"]).reshape(-1, 2)
    same_events = events_a.shape == events_b.shape and bool(np.all(events_a[:, 0] == events_b[:, 0])) \
        and bool(np.all(np.abs(events_a[:, 1] - events_b[:, 1]) <= 1e-4))
    identical, moved, alone = event_agreement(events_a[:, 0].tolist(), events_b[:, 0].tolist())
    print(f"events of the drawn scene equal: {same_events} ({identical} identical, {moved} moved within "
          f"±0.1 s, {alone} on one side only: {events_a[:, 0].tolist()} / {events_b[:, 0].tolist()})")
    clips_differ = []
    for name in sorted(set(a.get("clips", {})) & set(b.get("clips", {}))):
        identical, moved, alone = event_agreement(a["clips"][name], b["clips"][name])
        print(f"events of {name}: {identical} identical, {moved} moved within ±0.1 s, {alone} on one side only")
        if moved or alone:
            clips_differ.append(name)
    failures = ([f"minimum cosine {worst:.6f} < {minimum}"] if worst < minimum else []) \
        + ([] if same_top else ["vision top-1 classes differ"]) \
        + ([] if same_events else ["the drawn scene's events differ"]) \
        + [f"{name}'s events differ" for name in clips_differ]
    print("PASS" if not failures else "FAIL (" + "; ".join(failures) + ")")
    return 0 if not failures else 1


def event_agreement(a: list[float], b: list[float]) -> tuple[int, int, int]:
    """(events at the same time on both sides, events of `a` with one of `b` within the
    evaluation's matching tolerance instead, events of either side with no counterpart)."""
    from appliance.evaluation.onsets import MATCH_TOLERANCE_S

    identical = len(set(a) & set(b))
    rest_a, rest_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    moved = 0
    for t in rest_a:
        near = [u for u in rest_b if abs(u - t) <= MATCH_TOLERANCE_S]
        if near:
            rest_b.remove(min(near, key=lambda u: abs(u - t)))
            moved += 1
    return identical, moved, len(rest_a) - moved + len(rest_b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    dumper = sub.add_parser("dump")
    dumper.add_argument("out")
    dumper.add_argument("clips", nargs="*", help="real clips whose event times are dumped too")
    cmp = sub.add_parser("compare")
    cmp.add_argument("a")
    cmp.add_argument("b")
    cmp.add_argument("--min-cosine", type=float, default=0.9999)
    args = parser.parse_args()
    if args.mode == "dump":
        dump(args.out, args.clips)
        return 0
    return compare(args.a, args.b, args.min_cosine)


if __name__ == "__main__":
    sys.exit(main())
