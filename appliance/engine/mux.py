"""The original video stream with the new Foley track, as MP4 — video packets copied, not
re-encoded (no quality loss, and it costs a fraction of a second on a Pi).

Audio is encoded to AAC while the video packets are copied, interleaved by time, so the muxer
never buffers the whole clip. A video codec that MP4 cannot carry (e.g. MJPEG from a webcam
AVI, VP8 from a browser's WebM), or a stream without timestamps (raw H.264), is re-encoded to
MPEG-4 Part 2 instead, keeping each frame's time and the display rotation, and the timeline
says so. Either way the picture is placed on the analysis' timeline: the clip's origin (an
MPEG-TS starts at 1.4 s) is the MP4's 0, where the Foley track starts.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from appliance.atomic import atomic_path
from appliance.errors import WRITE_ERRNOS, UsageError
from appliance.video.decode import FrameClock
from appliance.video.probe import bound_decoder, clip_origin, codec_name, stream_fps, video_stream
from appliance.video.writer import MS, ms_pts

AUDIO_BITRATE = 192_000
AAC_OPTIONS = {"aac_coder": "fast", "aac_pns": "0"}
"""FFmpeg's default AAC search ("twoloop", with perceptual noise substitution) encodes 12 s of
stereo in 0.5 s here, 3.5× slower than the "fast" coder without PNS (0.15 s), which is what a
recording's ≤ 0.5 s hand-over needs; at 192 kb/s the difference is inaudible (PNS only helps at
low bit rates). Measured: docs/benchmarks.md, "Capture"."""
AUDIO_CHUNK = 1024  # AAC frame size
MP4_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1", "vp9"}
REENCODE_BITRATE = 4_000_000


def mux_mp4(video_path: Path, audio: np.ndarray | Iterable[np.ndarray], sample_rate: int, out_path: Path,
            metadata: dict[str, str] | None = None) -> dict:
    """Write `out_path` atomically. `audio`: the (n, 2) float32 track, or its consecutive blocks
    (a Track's `blocks()`, a WAV read in blocks), consumed as the video advances. `metadata`:
    container tags (e.g. {"comment": the credits}). Returns what was done to each stream.

    The picture keeps the clip's timing on the analysis' timeline (from `clip_origin`, where the
    track's 0 is), so each sound plays on the frame of its action."""
    try:
        with atomic_path(out_path) as temp, av.open(str(video_path)) as source, \
                av.open(str(temp), "w", format="mp4") as target:
            target.metadata.update(metadata or {})
            video_in = video_stream(source)
            video_out = _copy_stream(target, source, video_in)
            copy = video_out is not None
            video_out = video_out or target.add_stream("mpeg4")
            audio_out = target.add_stream("aac", rate=sample_rate, layout="stereo", options=AAC_OPTIONS)
            audio_out.bit_rate = AUDIO_BITRATE
            encoder = _AudioEncoder([audio] if isinstance(audio, np.ndarray) else audio, sample_rate,
                                    audio_out, target)
            (_copy_video if copy else _reencode_video)(source, video_in, video_out, target, encoder)
            encoder.until(None)
            encoder.flush()
    except av.error.FFmpegError as exc:
        raise _muxing_error(out_path, exc) from None
    return {"video": "copied" if copy else f"re-encoded from {codec_name(video_in)} to mpeg4",
            "audio": f"aac {AUDIO_BITRATE // 1000} kb/s"}


def _muxing_error(out_path: Path, exc: av.error.FFmpegError) -> Exception:
    """What a failed mux raises: a disk that refused the write stays the OSError it is (named
    after the output: atomic_path), as every other writer's does, so the command line and the
    service say "no space left" the same way for the MP4 as for the WAV; anything else, a
    UsageError in one line."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return exc
    return UsageError(f"could not write {out_path}: {exc}")


def _copyable(source: av.container.InputContainer, stream: av.video.stream.VideoStream) -> bool:
    """Whether the video's packets can go into the MP4 as they are: a codec MP4 carries, with
    timestamps (a raw H.264 file has none: its frames are re-encoded on the nominal frame rate)."""
    return (codec_name(stream) in MP4_VIDEO_CODECS
            and not source.format.flags & av.format.Flags.no_timestamps.value)


def _copy_stream(target, source: av.container.InputContainer, video_in):
    """The output stream the video's packets are copied into, or None when they cannot be: not
    `_copyable`, or a codec this PyAV makes no stream of (it looks for an encoder of the codec:
    AV1 decoded by libdav1d has none of that name here)."""
    if not _copyable(source, video_in):
        return None
    try:
        return target.add_stream_from_template(video_in)
    except av.codec.codec.UnknownCodecError:
        return None


def _copy_video(source: av.container.InputContainer, video_in, video_out, target, encoder: _AudioEncoder) -> None:
    """Copy the video packets, moved by the clip's origin (an MPEG-TS starting at 1.4 s starts at 0
    in the MP4, with the track), the audio encoded up to each one's time."""
    shift = round(Fraction(source.start_time or 0, av.time_base) / video_in.time_base)
    for packet in _with_decoding_times(source.demux(video_in)):
        packet.pts -= shift
        packet.dts -= shift
        encoder.until(float(packet.pts * packet.time_base))
        packet.stream = video_out
        target.mux(packet)


def _with_decoding_times(packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
    """The packets that carry data, each with a decoding time, which MP4 needs on every one.
    Matroska stores presentation times only: FFmpeg derives decoding times from their order and
    leaves the stream's first packets without one (the first keyframe among them when the stream
    has B-frames)."""
    waiting = []
    for packet in packets:
        if packet.pts is None:  # the demuxer's empty packet at the end
            continue
        waiting.append(packet)
        if packet.dts is not None:
            yield from _backfilled(waiting)
            waiting = []
    yield from _backfilled(waiting)


def _backfilled(packets: list[av.Packet]) -> list[av.Packet]:
    """`packets`, of which only the last may have a decoding time, each given one a packet
    duration before the next: before the last one's, or, when none has one (a stream shorter than
    its reordering delay), ending at the earliest presentation time. Never after a packet's own
    presentation time, as decoding precedes showing."""
    if packets:
        end = packets[-1].dts if packets[-1].dts is not None else min(packet.pts for packet in packets)
        step = packets[-1].duration or 1
        for back, packet in enumerate(reversed(packets)):
            packet.dts = end - back * step
    return packets


def _reencode_video(source: av.container.InputContainer, video_in, video_out, target,
                    encoder: _AudioEncoder) -> None:
    """Encode the decoded frames to MPEG-4 Part 2 at their own times (a variable frame rate stays
    variable) in milliseconds, at the first frame's size made even (4:2:0 needs it) and with its
    display rotation, the audio encoded up to each frame's time."""
    fps = stream_fps(video_in)  # at least 1: the clip was probed to be scored
    bound_decoder(video_in)
    clock = FrameClock(clip_origin(source), 1.0 / fps)
    frames = ((t, frame) for frame in source.decode(video_in) if (t := clock.time(frame)) is not None)
    first = next(frames, None)
    if first is None:
        return
    size = _even_size(first[1])
    video_out.width, video_out.height = size
    video_out.pix_fmt, video_out.bit_rate = "yuv420p", REENCODE_BITRATE
    video_out.codec_context.time_base = MS
    # rate control spreads the bit rate over this many frames a second (else 1000, the time base)
    video_out.codec_context.framerate = Fraction(fps).limit_denominator(1001)
    if first[1].rotation:
        video_out.set_display_rotation(first[1].rotation)
    last_pts = -1
    for t, frame in chain([first], frames):
        encoder.until(t)
        # a fresh frame: decoded frames carry decoder state the encoder rejects
        fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(width=size[0], height=size[1], format="yuv420p"),
                                           format="yuv420p")
        last_pts = fresh.pts = ms_pts(t, last_pts)
        fresh.time_base = MS
        target.mux(video_out.encode(fresh))
    target.mux(video_out.encode(None))


MPEG4_MAX_SIDE = 8190
"""The largest side MPEG-4 Part 2 encodes (its headers hold 13 bits); clips are taken up to 8192."""


def _even_size(frame: av.VideoFrame) -> tuple[int, int]:
    """The frame's size rounded down to even sides (a 321×241 webcam frame → 320×240), scaled
    down to MPEG4_MAX_SIDE where a side is longer (an 8192-wide clip failed once scored, with
    the encoder's 'Invalid argument')."""
    scale = min(1.0, MPEG4_MAX_SIDE / max(frame.width, frame.height))
    width, height = int(frame.width * scale), int(frame.height * scale)
    return max(2, width - width % 2), max(2, height - height % 2)


class _AudioEncoder:
    """Feeds the track's blocks to the AAC encoder in frames, up to a given time."""

    def __init__(self, blocks: Iterable[np.ndarray], sample_rate: int, stream, target):
        self.blocks = iter(blocks)
        self.pending = np.zeros((0, 2), np.float32)  # read from the blocks, not yet encoded
        self.rate = sample_rate
        self.stream = stream
        self.target = target
        self.position = 0

    def until(self, seconds: float | None) -> None:
        """Encode the audio up to just past `seconds` (None: to the end)."""
        end = None if seconds is None else int(max(0.0, seconds) * self.rate) + AUDIO_CHUNK
        while end is None or self.position < end:
            chunk = self._take(AUDIO_CHUNK)
            if not len(chunk):
                return
            self.position = _encode_chunk(chunk, self.position, self.rate, self.stream, self.target)

    def _take(self, count: int) -> np.ndarray:
        while len(self.pending) < count and (block := next(self.blocks, None)) is not None:
            self.pending = np.concatenate([self.pending, block]) if len(self.pending) else block
        chunk, self.pending = self.pending[:count], self.pending[count:]
        return chunk

    def flush(self) -> None:
        self.target.mux(self.stream.encode(None))


def _encode_chunk(chunk: np.ndarray, position: int, rate: int, stream, target) -> int:
    """One AAC frame's samples (n, 2) at sample `position` → muxed; returns the next position."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T, np.float32), format="fltp",
                                       layout="stereo")  # (2, n) for 'fltp'
    frame.sample_rate = rate
    frame.pts = position
    target.mux(stream.encode(frame))
    return position + len(chunk)


class AacWriter:
    """A track encoded to AAC as it is made, into an audio-only MP4 at `path`: blocks are pushed
    while a recording goes on (capture/scoring.py), so at its end only the last frames remain to
    encode and `mux_copied` joins the picture and this sound without encoding anything."""

    def __init__(self, path: Path, sample_rate: int):
        self.path, self.rate, self.position = Path(path), sample_rate, 0
        self._pending = np.zeros((0, 2), np.float32)
        self._container = av.open(str(path), "w", format="mp4")
        self._stream = self._container.add_stream("aac", rate=sample_rate, layout="stereo", options=AAC_OPTIONS)
        self._stream.bit_rate = AUDIO_BITRATE

    def write(self, block: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, block]) if len(self._pending) else np.asarray(block, np.float32)
        whole = len(self._pending) // AUDIO_CHUNK * AUDIO_CHUNK
        for start in range(0, whole, AUDIO_CHUNK):
            self.position = _encode_chunk(self._pending[start:start + AUDIO_CHUNK], self.position, self.rate,
                                          self._stream, self._container)
        self._pending = self._pending[whole:]

    def close(self) -> None:
        """Encode what is left and finish the file (also after a failure: the file is closed)."""
        try:
            if len(self._pending):
                self.position = _encode_chunk(self._pending, self.position, self.rate, self._stream, self._container)
                self._pending = self._pending[:0]
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


def mux_copied(video_path: Path, audio_path: Path, out_path: Path, metadata: dict[str, str] | None = None) -> dict:
    """`out_path` (atomically): the video of `video_path` and the audio of `audio_path`, both
    copied packet by packet (no encoding: a few milliseconds for a short clip), interleaved by time."""
    try:
        with atomic_path(out_path) as temp, av.open(str(video_path)) as video, av.open(str(audio_path)) as audio, \
                av.open(str(temp), "w", format="mp4") as target:
            target.metadata.update(metadata or {})
            video_in, audio_in = video.streams.video[0], audio.streams.audio[0]
            if codec_name(video_in) not in MP4_VIDEO_CODECS:
                raise UsageError(f"{video_path}: {codec_name(video_in)} video cannot be copied into MP4")
            video_out, audio_out = target.add_stream_from_template(video_in), target.add_stream_from_template(audio_in)
            sound = [p for p in audio.demux(audio_in) if p.dts is not None]
            next_sound = 0
            for packet in video.demux(video_in):
                if packet.dts is None:
                    continue
                at = float(packet.dts * packet.time_base)
                while next_sound < len(sound) and float(sound[next_sound].dts * sound[next_sound].time_base) <= at:
                    sound[next_sound].stream = audio_out
                    target.mux(sound[next_sound])
                    next_sound += 1
                packet.stream = video_out
                target.mux(packet)
            for packet in sound[next_sound:]:
                packet.stream = audio_out
                target.mux(packet)
    except av.error.FFmpegError as exc:
        raise _muxing_error(out_path, exc) from None
    return {"video": "copied", "audio": f"aac {AUDIO_BITRATE // 1000} kb/s"}
