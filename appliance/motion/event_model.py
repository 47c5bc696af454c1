"""The learned event model: is there a sound onset in this frame interval, and when exactly.

A small gradient-boosted tree ensemble (models/events.onnx, built by scripts/train_events.py,
run by ONNX Runtime like the encoders) reads each interval's cues (`onset_features`) and gives
the probability that a sound starts in it. `OnsetPicker` turns that stream into events: a
local maximum of the probability above `threshold`, at least `min_gap` after the previous event,
placed `time_at` of the way through its interval. The three picking parameters are chosen by
cross-validation together with the trees, for onset F1 on out-of-fold probabilities
(evaluation/event_training.py says why not a precision-weighted objective).

Causal: a row needs one frame after its interval and a peak needs the next row, so an event is
decided two frames after its contact — the camera path can sound it live.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.motion.onset_features import EPS, FEATURE_INDEX, FEATURE_NAMES, FeatureRow
from appliance.motion.samples import ENERGY_FLOOR


@dataclass(frozen=True)
class Picking:
    """How probabilities become events (fitted by cross-validation, stored in the manifest)."""

    threshold: float
    """Smallest probability of a kept peak (0..1)."""
    min_gap: float
    """Seconds: a peak closer than this to the previous event is not one of its own."""
    time_at: float
    """Where in the interval the onset goes: 0 its first frame, 1 its last."""

    def __post_init__(self) -> None:
        if not (0 <= self.threshold <= 1 and 0 <= self.min_gap <= 2 and -1 <= self.time_at <= 2):
            raise ValueError(f"picking parameters out of range: {self}")

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "min_gap": self.min_gap, "time_at": self.time_at}


@dataclass(frozen=True)
class Onset:
    """A picked onset: its time, the probability that made it, and its interval's row."""

    time: float
    probability: float
    row: FeatureRow


class EventModel:
    """The ONNX classifier plus its picking parameters; one `probability` call per interval."""

    def __init__(self, model: bytes | Path, picking: Picking, threads: int = 1):
        from appliance.inference.sessions import session_options

        import onnxruntime as ort

        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.key = hashlib.sha256(data + repr(picking).encode()).hexdigest()[:16]
        """Identifies the trees and the picking (result and decision caches key on it)."""
        self.session = ort.InferenceSession(data, sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        width = self.session.get_inputs()[0].shape[-1]
        if width != len(FEATURE_NAMES):
            raise ValueError(f"event model expects {width} features, the analysis makes {len(FEATURE_NAMES)}")
        self.output = [o.name for o in self.session.get_outputs()][-1]
        self.picking = picking

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        """P(onset) for each row of an (n, features) float32 array (`gated`)."""
        values = np.ascontiguousarray(values, np.float32).reshape(-1, len(FEATURE_NAMES))
        out = self.session.run([self.output], {self.input: values})[0]
        return gated(values, np.asarray(out, np.float64)[:, -1])

    def picker(self) -> "OnsetPicker":
        return OnsetPicker(self.picking)


_LOG_ENERGY_BEFORE = FEATURE_INDEX["log_energy_before"]
_MOVING = float(np.log10(ENERGY_FLOOR + EPS))


def gated(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Probabilities set to 0 where nothing moved before the interval (camera-compensated motion
    energy below ENERGY_FLOOR): without visible motion there is no visible contact, whatever the
    trees make of a flicker they never saw. Applied in training and on the board alike."""
    values = np.asarray(values).reshape(-1, len(FEATURE_NAMES))
    return np.where(values[:, _LOG_ENERGY_BEFORE] < _MOVING, 0.0, probabilities)


class OnsetPicker:
    """Streaming peak picking with one row of look-ahead; `flush` at the end of the clip."""

    def __init__(self, picking: Picking):
        self.picking = picking
        self._window: list[tuple[FeatureRow, float]] = []
        self._last = -np.inf

    def push(self, row: FeatureRow, probability: float) -> list[Onset]:
        self._window = (self._window + [(row, probability)])[-3:]
        return self._decide(len(self._window) - 2)

    def flush(self) -> list[Onset]:
        """The last row, which has no next row to compare with."""
        decided = self._decide(len(self._window) - 1, last=True)
        self._window = []
        return decided

    def _decide(self, index: int, last: bool = False) -> list[Onset]:
        if index < 0:
            return []
        row, p = self._window[index]
        before = self._window[index - 1][1] if index > 0 else -1.0
        after = -1.0 if last else self._window[index + 1][1]
        time = row.start + self.picking.time_at * (row.end - row.start)
        if p < self.picking.threshold or p < before or p <= after or time - self._last < self.picking.min_gap:
            return []
        self._last = time
        return [Onset(time=time, probability=p, row=row)]


def pick_onsets(rows: list[FeatureRow], probabilities: np.ndarray, picking: Picking) -> list[Onset]:
    """`OnsetPicker` over a whole clip at once (training and evaluation)."""
    picker = OnsetPicker(picking)
    onsets = [o for row, p in zip(rows, probabilities) for o in picker.push(row, float(p))]
    return onsets + picker.flush()


@functools.lru_cache(maxsize=1)
def bundled_event_model(threads: int = 1) -> EventModel:
    """models/events.onnx, verified against the manifest like the encoders (loaded once)."""
    from appliance.inference.manifest import load_manifest, verify

    entry = load_manifest()["events"]
    verify(entry)
    return EventModel(entry.path, Picking(**entry.info["picking"]), threads)
