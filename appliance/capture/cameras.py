"""Camera backends behind one seam: `read()` blocks for the next BGR frame or raises CameraLost.

- `V4L2Camera`: a USB (UVC) camera through OpenCV's V4L2 backend, asking for MJPEG so 720p30
  fits through USB 2 (the default on a board).
- `CsiCamera`: the Pi's own camera through picamera2 (Raspberry Pi OS's python3-picamera2, seen
  from the venv through system site packages).
- `FileCamera`: a video file looped at its own frame rate, in real time: demos, tests, and the
  default when no camera exists. Renaming the file away behaves like unplugging a camera.

The capture loop times frames by the monotonic clock when `read()` returns, which is the same
for every backend and is what the recording's timestamps are made from.
"""
from __future__ import annotations

import glob
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from appliance.config import camera_problem
from appliance.errors import UsageError

log = logging.getLogger("foley.capture")
CLOSE_WAIT_S = 0.5
"""How long a close waits for a grab in progress before leaving the release to the reader."""


class CameraLost(Exception):
    """The camera cannot be opened or stopped delivering (unplugged, busy, broken)."""


class Camera(Protocol):
    name: str
    fps: float

    def read(self) -> np.ndarray:
        """The next frame, BGR uint8 H×W×3; raises CameraLost."""

    def close(self) -> None:
        """Release the device (also from another thread, to unblock a hung `read`)."""


class GuardedCamera:
    """`read` and `close` made safe across threads, once for every backend.

    The watchdog closes a camera from its own thread. Releasing a device (FFmpeg, V4L2,
    libcamera) while another thread is inside a grab crashes the process, so a close waits for
    the grab in progress; if that grab hangs (a wedged camera), the close is left to the reading
    thread, which releases the device as soon as its grab returns. Backends implement `_grab`
    and `_release`."""

    name = "camera"
    fps = 30.0

    def __init__(self):
        self._lock = threading.Lock()
        self._closed = False
        self._close_requested = False

    def read(self) -> np.ndarray:
        with self._lock:
            if self._closed:
                raise CameraLost(f"{self.name} is closed")
            image = self._grab()
        if self._close_requested:
            self.close()
        return image

    def close(self) -> None:
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):
            self._close_requested = True
            return
        try:
            if not self._closed:
                self._closed = True
                self._release()
        finally:
            self._lock.release()

    def _grab(self) -> np.ndarray:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class V4L2Camera(GuardedCamera):
    def __init__(self, device: str, width: int, height: int, fps: float):
        super().__init__()
        self.name = f"USB camera {device}"
        self._capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self._capture.isOpened():
            self._capture.release()
            raise CameraLost(f"{device}: cannot open the camera (unplugged, or in use by another program)")
        self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._capture.set(cv2.CAP_PROP_FPS, fps)
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or fps

    def _grab(self) -> np.ndarray:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise CameraLost(f"{self.name} stopped delivering frames")
        return frame

    def _release(self) -> None:
        self._capture.release()


