"""The original video stream with the new Foley track, as MP4 — video packets copied, not
re-encoded (no quality loss, and it costs a fraction of a second on a Pi).

Audio is encoded to AAC while the video packets are copied, interleaved by time, so the muxer
never buffers the whole clip. A video codec that MP4 cannot carry (e.g. MJPEG from a webcam
AVI) is re-encoded to MPEG-4 Part 2 instead, and the timeline says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import av
import numpy as np

from appliance.atomic import atomic_path
from appliance.errors import UsageError

AUDIO_BITRATE = 192_000
AAC_OPTIONS = {"aac_coder": "fast", "aac_pns": "0"}
"""FFmpeg's default AAC search ("twoloop", with perceptual noise substitution) encodes 12 s of
stereo in 0.5 s here, 3.5× slower than the "fast" coder without PNS (0.15 s), which is what a
recording's ≤ 0.5 s hand-over needs; at 192 kb/s the difference is inaudible (PNS only helps at
low bit rates). Measured: docs/benchmarks.md, "Capture"."""
AUDIO_CHUNK = 1024  # AAC frame size
MP4_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1", "vp9"}


def mux_mp4(video_path: Path, audio: np.ndarray | Iterable[np.ndarray], sample_rate: int, out_path: Path,
            metadata: dict[str, str] | None = None) -> dict:
    """Write `out_path` atomically. `audio`: the (n, 2) float32 track, or its consecutive blocks
    (a Track's `blocks()`, a WAV read in blocks), consumed as the video advances. `metadata`:
    container tags (e.g. {"comment": the credits}). Returns what was done to each stream."""
    try:
        with atomic_path(out_path) as temp, av.open(str(video_path)) as source, \
                av.open(str(temp), "w", format="mp4") as target:
            target.metadata.update(metadata or {})
            video_in = source.streams.video[0]
            copy = video_in.codec_context.name in MP4_VIDEO_CODECS
            if copy:
                video_out = target.add_stream_from_template(video_in)
            else:
                video_out = target.add_stream("mpeg4", rate=video_in.average_rate or 30)
                video_out.width, video_out.height = video_in.width, video_in.height
                video_out.pix_fmt = "yuv420p"
                video_out.bit_rate = 4_000_000
            audio_out = target.add_stream("aac", rate=sample_rate, layout="stereo", options=AAC_OPTIONS)
            audio_out.bit_rate = AUDIO_BITRATE
            encoder = _AudioEncoder([audio] if isinstance(audio, np.ndarray) else audio, sample_rate,
                                    audio_out, target)
            reencoded = 0
            origin = source.start_time / av.time_base if source.start_time else 0.0
            for packet in source.demux(video_in):
                if packet.dts is None:
                    continue
                if packet.pts is not None:
                    encoder.until(float(packet.pts * packet.time_base) - origin)
                if copy:
                    packet.stream = video_out
                    target.mux(packet)
                else:
                    for frame in packet.decode():
                        # a fresh frame: decoded frames carry decoder state the encoder rejects
                        fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                        fresh.pts, reencoded = reencoded, reencoded + 1
                        target.mux(video_out.encode(fresh))
            if not copy:
                target.mux(video_out.encode(None))
            encoder.until(None)
            encoder.flush()
    except av.error.FFmpegError as exc:
        raise UsageError(f"could not write {out_path}: {exc}") from None
    return {"video": "copied" if copy else f"re-encoded from {video_in.codec_context.name} to mpeg4",
            "audio": f"aac {AUDIO_BITRATE // 1000} kb/s"}


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
            if video_in.codec_context.name not in MP4_VIDEO_CODECS:
                raise UsageError(f"{video_path}: {video_in.codec_context.name} video cannot be copied into MP4")
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
        raise UsageError(f"could not write {out_path}: {exc}") from None
    return {"video": "copied", "audio": f"aac {AUDIO_BITRATE // 1000} kb/s"}
