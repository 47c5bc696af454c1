"""The scoring engine end to end: clip (+ description) → track, timeline, and output files.

    engine = Engine(cache)                       # models, library, zero-shot table: once
    result = engine.score(path, ScoreOptions(description="door slam", seed=1))
    engine.score_to_files(path, options, wav=..., mp4=..., timeline=...)

The decode → motion → hash pass streams (appliance.engine.analysis); only the keyframes of
actions meet the vision model, and then only when the frame-hash cache has nothing close; a
repeated action reuses the decision made for it earlier; an identical request returns the
stored result without decoding at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from appliance import __version__
from appliance.atomic import atomic_path, write_json_atomic
from appliance.engine.analysis import ClipAnalysis, analyse_clip
from appliance.engine.cache import Cache
from appliance.engine.choose import TEMPLATE_POOL, Evidence, TemplatePicker, decide_category, median_gap
from appliance.engine.exemplars import Exemplars
from appliance.engine.mux import mux_mp4
from appliance.engine.options import ScoreOptions
from appliance.engine.scene import ambience_bed, ambience_category, placement_for
from appliance.engine.visual import VisualLookup
from appliance.engine.zeroshot import ZeroShot, with_probe
from appliance.errors import UsageError
from appliance.inference import TextEncoder, VisionEncoder, category_probe, text_encoder, vision_encoder
from appliance.inference.manifest import load_manifest, sha256_of
from appliance.inference.sessions import default_threads
from appliance.library import load_catalog, searcher
from appliance.library.description import reader_for
from appliance.mixing import SAMPLE_RATE, Track, mix_track, write_wav_atomic
from appliance.motion import SUSTAINED, MotionTrace
from appliance.paths import state_dir


def _code_version() -> str:
    """A digest of the code that shapes a result (decoding, motion, choice, mixing): stored
    results and decisions of another version are never reused, with no number to remember to bump."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("video", "motion", "engine", "mixing", "library"):
        for source in sorted((package / folder).glob("*.py")):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


ENGINE_VERSION = _code_version()
TIMELINE_FORMAT = 1
WAV_NAME, MP4_NAME, TIMELINE_NAME = "audio.wav", "video.mp4", "timeline.json"


@dataclass
class ScoreResult:
    track: Track
    """Stereo at 48 kHz, exactly the clip's duration; rendered block by block when read."""
    timeline: dict
    trace: MotionTrace
    """Per-frame motion of the clip (AV-Align's video side)."""

    @property
    def audio(self) -> np.ndarray:
        """The whole track as one (n, 2) float32 array (115 MB for 5 minutes: evaluation, tests)."""
        return self.track.array()


