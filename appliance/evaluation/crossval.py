"""`foley eval DIR... --folds K`: the engine judged on clips it was not fitted on.

Every clip is analysed once (its intervals' cues, the onsets of its own sound, and for a clip
labelled with a category the vision embeddings of a few frames). Folds split the recordings
(`corpus.assign_folds`); for each fold, everything learned is fitted on the other folds only: the
event model — trees and picking — and the frame-difference baseline's threshold on their contact
clips (`event_training`), the category probe on their clips labelled with a category, any role
(`category_training`). Every clip of the held-out fold is scored by the whole engine with that
fold's models, with and without its description, and compared with its own sound by the
CondFoleyGen protocol (`evaluation.onsets`). In the same run, the two naive baselines
(`baselines`) are scored on the same clips. Which clips count for onsets and which are ambient
comes from their labels (`corpus.clip_role`).
"""
from __future__ import annotations

import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.engine.analysis import ANALYSIS_WIDTH
from appliance.engine.choose import WEIGHTS
from appliance.engine.options import ScoreOptions
from appliance.engine.pipeline import Engine
from appliance.engine.timeline import Timeline
from appliance.evaluation.baselines import click_track, random_times
from appliance.evaluation.clip import pooled
from appliance.evaluation.category_training import FrameSample, fit_probe
from appliance.evaluation.corpus import AMBIENT_MAX_EVENTS, assign_folds, category_fits, clip_role, recording_of
from appliance.evaluation.event_training import (OneClass, TrainingClip, difference_peaks, fit_difference_picking,
                                                 fit_events, rendered_clips)
from appliance.evaluation.onsets import detect_onsets, onset_scores
from appliance.evaluation.vote_weights import VoteClip, fit_vision_weight
from appliance.inference import VisionEncoder
from appliance.library import load_catalog
from appliance.mixing import SAMPLE_RATE
from appliance.motion import MotionAnalyser
from appliance.motion.event_model import EventModel, Picking
from appliance.os_text import display_name
from appliance.video import iter_frames, probe, read_audio

METHODS = ("engine", "engine_no_description", "engine_event_clicks", "difference_peaks", "random_clicks")
"""engine_event_clicks: the engine's own event times (with its description) as clicks — the
detection alone, without the library's sounds, to tell timing losses from rendering losses."""


@dataclass
class LabelledClip:
    path: Path
    label: dict
    role: str
    training: TrainingClip
    duration: float
    embeddings: np.ndarray | None = None
    """Vision embeddings of the category probe's frames (clips labelled with a category, when asked for)."""
    logits: np.ndarray | None = None
    """The same frames' ImageNet logits (their zero-shot reading, for fitting the votes' weights)."""


@dataclass
class ClipResult:
    clip: str
    fold: int
    role: str
    scores: dict[str, dict] = field(default_factory=dict)
    """method → onset scores (reference/generated/matched/accuracy/precision/f1/ap)."""
    categories: dict[str, str | None] = field(default_factory=dict)
    """engine / engine_no_description → the most frequent placed category (or the bed's)."""
    fits: dict[str, bool | None] = field(default_factory=dict)
    spot_events: dict[str, int] = field(default_factory=dict)
    beds: dict[str, str | None] = field(default_factory=dict)
    bed_fits: dict[str, bool | None] = field(default_factory=dict)
    """Whether the bed laid is the labelled category (None when the label names none)."""


def analyse_for_training(path: Path, label: dict | None, vision: VisionEncoder | None = None,
                         name: str | None = None) -> LabelledClip:
    """One decode of the clip: its intervals' cues, the onsets of its own sound, and with `vision`,
    when the label names a category, the embeddings of the probe's frames (the same in every fold,
    so computed once here: a few encoder runs per clip)."""
    info = probe(path)
    sample = FrameSample(info) if vision is not None and (label or {}).get("category") else None
    analyser = MotionAnalyser(None, keep_rows=True, fps=info.fps)
    for frame in iter_frames(path, ANALYSIS_WIDTH, colour=sample is not None):
        analyser.push(frame)
        if sample is not None:
            sample.offer(frame)
    onsets = detect_onsets(read_audio(path, SAMPLE_RATE), SAMPLE_RATE)
    name = name or display_name(path.name)  # a clip's name in the report (and its recording without a recording_id)
    training = TrainingClip(name, recording_of(name, label), analyser.rows, onsets)
    embeddings, logits = vision.embed(sample.frames()) if sample is not None else (None, None)
    return LabelledClip(path, label or {}, clip_role(label), training, info.duration, embeddings, logits)