class CsiCamera(GuardedCamera):
    def __init__(self, width: int, height: int, fps: float):
        super().__init__()
        Picamera2 = picamera2_class()
        if not Picamera2.global_camera_info():
            raise CameraLost("no CSI camera is connected")
        self.name, self.fps = "CSI camera", fps
        try:
            self._camera = Picamera2()
            # RGB888 is stored B, G, R in memory: what OpenCV calls BGR.
            self._camera.configure(self._camera.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"}, controls={"FrameRate": fps}))
            self._camera.start()
        except Exception as exc:  # libcamera reports its failures as plain exceptions
            raise CameraLost(f"CSI camera: {exc}") from None

    def _grab(self) -> np.ndarray:
        try:
            return self._camera.capture_array("main")
        except Exception as exc:
            raise CameraLost(f"CSI camera stopped delivering frames: {exc}") from None

    def _release(self) -> None:
        try:
            self._camera.stop()
            self._camera.close()
        except Exception:  # closing a camera that is already gone
            pass


class FileCamera(GuardedCamera):
    """Loops `path` forever, each frame handed out at its own timestamp (real time)."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.name = f"file camera {self.path.name}"
        self._container = None
        self._open()
        self.fps = float(self._container.streams.video[0].average_rate or 30)
        self._due = 0.0

    def _open(self) -> None:
        if not self.path.is_file():
            raise CameraLost(f"{self.path}: the camera's video file is gone")
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise CameraLost(f"{self.path}: not a readable video ({exc})") from None
        if not self._container.streams.video:  # sound only: the capture loop would die on it, not retry
            self._container.close()
            raise CameraLost(f"{self.path}: has no video stream")
        self._frames = self._container.decode(video=0)
        self._loop_origin = None

    def read(self) -> np.ndarray:
        image = super().read()
        wait = self._due - time.monotonic()
        if wait > 0:  # paced outside the lock: a close need not wait for it
            time.sleep(wait)
        return image

    def _grab(self) -> np.ndarray:
        if not self.path.exists():
            raise CameraLost(f"{self.path}: the camera's video file is gone (unplugged)")
        try:
            frame = next(self._frames, None)
            if frame is None:  # end of the file: start again
                self._container.close()
                self._open()
                frame = next(self._frames)
            image = frame.to_ndarray(format="bgr24")
        except (av.error.FFmpegError, StopIteration) as exc:
            raise CameraLost(f"{self.name}: {exc or 'no frames'}") from None
        if self._loop_origin is None:
            self._loop_origin = time.monotonic() - (frame.time or 0.0)
        self._due = self._loop_origin + (frame.time or 0.0)
        return image

    def _release(self) -> None:
        self._container.close()


def usb_cameras() -> list[str]:
    """Capture nodes of UVC (USB) cameras. A Pi also has V4L2 nodes for its ISP and codecs,
    which are not cameras, so the driver and the node index are checked, not just /dev/video*."""
    found = []
    for node in sorted(glob.glob("/sys/class/video4linux/video*")):
        driver = os.path.realpath(os.path.join(node, "device", "driver"))
        index = Path(node, "index")
        if os.path.basename(driver) == "uvcvideo" and (not index.exists() or index.read_text().strip() == "0"):
            found.append("/dev/" + os.path.basename(node))
    return found


def picamera2_class():
    """picamera2's camera class, or CameraLost saying why not. Its import can fail with more than
    ImportError: Raspberry Pi OS builds it (and simplejpeg) against the system's numpy, and a
    newer numpy in the venv makes the import raise ValueError (picamera2 issues 1088, 1211);
    escaping the camera's opening, that ended the capture thread for good."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise CameraLost("picamera2 is not installed (apt install python3-picamera2)") from None
    except Exception as exc:
        raise CameraLost(f"picamera2 cannot be loaded: {exc}") from None
    return Picamera2


def csi_available() -> bool:
    try:
        return bool(picamera2_class().global_camera_info())
    except Exception:
        return False


def open_camera(spec: str, width: int, height: int, fps: float, demo_clip: Path | None = None) -> Camera:
    """Open the camera named by `spec` (config key capture.camera; see CaptureConfig)."""
    kind, _, argument = spec.partition(":")
    if kind == "auto":
        if usb_cameras():
            return V4L2Camera(usb_cameras()[0], width, height, fps)
        if csi_available():
            return CsiCamera(width, height, fps)
        if demo_clip is None:
            raise CameraLost("no camera is connected")
        log.info("no camera found: using the file camera on %s", demo_clip)
        return FileCamera(demo_clip)
    if kind == "v4l2":
        devices = [argument] if argument else usb_cameras()
        if not devices:
            raise CameraLost("no USB camera is connected")
        return V4L2Camera(devices[0], width, height, fps)
    if kind == "csi":
        return CsiCamera(width, height, fps)
    return FileCamera(argument)


def check_camera_spec(spec: str, given_by: str = "config key 'capture.camera'") -> None:
    """Refuse a camera setting that can never work (at start, not in the capture loop): the
    config's form (`--camera` takes the same), and a file camera's file. `given_by` names where
    the user wrote it, so the error points there."""
    problem = camera_problem(spec)
    if problem:
        raise UsageError(f"{given_by}: {problem}")
    kind, _, argument = spec.partition(":")
    if kind == "file" and not Path(argument).is_file():
        raise UsageError(f"{given_by}: {argument}: no such video file")
