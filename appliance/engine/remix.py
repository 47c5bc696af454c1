"""Re-mix a scored clip from its timeline, with some placed sounds swapped — no re-analysis.

The timeline records everything a placement needs (time, kind, duration, pan, pitch, and the
gain, which is the recording's level gain times the action's strength gain and variation); a
swapped recording keeps the action's part of the gain and takes its own level gain.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from appliance.engine.deliver import deliver
from appliance.engine.scene import ambience_bed, fit_duration, level_gain
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.library import Catalog
from appliance.mixing import SAMPLE_RATE, Placement, Track, mix_track, write_wav_atomic
from appliance.motion import SUSTAINED


def remix(timeline: Timeline, catalog: Catalog, swaps: dict[int, str]) -> tuple[Track, Timeline]:
    """(new track, new timeline) with event n's recording replaced by swaps[n]."""
    timeline = copy.deepcopy(timeline)
    events = timeline.events
    for n, template_id in swaps.items():
        if not 0 <= n < len(events):
            raise UsageError(f"no event {n}: this result has events 0–{len(events) - 1}")
        new = catalog.get(template_id)
        event = events[n]
        old = catalog.by_id.get(event.template_id)
        if old is None:
            raise UsageError(f"event {n}'s recording {event.template_id} is no longer in the library")
        action_gain = 10 ** (event.gain_db / 20) / level_gain(old)
        event.template_id, event.template, event.licence, event.category = \
            new.id, new.description, new.licence, new.category
        event.gain_db = round(20 * float(np.log10(action_gain * level_gain(new))), 2)
        event.why.decision = "chosen by the user"
    placements = []
    for event in events:
        template = catalog.get(event.template_id)
        audio = catalog.audio(template.id)
        if event.kind == SUSTAINED and event.duration:
            audio = fit_duration(audio, event.duration)
        placements.append(Placement(audio=audio, attack=template.attack_time, time=event.time,
                                    gain=10 ** (event.gain_db / 20), pan=event.pan, pitch=event.pitch))
    ambience = None
    if timeline.ambience.template_id:
        bed = catalog.get(timeline.ambience.template_id)
        ambience = ambience_bed(bed, catalog.audio(bed.id))
    track = mix_track(placements, timeline.clip.duration, ambience=ambience, target_lufs=timeline.output.target_lufs)
    return track, timeline


def remix_files(timeline: Timeline, catalog: Catalog, swaps: dict[int, str],
                video: Path, wav: Path, mp4: Path | None, mix: Path | None = None,
                credits: Path | None = None) -> Timeline:
    """Write the re-mixed WAV (and MP4, the mix with the clip's own sound when the timeline keeps
    it, the credits) atomically; returns the new timeline (caller stores it)."""
    track, new_timeline = remix(timeline, catalog, swaps)
    write_wav_atomic(wav, track, SAMPLE_RATE)
    deliver(video, track, new_timeline, catalog, [], mp4=mp4,
            mix=mix if new_timeline.output.original_level_db is not None else None, credits=credits)
    return new_timeline
