"""A recording's result made while it is recorded, so that it is ready moments after the stop.

The recording thread tells the scorer after each frame how far its analysis has got
(capture/recording.py). In a thread of its own the scorer does what live mode does: it decides
each action's sound as soon as the action is settled, renders the track up to where no later
decision can reach, and writes it as it goes — the WAV, and the AAC of the MP4's sound
(mixing/stream.py, engine/mux.py `AacWriter`). At the stop only the last LAG_S of sounds, their
samples, a copy of picture and sound into the MP4 (no encoding), the timeline and the credits
remain.

The sounds committed during the recording are a speculation, checked at the stop: an action is
committed LAG_S after it is seen, by the scored clips' own per-event choice
(engine/pipeline.py `EventSounds`) with what is known then — the events so far, their kinds, the
median gap between them. At the stop the clip's choice is made over the final analysis
(`Engine.choose`, its vision outputs found in the frame cache the scorer filled) and compared
with what was committed. Where they differ — an action reported late (a scrape ends long after it
starts), a slow train recognised after LAG_S, an ambient scene, a described continuous action, a
different gap — the track is rendered again from the final choice: slower, same kind of result.
So the sounds are always those a scored clip gets; the level is the placements' own, as live mode
plays them (no loudness normalisation, which needs the whole track first; a re-mix from the
history normalises, as for a live recording).
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import soundfile

from appliance.config import EngineConfig
from appliance.engine.analysis import ClipAnalysis, StreamingAnalysis
from appliance.engine.cache import Cache
from appliance.engine.choose import TemplatePicker, median_gap
from appliance.engine.credits import credits_text, write_credits
from appliance.engine.described_action import described_sustained
from appliance.engine.mux import AacWriter, mux_copied
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Chosen, Engine, EventSounds
from appliance.engine.timeline import Timeline
from appliance.engine.vision_ahead import Ahead
from appliance.engine.visual import VisualLookup
from appliance.library import load_catalog
from appliance.live.history import add_to_history
from appliance.mixing import DEFAULT_CEILING_DB, SAMPLE_RATE, Placement
from appliance.mixing.mixer import bed_for
from appliance.mixing.placement import choked
from appliance.mixing.stream import StreamMix
from appliance.motion.periodic import mark_periodic

log = logging.getLogger("foley.capture")
LAG_S = 1.5
"""Seconds an action waits before its sound is committed: the event model's two frames, and the
third step of a regular train up to 0.75 s apart (a train is believed at its third step)."""
TRAIN_EVENTS = 32
"""Committed events kept in view to tell whether the next ones continue a train (mark_periodic)."""
COMMIT_EVERY_S = 0.2
"""Analysed time between two commits: a frame's worth of work is not repeated 30 times a second."""
ATTACK_MARGIN_S = 0.05
MIN_PITCH = 0.97
"""The lowest pitch ratio of a placement's variation (−0.5 semitone: engine/choose.py), which
stretches its pre-attack by up to 1/0.97."""


def _fingerprint(placement: Placement, template_id: str) -> tuple:
    return (template_id, placement.time, placement.attack, placement.gain, placement.pan, placement.pitch,
            placement.source)


@dataclass(frozen=True)
class ScoredRecording:
    """The finished result's files (in the recordings folder, for the history to take) and how it was made."""

    wav: Path
    mp4: Path
    credits: Path
    timeline: Timeline
    rendered_again: bool
    """True when what was committed while recording differed from the final choice."""


