"""Open a video file and check its header before any frame is decoded.

Bad uploads are common (a photo, an audio memo, a half-transferred file, a header written by a
broken muxer); checking them up front turns each into one clear `UsageError` sentence instead of
an FFmpeg traceback or a 20000×20000 allocation half-way through scoring.

The frame size is checked before FFmpeg decodes anything: from what the container header (and
FFmpeg's bitstream parsers) say, with no decoder opened, so an absurd size is refused by name
("20000×20000 is too large") instead of failing in a decoder with a message about something else.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from appliance.errors import UsageError

# Sides below this are not pictures anyone films; above it no camera records (8K is 7680).
MIN_SIDE = 16
MAX_SIDE = 8192
# Frame-rate headers outside this range are broken (0 fps) or absurd (10000 fps);
# high-speed phone modes reach 240 fps, so 1000 leaves room.
MIN_FPS = 1.0
MAX_FPS = 1000.0
DEFAULT_MAX_SECONDS = 600.0
# FFmpeg option: no decoder may be opened (the header's facts only, nothing decoded).
HEADER_ONLY = {"codec_whitelist": "none"}


@dataclass(frozen=True)
class VideoInfo:
    """What the header says about the first video stream (sizes as stored, before rotation)."""

    path: Path
    width: int
    height: int
    fps: float
    duration: float | None
    """Seconds, or None when the container does not say (then the limit is checked while decoding)."""
    codec: str


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open `path` with FFmpeg, turning every way that can fail into a UsageError. The header's
    frame size is checked before any decoder runs (`check_header_size`)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a video file")
    if path.exists() and not path.is_file():  # /dev/stdin, <(cat clip): read once, it cannot be probed first
        raise UsageError(f"{path}: is a pipe or device, not a file: save the clip to a file first")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise UsageError(f"{path}: the file is empty (0 bytes)")
    check_header_size(path)
    return _open(path)


def _open(path: Path, options: dict[str, str] | None = None) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", options=options)
    except av.error.FFmpegError as exc:
        raise UsageError(f"{path}: not a readable video (truncated or not a video file: {exc.strerror or exc})") from None


def check_header_size(path: Path) -> None:
    """Refuse a frame size over MAX_SIDE as the container header (or a bitstream parser) states
    it, with no decoder opened: FFmpeg would otherwise decode a first frame to complete its
    picture of the stream, and a 20000×20000 one fails there with a message about something else.
    A header that gives no size passes here (`check_header` sees what decoding the first frame found)."""
    with _open(path, HEADER_ONLY) as container:
        stream = video_stream(container)
        if stream is not None and stream.codec_context is not None:
            width, height = stream.codec_context.width, stream.codec_context.height
            if width > MAX_SIDE or height > MAX_SIDE:
                raise UsageError(f"{path}: frame size {width}×{height} is too large (at most {MAX_SIDE} px a side); "
                                 "the file was refused from its header, before decoding")


def check_header(path: Path, width: int, height: int, fps: float, duration: float | None,
                 max_seconds: float) -> None:
    """Reject header values that no real clip has, or a clip over the length limit."""
    if width == 0 or height == 0:
        raise UsageError(f"{path}: the header gives no usable frame size (missing or absurdly large)")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise UsageError(f"{path}: frame size {width}×{height} is too small (at least {MIN_SIDE} px a side)")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UsageError(f"{path}: frame size {width}×{height} is too large (at most {MAX_SIDE} px a side)")
    if not (MIN_FPS <= fps <= MAX_FPS):
        raise UsageError(f"{path}: frame rate {fps:g} fps in the header is not plausible "
                         f"(expected {MIN_FPS:g}–{MAX_FPS:g})")
    if duration is not None and duration > max_seconds:
        raise UsageError(f"{path}: the clip lasts {duration:.1f} s, over the limit of {max_seconds:g} s")


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The clip's picture: the first video stream that is not a still attached to the file (an
    MP3's or M4A's cover art is a one-frame "video" stream marked attached_pic); None if none."""
    return next((stream for stream in container.streams.video
                 if not stream.disposition & av.stream.Disposition.attached_pic), None)


def bound_decoder(stream: av.video.stream.VideoStream) -> None:
    """Have FFmpeg refuse, before allocating it, a picture of more than MAX_SIDE² pixels.

    The header's size is checked (`check_header_size`), but some streams state a size in every
    frame (each MJPEG frame is a JPEG), so a later frame may claim 16000×16000: without this
    bound the decoder would allocate and decode it (~384 MB) before `decode.check_frame_size`
    could refuse it. A frame within the area but over MAX_SIDE on one side (9000×64) is still
    refused by that check, after a small decode."""
    stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(MAX_SIDE * MAX_SIDE)}


def codec_name(stream) -> str:
    """The stream's codec as formats name it ("av1"), not its decoder's name ("libdav1d"): AV1 was
    re-encoded into the MP4 though MP4 carries it, for the decoder's name was looked up."""
    codec = stream.codec_context.codec
    return codec.canonical_name if codec is not None else stream.codec_context.name


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    """Nominal frame rate from the header: the average rate, else FFmpeg's guess, else 0."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(Fraction(rate))
    return 0.0


def clip_origin(container: av.container.InputContainer) -> float:
    """Seconds at which the clip's timeline starts: the container's start time (an MPEG-TS starts
    at 1.4 s, a cut Matroska file where its first frame was). Every time the appliance gives —
    frames, events, sounds, the duration — counts from here."""
    return (container.start_time or 0) / av.time_base


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """Seconds from the clip's origin to the end of its video, the scale its frames' times are on.
    A stream's duration counts from the stream's own start, FFmpeg's container duration from the
    container's start, except Matroska's: its Duration element is the end's timestamp (it counts
    from the segment's 0, wherever the first frame is)."""
    origin = clip_origin(container)
    if stream.duration is not None and stream.time_base:
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else origin
        return start + float(stream.duration * stream.time_base) - origin
    if container.duration is not None:
        return container.duration / av.time_base - (origin if "matroska" in container.format.name else 0.0)
    return None


def _is_still_or_text(container: av.container.InputContainer) -> bool:
    """FFmpeg opens photos (png_pipe, image2) and even text files (tty) as one-stream "videos"."""
    name = container.format.name
    return name.endswith("_pipe") or name in ("image2", "tty")


def probe(path: str | Path, max_seconds: float = DEFAULT_MAX_SECONDS) -> VideoInfo:
    """Check that `path` is a usable video and return its header facts.

    Raises UsageError for: a missing, empty, truncated or non-video file; an audio-only file;
    implausible frame size or frame rate; a duration over `max_seconds`."""
    path = Path(path)
    with open_container(path) as container:
        return probe_open(path, container, max_seconds)


def probe_open(path: Path, container: av.container.InputContainer, max_seconds: float) -> VideoInfo:
    """`probe` on an already open container, so decoding needs to open the file only once."""
    if _is_still_or_text(container):
        raise UsageError(f"{path}: not a video (FFmpeg reads it as {container.format.name})")
    stream = video_stream(container)
    if stream is None:
        if container.streams.audio:
            raise UsageError(f"{path}: audio only, there is no video stream to score")
        raise UsageError(f"{path}: no video stream in this file")
    fps = stream_fps(stream)
    duration = _duration(container, stream)
    check_header(path, stream.codec_context.width, stream.codec_context.height, fps, duration, max_seconds)
    return VideoInfo(path=path, width=stream.codec_context.width, height=stream.codec_context.height,
                     fps=fps, duration=duration, codec=codec_name(stream))
