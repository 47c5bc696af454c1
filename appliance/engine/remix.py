"""Mix a scored clip again from its timeline alone — no re-analysis.

The timeline records everything a placement needs (time, kind, duration, pan, pitch, and the
gain, which is the recording's level gain times the action's strength gain and variation), so
an edited timeline (engine/edits.py) is turned back into a track here in the time of a mix.
The track keeps the scoring's level (the normalisation gains the timeline records), so an edit
changes the sounds it touches and no other: renormalised, a sound made 12 dB softer on a clip of
one sound came out bit-identical, and on a clip of twelve the others moved by up to 1.4 dB.
"""
from __future__ import annotations

from appliance.engine.scene import ambience_bed, sustained_sound
from appliance.engine.timeline import Timeline
from appliance.errors import UsageError
from appliance.library import Catalog, Template
from appliance.mixing import Placement, Track, mix_track
from appliance.motion import SUSTAINED


class SoundGone(UsageError):
    """A recording the timeline names (or an edit asks for) is not in the library (any more)."""


def recording(catalog: Catalog, template_id: str, what: str, kept: bool = False) -> Template:
    """The library's recording `template_id` (`kept`: or one of your sounds removed from it
    since, which a result already placed: Catalog.recording), or SoundGone saying which sound
    of the result it is. A new choice (a swap) must be in the library."""
    template = catalog.recording(template_id) if kept else catalog.by_id.get(template_id)
    if template is None:
        raise SoundGone(f"{what} {template_id[:80]!r} is not in the sound library (it may have been removed)")
    return template


def mix_timeline(timeline: Timeline, catalog: Catalog) -> Track:
    """The track the timeline describes (rendered block by block when read)."""
    placements = []
    for event in timeline.events:
        template = recording(catalog, event.template_id, f"the sound of event {event.n}", kept=True)
        audio = catalog.audio(template.id)
        if event.kind == SUSTAINED and event.duration:
            audio = sustained_sound(audio, event.duration, event.pitch, event.envelope)
        placements.append(Placement(audio=audio, attack=template.attack_time, time=event.time,
                                    gain=10 ** (event.gain_db / 20), pan=event.pan, pitch=event.pitch,
                                    source=template.category))  # as scoring placed it: the next hit chokes it
    ambience = None
    if timeline.ambience.template_id:
        bed = recording(catalog, timeline.ambience.template_id, "the ambience bed", kept=True)
        ambience = ambience_bed(bed, catalog.audio(bed.id))
    return mix_track(placements, timeline.clip.duration, ambience=ambience, target_lufs=timeline.output.target_lufs,
                     gains=timeline.output.track_gains)
