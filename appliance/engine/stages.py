"""The engine's stages in words for people, and the part of the whole job each one covers.

Engine.score reports "analyse", "choose", "mix" and "done" (its track is ready), then
Engine.score_to_files reports "write" while it writes the WAV, the MP4 and the rest. The job's
progress (the service) and the command line's progress bar both show them through `overall`,
so the page and the terminal use the same words and the same percentages.
"""
from __future__ import annotations

STAGES = {"analyse": ("finding the actions", 0.0, 0.8), "choose": ("choosing sounds", 0.8, 0.88),
          "mix": ("mixing", 0.88, 0.93), "done": ("mixing", 0.93, 0.93),
          "write": ("writing the video", 0.93, 1.0)}
"""Engine stage → (words, start, end of its span of the whole job, 0…1)."""


def overall(stage: str, fraction: float) -> tuple[str, float]:
    """(the stage in words, the whole job's fraction done) for `fraction` of `stage` done; a
    stage not listed keeps its own name and fraction."""
    words, low, high = STAGES.get(stage, (stage, 0.0, 1.0))
    return words, low + (high - low) * max(0.0, min(1.0, fraction))