def dominant_category(timeline: Timeline) -> str | None:
    """The category most of the clip's sounds came from (what category fit judges); the bed's
    when no spot event was placed."""
    counts = Counter(e.category for e in timeline.events)
    return counts.most_common(1)[0][0] if counts else timeline.ambience.category


def cross_validate(clips: list[LabelledClip], folds: int, engine: Engine, seed: int = 0,
                   log=lambda line: None) -> tuple[list[ClipResult], list[dict]]:
    """Per-clip results and, per fold, what was fitted on its training clips (plus the rendered
    scenes of `event_training.rendered_clips`, which are in the event model's training in every
    fold and never scored). The engine's event model and category probe are replaced per fold; a
    fold whose training clips name fewer than two categories gets no probe (zero-shot alone)."""
    with tempfile.TemporaryDirectory() as scratch:
        rendered = rendered_clips(scratch)
    fold_of = assign_folds([c.training.recording for c in clips], folds, seed)
    described = [c for c in clips if c.embeddings is not None and c.label.get("description")]
    evidence = dict(zip((id(c) for c in described), vote_clips(described, engine)))  # the same in every fold
    names = category_names()
    bundled = engine.event_model
    results, fitted_folds = [], []
    for fold in range(folds):
        train = [c.training for c in clips if fold_of[c.training.recording] != fold and c.role == "contact"]
        held = [c for c in clips if fold_of[c.training.recording] == fold]
        if not held:
            continue
        engine.event_model, events = fold_event_model(train, rendered, bundled, seed)
        difference_picking = fit_difference_picking(train)
        labelled = [c for c in clips if fold_of[c.training.recording] != fold and c.embeddings is not None]
        categories = [c.label["category"] for c in labelled]
        probe_fit = fit_probe([c.embeddings for c in labelled], categories) if len(set(categories)) > 1 else None
        engine.probe = probe_fit.probe() if probe_fit else None
        vision_weight = fit_vision_weight([evidence[id(c)] for c in labelled if id(c) in evidence], names)
        engine.vote_weights = {**WEIGHTS, "vision": vision_weight}
        fitted_folds.append({"fold": fold, **events, "difference_picking": difference_picking.as_dict(),
                             "category_probe": probe_fit.counts() if probe_fit else None,
                             "vision_weight": vision_weight})
        log(f"fold {fold}: {events_line(events)}, category probe on "
            f"{probe_fit.clips if probe_fit else 0} clips, picture's vote weight {vision_weight:g}; "
            f"scoring {len(held)} clips")
        for clip in held:
            results.append(_score_clip(clip, fold, engine, difference_picking, seed))
    return results, fitted_folds


def fold_event_model(train: list[TrainingClip], rendered: list[TrainingClip], bundled: EventModel,
                     seed: int) -> tuple[EventModel, dict]:
    """The event model a fold's clips are scored with, and what the report says of it: fitted on
    the training folds' contact clips — or, when their intervals are all of one kind (no contact
    clip, as in a folder without labels, or none whose own sound has an onset), the bundled one,
    marked `"event_model": "bundled"` with the reason. Refusing would make a folder without
    labels unusable; fitting is impossible; the bundled model is what the appliance would use,
    and the report names every fold it scored, since those clips' figures are not cross-validated."""
    try:
        fitted = fit_events(train, rendered, seed)
    except OneClass as exc:
        return bundled, {"event_model": "bundled", "event_model_why": str(exc), "training_clips": len(train),
                         "picking": bundled.picking.as_dict()}
    return fitted.model(), {"event_model": "fitted", "training_clips": fitted.clips, "intervals": fitted.intervals,
                            "positives": fitted.positives, "picking": fitted.picking.as_dict()}


