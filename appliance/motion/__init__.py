"""Action events from motion: impacts, periodic trains and sustained actions, streaming.

`MotionAnalyser().push(frame)` per frame (live camera), or `detect_events(iter_frames(path))`."""
from appliance.motion.analyser import MotionAnalyser, MotionTrace, detect_events
from appliance.motion.events import CATEGORY_KINDS, IMPACT, PERIODIC, SUSTAINED, ActionEvent, EventKind

__all__ = ["ActionEvent", "CATEGORY_KINDS", "EventKind", "IMPACT", "MotionAnalyser", "MotionTrace", "PERIODIC", "SUSTAINED", "detect_events"]
