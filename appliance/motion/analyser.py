"""Frame-by-frame motion analysis: frames in, action events out, with small state.

Runs on decoded files and live camera frames alike: each `push` costs one optical-flow and one
warp at 160 px wide, keeps only the previous frame and a few seconds of energy samples, and
returns the events decided so far: impacts two frames late (the learned event model,
`event_model`, reads each interval's cues from `onset_features` with one frame of look-ahead
and picks peaks of its probability with one more), sustained actions when they end. The final
list is `events` after `finish`, which also marks the regular trains periodic.
Frames repeated by the encoder (frame-rate conversion duplicates) are skipped, unless the
repetition goes on, which means the scene really stands still.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Iterable

import cv2
import numpy as np

from appliance.motion.camera import CameraStep, CameraTracker, working_frame
from appliance.motion.event_model import EventModel, Onset, bundled_event_model
from appliance.motion.events import IMPACT, ActionEvent
from appliance.motion.onset_features import FEATURE_INDEX, FeatureRow, OnsetFeatures
from appliance.motion.periodic import mark_periodic
from appliance.motion.samples import EnergySample
from appliance.motion.sustained import SustainedTracker
from appliance.video.decode import AnalysisFrame

NOISE_LEVEL = 12
"""Differences (grey levels of light-normalised frames) below this are sensor/codec noise."""
RAW_NOISE_LEVEL = 4
"""The same floor in the decoded frame's own grey levels. Light normalisation stretches a dim or
flat frame's contrast (a grey wall, a dark room: a deviation of 6-9 levels is stretched 4-6
times), and the codec's error with it. On a rendered still background, shaken and flickering at
once, the pixels counted as moving differed by 2.5 levels before the stretch (median; 90 % below
3.4), 12-17 after it: over NOISE_LEVEL, and 2 of 4 seeds got impacts from nothing. So a difference
also has to reach RAW_NOISE_LEVEL before the stretch. It binds only where the gain exceeds
NOISE_LEVEL / RAW_NOISE_LEVEL = 3 (a frame's deviation below ~13 levels): on the 51 real clips,
frames of five (62 % and 10 % of two night-fireworks clips, half of a door button in shadow, 1-2
frames of two others)."""
DUPLICATE_FRACTION = 0.001
"""A frame with fewer changed pixels than this fraction repeats the previous one (a mean difference
threshold also took a small slowly moving object for a repeat)."""
GRID = (8, 6)
"""Cells (columns, rows) the motion is measured in, so each moving thing is seen on its own."""
BORDER = 3
"""Pixels at the edge ignored: the camera-motion warp invents them."""
DIFF_SCALE = 0.1
"""Energy units per grey level of difference (keeps ENERGY_FLOOR's scale)."""
MIN_DISPLACEMENT = 1.5
"""A changed pixel counts as moved when its difference exceeds this many pixels of the local
gradient (normal displacement = difference / gradient): sub-pixel warp residue under shake and
light changes stay below it, a moving object (even blurred, over a flat background) exceeds it."""


def _displaced(current: np.ndarray, previous: np.ndarray, difference: np.ndarray) -> np.ndarray:
    """Pixels whose change implies a displacement of at least MIN_DISPLACEMENT pixels."""
    grad = cv2.max(cv2.magnitude(cv2.Sobel(current, cv2.CV_32F, 1, 0), cv2.Sobel(current, cv2.CV_32F, 0, 1)),
                   cv2.magnitude(cv2.Sobel(previous, cv2.CV_32F, 1, 0), cv2.Sobel(previous, cv2.CV_32F, 0, 1)))
    grad /= 8  # in place: MIN_DISPLACEMENT * (grad / 8 + 2), without temporaries
    grad += 2.0
    grad *= MIN_DISPLACEMENT
    return difference >= grad


def noise_level(gain: float) -> float:
    """Smallest difference between two working frames that is not noise, for a pair of frames whose
    light normalisation stretched the contrast by `gain` (the larger of the two)."""
    return max(NOISE_LEVEL, RAW_NOISE_LEVEL * gain)


def _energy(current: np.ndarray, step: CameraStep, noise: float) -> tuple:
    """(energy, motion map, cells, cell flow, coherence, speed) of one interval; see EnergySample.

    Motion energy is the camera-compensated difference on pixels that really changed and whose
    change implies a displacement (warp residue on texture and light changes do not). The per-cell
    energy and energy-weighted flow come from one area resize of the three stacked maps (three
    resizes cost three times as much at this size)."""
    difference = cv2.absdiff(current, step.warped_previous)
    moved = (difference >= noise) & _displaced(current, step.warped_previous, difference)
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    motion = np.where(moved[inner], difference[inner], 0).astype(np.float32) * np.float32(DIFF_SCALE)
    flow = step.object_flow[inner]
    weighted_x, weighted_y = flow[..., 0] * motion, flow[..., 1] * motion
    pooled = cv2.resize(cv2.merge([motion, weighted_x, weighted_y]), GRID, interpolation=cv2.INTER_AREA)
    cells = np.ascontiguousarray(pooled[..., 0])
    cell_flow = pooled[..., 1:] / np.maximum(cells, 1e-6)[..., None]
    # Flow speed of the moving pixels, and how much they move one way (|mean vector| / mean speed).
    # numpy sums, not OpenCV's: those round differently with the buffer's alignment (not reproducible).
    total, mean_speed, coherence = float(motion.sum(dtype=np.float64)), 0.0, 0.0
    if total > 0:
        mean_speed = float((step.object_speed[inner] * motion).sum(dtype=np.float64)) / total
        vector = np.hypot(float(weighted_x.sum(dtype=np.float64)), float(weighted_y.sum(dtype=np.float64))) / total
        coherence = vector / max(mean_speed, 1e-6)
    return total / motion.size, motion, cells, cell_flow, coherence, mean_speed


@dataclass
class MotionTrace:
    """Per analysed frame: time, raw optical-flow magnitude (AV-Align's video peaks) and the
    camera-compensated motion energy (where a described continuous action runs, `sustained.spans`)."""

    times: list[float] = field(default_factory=list)
    flow: list[float] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)

    def clear(self) -> None:
        """Forget every sample, whatever fields the trace has (live mode dropped `times` and
        `flow` but not `energy`, and grew by 3-4 MB an hour)."""
        for name in self.__dataclass_fields__:
            getattr(self, name).clear()


MAX_ANALYSED_FPS = 70.0
ANALYSED_FPS = 60.0


def analysed_every(fps: float | None) -> int:
    """Analyse every Nth frame of footage at `fps` (its nominal rate): above MAX_ANALYSED_FPS (a
    phone's high-speed mode, a camera set to 90-240 fps) at most ANALYSED_FPS, else every frame.
    The event model was fitted on 15-32 fps footage; on rendered scenes (stick, steps, bounce;
    seeds 1-6, ±0.1 s) it placed 90 of 105 impacts' worth of events at 120 fps and 51 at 240
    (F1 0.33 / 0.32) against 0.52 at 60 fps; at every 2nd, 2nd, 4th frame 0.43 / 0.53 / 0.52 at
    90 / 120 / 240 fps (at ~30 fps instead 0.44 / 0.45 / 0.44, and 60 fps itself would lose 0.52
    → 0.44, so 60 fps and below are left whole). By the nominal rate, not each frame's gap: a
    camera frame read late and the next read soon after are both frames of a 30 fps stream.
    Rendered scenes only: no real high-speed clip with its sound is at hand (docs/models.md)."""
    return 1 if not fps or fps <= MAX_ANALYSED_FPS else math.ceil(fps / ANALYSED_FPS)


class MotionAnalyser:
    """Push AnalysisFrames in order; collect ActionEvents from `push` and `finish`."""

    def __init__(self, event_model: EventModel | None, keep_rows: bool = False, camera_frames: bool = False,
                 fps: float | None = None) -> None:
        """event_model: what decides impacts (`bundled_event_model()` on the board); None finds
        none (collecting rows to train one). keep_rows: keep every interval's FeatureRow in `rows`
        (training and evaluation; 27 floats a frame). camera_frames: frames straight from a
        camera (live mode), which are never an encoder's duplicates, so a repeated frame is
        stillness at once rather than held back a frame (which would decide an impact followed
        by stillness one frame later). fps: the footage's nominal rate, for `analysed_every`."""
        self._camera = CameraTracker()
        self._model = event_model
        self._features = OnsetFeatures()
        self._picker = event_model.picker() if event_model else None
        self._sustained = SustainedTracker()
        self._previous: np.ndarray | None = None
        self._previous_gain = 1.0
        self._pending_repeat: AnalysisFrame | None = None
        self._still = False
        self._hold_repeats = not camera_frames
        self._every, self._pushed = analysed_every(fps), 0
        self.rows: list[FeatureRow] | None = [] if keep_rows else None
        self.events: list[ActionEvent] = []
        self.trace = MotionTrace()

    def push(self, frame: AnalysisFrame) -> list[ActionEvent]:
        self._pushed += 1
        if (self._pushed - 1) % self._every:
            return []  # a high-speed clip or camera, brought down to the rates the model works at
        current, gain = working_frame(frame.grey)
        if self._previous is None or self._previous.shape != current.shape:
            self._previous, self._previous_gain = current, gain
            return []
        noise = noise_level(max(gain, self._previous_gain))
        raw_difference = cv2.absdiff(current, self._previous)
        if np.count_nonzero(raw_difference >= noise) < DUPLICATE_FRACTION * current.size:
            return self._repeat(frame)
        self._pending_repeat, self._still = None, False
        step = self._camera.step(self._previous, current)
        self._previous, self._previous_gain = current, gain
        energy = _energy(current, step, noise)
        self.trace.times.append(frame.time)
        self.trace.flow.append(step.flow_magnitude)
        self.trace.energy.append(energy[0])
        return self._sample(frame, *energy, frame_difference=float(raw_difference.mean()))

    def forget_history(self) -> None:
        """Drop the events and the trace collected so far; the analysis goes on from its state (a
        live session has no end, and keeps only what it sounds)."""
        self.events.clear()
        self.trace.clear()

    def _repeat(self, frame: AnalysisFrame) -> list[ActionEvent]:
        """A frame equal to the previous one: ignore a single repeat, but two in a row mean stillness."""
        if self._hold_repeats and not self._still and self._pending_repeat is None:
            self._pending_repeat = frame
            return []
        decided = []
        if self._pending_repeat is not None:
            decided += self._sample(self._pending_repeat, 0.0, None)
            self._pending_repeat, self._still = None, True
        return decided + self._sample(frame, 0.0, None)

    def _sample(self, frame: AnalysisFrame, energy: float, difference: np.ndarray | None,
                cells: np.ndarray | None = None, cell_flow: np.ndarray | None = None,
                coherence: float = 0.0, speed: float = 0.0, frame_difference: float = 0.0) -> list[ActionEvent]:
        x = y = 0.5
        if difference is not None and energy > 0:
            m = cv2.moments(difference)
            h, w = difference.shape
            x, y = (m["m10"] / m["m00"] + BORDER) / (w + 2 * BORDER), (m["m01"] / m["m00"] + BORDER) / (h + 2 * BORDER)
        sample = EnergySample(time=frame.time, energy=energy, x=float(x), y=float(y), frame_index=frame.index,
                              cells=cells, cell_flow=cell_flow, coherence=coherence,
                              speed=speed, difference=frame_difference)
        decided = []
        row = self._features.push(sample)
        if row is not None:
            if self.rows is not None:
                self.rows.append(row)
            if self._model is not None:
                probability = float(self._model.probabilities(row.values)[0])
                decided += self._impacts(self._picker.push(row, probability))
        ended = self._sustained.push(sample)
        decided += [ended] if ended else []
        self.events += decided
        return decided

    def _impacts(self, onsets: list[Onset]) -> list[ActionEvent]:
        """Events for picked onsets; each ends the sustained action running until then."""
        decided = []
        for onset in onsets:
            ended = self._sustained.interrupt()
            decided += [ended] if ended else []
            decided.append(_impact_event(onset))
        return decided

    def finish(self) -> list[ActionEvent]:
        """End of the clip: the last interval's onset, a running sustained action, and the
        regular trains marked periodic. Returns the events added here."""
        added = self._impacts(self._picker.flush()) if self._picker else []
        ended = self._sustained.finish()
        added += [ended] if ended else []
        self.events += added
        self.events.sort(key=lambda e: e.time)
        mark_periodic(self.events)
        return added


def _impact_event(onset: Onset) -> ActionEvent:
    """Strength (gain) from how fast the thing moved before it stopped, relative to the recent
    largest motion: the same cue whichever way the model weighed it."""
    row = onset.row
    strength = float(np.clip(row.values[FEATURE_INDEX["energy_before"]], 0.0, 1.0))
    return ActionEvent(time=onset.time, kind=IMPACT, strength=strength, x=row.x, y=row.y,
                       frame_index=row.frame_index, confidence=round(onset.probability, 4))


def detect_events(frames: Iterable[AnalysisFrame], event_model: EventModel | None = None, fps: float | None = None
                  ) -> tuple[list[ActionEvent], MotionTrace]:
    """All events of a clip (sorted by time) and its motion trace, from its analysis frames
    (impacts decided by `event_model`, the bundled one by default; `fps` its nominal rate)."""
    analyser = MotionAnalyser(event_model or bundled_event_model(), fps=fps)
    for frame in frames:
        analyser.push(frame)
    analyser.finish()
    return analyser.events, analyser.trace
