#!/usr/bin/env python3
"""Build models/nearest-things-KEY.npy: the material table's things embedded by the bundled text
encoder (library/nearest_things.py), so that no board or test embeds ~1,300 sentences at start.

Usage: .venv/bin/python scripts/build_nearest_things.py   (after changing library/materials.py
or the text encoder; tests/test_choice_phrasings.py fails until it is run). Older matrices are removed.
"""
from __future__ import annotations

import argparse

import numpy as np

from appliance.atomic import atomic_open
from appliance.inference import embed_text
from appliance.library.nearest_things import embed_known, matrix_name
from appliance.paths import models_dir


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    name = matrix_name(embed_text)
    for old in models_dir().glob("nearest-things-*.npy"):
        if old.name != name:
            old.unlink()
            print(f"removed {old.name}")
    with atomic_open(models_dir() / name, binary=True) as out:
        np.save(out, embed_known(embed_text))
    print(f"wrote {models_dir() / name} ({(models_dir() / name).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
