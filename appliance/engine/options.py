"""What a scoring request asks for; part of the result-cache key, so every field that changes
the output must live here."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from appliance.mixing import DEFAULT_TARGET_LUFS
from appliance.video import DEFAULT_MAX_SECONDS


@dataclass(frozen=True)
class ScoreOptions:
    description: str | None = None
    """What the clip shows or should sound like ("footsteps on gravel"); optional."""
    seed: int = 0
    """Seeds the variation (which recording, small pitch/gain changes): same seed, same output."""
    target_lufs: float = DEFAULT_TARGET_LUFS
    """Integrated loudness of the finished track; true peak is always kept ≤ −1 dBFS."""
    ambience: bool = True
    """Allow an ambience bed when the scene or the description calls for one."""
    max_seconds: float = DEFAULT_MAX_SECONDS
    """Longest clip accepted."""
    keep_audio: bool = False
    """Mix the Foley with the clip's own sound in the video (default: replace it); the Foley WAV
    stays the Foley alone."""
    original_level_db: float = 0.0
    """With keep_audio: the clip's own sound's loudness relative to the Foley's, in dB (−30…+6)."""

    def key_fields(self) -> dict:
        return asdict(self)