def events_line(events: dict) -> str:
    """A fold's event model in words, for the progress log."""
    if events["event_model"] == "bundled":
        return f"the bundled event model (not fitted: {events['event_model_why']})"
    return f"fitted on {events['training_clips']} clips ({events['intervals']} intervals), picking {events['picking']}"


def vote_clips(clips: list[LabelledClip], engine: Engine) -> list[VoteClip]:
    """The evidence of labelled clips with a description and frames, read by this engine (its
    description reader and zero-shot table)."""
    catalog = load_catalog()
    zero_shot = engine.zero_shot(catalog)
    out = []
    for clip in clips:
        frames = [zero_shot.scores(row) for row in clip.logits]
        out.append(VoteClip(clip.training.recording, clip.label["category"],
                            engine.describe(clip.label["description"], catalog).category_scores,
                            {n: float(np.mean([f[n] for f in frames])) for n in frames[0]}, clip.embeddings))
    return out


def category_names() -> list[str]:
    """The library's categories that hold recordings (what a clip's category is chosen among)."""
    catalog = load_catalog()
    return sorted(n for n in catalog.categories if catalog.in_category(n))


def score_bundled(clips: list[LabelledClip], engine: Engine, seed: int = 0) -> list[ClipResult]:
    """Every clip scored with the engine's shipped event model and category probe (no fitting;
    fold 0). The frame-difference baseline's picking is fitted on all contact clips: this mode
    is not cross-validated."""
    picking = fit_difference_picking([c.training for c in clips if c.role == "contact"] or
                                     [c.training for c in clips])
    return [_score_clip(clip, 0, engine, picking, seed) for clip in clips]


def _score_clip(clip: LabelledClip, fold: int, engine: Engine, difference_picking: Picking, seed: int) -> ClipResult:
    reference = read_audio(clip.path, SAMPLE_RATE)
    result = ClipResult(clip.training.name, fold, clip.role)
    description = clip.label.get("description")
    runs = [("engine", description)] if description else []
    event_times = None
    for method, text in runs + [("engine_no_description", None)]:
        scored = engine.score(clip.path, ScoreOptions(description=text, seed=seed))
        timeline = scored.timeline
        result.scores[method] = onset_scores(reference, SAMPLE_RATE, scored.audio, SAMPLE_RATE).as_dict()
        chosen = dominant_category(timeline)
        result.categories[method] = chosen
        result.fits[method] = category_fits(chosen, clip.label)
        result.spot_events[method] = len(timeline.events)
        result.beds[method] = timeline.ambience.category
        result.bed_fits[method] = category_fits(timeline.ambience.category, clip.label)
        if event_times is None:  # the first run's: with the description when there is one
            event_times = np.array([e.time for e in timeline.events])
    peaks = difference_peaks(clip.training.rows, difference_picking)
    randoms = random_times(len(clip.training.onsets), clip.duration, seed + fold)
    for method, times in (("engine_event_clicks", event_times), ("difference_peaks", peaks),
                          ("random_clicks", randoms)):
        track = click_track(times, clip.duration)
        result.scores[method] = onset_scores(reference, SAMPLE_RATE, track, SAMPLE_RATE).as_dict()
    return result


def summarise(results: list[ClipResult], folds: int) -> dict:
    """Per-fold and pooled onset figures on contact clips, category fit, ambient scenes."""
    contact = [r for r in results if r.role == "contact"]
    summary: dict = {"onsets": {}, "per_fold": {}, "category_fit": {}, "ambient": [], "clips": len(results)}
    for method in METHODS:  # None where no clip was scored so: an F1 of 0.00 would read as measured
        rows = [r.scores[method] for r in contact if method in r.scores]
        summary["onsets"][method] = pooled(rows) if rows else None
        summary["per_fold"][method] = {
            fold: pooled(fold_rows)["f1"] for fold in range(folds)
            if (fold_rows := [r.scores[method] for r in contact if r.fold == fold and method in r.scores])}
    for method in ("engine", "engine_no_description"):
        fits = [r.fits[method] for r in results if r.fits.get(method) is not None]
        summary["category_fit"][method] = {"fit": sum(fits), "clips": len(fits),
                                           "share": round(sum(fits) / len(fits), 4) if fits else None}
    for r in results:
        if r.role == "ambient":  # a bed of the labelled kind (any, when the label names none), few spot sounds
            summary["ambient"].append({"clip": r.clip, "beds": r.beds, "spot_events": r.spot_events,
                                       "ok": all(n <= AMBIENT_MAX_EVENTS and r.beds[m] and r.bed_fits.get(m) is not False
                                                 for m, n in r.spot_events.items())})
    return summary


