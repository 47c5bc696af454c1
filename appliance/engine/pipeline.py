"""The scoring engine end to end: clip (+ description) → track, timeline, and output files.

    engine = Engine(cache)                       # models, library, zero-shot table: once
    result = engine.score(path, ScoreOptions(description="door slam", seed=1))
    engine.score_to_files(path, options, wav=..., mp4=..., timeline=...)

`Engine.score` is the data flow, one method per step: analyse_clip (decode → motion → keyframes),
describe (description → category and recording scores), choose (events → decisions, recordings,
placements; the bed), mix (placements + bed → Track), assemble_timeline (→ Timeline).

The decode → motion pass streams (appliance.engine.analysis); only the keyframes of actions
meet the vision model, one per group of near-duplicate keyframes in the clip, and then only when
the frame cache does not hold that exact picture; a repeated action (same group, same kind)
takes the decision made for it earlier in the clip; an identical request returns the stored
result without decoding at all. Same clip, options and seed → same WAV, whether the cache is
off, cold or warm (the cache only skips work whose result would be identical).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from appliance import __version__
from appliance.atomic import temp_beside, write_json_atomic
from appliance.engine.analysis import ClipAnalysis, analyse_clip
from appliance.engine.cache import Cache
from appliance.engine.choose import (TEMPLATE_POOL, Evidence, TemplatePicker, decide_category, median_gap,
                                    shipped_weights)
from appliance.engine.deliver import deliver
from appliance.engine.described_action import described_sustained, pictured_sustained, sustained_events
from appliance.engine.exemplars import Exemplars
from appliance.engine.options import ScoreOptions
from appliance.engine.outputs import (CREDITS_NAME, MIX_NAME, MP4_NAME, TIMELINE_NAME, WAV_NAME, OutputFiles,
                                      staging, write_outputs)
from appliance.engine.scene import ambience_bed, ambience_category, envelope_points, gain_range_db, placement_for
from appliance.engine.timeline import (AmbienceEntry, ClipInfo, OutputSpec, Position, Stats, Timeline,
                                       TimelineEvent, Why)
from appliance.engine.versions import ENGINE_VERSION
from appliance.engine.vision_ahead import VisionAhead
from appliance.engine.visual import VisualLookup
from appliance.engine.zeroshot import PictureScores, ZeroShot, with_probe
from appliance.errors import UsageError
from appliance.inference import TextEncoder, VisionEncoder, category_probe, text_encoder, vision_encoder
from appliance.inference.manifest import load_manifest, sha256_of
from appliance.inference.sessions import default_threads
from appliance.library import Catalog, Template, load_catalog, searcher
from appliance.library.description import reader_for
from appliance.mixing import SAMPLE_RATE, Ambience, Placement, Track, mix_track
from appliance.mixing.wavio import audio_spec, wav_track, write_audio_atomic, write_wav_atomic
from appliance.motion import ActionEvent, EventKind, MotionTrace
from appliance.motion.event_model import EventModel, bundled_event_model
from appliance.os_text import display_name
from appliance.paths import state_dir

log = logging.getLogger("foley.engine")




@dataclass
class Described:
    """The describe step's result: the description and what it scores (None without one)."""

    text: str | None
    category_scores: dict[str, float] | None
    template_scores: dict[str, float] | None


@dataclass
class Chosen:
    """The choose step's result: a placement and a timeline entry per event, and the bed."""

    visual: VisualLookup
    placements: list[Placement] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    ambience: Ambience | None = None
    ambience_entry: AmbienceEntry | None = None
    reused: int = 0
    """Events that took the decision of an earlier event of the same near-duplicate group and kind."""


@dataclass
class ScoreResult:
    track: Track
    """Stereo at 48 kHz, exactly the clip's duration; rendered block by block when read."""
    timeline: Timeline
    trace: MotionTrace
    """Per-frame motion of the clip (AV-Align's video side)."""

    @property
    def audio(self) -> np.ndarray:
        """The whole track as one (n, 2) float32 array (115 MB for 5 minutes: evaluation, tests)."""
        return self.track.array()


