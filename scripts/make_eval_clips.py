#!/usr/bin/env python3
"""Make a folder of evaluation clips of our own: rendered scenes with a sound at every true
impact time, plus labels.json — so `foley eval DIR` can be checked on clips that were never
used to develop the engine (the shared development clips are only six).

    .venv/bin/python scripts/make_eval_clips.py OUT_DIR [--seeds 3]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from appliance.engine.mux import mux_mp4
from appliance.video.synthetic import render_scene

SR = 48000
SCENES = {  # scene → (description, category, material, action)
    "stick": ("a stick hitting a wooden block", "impact_wood", "wood", "hit"),
    "bounce": ("a ball bouncing on the floor", "impact_ground", "ground", "hit"),
    "steps": ("footsteps on a wooden floor", "footsteps_wood", "wood", "walk"),
}


def hit_sound(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * SR)) / SR
    tone = np.sin(2 * np.pi * rng.uniform(150, 600) * t) + 0.5 * rng.standard_normal(len(t))
    return (0.5 * tone * np.exp(-t / rng.uniform(0.02, 0.06))).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = []
    for scene, (description, category, material, action) in SCENES.items():
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            silent = render_scene(scene, args.out / f".{scene}-{seed}.mp4", width=640, height=360, fps=30,
                                  seconds=5, seed=seed, shake=1.0 * (seed % 2))
            audio = np.zeros((int(silent.duration * SR), 2), np.float32)
            for time in silent.impacts:
                start = int(time * SR)
                sound = hit_sound(rng)[: len(audio) - start]
                audio[start : start + len(sound)] += sound[:, None]
            name = f"{scene}-{seed}.mp4"
            mux_mp4(silent.path, audio, SR, args.out / name)
            silent.path.unlink()
            labels.append({"file": name, "description": description, "category": category,
                           "material": material, "action": action})
    (args.out / "labels.json").write_text(json.dumps({"clips": labels}, indent=1))
    print(f"wrote {len(labels)} clips and labels.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
