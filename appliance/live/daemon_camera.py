"""The capture daemon's picture as a live session's camera (the page's Live switch).

While `foley capture` runs it owns the camera; the service's live session takes the frames the
daemon already has — the newest frame of its pre-roll ring, asked for on the control socket
(`preview`, the JPEG the page's preview shows) — instead of opening the device a second time.
Each frame is returned once, as soon as the daemon has it: the socket is asked again every
POLL_S until the frame's time changes. The cost against a camera of its own: one JPEG decode
(a few ms) and up to POLL_S of waiting per frame.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from appliance.capture.cameras import CameraLost
from appliance.capture.control import DaemonUnavailable, call

POLL_S = 0.004
STALL_S = 3.0
"""No new frame from the daemon for this long: the camera is lost (the daemon reopens its own)."""


class DaemonCamera:
    """`read()` blocks for the daemon's next frame; raises CameraLost when it has none."""

    def __init__(self, fps: float):
        try:
            status, _ = call("status")
        except DaemonUnavailable as exc:
            raise CameraLost(str(exc)) from None
        camera = status.get("camera") or {}
        if not camera.get("ok"):
            raise CameraLost(f"the capture daemon has no camera: {camera.get('error')}")
        self.name = f"{camera.get('name')} (through the capture daemon)"
        self.fps = fps
        self._last: float | None = None
        self.captured_at: float | None = None
        """The daemon's capture time of the frame `read` returned last (its monotonic clock, the
        machine's: the live session's latency then includes the hop from the daemon)."""
        self._closed = False

    def read(self) -> np.ndarray:
        deadline = time.monotonic() + STALL_S
        while not self._closed:
            try:
                reply, jpeg = call("preview")
            except DaemonUnavailable as exc:
                raise CameraLost(str(exc)) from None
            if reply.get("ok") and reply["time"] != self._last:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    self._last = self.captured_at = reply["time"]
                    return image
            if time.monotonic() > deadline:
                raise CameraLost(f"no frame from the capture daemon for {STALL_S:g} s")
            time.sleep(POLL_S)
        raise CameraLost("closed")

    def close(self) -> None:
        self._closed = True