class Engine:
    """Everything that outlives one request: sessions, library, zero-shot table, cache."""

    def __init__(self, cache: Cache | None = None, threads: int | None = None, variant: str = "int8",
                 event_model: EventModel | None = None):
        """threads: the clip decoder's (default: default_threads()). variant "fp32" loads the
        locally exported FP32 twins (benchmarks only; never shipped), on default_threads() as the
        process's INT8 encoders are, so that `foley bench --threads N` sets the decoder alone
        and FP32 and INT8 are timed on the same encoder threads.
        event_model: what decides impacts (default: the bundled one; cross-validation passes
        each fold's own)."""
        self.cache = cache
        self.event_model = event_model or bundled_event_model()
        self.threads = threads or default_threads()
        if variant == "int8":
            self.text, self.vision = text_encoder(), vision_encoder()
        else:
            entries = load_manifest()
            text, vision = entries["text-encoder"], entries["vision-encoder"]
            self.text = TextEncoder(text, default_threads(), path=text.fp32_path())
            self.vision = VisionEncoder(vision, default_threads(), path=vision.fp32_path())
        self._zeroshot: dict[str, ZeroShot] = {}
        self.tables_folder = cache.folder if cache is not None else state_dir() / "cache"
        """Where the tables computed from shipped files are kept (zero-shot, materials): beside
        the results of this engine's cache, so a scratch cache (foley bench) leaves the state alone."""
        self.probe = category_probe()
        self.vote_weights = shipped_weights()
        """Weights of the category votes (cross-validation sets each fold's with its probe)."""

    def models_key(self) -> str:
        probe = self.probe.key[:16] if self.probe else "none"
        weights = ",".join(f"{k}={v:g}" for k, v in sorted(self.vote_weights.items()))
        return (f"{self.text.entry.sha256[:16]}:{self.text.variant}-{self.vision.entry.sha256[:16]}:{self.vision.variant}"
                f"-probe:{probe}:{weights}-events:{self.event_model.key}")

    def request_key(self, path: Path, options: ScoreOptions) -> str:
        """Identical clip bytes + options + library + models + engine → identical result. The
        library's recordings found damaged in this process are part of it: a result stored before
        one was found placed it, and a score now would not."""
        digest = hashlib.sha256((self.cache.file_digest(path) if self.cache else sha256_of(path)).encode())
        catalog = load_catalog()
        for part in (sorted(options.key_fields().items()), catalog.version, sorted(catalog.unreadable),
                     self.models_key(), ENGINE_VERSION):
            digest.update(repr(part).encode())
        return digest.hexdigest()[:32]

    def prepare(self) -> None:
        """Load the library, its search matrices and the zero-shot table now rather than on the
        first request (the table is computed once per library/model version: seconds on a Pi)."""
        search = searcher(load_catalog())
        self._zero_shot(search)
        reader_for(search, self.text.embed, self.tables_folder).nearest.vectors  # the material table's matrix

    def zero_shot(self, catalog: Catalog) -> ZeroShot:
        """The zero-shot table of this catalog's categories (computed once per library version)."""
        return self._zero_shot(searcher(catalog))

    def _zero_shot(self, search) -> ZeroShot:
        version = search.catalog.version
        if version not in self._zeroshot:
            self._zeroshot = {version: ZeroShot(search, self.vision.labels, self.text.entry.sha256,
                                                self.tables_folder)}
        return self._zeroshot[version]

    # -- scoring ----------------------------------------------------------------------------
    def score(self, path: Path, options: ScoreOptions,
              progress: Callable[[str, float], None] | None = None,
              analysis: ClipAnalysis | None = None) -> ScoreResult:
        """analyse → describe → choose → mix → timeline.

        `analysis`: the clip's analysis when it was made already (a camera recording's, made
        while it was recorded and handed to the worker with it: service/queue.py), so the clip
        is not decoded again."""
        path = Path(path)
        started = time.perf_counter()
        report = progress or (lambda stage, fraction: None)
        report("analyse", 0.0)
        catalog = load_catalog()
        # The description and the keyframes' vision inferences run in threads of their own while
        # the clip is decoded and analysed (ONNX Runtime releases the GIL): on a multi-core board
        # they hide behind the motion pass. Each is what it would be in series.
        describing = ThreadPoolExecutor(1, thread_name_prefix="foley-describe")
        described_later = describing.submit(self.describe, options.description, catalog)
        ahead = None
        try:
            if analysis is None:
                ahead = VisionAhead(self.vision, self.cache.folder if self.cache else None)
                analysis = analyse_clip(path, options.max_seconds, self.threads, lambda f: report("analyse", f),
                                        self.event_model, on_keyframe=ahead.offer)
            stages = dict(analysis.stage_seconds)
            t0 = time.perf_counter()
            described = described_later.result()
            stages["text"] = time.perf_counter() - t0  # what the analysis did not hide

            report("choose", 0.0)
            t0 = time.perf_counter()
            chosen = self.choose(analysis, catalog, described, options, lambda f: report("choose", f), ahead)
            stages["choose"] = time.perf_counter() - t0
        finally:
            describing.shutdown(cancel_futures=True)
            if ahead is not None:
                ahead.close()

        t0 = time.perf_counter()
        report("mix", 0.0)
        track = self.mix(chosen, analysis.info.duration, options.target_lufs)
        stages["mix"] = time.perf_counter() - t0

        timeline = self.assemble_timeline(path, options, analysis, catalog, described, chosen, stages, started)
        if chosen.placements and track.gains:  # what an edit's mix keeps: the level of the spot sounds
            # (a bed alone is raised to the target by up to ×50 on a short clip; a sound added to
            # it at that gain went 13 dB over and into the limiter: such a result is normalised anew)
            timeline.output.track_gains = [float(gain.scale) for gain in track.gains]
        report("done", 1.0)
        return ScoreResult(track=track, timeline=timeline, trace=analysis.trace)

    def describe(self, description: str | None, catalog: Catalog) -> Described:
        """The description → its text embedding → a score per category and per recording
        (none without a description)."""
        text = (description or "").strip() or None
        if not text:
            return Described(None, None, None)
        search = searcher(catalog)
        reader = reader_for(search, self.text.embed, self.tables_folder)
        vector = reader.embed(text)  # the reader's cache: its whole-sentence part is this same run
        return Described(text, reader.scores(text),
                         {m.template.id: m.score for m in search.search_vector(vector, k=len(catalog.templates))})

    def choose(self, analysis: ClipAnalysis, catalog: Catalog, described: Described, options: ScoreOptions,
               report: Callable[[float], None], ahead: VisionAhead | None = None,
               known_decisions: dict | None = None) -> Chosen:
        """The clip's events → per event a category decision, a recording and its placement;
        then the ambience bed, unless `options.ambience` is off (then no bed, and the scene's
        actions are placed as in any scene). The analysis' frames are released once nothing
        needs them.

        An event's decision comes from the description, the vision outputs of its keyframe's
        near-duplicate group in this clip (appliance.engine.visual) and taught exemplars, for its
        kind; events of the same group and kind share it. Its recording and variation are drawn
        from its own stream (options.seed, event number). So every choice is a function of the
        clip and the options (the seed among them), whatever the cache holds, and whether or not
        `ahead` computed vision outputs during the analysis."""
        zero_shot = self._zero_shot(searcher(catalog))
        analysis.keep_event_keyframes()
        events = analysis.events
        if ahead is not None:
            ahead.keep_only({k.index for k in analysis.keyframes.values()} | {k.index for k in analysis.scene})
        visual = VisualLookup(self.vision, self.cache, ahead)
        continuous = described_sustained(catalog, described.category_scores)
        named_by = "the description names"
        scene_scores = None if continuous else self._scene_scores(analysis, zero_shot, visual)
        if described.text is None:  # without words, the picture may show a pour or a saw
            continuous, named_by = pictured_sustained(catalog, scene_scores), "the scene frames show"
        if continuous:
            events = sustained_events(analysis)  # the pour or saw, over the motion
            analysis.keyframes.update({k.index: k for k in analysis.scene})
        sounds = EventSounds(self, catalog, described, visual,
                             TemplatePicker(catalog, described.template_scores, options.seed,
                                            median_gap([e.time for e in events])),
                             known_decisions)
        chosen = Chosen(visual=visual)
        sounds.picker.draw_for(1)
        ambient = False
        if continuous:  # a continuous action happens: not an ambient scene
            chosen.ambience_entry = AmbienceEntry(category=None, why=f"{named_by} {continuous}")
        elif not options.ambience:
            chosen.ambience_entry = AmbienceEntry(category=None, why="the request asked for no ambience bed")
        else:
            chosen.ambience, chosen.ambience_entry, ambient = self._ambience(
                catalog, described.category_scores, scene_scores, sounds.picker, len(events))
        # An ambient scene (its motion holds no action, or its frames look like a place or weather
        # most) gets its bed and no spot sounds: the motion in it — a dog trotting, wipers, grass
        # in the wind — is not something that knocks. A bed the words name goes under the actions.
        events = [] if ambient else events
        for number, event in enumerate(events):
            if number % 20 == 0:  # also the job's heartbeat: a long clip has thousands of events
                report(number / len(events))
            placement, entry = sounds.choose(number, event, analysis.keyframes.get(event.frame_index) or analysis.scene[0])
            chosen.placements.append(placement)
            chosen.events.append(entry)
        chosen.reused = sounds.reused
        analysis.release_frames()
        return chosen

    def decide(self, kind: EventKind, outputs: tuple[np.ndarray, np.ndarray], catalog: Catalog,
               described: Described, exemplars: Exemplars) -> dict:
        """The category for an action of `kind` whose keyframe the vision model read as `outputs`
        (embedding, logits): the description, the zero-shot reading with the category probe, and
        the taught exemplars vote; with the preferred taught recordings and the top labels. One
        rule for scored clips and live mode (appliance/live)."""
        embedding, logits = outputs
        exemplar_scores, preferred = exemplars.match(embedding)
        probe = self.probe.log_probabilities(embedding) if self.probe else None
        evidence = Evidence(description=described.category_scores,
                            vision=with_probe(self._zero_shot(searcher(catalog)).scores(logits), probe),
                            exemplar=exemplar_scores)
        decision = decide_category(catalog, kind, evidence, self.vote_weights)
        decision["preferred"] = preferred[:TEMPLATE_POOL]
        decision["vision_labels"] = [[label, round(p, 3)] for label, p in self.vision.top_labels(logits[None], k=3)[0]]
        return decision

    def mix(self, chosen: Chosen, duration: float, target_lufs: float) -> Track:
        """The placements and the bed → the track (rendered block by block when read)."""
        return mix_track(chosen.placements, duration, ambience=chosen.ambience, target_lufs=target_lufs)

    def assemble_timeline(self, path: Path, options: ScoreOptions, analysis: ClipAnalysis, catalog: Catalog,
                          described: Described, chosen: Chosen, stages: dict[str, float],
                          started: float) -> Timeline:
        """What was placed where and why, with the clip, the request and how it was made."""
        info = analysis.info
        return Timeline(
            engine={"version": __version__, "engine_version": ENGINE_VERSION},
            clip=ClipInfo(file=display_name(path.name), duration=round(info.duration, 6), width=info.width, height=info.height,
                          fps=round(info.fps, 3), frames_analysed=analysis.frame_count),
            request={**options.key_fields(), "description": described.text},
            library_version=catalog.version,
            models={"text": self.text.entry.sha256, "vision": self.vision.entry.sha256},
            output=OutputSpec(sample_rate=SAMPLE_RATE, channels=2, target_lufs=options.target_lufs,
                              true_peak_ceiling_dbfs=-1.0,
                              original_level_db=options.original_level_db if options.keep_audio else None),
            events=chosen.events,
            ambience=chosen.ambience_entry,
            stats=Stats(vision_inferences_run=chosen.visual.run, vision_inferences_skipped=chosen.visual.skipped,
                        decisions_reused=chosen.reused, events=len(chosen.events),
                        stage_seconds={k: round(v, 4) for k, v in stages.items()},
                        total_seconds=round(time.perf_counter() - started, 4)),
        )

    def _scene_scores(self, analysis: ClipAnalysis, zero_shot: ZeroShot, visual) -> PictureScores | None:
        """The scene frames read as the picture is read for an event (zero-shot labels and the
        category probe), averaged: what the whole clip looks like; with the setting they show."""
        per_frame, frames_logits = [], []
        for keyframe in analysis.scene:
            embedding, logits = visual.outputs(keyframe)
            frames_logits.append(logits)
            per_frame.append(with_probe(zero_shot.scores(logits),
                                        self.probe.log_probabilities(embedding) if self.probe else None))
        if not per_frame:
            return None
        return PictureScores({name: float(np.mean([s[name] for s in per_frame])) for name in per_frame[0]},
                             zero_shot.setting(frames_logits))

    def _ambience(self, catalog, description_scores, scene_scores, picker,
                  actions: int) -> tuple[Ambience | None, AmbienceEntry, bool]:
        """(the bed, its timeline entry, whether the scene is ambient): a bed instead of the spot
        sounds if the clip's motion holds no action (`actions` events) or its scene frames look
        like a place most, of the kind the description names or without one the scene frames; a
        bed under the actions when the words name one (scene.ambience_category)."""
        bed = ambience_category(catalog, description_scores, scene_scores, actions)
        if bed.category is None:
            return None, AmbienceEntry(category=None, why=bed.why), bed.ambient
        template = picker.pick(bed.category)
        return ambience_bed(template, catalog.audio(template.id)), AmbienceEntry(
            category=bed.category, template_id=template.id, licence=template.licence, why=bed.why), bed.ambient

    # -- files --------------------------------------------------------------------------------
    def score_to_files(self, path: Path, options: ScoreOptions, wav: Path, mp4: Path | None = None,
                       timeline: Path | None = None,
                       progress: Callable[[str, float], None] | None = None,
                       analysis: ClipAnalysis | None = None, mix: Path | None = None,
                       credits: Path | None = None, clip_name: str | None = None) -> Timeline:
        """Score and write the requested files; all or nothing. Returns the timeline.

        `clip_name`: the name the user knows the clip by, for the timeline and the credits
        (default: the file's own; the service stores an upload as `input`).

        `wav` is the Foley alone (the stem); `mp4` the video with the Foley, or with keep_audio
        with the mix of the Foley and the clip's own sound, which `mix` also writes as a WAV;
        `credits` the recordings used and their licences (appliance.engine.deliver).

        With a cache, an identical request is answered from the stored result (no decoding).
        A camera recording (`analysis` given) skips the result cache: its clip is new by nature,
        and hashing and storing it would only delay its result and fill the cache."""
        path, wav = Path(path), Path(wav)
        outputs = {WAV_NAME: wav, MP4_NAME: mp4 and Path(mp4), TIMELINE_NAME: timeline and Path(timeline),
                   MIX_NAME: mix and Path(mix), CREDITS_NAME: credits and Path(credits)}
        for target in filter(None, outputs.values()):
            _check_writable(target)
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        clip_name = clip_name or display_name(path.name)
        key = self.request_key(path, options) if self.cache and analysis is None else None
        stored = self.cache.find_result(key) if key else None
        if stored is not None:
            return _from_stored(stored, path, clip_name, outputs)
        result = self.score(path, options, progress, analysis)
        result.timeline.stats.result_cache = "miss" if key else "off"
        result.timeline.clip.file = clip_name
        (progress or (lambda stage, fraction: None))("write", 0.0)
        write_outputs(path, result.track, result.timeline,
                      OutputFiles(wav=wav, mp4=outputs[MP4_NAME], timeline=outputs[TIMELINE_NAME],
                                  mix=outputs[MIX_NAME], credits=outputs[CREDITS_NAME]), load_catalog())
        if key:
            self._store(key, result.timeline, result.track, outputs)
        return result.timeline

    def _store(self, key: str, timeline: Timeline, track: Track, outputs: dict) -> None:
        """Keep the finished result for an identical request. The outputs are the user's
        already: a failure here (a full disk under the state folder) loses only the shortcut.
        The store keeps the Foley as WAV: an output in another format (an OGG, lossy) is not
        copied but the track written again."""
        folder = outputs[WAV_NAME].parent / f".store-{key}"
        try:
            folder.mkdir(exist_ok=True)
            write_json_atomic(folder / TIMELINE_NAME, timeline.to_json())
            files = {TIMELINE_NAME: folder / TIMELINE_NAME, WAV_NAME: outputs[WAV_NAME]}
            if audio_spec(outputs[WAV_NAME]) != audio_spec(WAV_NAME):
                files[WAV_NAME] = write_wav_atomic(folder / WAV_NAME, track, SAMPLE_RATE)
            if outputs[MP4_NAME]:
                files[MP4_NAME] = outputs[MP4_NAME]
            self.cache.put_result(key, files)
        except (OSError, UsageError, sqlite3.Error) as exc:
            log.warning("result not cached: %s", exc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class EventSounds:
    """Each event's sound, in the order of the events: its decision (computed once per group of
    near-identical keyframes and kind: the vision outputs of the group's representative, the
    description, the exemplars), its recording drawn from its own seeded stream, its placement.

    `Engine.choose` runs it over a finished analysis; a recording scored while it is recorded
    (capture/scoring.py) runs it over the events as they are decided, which gives the same
    sounds wherever its events so far, their kinds and the picker's event gap are the final ones."""

    def __init__(self, engine: Engine, catalog: Catalog, described: Described, visual: VisualLookup,
                 picker: TemplatePicker, known: dict | None = None):
        """`known`: decisions another EventSounds made for the same clip, description and
        keyframes (a recording's, while it was recorded): a decision depends only on its group's
        representative keyframe and kind, so they are taken instead of computed again."""
        self.engine, self.catalog, self.described, self.visual, self.picker = engine, catalog, described, visual, picker
        self.exemplars = Exemplars(catalog, visual.model_key)
        self.decisions: dict[tuple[int, EventKind], dict] = {}
        self.known = known or {}
        self.reused = 0

    def choose(self, number: int, event: ActionEvent, keyframe) -> tuple[Placement, TimelineEvent]:
        group = (self.visual.representative(keyframe).index, EventKind(event.kind))
        decision = self.decisions.get(group)
        if decision is not None:
            self.reused += 1
            source = "reused from an earlier near-identical action"
        else:
            decision = self.known.get(group) or self.engine.decide(event.kind, self.visual.outputs(keyframe),
                                                                   self.catalog, self.described, self.exemplars)
            self.decisions[group] = decision
            source = "computed"
        self.picker.draw_for(0, number)
        template = self.picker.pick(decision["category"], decision.get("preferred", []))
        placement = placement_for(event, template, self.catalog.audio(template.id), self.picker)
        return placement, timeline_event(number, event, template, placement, decision, source)


def timeline_event(number: int, event: ActionEvent, template: Template, placement: Placement, decision: dict,
                   source: str) -> TimelineEvent:
    return TimelineEvent(
        n=number,
        time=round(event.time, 6),  # under a sample (20.8 µs): an edit's mix places it where scoring did
        kind=EventKind(event.kind),
        strength=round(float(event.strength), 3),
        position=Position(x=round(float(event.x), 3), y=round(float(event.y), 3)),
        duration=round(event.duration, 6) if event.duration else None,
        category=decision["category"],
        template_id=template.id,
        template=template.description,
        licence=template.licence,
        gain_db=round(20 * float(np.log10(max(placement.gain, 1e-9))), 4),
        pan=round(placement.pan, 3),
        pitch=round(placement.pitch, 6),
        why=Why(decision=source, candidates=decision["candidates"], vision_labels=decision.get("vision_labels", [])),
        confidence=event.confidence,
        gain_range_db=gain_range_db(template),
        envelope=envelope_points(event),
    )


def _check_writable(target: Path) -> None:
    """Fail before any work when an output cannot be written (exit code 2, nothing touched)."""
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{target}: is a folder, not a file name")
    if target.exists() and not target.is_file():  # the staged file would be renamed over it
        raise UsageError(f"{target}: is a device, pipe or socket, not a file: outputs are written as new files "
                         "and would replace it")
    if not folder.is_dir():
        raise UsageError(f"{target}: the folder {folder} does not exist")
    try:
        temp_beside(target, ".probe").unlink()
    except OSError as exc:
        raise UsageError(f"{target}: cannot write here ({exc.strerror})") from None


def _from_stored(stored: Path, clip: Path, clip_name: str, outputs: dict) -> Timeline:
    """Copy a stored result to the requested outputs; the files it does not hold (the MP4 if it
    was not stored, the mix, the credits) are made from its WAV as scoring makes them. The
    timeline names this request's clip (the same bytes may have been scored under another name).
    Staged and renamed together as scoring's outputs are (engine/outputs.py): a failure or
    Ctrl-C leaves the previous files where they were. The Foley is written in the format its
    name asks for (the store keeps a WAV; WAV to WAV gives the same samples)."""
    timeline = Timeline.from_json(json.loads((stored / TIMELINE_NAME).read_text(encoding="utf-8")))
    timeline.clip.file = clip_name
    timeline.stats.result_cache = "hit"  # in the file too (it said the stored "miss")
    foley = wav_track(stored / WAV_NAME)
    with staging() as stage:
        write_audio_atomic(stage.path(outputs[WAV_NAME]), foley, foley.sr)
        if outputs[MP4_NAME] and (stored / MP4_NAME).is_file():
            shutil.copyfile(stored / MP4_NAME, stage.path(outputs[MP4_NAME]))
        made = {name: stage.path(outputs[name]) if outputs[name] and not (stored / name).is_file() else None
                for name in (MP4_NAME, MIX_NAME, CREDITS_NAME)}
        deliver(clip, foley, timeline, load_catalog(), mp4=made[MP4_NAME], mix=made[MIX_NAME],
                credits=made[CREDITS_NAME])
        if outputs[TIMELINE_NAME]:
            write_json_atomic(stage.path(outputs[TIMELINE_NAME]), timeline.to_json())
        stage.commit()
    return timeline
