"""credits.txt: every recording of a result — placed sounds, the ambience bed, the user's own —
with author, source and licence, and what each licence asks of whoever passes the result on."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from appliance.engine.credits import credits_text
from appliance.engine.timeline import (AmbienceEntry, ClipInfo, OutputSpec, Position, Stats, Timeline,
                                       TimelineEvent, Why)
from appliance.library import Catalog
from appliance.library.store import UserLibrary
from appliance.motion import EventKind

BED = "ambience_water-ufoai-water01"


def _event(n: int, template_id: str, catalog: Catalog, licence: str | None = None) -> TimelineEvent:
    template = catalog.by_id.get(template_id)
    return TimelineEvent(n=n, time=0.5 * n, kind=EventKind("impact"), strength=0.5, position=Position(0.5, 0.5),
                         category=template.category if template else "impact_wood", template_id=template_id,
                         template=template.description if template else "a knock that was deleted",
                         licence=licence or template.licence, gain_db=0.0, pan=0.0, pitch=1.0,
                         why=Why(decision="computed", candidates=[]))


def _timeline(events: list[TimelineEvent], bed: str | None, catalog: Catalog) -> Timeline:
    return Timeline(engine={}, clip=ClipInfo("walk.mp4", 3.0, 320, 240, 30.0, 90), request={}, library_version="x",
                    models={}, output=OutputSpec(48000, 2, -20.0, -1.0), events=events,
                    ambience=AmbienceEntry(category=catalog.get(bed).category if bed else None, why="test",
                                           template_id=bed, licence=catalog.get(bed).licence if bed else None),
                    stats=Stats(0, 0, 0, len(events), {}, 0.0))


def test_every_recording_is_credited_with_what_its_licence_asks(tmp_path):
    sound = tmp_path / "knock.wav"
    t = np.arange(24000) / 48000
    sf.write(sound, (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t * 20)).astype(np.float32), 48000)
    own = UserLibrary().add(sound, "impact_wood", licence="CC-BY-4.0", author="Ada Example", description="my knock")
    catalog = Catalog.load()
    placed = ["footsteps_sand-ufoai-sand2", "footsteps_sand-minetest-default_sand_footstep_1",
              "footsteps_wood-ufoai-wood1", "footsteps_sand-ufoai-sand2", own.id]
    events = [_event(n, template_id, catalog) for n, template_id in enumerate(placed)]
    events.append(_event(len(events), "impact_wood-gone-knock", catalog, licence="CC-BY-SA-3.0"))
    text = credits_text(_timeline(events, BED, catalog), catalog)

    for template_id in set(placed) | {BED}:
        template = catalog.get(template_id)
        entry = text.split(f"({template_id})")[1].split("\n\n")[0]
        assert f"By: {template.author}" in entry
        assert f"Licence: {template.licence}" in entry
        if template.origin == "bundled":
            assert template.source["package"] in entry and template.source["path"] in entry
        if template.licence in catalog.licences and catalog.licences[template.licence]["url"]:
            assert catalog.licences[template.licence]["url"] in entry
    assert "placed 2 times" in text.split("(footsteps_sand-ufoai-sand2)")[1].split("\n")[0]
    assert "the ambience bed" in text.split(f"({BED})")[1].split("\n")[0]
    assert "a sound added on this appliance" in text and "Ada Example" in text
    assert "impact_wood-gone-knock" in text and "No longer in this appliance's library" in text
    assert "share-alike" in text and "under CC-BY-SA-3.0" in text
    for licence in ("GPL-2", "CC0-1.0", "CC-BY-4.0"):
        assert f"{licence}: {catalog.licences[licence]['terms']}" in text


def test_a_silent_result_says_no_recordings_were_used():
    catalog = Catalog.load()
    text = credits_text(_timeline([], None, catalog), catalog)
    assert "No recordings were used" in text and "walk.mp4" in text