def print_report(results: list[ClipResult], summary: dict, out=sys.stdout, fitted: list[dict] = ()) -> None:
    names = {"engine": "engine", "engine_no_description": "engine, no description",
             "engine_event_clicks": "the engine's event times as clicks",
             "difference_peaks": "clicks at frame-difference peaks", "random_clicks": "random clicks at the clip's rate"}
    print("Contact clips (sound from visible contact), onset F1 per held-out fold and pooled:", file=out)
    folds = sorted({f for per in summary["per_fold"].values() for f in per})
    columns = ["method", *(f"fold {f}" for f in folds), "pooled F1", "accuracy", "precision", "placed/real"]
    print("| " + " | ".join(columns) + " |", file=out)
    print("|" + "---|" * len(columns), file=out)
    for method in METHODS:
        o, per = summary["onsets"][method], summary["per_fold"][method]
        cells = [f"{per[f]:.2f}" if f in per else "–" for f in folds]
        cells += ([f"{o['f1']:.2f}", f"{o['accuracy']:.2f}", f"{o['precision']:.2f}",
                   f"{o['generated_onsets'] / max(1, o['reference_onsets']):.2f}"] if o else ["–"] * 4)
        print(f"| {names[method]} | " + " | ".join(cells) + " |", file=out)
    print_bundled_folds(fitted, out)
    print(file=out)
    for method, fit in summary["category_fit"].items():
        share = "no clip with a fitting category" if fit["share"] is None else f"{fit['share']:.0%}"
        print(f"Category fit, {names[method]}: {fit['fit']}/{fit['clips']} ({share})", file=out)
    print(file=out)
    for a in summary["ambient"]:
        print(f"Ambient {a['clip']}: beds {a['beds']}, spot events {a['spot_events']} — {'ok' if a['ok'] else 'NOT ok'}",
              file=out)
    print(file=out)
    print("| clip | fold | role | " + " | ".join(f"F1 {m}" for m in METHODS) + " | category (desc / none) |", file=out)
    print("|---|---|---|" + "---|" * (len(METHODS) + 1), file=out)
    for r in results:
        f1s = " | ".join(f"{r.scores[m]['f1']:.2f}" if m in r.scores else "–" for m in METHODS)
        print(f"| {r.clip} | {r.fold} | {r.role} | {f1s} | {r.categories.get('engine', '–')} / "
              f"{r.categories.get('engine_no_description')} |", file=out)


def print_bundled_folds(fitted: list[dict], out=sys.stdout) -> None:
    """Say which folds were scored with the bundled event model (`fold_event_model`): their
    clips' figures are not cross-validated, and a reader of the table must know."""
    for f in fitted:
        if f.get("event_model") == "bundled":
            print(f"Fold {f['fold']}: scored with the bundled event model, not cross-validated — "
                  f"none could be fitted ({f['event_model_why']})", file=out)


def as_json(results: list[ClipResult], summary: dict, fitted: list[dict]) -> dict:
    return {"summary": summary, "folds": fitted, "clips": [vars(r) for r in results]}


def quality_figures(summary: dict) -> dict:
    """The figures the CI ratchet guards (scripts/quality.py)."""
    return {"onset_f1": (summary["onsets"]["engine"] or {}).get("f1"),
            "onset_f1_no_description": (summary["onsets"]["engine_no_description"] or {}).get("f1"),
            "category_fit": summary["category_fit"]["engine"]["share"],
            "category_fit_no_description": summary["category_fit"]["engine_no_description"]["share"]}
