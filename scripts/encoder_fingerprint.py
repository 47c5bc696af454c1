#!/usr/bin/env python3
"""Dump both encoders' and the event model's outputs on fixed inputs, or compare two dumps
(cross-platform check).

    encoder_fingerprint.py dump OUT.json        # on each platform
    encoder_fingerprint.py compare A.json B.json [--min-cosine 0.9999]

The inputs are built from code (sentences, procedurally drawn images and frames), so they are
identical on every machine; the encoders are compared by cosine, since INT8 kernels may round
differently per CPU; the events a drawn scene gives must be the same (times to the microsecond,
confidences within 1e-4): the motion analysis and the trees decide what sounds, not a cosine.
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


def dump(path: str) -> None:
    from appliance.inference import embed_frames, embed_text

    result = {"machine": platform.machine(), "text": {s: embed_text(s).tolist() for s in SENTENCES},
              "events": events_of_scene()}
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
    print(f"events of the drawn scene equal: {same_events} ({len(events_a)} vs {len(events_b)}: "
          f"{events_a[:, 0].tolist()} / {events_b[:, 0].tolist()})")
    ok = worst >= minimum and same_top and same_events
    print("PASS" if ok else f"FAIL (minimum cosine {worst:.6f} < {minimum}, events equal: {same_events})")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("dump").add_argument("out")
    cmp = sub.add_parser("compare")
    cmp.add_argument("a")
    cmp.add_argument("b")
    cmp.add_argument("--min-cosine", type=float, default=0.9999)
    args = parser.parse_args()
    if args.mode == "dump":
        dump(args.out)
        return 0
    return compare(args.a, args.b, args.min_cosine)


if __name__ == "__main__":
    sys.exit(main())
