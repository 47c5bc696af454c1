"""The timeline of a scored clip, typed: what was placed where, and why.

`Timeline.to_json()` gives the JSON the engine writes (timeline.json), the service serves and
the page reads; `Timeline.from_json()` reads it back, and `from_json(d).to_json() == d` for
every timeline the engine writes (same keys, same order, same values). Attribute names are the
JSON field names. Optional fields are omitted from the JSON when unset (None).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from appliance.motion import EventKind

TIMELINE_FORMAT = 1


@dataclass
class Position:
    """Screen position of the action: x 0 (left) … 1 (right), y 0 (top) … 1 (bottom)."""

    x: float
    y: float

    def to_json(self) -> dict:
        return {"x": self.x, "y": self.y}

    @classmethod
    def from_json(cls, data: dict) -> Position:
        return cls(x=data["x"], y=data["y"])


@dataclass
class Why:
    """Why this recording: how the category was decided, the top candidates with each source's
    standardised vote, and the vision model's top labels for the keyframe."""

    decision: str
    candidates: list[dict]
    vision_labels: list[list] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"decision": self.decision, "candidates": self.candidates, "vision_labels": self.vision_labels}

    @classmethod
    def from_json(cls, data: dict) -> Why:
        return cls(decision=data["decision"], candidates=data["candidates"],
                   vision_labels=data.get("vision_labels", []))


@dataclass
class TimelineEvent:
    """One placed sound."""

    n: int
    time: float
    """Seconds from the start of the clip: where the recording's attack is placed."""
    kind: EventKind
    strength: float
    position: Position
    category: str
    template_id: str
    template: str
    """The recording's description."""
    licence: str
    gain_db: float
    pan: float
    pitch: float
    why: Why
    duration: float | None = None
    """Seconds, for a sustained action (the recording is fitted to it)."""
    confidence: float | None = None
    """How sure the event detector is that something sounded here (0..1), when it says."""
    gain_range_db: tuple[float, float] | None = None
    """The gains an edit may give this sound (engine/scene.py gain_range_db: its recording's
    level −40…+12 dB), so an editor offers only those; absent in timelines from before it."""
    envelope: list[tuple[float, float]] | None = None
    """A sustained action's motion over its span, (seconds from its start, level 0..1), which its
    sound's level follows (engine/scene.py shaped); None for other sounds and added ones."""

    def to_json(self) -> dict:
        data = {"n": self.n, "time": self.time, "kind": self.kind.value, "strength": self.strength,
                "position": self.position.to_json()}
        if self.duration is not None:
            data["duration"] = self.duration
        data.update(category=self.category, template_id=self.template_id, template=self.template,
                    licence=self.licence, gain_db=self.gain_db, pan=self.pan, pitch=self.pitch,
                    why=self.why.to_json())
        if self.gain_range_db is not None:
            data["gain_range_db"] = list(self.gain_range_db)
        if self.confidence is not None:
            data["confidence"] = self.confidence
        if self.envelope is not None:
            data["envelope"] = [list(point) for point in self.envelope]
        return data

    @classmethod
    def from_json(cls, data: dict) -> TimelineEvent:
        return cls(n=data["n"], time=data["time"], kind=EventKind(data["kind"]), strength=data["strength"],
                   position=Position.from_json(data["position"]), category=data["category"],
                   template_id=data["template_id"], template=data["template"], licence=data["licence"],
                   gain_db=data["gain_db"], pan=data["pan"], pitch=data["pitch"],
                   why=Why.from_json(data["why"]), duration=data.get("duration"),
                   confidence=data.get("confidence"),
                   gain_range_db=tuple(data["gain_range_db"]) if data.get("gain_range_db") else None,
                   envelope=[tuple(point) for point in data["envelope"]] if data.get("envelope") else None)


@dataclass
class ClipInfo:
    file: str
    duration: float
    width: int
    height: int
    fps: float
    frames_analysed: int

    def to_json(self) -> dict:
        return {"file": self.file, "duration": self.duration, "width": self.width, "height": self.height,
                "fps": self.fps, "frames_analysed": self.frames_analysed}

    @classmethod
    def from_json(cls, data: dict) -> ClipInfo:
        return cls(**{name: data[name] for name in ("file", "duration", "width", "height", "fps",
                                                    "frames_analysed")})


