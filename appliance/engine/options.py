"""What a scoring request asks for; part of the result-cache key, so every field that changes
the output must live here."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from appliance.config import EngineConfig, Range, field_range
from appliance.mixing import DEFAULT_TARGET_LUFS
from appliance.os_text import one_line
from appliance.video import DEFAULT_MAX_SECONDS

MAX_SEED = 2**32 - 1
"""The variation streams are numpy generators seeded with it: 0 to 2³² − 1."""
SEEDS = Range(0, MAX_SEED)
"""The seeds a request (and a command's --seed: `foley live`, `foley eval`) may give."""


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

    def __post_init__(self):
        """Every way to a request (the command line, the service, a recording) meets the same
        bounds: a seed the generators take, the loudness target the config allows (far under it
        the meter's gate swallows the whole track; NaN would be no target at all), and a clip
        length limit the config allows (NaN or infinity was no limit at all, and NaN made the
        timeline's JSON unreadable). The description is kept as one line of plain text
        (os_text.one_line): it is shown on the page and in listings, where a bidirectional override
        made it read as other words; the text model reads the same words either way."""
        if self.description is not None:
            object.__setattr__(self, "description", one_line(self.description) or None)
        SEEDS.check(self.seed, "the seed")
        field_range(EngineConfig, "target_lufs").check(self.target_lufs, "the target loudness (LUFS)")
        field_range(EngineConfig, "max_seconds").check(self.max_seconds, "the longest clip accepted (seconds)")

    @classmethod
    def under(cls, settings: EngineConfig, **fields) -> "ScoreOptions":
        """A request's options with the config's loudness target and clip length limit: what a
        recording filed straight into the history (live, or scored while recording) is held to,
        as the service holds an upload to them."""
        return cls(target_lufs=settings.target_lufs, max_seconds=settings.max_seconds, **fields)

    def accepting(self, seconds: float | None) -> "ScoreOptions":
        """These options with a length limit that takes a clip of `seconds`: a recording the
        appliance made itself was bounded by its own record limits (capture and live
        max_record_seconds, which may exceed engine.max_seconds, and a stop lands a moment after
        its limit); its thumbnail, or a re-score after a crash, must not refuse it. A second to
        spare: the MP4's container may say a few hundredths more than the recording's length."""
        longest = field_range(EngineConfig, "max_seconds").high
        if not seconds or seconds + 1 <= self.max_seconds:
            return self
        return replace(self, max_seconds=float(min(longest, math.ceil(seconds) + 1)))

    def key_fields(self) -> dict:
        return asdict(self)
