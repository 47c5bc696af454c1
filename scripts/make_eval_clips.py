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

from appliance.evaluation.own_clips import with_hit_sounds
from appliance.video.synthetic import render_scene

SCENES = {  # scene → (description, category, material, action)
    "stick": ("a stick hitting a wooden block", "impact_wood", "wood", "hit"),
    "bounce": ("a ball bouncing on the floor", "impact_ground", "ground", "hit"),
    "steps": ("footsteps on a wooden floor", "footsteps_wood", "wood", "walk"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = []
    for scene, (description, category, material, action) in SCENES.items():
        for seed in range(args.seeds):
            silent = render_scene(scene, args.out / f".{scene}-{seed}.mp4", width=640, height=360, fps=30,
                                  seconds=5, seed=seed, shake=1.0 * (seed % 2))
            name = f"{scene}-{seed}.mp4"
            with_hit_sounds(silent.path, silent.duration, silent.impacts, args.out / name, seed)
            silent.path.unlink()
            labels.append({"file": name, "description": description, "category": category,
                           "material": material, "action": action})
    (args.out / "labels.json").write_text(json.dumps({"clips": labels}, indent=1))
    print(f"wrote {len(labels)} clips and labels.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