@dataclass
class OutputSpec:
    sample_rate: int
    channels: int
    target_lufs: float
    true_peak_ceiling_dbfs: float
    original_level_db: float | None = None
    """keep_audio: the clip's own sound is mixed into the video at this level (dB relative to the
    Foley's loudness); None: the video carries the Foley alone (replace). A re-mix keeps it."""
    original_audio: str | None = None
    """What was done with the clip's own sound, in words (mixed in; or why the Foley is alone)."""
    track_gains: list[float] | None = None
    """The scalar gain of each loudness-normalisation pass of the scoring (linear, in order): an
    edit's mix applies these again, each followed by the true-peak limiter, instead of normalising
    anew, so a re-levelled sound changes by the dB asked and the others stay. None (timelines
    from before it, a recording scored as it was recorded, a result of a bed alone): an edit
    normalises anew."""
    mix_gains: list[float] | None = None
    """The same for the mix with the clip's own sound (keep_audio): the MP4 the page plays keeps
    its level through an edit too. Set with track_gains, when the mix is first made."""

    def to_json(self) -> dict:
        data = {"sample_rate": self.sample_rate, "channels": self.channels, "target_lufs": self.target_lufs,
                "true_peak_ceiling_dbfs": self.true_peak_ceiling_dbfs}
        if self.original_level_db is not None:
            data["original_level_db"] = self.original_level_db
        if self.original_audio is not None:
            data["original_audio"] = self.original_audio
        if self.track_gains is not None:
            data["track_gains"] = self.track_gains
        if self.mix_gains is not None:
            data["mix_gains"] = self.mix_gains
        return data

    @classmethod
    def from_json(cls, data: dict) -> OutputSpec:
        return cls(**{name: data[name] for name in ("sample_rate", "channels", "target_lufs",
                                                    "true_peak_ceiling_dbfs")},
                   original_level_db=data.get("original_level_db"), original_audio=data.get("original_audio"),
                   track_gains=data.get("track_gains"), mix_gains=data.get("mix_gains"))


@dataclass
class AmbienceEntry:
    """The bed laid under the clip (category None: no bed), and why."""

    category: str | None
    why: str
    template_id: str | None = None
    licence: str | None = None

    def to_json(self) -> dict:
        if self.category is None:
            return {"category": None, "why": self.why}
        return {"category": self.category, "template_id": self.template_id, "licence": self.licence,
                "why": self.why}

    @classmethod
    def from_json(cls, data: dict) -> AmbienceEntry:
        return cls(category=data.get("category"), why=data.get("why", ""), template_id=data.get("template_id"),
                   licence=data.get("licence"))


@dataclass
class Stats:
    """How the result was made (counts and seconds; not part of the result itself)."""

    vision_inferences_run: int
    vision_inferences_skipped: int
    decisions_reused: int
    events: int
    stage_seconds: dict[str, float]
    total_seconds: float
    result_cache: str | None = None
    """How the result cache answered: "hit", "miss" or "off" (set by Engine.score_to_files)."""

    def to_json(self) -> dict:
        data = {"vision_inferences_run": self.vision_inferences_run,
                "vision_inferences_skipped": self.vision_inferences_skipped,
                "decisions_reused": self.decisions_reused, "events": self.events,
                "stage_seconds": self.stage_seconds, "total_seconds": self.total_seconds}
        if self.result_cache is not None:
            data["result_cache"] = self.result_cache
        return data

    @classmethod
    def from_json(cls, data: dict) -> Stats:
        return cls(vision_inferences_run=data["vision_inferences_run"],
                   vision_inferences_skipped=data["vision_inferences_skipped"],
                   decisions_reused=data["decisions_reused"], events=data["events"],
                   stage_seconds=data["stage_seconds"], total_seconds=data["total_seconds"],
                   result_cache=data.get("result_cache"))


@dataclass
class Timeline:
    """Everything about one scored clip: the clip, the request, the placed sounds, the bed."""

    engine: dict
    """{"version": package version, "engine_version": digest of the code that shapes results}"""
    clip: ClipInfo
    request: dict
    """The request's options (ScoreOptions.key_fields()) and its description."""
    library_version: str
    models: dict
    """{"text": sha256, "vision": sha256} of the encoders used."""
    output: OutputSpec
    events: list[TimelineEvent]
    ambience: AmbienceEntry
    stats: Stats
    mp4: dict | None = None
    """How the MP4 was muxed, when one was written."""
    format: int = TIMELINE_FORMAT

    def to_json(self) -> dict:
        data = {"format": self.format, "engine": self.engine, "clip": self.clip.to_json(),
                "request": self.request, "library_version": self.library_version, "models": self.models,
                "output": self.output.to_json(), "events": [e.to_json() for e in self.events],
                "ambience": self.ambience.to_json(), "stats": self.stats.to_json()}
        if self.mp4 is not None:
            data["mp4"] = self.mp4
        return data

    def template_ids(self) -> set[str]:
        """The recordings this result is mixed from: its events' and its bed's."""
        return {e.template_id for e in self.events} | ({self.ambience.template_id} - {None})

    @classmethod
    def from_json(cls, data: dict) -> Timeline:
        return cls(format=data["format"], engine=data["engine"], clip=ClipInfo.from_json(data["clip"]),
                   request=data["request"], library_version=data["library_version"], models=data["models"],
                   output=OutputSpec.from_json(data["output"]),
                   events=[TimelineEvent.from_json(e) for e in data["events"]],
                   ambience=AmbienceEntry.from_json(data["ambience"]), stats=Stats.from_json(data["stats"]),
                   mp4=data.get("mp4"))