class RecordingScorer:
    """One recording's sounds, decided and mixed while its frames are analysed."""

    def __init__(self, engine: Engine, cache_folder: Path | None, analysis: StreamingAnalysis, folder: Path,
                 recording_id: str, options: ScoreOptions):
        """`cache_folder`: the shared frame cache (opened in the scorer's thread, as each thread
        opens its own), filled with the keyframes' vision outputs: the worker finds them there if
        it has to score the clip after all. `options`: the request (the description, and the
        config's loudness target and length limit)."""
        self.engine, self.cache_folder, self.analysis = engine, cache_folder, analysis
        self.options = options
        self.catalog = load_catalog()
        self.scratch = folder / f".scoring-{recording_id}"
        """The result's files while they are made (removed whole if the recording fails)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.paths = {"wav": self.scratch / "foley.wav", "m4a": self.scratch / "sound.m4a",
                      "mp4": self.scratch / f"{recording_id}.mp4", "credits": self.scratch / "credits.txt"}
        self.committed: list[tuple] = []
        self.failure: str | None = None
        self.used_analysis = False
        """Whether `finish` got as far as using up the analysis (the worker must then decode the clip)."""
        self.speculating = True
        """False once committing is pointless (a described continuous action: its sounds follow
        the whole clip's motion) or failed: the track is then made at the stop."""
        self._updates: queue.Queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name=f"foley-scoring-{recording_id}", daemon=True)
        self._thread.start()

    # -- while recording (the recording thread) -----------------------------------------------
    def update(self, analysed_to: float) -> None:
        """The analysis has seen the frames up to `analysed_to` (s); only the newest is kept."""
        try:
            self._updates.put_nowait(analysed_to)
        except queue.Full:
            try:
                self._updates.get_nowait()
            except queue.Empty:
                pass
            self._updates.put_nowait(analysed_to)

    # -- the scorer's thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.described = self.engine.describe(self.options.description, self.catalog)
            if described_sustained(self.catalog, self.described.category_scores):
                self.speculating = False
            self.visual = VisualLookup(self.engine.vision, Cache(self.cache_folder) if self.cache_folder else None)
            self.sounds = EventSounds(self.engine, self.catalog, self.described, self.visual,
                                      TemplatePicker(self.catalog, self.described.template_scores, self.options.seed))
            self.mix = StreamMix(SAMPLE_RATE, DEFAULT_CEILING_DB)
            self.wav = soundfile.SoundFile(str(self.paths["wav"]), "w", SAMPLE_RATE, 2, "PCM_16", format="WAV")
            self.aac = AacWriter(self.paths["m4a"], SAMPLE_RATE)
        except Exception as exc:  # no scoring while recording: the worker scores the clip after the stop
            self.failure = f"could not start scoring: {exc}"
            log.exception("recording: %s", self.failure)
            self.speculating = False
        scene_seen, committed_at = 0, -COMMIT_EVERY_S
        while (analysed_to := self._updates.get()) is not None:
            if not self.speculating or analysed_to - committed_at < COMMIT_EVERY_S:
                continue
            committed_at = analysed_to
            try:
                scene_seen = self._read_scene(scene_seen)
                self._commit(analysed_to - LAG_S)
            except _Late as late:  # a scrape reported at its end, say: the stop renders the track anew
                log.info("recording: %s; the track is made at the stop", late)
                self.speculating = False
            except Exception as exc:  # the stop renders everything from the final choice instead
                log.exception("recording: committing sounds failed; the track is made at the stop")
                self.failure = f"committing sounds failed: {exc}"
                self.speculating = False
        cache = getattr(getattr(self, "visual", None), "cache", None)
        if cache is not None:  # this thread's connection; the stop's choice needs none
            cache.close()

    def _read_scene(self, seen: int) -> int:
        """The scene frames' vision outputs, for the ambience decision at the stop (cached)."""
        scene = self.analysis.scene
        for keyframe in scene[seen:]:
            self.visual.outputs(keyframe)
        return len(scene)

    def _commit(self, horizon: float) -> None:
        """Choose the sounds of the actions settled before `horizon` and render up to where no
        action settled later can start. The analysis appends its events in time order, so the
        first len(committed) are the committed ones (one that breaks the order, a scrape reported
        at its end, is caught here or by the check at the stop); only the last TRAIN_EVENTS are
        copied to tell a train's kind, so an hour-long recording costs no more per update."""
        events = self.analysis.analyser.events
        done = len(self.committed)
        first = max(0, done - TRAIN_EVENTS)
        recent = sorted((replace(e) for e in events[first:]), key=lambda e: e.time)  # copies: kinds are ours
        mark_periodic(recent)
        self.sounds.picker.event_gap = median_gap([e.time for e in events])
        limit = horizon
        for number, event in enumerate(recent[done - first:], start=done):
            keyframe = self.analysis.keyframes.get(event.frame_index)
            if event.time >= horizon or keyframe is None:
                limit = min(limit, event.time)
                break
            placement, entry = self.sounds.choose(number, event, keyframe)
            first_sample = round((placement.time - placement.attack / placement.pitch) * SAMPLE_RATE)
            if first_sample < self.mix.position:
                raise _Late(f"the action at {event.time:.2f} s was settled after its sound's samples were written")
            self.mix.add(placement)
            self.committed.append(_fingerprint(placement, entry.template_id))
        self._write(self.mix.render(max(0, round((limit - self._attack_bound()) * SAMPLE_RATE))))
        for event in recent[len(self.committed) - first:]:  # the vision of actions not yet settled: not left for the stop
            keyframe = self.analysis.keyframes.get(event.frame_index)
            if keyframe is not None:
                self.visual.outputs(keyframe)

    def _attack_bound(self) -> float:
        """How far before its action a sound settled later may start: its recording's pre-attack,
        bounded by the categories decided so far (all of the library's before the first). A
        later action of another category with a longer pre-attack makes the stop render again."""
        categories = {decision["category"] for decision in self.sounds.decisions.values()}
        attacks = [t.attack_time for c in categories for t in self.catalog.in_category(c)] if categories else \
            [t.attack_time for t in self.catalog.templates]
        return max(attacks, default=0.0) / MIN_PITCH + ATTACK_MARGIN_S

    def _write(self, block) -> None:
        if len(block):
            self.wav.write(block)
            self.aac.write(block)

    # -- at the stop ------------------------------------------------------------------------------
    def finish(self, clip: Path, analysis: ClipAnalysis, clip_name: str) -> ScoredRecording:
        """The result of the finished recording (`analysis` is its final analysis, which this
        uses up). Raises when it cannot be made; the files are then gone."""
        started = time.perf_counter()
        self._updates.put(None)
        self._thread.join()
        if self.failure and not hasattr(self, "aac"):
            raise RuntimeError(self.failure)
        try:
            stages = dict(analysis.stage_seconds)
            t0 = time.perf_counter()
            self.used_analysis = True  # its keyframes are released by the choice
            chosen = self.engine.choose(analysis, self.catalog, self.described, self.options, lambda f: None,
                                        _Computed(self.visual), getattr(getattr(self, "sounds", None), "decisions", None))
            stages["choose"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            length = round(analysis.info.duration * SAMPLE_RATE)
            again = not self._still_valid(chosen)
            if again:
                self._restart(chosen)
            else:
                for placement in chosen.placements[len(self.committed):]:
                    self.mix.add(placement)
            self._write(self.mix.finish(length))
            self.wav.close()
            self.aac.close()
            stages["mix"] = time.perf_counter() - t0
            timeline = self.engine.assemble_timeline(clip, self.options, analysis, self.catalog, self.described,
                                                     chosen, stages, started)
            timeline.clip.file = clip_name
            timeline.stats.result_cache = "off"
            text = credits_text(timeline, self.catalog)
            write_credits(self.paths["credits"], text)
            timeline.mp4 = mux_copied(clip, self.paths["m4a"], self.paths["mp4"], metadata={"comment": text})
            with open(self.paths["wav"], "rb") as wav:
                os.fsync(wav.fileno())
            self.paths["m4a"].unlink()
            log.info("recording scored while recorded: %d sounds, %s", len(chosen.events),
                     "rendered again at the stop" if again else f"{len(self.committed)} committed while recording")
            return ScoredRecording(self.paths["wav"], self.paths["mp4"], self.paths["credits"], timeline, again)
        except BaseException:
            self.discard()
            raise

    def _still_valid(self, chosen: Chosen) -> bool:
        """Whether the committed sounds are the final choice's first ones, and every other sound
        of it starts where nothing has been written yet."""
        if not self.speculating or chosen.ambience is not None or len(chosen.placements) < len(self.committed):
            return False
        final = [_fingerprint(p, e.template_id) for p, e in zip(chosen.placements, chosen.events)]
        if final[:len(self.committed)] != self.committed:
            return False
        return all(round((p.time - p.attack / p.pitch) * SAMPLE_RATE) >= self.mix.position
                   for p in chosen.placements[len(self.committed):])

    def _restart(self, chosen: Chosen) -> None:
        """Render the whole track anew from the final choice (and its bed)."""
        self.wav.close()
        self.aac.close()
        self.mix = StreamMix(SAMPLE_RATE, DEFAULT_CEILING_DB,
                             bed_for(chosen.ambience, choked(chosen.placements, SAMPLE_RATE), SAMPLE_RATE))
        for placement in chosen.placements:
            self.mix.add(placement)
        self.wav = soundfile.SoundFile(str(self.paths["wav"]), "w", SAMPLE_RATE, 2, "PCM_16", format="WAV")
        self.aac = AacWriter(self.paths["m4a"], SAMPLE_RATE)

    def discard(self) -> None:
        """Stop and remove what was written (a cancelled or failed recording)."""
        if self._thread.is_alive():
            self._updates.put(None)
            self._thread.join()
        for closing in (getattr(self, "wav", None), getattr(self, "aac", None)):
            try:
                if closing is not None:
                    closing.close()
            except Exception:  # being thrown away
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


class RecordingScoring:
    """The daemon's side of scoring: the engine, loaded once in the background (a recording
    started before it is ready is scored by the service's worker after the stop, as one made
    while scoring is off), a scorer per recording, and each result filed in the service's
    history as a finished job (live/history.py: the service's SQLite job store, no queue)."""

    def __init__(self, cache_folder: Path, service_folder: Path, settings: EngineConfig = EngineConfig(),
                 load_engine: Callable[[], Engine] = Engine):
        """`settings`: the config's engine section, which every recording's request is held to."""
        self.cache_folder, self.service_folder, self.settings = cache_folder, service_folder, settings
        self.engine: Engine | None = None
        self.failure: str | None = None
        self._loader = threading.Thread(target=self._load, args=(load_engine,), name="foley-scoring-load", daemon=True)
        self._loader.start()

    def close(self) -> None:
        """Wait for the engine to have loaded (or failed): a process that exits while ONNX
        Runtime is still building its sessions in a thread is aborted by the C++ runtime."""
        self._loader.join()

    def _load(self, load_engine: Callable[[], Engine]) -> None:
        # Loading is seconds of CPU (the models, the zero-shot table): at the lowest priority it
        # never delays the camera, a recording or a live session (threads it starts inherit it).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:  # not allowed here: load at the normal priority
            pass
        try:
            engine = load_engine()
            engine.prepare()
            self.engine = engine
            log.info("scoring while recording: engine ready")
        except Exception as exc:  # recordings still work: the worker scores them
            self.failure = f"the engine could not be loaded: {exc}"
            log.exception("scoring while recording is off: %s", self.failure)

    def start(self, analysis: StreamingAnalysis, folder: Path, recording_id: str,
              description: str | None) -> RecordingScorer | None:
        engine = self.engine
        if engine is None:
            log.info("recording %s: the engine is not loaded yet; the service scores it after the stop", recording_id)
            return None
        return RecordingScorer(engine, self.cache_folder, analysis, folder, recording_id,
                               ScoreOptions.under(self.settings, description=description))

    @property
    def state(self) -> str:
        """For the daemon's status: ready, loading, or why it is off."""
        return "ready" if self.engine is not None else self.failure or "loading"

    def file(self, scorer: RecordingScorer, clip: Path, analysis: ClipAnalysis,
             stopped_at: float, clock) -> tuple[str, ScoredRecording]:
        """Finish the recording's result and file it with `clip` (moved) as its input: the job id
        and the result."""
        scored = scorer.finish(clip, analysis, clip.name)
        try:
            job = add_to_history(scored.mp4, clip, scored.wav, scored.timeline.to_json(), scorer.options,
                                 clock() - stopped_at, self.service_folder,
                                 credits=scored.credits, move_mp4=True)
            return job, scored
        finally:
            scorer.discard()


class _Computed:
    """The vision outputs the scorer's lookup computed while recording, offered to the stop's
    `Engine.choose` in the place of a clip's `VisionAhead` (engine/visual.py asks it first): the
    final choice then runs no inference and opens no cache in the finishing thread."""

    def __init__(self, visual: VisualLookup):
        self.visual = visual

    def outputs(self, keyframe) -> Ahead | None:
        found = self.visual.computed(keyframe)
        return None if found is None else Ahead(found, ran=False)

    def keep_only(self, indices: set[int]) -> None:
        """Nothing to drop: the outputs are already computed."""


class _Late(Exception):
    """An action settled after the samples where its sound starts were written."""
