"""The files made from a finished Foley track besides its WAV: the credits, the mix with the
clip's own sound, the MP4 — one function, used by scoring, by a result served from the cache
and by a re-mix, so every way to a result writes the same set of files the same way.

The MP4 carries what the viewer should hear: the Foley, or with keep_audio (the timeline's
`output.original_level_db`) the Foley mixed with the clip's own sound; `mix` is that same
track as a WAV. The Foley WAV itself (the stem) is written by the caller.
"""
from __future__ import annotations

from pathlib import Path

from appliance.engine.credits import credits_text, write_credits
from appliance.engine.mux import mux_mp4
from appliance.engine.own_sound import with_own_sound
from appliance.engine.timeline import Timeline
from appliance.library import Catalog
from appliance.mixing import Track, write_audio_atomic


def deliver(clip: Path, foley: Track, timeline: Timeline, catalog: Catalog, *,
            mp4: Path | None = None, mix: Path | None = None, credits: Path | None = None) -> None:
    """Write the requested files (each atomically; the caller stages them: engine/outputs.py).
    Sets timeline.mp4 and timeline.output.original_audio, and the first time a mix with the
    clip's own sound is made for a result whose level is kept (`track_gains`), its gains
    (`mix_gains`): an edit's mix, like its Foley, keeps the level it was given."""
    text = credits_text(timeline, catalog)
    if credits is not None:
        write_credits(credits, text)
    if mp4 is None and mix is None:
        return
    spec = timeline.output
    scratch = Path(mp4 or mix).parent
    with with_own_sound(clip, foley, spec.original_level_db, scratch, spec.target_lufs,
                        spec.true_peak_ceiling_dbfs, spec.mix_gains) as (carried, note):
        spec.original_audio = note
        if carried is not foley and spec.track_gains and spec.mix_gains is None:
            spec.mix_gains = [float(gain.scale) for gain in carried.gains]
        if mix is not None:
            write_audio_atomic(mix, carried, carried.sr)
        if mp4 is not None:
            timeline.mp4 = mux_mp4(clip, carried.blocks(), carried.sr, mp4, metadata={"comment": text})