class Engine:
    """Everything that outlives one request: sessions, library, zero-shot table, cache."""

    def __init__(self, cache: Cache | None = None, threads: int | None = None, variant: str = "int8"):
        """variant "fp32" loads the locally exported FP32 twins (benchmarks only; never shipped)."""
        self.cache = cache
        self.threads = threads or default_threads()
        if variant == "int8":
            self.text, self.vision = text_encoder(), vision_encoder()
        else:
            entries = load_manifest()
            text, vision = entries["text-encoder"], entries["vision-encoder"]
            self.text = TextEncoder(text, self.threads, path=text.fp32_path())
            self.vision = VisionEncoder(vision, self.threads, path=vision.fp32_path())
        self._zeroshot: dict[str, ZeroShot] = {}
        self.probe = category_probe()

    def models_key(self) -> str:
        probe = self.probe.entry.sha256[:16] if self.probe else "none"
        return (f"{self.text.entry.sha256[:16]}:{self.text.variant}-{self.vision.entry.sha256[:16]}:{self.vision.variant}"
                f"-{probe}")

    def request_key(self, path: Path, options: ScoreOptions) -> str:
        """Identical clip bytes + options + library + models + engine → identical result."""
        digest = hashlib.sha256((self.cache.file_digest(path) if self.cache else sha256_of(path)).encode())
        for part in (sorted(options.key_fields().items()), load_catalog().version, self.models_key(),
                     ENGINE_VERSION):
            digest.update(repr(part).encode())
        return digest.hexdigest()[:32]

    def prepare(self) -> None:
        """Load the library, its search matrices and the zero-shot table now rather than on the
        first request (the table is computed once per library/model version: seconds on a Pi)."""
        search = searcher(load_catalog())
        self._zero_shot(search)
        reader_for(search, self.text.embed)  # embeds its material and setting words once

    def _zero_shot(self, search) -> ZeroShot:
        version = search.catalog.version
        if version not in self._zeroshot:
            self._zeroshot = {version: ZeroShot(search, self.vision.labels, self.text.entry.sha256,
                                                state_dir() / "cache")}
        return self._zeroshot[version]

    # -- scoring ----------------------------------------------------------------------------
    def score(self, path: Path, options: ScoreOptions,
              progress: Callable[[str, float], None] | None = None,
              analysis: ClipAnalysis | None = None) -> ScoreResult:
        """`analysis`: the clip's analysis when it was made already (a live recording's), so
        the clip is not decoded again."""
        path = Path(path)
        started = time.perf_counter()
        report = progress or (lambda stage, fraction: None)
        report("analyse", 0.0)
        if analysis is None:
            analysis = analyse_clip(path, options.max_seconds, self.threads, lambda f: report("analyse", f))
        stages = dict(analysis.stage_seconds)

        t0 = time.perf_counter()
        catalog = load_catalog()
        search = searcher(catalog)
        zero_shot = self._zero_shot(search)
        description = (options.description or "").strip() or None
        description_scores = template_scores = None
        if description:
            vector = self.text.embed(description)
            description_scores = reader_for(search, self.text.embed).scores(description)
            template_scores = {m.template.id: m.score for m in search.search_vector(vector, k=len(catalog.templates))}
        stages["text"] = time.perf_counter() - t0

        report("choose", 0.0)
        t0 = time.perf_counter()
        analysis.keep_event_keyframes()
        visual = VisualLookup(self.vision, self.cache)
        exemplars = Exemplars(catalog, visual.model_key)
        context = hashlib.sha256(repr((catalog.version, description, self.models_key(), ENGINE_VERSION))
                                 .encode()).hexdigest()[:16]
        picker = TemplatePicker(catalog, template_scores, options.seed, median_gap([e.time for e in analysis.events]))
        placements, placed, reused = [], [], 0
        for number, event in enumerate(analysis.events):
            if number % 20 == 0:  # also the job's heartbeat: a long clip has thousands of events
                report("choose", number / len(analysis.events))
            keyframe = analysis.keyframes.get(event.frame_index) or analysis.scene[0]
            scope = f"{context}|{event.kind}"
            decision = self.cache.find_decision(scope, keyframe.hash) if self.cache else None
            if decision is not None:
                reused += 1
                source = "reused from an earlier near-identical action"
            else:
                embedding, logits = visual.outputs(keyframe)
                exemplar_scores, preferred = exemplars.match(embedding)
                probe = self.probe.log_probabilities(embedding) if self.probe else None
                evidence = Evidence(description=description_scores, vision=with_probe(zero_shot.scores(logits), probe),
                                    exemplar=exemplar_scores)
                decision = decide_category(catalog, event.kind, evidence)
                decision["preferred"] = preferred[:TEMPLATE_POOL]
                decision["vision_labels"] = [[label, round(p, 3)] for label, p in
                                             self.vision.top_labels(logits[None], k=3)[0]]
                source = "computed"
                if self.cache:
                    self.cache.put_decision(scope, keyframe.hash, decision)
            template = picker.pick(decision["category"], decision.get("preferred", []))
            placement = placement_for(event, template, catalog.audio(template.id), picker)
            placements.append(placement)
            placed.append(_timeline_event(number, event, template, placement, decision, source))
        stages["choose"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        ambience, ambience_entry = self._ambience(analysis, catalog, description_scores, zero_shot, visual, picker)
        analysis.release_frames()
        report("mix", 0.0)
        track = mix_track(placements, analysis.info.duration, ambience=ambience, target_lufs=options.target_lufs)
        stages["mix"] = time.perf_counter() - t0
        timeline = {
            "format": TIMELINE_FORMAT,
            "engine": {"version": __version__, "engine_version": ENGINE_VERSION},
            "clip": {"file": path.name, "duration": round(analysis.info.duration, 4),
                     "width": analysis.info.width, "height": analysis.info.height,
                     "fps": round(analysis.info.fps, 3), "frames_analysed": analysis.frame_count},
            "request": {**options.key_fields(), "description": description},
            "library_version": catalog.version,
            "models": {"text": self.text.entry.sha256, "vision": self.vision.entry.sha256},
            "output": {"sample_rate": SAMPLE_RATE, "channels": 2, "target_lufs": options.target_lufs,
                       "true_peak_ceiling_dbfs": -1.0},
            "events": placed,
            "ambience": ambience_entry,
            "stats": {"vision_inferences_run": visual.run, "vision_inferences_skipped": visual.skipped,
                      "decisions_reused": reused, "events": len(placed),
                      "stage_seconds": {k: round(v, 4) for k, v in stages.items()},
                      "total_seconds": round(time.perf_counter() - started, 4)},
        }
        report("done", 1.0)
        return ScoreResult(track=track, timeline=timeline, trace=analysis.trace)

    def _ambience(self, analysis: ClipAnalysis, catalog, description_scores, zero_shot, visual, picker):
        """The bed, if the description asks for a place, or a scene without impacts looks like one."""
        vision_scores = None
        if all(e.kind == SUSTAINED for e in analysis.events):
            per_frame = [zero_shot.scores(visual.outputs(k)[1]) for k in analysis.scene]
            vision_scores = {name: float(np.mean([s[name] for s in per_frame])) for name in per_frame[0]}
        category, reason = ambience_category(catalog, description_scores, vision_scores)
        if category is None:
            return None, {"category": None, "why": reason}
        template = picker.pick(category)
        return ambience_bed(template, catalog.audio(template.id)), {
            "category": category, "template_id": template.id, "licence": template.licence, "why": reason}

    # -- files --------------------------------------------------------------------------------
    def score_to_files(self, path: Path, options: ScoreOptions, wav: Path, mp4: Path | None = None,
                       timeline: Path | None = None,
                       progress: Callable[[str, float], None] | None = None,
                       analysis: ClipAnalysis | None = None) -> dict:
        """Score and write the requested files; all or nothing. Returns the timeline.

        With a cache, an identical request is answered from the stored result (no decoding).
        A live recording (`analysis` given) skips the result cache: its clip is new by nature,
        and hashing and storing it would only delay its result and fill the cache."""
        path, wav = Path(path), Path(wav)
        outputs = {WAV_NAME: wav, MP4_NAME: mp4 and Path(mp4), TIMELINE_NAME: timeline and Path(timeline)}
        for target in filter(None, outputs.values()):
            _check_writable(target)
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        key = self.request_key(path, options) if self.cache and analysis is None else None
        stored = self.cache.find_result(key) if key else None
        written: list[Path] = []
        try:
            if stored is not None:
                result_timeline = _from_stored(stored, path, outputs, written)
                result_timeline.setdefault("stats", {})["result_cache"] = "hit"
                return result_timeline
            result = self.score(path, options, progress, analysis)
            result.timeline["stats"]["result_cache"] = "miss" if key else "off"
            write_wav_atomic(wav, result.track, SAMPLE_RATE)
            written.append(wav)
            if outputs[TIMELINE_NAME]:
                write_json_atomic(outputs[TIMELINE_NAME], result.timeline)
                written.append(outputs[TIMELINE_NAME])
            if outputs[MP4_NAME]:
                result.timeline["mp4"] = mux_mp4(path, result.track.blocks(), SAMPLE_RATE, outputs[MP4_NAME])
                written.append(outputs[MP4_NAME])
            if key:
                self._store(key, result.timeline, written, outputs)
            return result.timeline
        except BaseException:
            for done in written:
                done.unlink(missing_ok=True)
            raise

    def _store(self, key: str, timeline: dict, written: list[Path], outputs: dict) -> None:
        staging = written[0].parent / f".store-{key}"
        staging.mkdir(exist_ok=True)
        try:
            write_json_atomic(staging / TIMELINE_NAME, timeline)
            files = {TIMELINE_NAME: staging / TIMELINE_NAME, WAV_NAME: outputs[WAV_NAME]}
            if outputs[MP4_NAME]:
                files[MP4_NAME] = outputs[MP4_NAME]
            self.cache.put_result(key, files)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _timeline_event(number, event, template, placement, decision, source) -> dict:
    return {
        "n": number,
        "time": round(event.time, 4),
        "kind": event.kind,
        "strength": round(float(event.strength), 3),
        "position": {"x": round(float(event.x), 3), "y": round(float(event.y), 3)},
        **({"duration": round(event.duration, 3)} if event.duration else {}),
        "category": decision["category"],
        "template_id": template.id,
        "template": template.description,
        "licence": template.licence,
        "gain_db": round(20 * float(np.log10(max(placement.gain, 1e-9))), 2),
        "pan": round(placement.pan, 3),
        "pitch": round(placement.pitch, 4),
        "why": {"decision": source, "candidates": decision["candidates"],
                "vision_labels": decision.get("vision_labels", [])},
    }


def _check_writable(target: Path) -> None:
    """Fail before any work when an output cannot be written (exit code 2, nothing touched)."""
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{target}: is a folder, not a file name")
    if not folder.is_dir():
        raise UsageError(f"{target}: the folder {folder} does not exist")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write here ({exc.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def _from_stored(stored: Path, clip: Path, outputs: dict, written: list[Path]) -> dict:
    """Copy a stored result to the requested outputs (muxing the MP4 if it was not stored)."""
    timeline = json.loads((stored / TIMELINE_NAME).read_text(encoding="utf-8"))
    for name, target in outputs.items():
        if not target:
            continue
        if name == MP4_NAME and not (stored / MP4_NAME).is_file():
            rate = soundfile.info(str(stored / WAV_NAME)).samplerate
            mux_mp4(clip, soundfile.blocks(stored / WAV_NAME, blocksize=1 << 16, dtype="float32", always_2d=True),
                    rate, target)
        else:
            with atomic_path(target) as temp:
                shutil.copyfile(stored / name, temp)
        written.append(target)
    return timeline
