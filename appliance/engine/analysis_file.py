"""A clip's analysis as a file: how a recording analysed live reaches the scoring worker.

`foley capture` analyses its frames while it records (appliance.engine.analysis
.StreamingAnalysis); the worker that scores the clip then starts from that analysis instead of
decoding the clip again, which is what makes a recording's result ready moments after it stops.
The file is an .npz without pickles (events and clip facts as JSON, keyframes as uint8 arrays),
and everything in it is checked on the way in: it crosses a process boundary.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from appliance.atomic import atomic_open
from appliance.engine.analysis import ClipAnalysis, Keyframe
from appliance.errors import UsageError
from appliance.motion import ActionEvent, EventKind, MotionTrace
from appliance.video import VideoInfo
from appliance.video.decode import AnalysisFrame

FORMAT = 1
MAX_KEYFRAMES = 5000
MAX_SIDE = 1024
MAX_SECONDS = 86_400.0
"""The longest clip any configuration admits (`engine.max_seconds`): a stored duration past it is a bad file."""
_EVENT_FIELDS = {"time": float, "kind": EventKind, "strength": float, "x": float, "y": float, "frame_index": int,
                 "duration": float}


def save_analysis(analysis: ClipAnalysis, path: Path) -> None:
    """Write `analysis` (atomically) so that `load_analysis` gives the same events and keyframes."""
    frames = {k.index: k for k in [*analysis.keyframes.values(), *analysis.scene]}
    meta = {
        "format": FORMAT,
        "events": [event.as_dict() for event in analysis.events],
        "keyframes": {str(index): keyframe.index for index, keyframe in analysis.keyframes.items()},
        "scene": [k.index for k in analysis.scene],
        "frames": [{"index": k.index, "time": k.time} for k in frames.values()],
        "frame_count": analysis.frame_count,
        "duration": analysis.info.duration,
        "stage_seconds": analysis.stage_seconds,
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
              "trace_times": np.asarray(analysis.trace.times, np.float64),
              "trace_flow": np.asarray(analysis.trace.flow, np.float64),
              "trace_energy": np.asarray(analysis.trace.energy, np.float64)}
    for index, keyframe in frames.items():
        arrays[f"grey_{index}"] = keyframe.frame.grey
        arrays[f"colour_{index}"] = keyframe.frame.colour if keyframe.frame.colour is not None else np.zeros(0, np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_open(path, binary=True) as out:
        out.write(buffer.getvalue())


def load_analysis(path: Path, info: VideoInfo) -> ClipAnalysis:
    """The analysis stored at `path`, for the clip `info` describes (probed from the clip
    itself: its duration, not the file's claim, bounds the track, unless the clip's header gives
    none: then the duration the analysis measured from its frames); UsageError if unsound."""
    try:
        _check_stored(path)
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            frames = {}
            if len(meta["frames"]) > MAX_KEYFRAMES:
                raise ValueError("too many keyframes")
            for entry in meta["frames"]:
                index = int(entry["index"])
                grey, colour = data[f"grey_{index}"], data[f"colour_{index}"]
                _check_frame(grey, colour)
                frame = AnalysisFrame(index, float(entry["time"]), grey, colour if colour.size else None)
                frames[index] = Keyframe(index, frame.time, frame)
            trace = MotionTrace([float(t) for t in data["trace_times"]], [float(f) for f in data["trace_flow"]],
                                [float(e) for e in data["trace_energy"]] if "trace_energy" in data else [])
        if info.duration is None:
            info = replace(info, duration=_measured_duration(meta))
        events = [event for event in map(_event, meta["events"]) if 0.0 <= event.time <= info.duration]
        keyframes = {int(k): frames[int(v)] for k, v in meta["keyframes"].items()}
        scene = [frames[int(i)] for i in meta["scene"]]
        stages = {str(k): float(v) for k, v in meta["stage_seconds"].items()}
        return ClipAnalysis(info, events, trace, keyframes, scene, int(meta["frame_count"]), stages)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path.name}: not a usable clip analysis ({exc})") from None


def _check_stored(path: Path) -> None:
    """The archive holds no more than its own size once read: `save_analysis` stores its arrays
    uncompressed, and an upload of a few MB of zeros deflated to a 1,000th would otherwise be
    inflated, array by array, into gigabytes of memory before any shape is checked."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > 2 * MAX_KEYFRAMES + 8:
        raise ValueError("too many arrays")
    if sum(member.file_size for member in members) > path.stat().st_size:
        raise ValueError("its arrays are compressed: an analysis is written uncompressed")


def _measured_duration(meta: dict) -> float:
    """The clip's duration as the analysis measured it from its frames (StreamingAnalysis.finish)."""
    duration = meta.get("duration")
    if not isinstance(duration, (int, float)) or not 0.0 < duration <= MAX_SECONDS:
        raise ValueError("the clip's header gives no duration and the analysis records no usable one")
    return float(duration)


def _check_frame(grey: np.ndarray, colour: np.ndarray) -> None:
    if grey.dtype != np.uint8 or grey.ndim != 2 or not (0 < max(grey.shape) <= MAX_SIDE):
        raise ValueError("a keyframe is not a small 8-bit grey picture")
    if colour.size and (colour.dtype != np.uint8 or colour.shape[-1 if colour.ndim == 3 else 1] not in (3, grey.shape[1])):
        raise ValueError("a keyframe's colour does not match its grey picture")


def _event(entry: dict) -> ActionEvent:
    values = {name: kind(entry[name]) for name, kind in _EVENT_FIELDS.items()}
    period, confidence = entry.get("period"), entry.get("confidence")
    envelope = [(float(t), float(level)) for t, level in entry.get("envelope", [])]
    return ActionEvent(**values, period=None if period is None else float(period), envelope=envelope,
                       confidence=None if confidence is None else float(confidence))
