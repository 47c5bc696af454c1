"""Decode, convert and measure template audio: the one place that knows about samples.

Every template, bundled or user-added, goes through the same steps so the mixer can treat them
alike: decode any common format, convert to 48 kHz float32 with one or two channels, trim the
silence around the sound, then measure what the mixer needs (where the attack starts, peak,
BS.1770 loudness). Ambience beds are additionally made loopable with a crossfade. Every
recording is rid of DC and rumble as it is loaded for mixing (`without_rumble`).

Loudness is measured by the mixer's BS.1770-4 meter (appliance.mixing.loudness), so a template
and a track are measured alike.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from appliance.errors import UsageError
from appliance.mixing.loudness import ABSOLUTE_GATE_LUFS, block_powers, gated_loudness

SAMPLE_RATE = 48_000
MIN_DURATION = 0.020  # shorter than one video frame at 50 fps: nothing a mixer can place
MAX_DURATION = 30.0  # longer is a recording, not a template; it would also bloat the LRU
SILENCE_DBFS = -60.0  # a file whose peak is below this is treated as silent
TRIM_BELOW_PEAK_DB = 45.0  # leading/trailing audio this far below the peak counts as silence
PRE_ROLL = 0.005  # kept before the first audible sample, faded in, so the attack is not clipped
TAIL_FADE = 0.010  # fade at the trimmed end so the cut never clicks
RUMBLE_CUTOFF_HZ = 25.0
RUMBLE_ORDER = 4
"""Below RUMBLE_CUTOFF_HZ the recordings hold DC offsets (up to 0.18) and 10-20 Hz thumps of
handling and wind: nothing a speaker plays or the K-weighted meter counts, but the true-peak
limiter saw it and cut the hits on top of it by up to 12 dB. A 4th-order Butterworth there
takes 15 Hz down by 18 dB and 10 Hz by 32 dB, and costs 0.1 dB at 40 Hz."""
RUMBLE_SETTLE_S = 0.25  # the high-pass' impulse response is under float32's resolution after this


@dataclass(frozen=True)
class Measurements:
    """What the mixer needs to place and level a template without decoding it first."""

    duration: float  # seconds
    channels: int
    attack_time: float  # seconds from the start to where the transient begins
    peak_dbfs: float
    loudness_lufs: float  # BS.1770 integrated (gated) loudness
    max_momentary_lufs: float  # loudest 400 ms window: the level a one-shot is heard at

    def as_dict(self) -> dict:
        return {
            "duration": round(self.duration, 4),
            "channels": self.channels,
            "attack_time": round(self.attack_time, 4),
            "peak_dbfs": round(self.peak_dbfs, 2),
            "loudness_lufs": round(self.loudness_lufs, 2),
            "max_momentary_lufs": round(self.max_momentary_lufs, 2),
        }


def decode(source: bytes | Path, name: str | None = None) -> tuple[np.ndarray, int]:
    """Any format libsndfile reads (wav, flac, ogg, opus, mp3, aiff) → float32 (frames, channels).

    Raises UsageError naming the file when it is not audio or is corrupt, so a bad upload is
    reported as the user's file and not as a crash.
    """
    label = name or (str(source) if isinstance(source, Path) else "audio data")
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fsencode(source)
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise _unreadable(label, exc) from None
    if data.size == 0:
        raise UsageError(f"{label}: the file holds no audio samples")
    if not np.all(np.isfinite(data)):
        raise UsageError(f"{label}: the audio holds invalid (NaN/infinite) samples")
    return data, int(rate)


def _unreadable(label: str, exc: Exception) -> UsageError:
    """libsndfile's reason without the handle it names ("Error opening <_io.BytesIO object at
    0x…>: Format not recognised." → "Format not recognised.")."""
    return UsageError(f"{label}: not a readable audio file ({str(exc).split(': ')[-1]})")


MAX_SAMPLES = int(MAX_DURATION * 96_000 * 2)  # 30 s of 96 kHz stereo: more is not a template
DECODE_BLOCK = 65_536  # frames per block when checking a file's real length


def check_before_decode(path: Path, label: str, max_seconds: float = MAX_DURATION,
                        max_samples: int = MAX_SAMPLES) -> None:
    """Refuse, before decoding, audio too long for a template: first by its header (duration and
    sample count), then by counting the frames it really holds in bounded blocks (a header can
    lie or be missing), so a small file that decodes to an hour of samples (a decompression
    bomb: 270 KB of FLAC is 30 min of silence) never becomes one array."""
    if path.stat().st_size == 0:
        raise UsageError(f"{label}: the file is empty")
    try:
        info = sf.info(os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise _unreadable(label, exc) from None
    rate = max(1, int(info.samplerate))
    limit = int(max_seconds * rate) + rate  # a second of slack: trimming may shorten it
    known = 0 < info.frames < 2**62
    if known and info.frames > limit:
        raise UsageError(f"{label}: the sound lasts {info.frames / rate:.1f} s; templates may last at most "
                         f"{max_seconds:.0f} s")
    if known and info.frames * info.channels > max_samples:
        raise UsageError(f"{label}: the sound holds {info.frames * info.channels} samples "
                         f"({info.channels} channels at {rate} Hz); at most {max_samples} are accepted")
    counted = 0
    try:
        with sf.SoundFile(os.fsencode(path)) as handle:
            while True:
                block = handle.read(DECODE_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    break
                counted += len(block)
                if counted > limit or counted * info.channels > max_samples:
                    raise UsageError(f"{label}: the sound lasts more than {max_seconds:.0f} s (its header said "
                                     f"{info.frames / rate:.1f} s); templates may last at most {max_seconds:.0f} s")
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise _unreadable(label, exc) from None


def to_template_format(data: np.ndarray, rate: int, mono: bool = False) -> np.ndarray:
    """Resample to 48 kHz and keep one or two channels (more are averaged to mono, since a
    surround layout cannot be panned meaningfully by a stereo mixer)."""
    if mono or data.shape[1] > 2:
        data = data.mean(axis=1, keepdims=True)
    if rate != SAMPLE_RATE:
        data = soxr.resample(data, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32)


def peak_dbfs(data: np.ndarray) -> float:
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


def trim(data: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Cut leading and trailing silence (relative to the peak), keeping a short faded pre-roll
    so the attack sits a few milliseconds after the start instead of being cut into. Audio of no
    frames comes back as it is (a few samples at 2 GHz resample to none at 48 kHz)."""
    if not len(data):
        return data
    level = np.max(np.abs(data), axis=1)
    peak = float(level.max())
    if peak <= 0:
        return data[:0]
    audible = np.flatnonzero(level >= peak * 10 ** (-TRIM_BELOW_PEAK_DB / 20))
    start = max(0, int(audible[0]) - int(PRE_ROLL * rate))
    end = int(audible[-1]) + 1
    out = data[start:end].copy()
    _fade(out, int(min(PRE_ROLL * rate, len(out) // 4)), int(min(TAIL_FADE * rate, len(out) // 4)))
    return out


def _fade(data: np.ndarray, fade_in: int, fade_out: int) -> None:
    if fade_in > 0:
        data[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)[:, None]
    if fade_out > 0:
        data[-fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)[:, None]


def envelope_db(data: np.ndarray, rate: int = SAMPLE_RATE, window: float = 0.001) -> np.ndarray:
    """RMS level per `window` seconds (dBFS), the resolution the mixer aligns attacks at."""
    hop = max(1, int(window * rate))
    mono = data.mean(axis=1)
    frames = len(mono) // hop
    if frames == 0:
        return np.array([peak_dbfs(data)])
    power = (mono[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def attack_time(data: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Where the transient starts: the first millisecond whose level comes within 20 dB of the
    loudest millisecond. Placing this instant on the event time makes hits land on the frame."""
    env = envelope_db(data, rate)
    first = int(np.argmax(env >= env.max() - 20.0))
    return first * 0.001


def loudness(data: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """(integrated LUFS, max momentary LUFS) per BS.1770-4: 400 ms blocks with 75 % overlap,
    absolute gate -70 LUFS, relative gate -10 LU. A sound shorter than one block is measured
    as a single block, which is what a listener hears of a short hit; a sound wholly under the
    absolute gate reads -70 LUFS integrated."""
    powers = block_powers(data, rate)
    integrated = gated_loudness(powers)
    momentary = -0.691 + 10.0 * np.log10(np.maximum(powers, 1e-20)).max()
    return (integrated if np.isfinite(integrated) else ABSOLUTE_GATE_LUFS), float(momentary)


def measure(data: np.ndarray, rate: int = SAMPLE_RATE) -> Measurements:
    """What the mixer needs of a template. The attack is measured on the sound the mixer plays,
    without DC and rumble (`without_rumble`): measured with them, the loudest millisecond of 27
    bundled recordings was a thump or an offset, and their audible start was placed 10-95 ms off
    the action (a door closing 94 ms late, a soft hit 21 ms early)."""
    integrated, momentary = loudness(data, rate)
    return Measurements(
        duration=len(data) / rate,
        channels=int(data.shape[1]),
        attack_time=attack_time(without_rumble(data, loop=False, rate=rate), rate),
        peak_dbfs=peak_dbfs(data),
        loudness_lufs=integrated,
        max_momentary_lufs=momentary,
    )


def with_headroom(data: np.ndarray, ceiling_dbfs: float = -1.0) -> np.ndarray:
    """Scale down audio whose peak exceeds the ceiling: resampling can overshoot full scale,
    and lossy encoding adds a little more, so this keeps the stored file from clipping."""
    ceiling = 10 ** (ceiling_dbfs / 20)
    peak = float(np.max(np.abs(data)))
    return data * (ceiling / peak) if peak > ceiling else data


def check_usable(data: np.ndarray, rate: int, label: str) -> None:
    """The bad-input rules shared by user uploads and the build: silent, too short, too long."""
    if peak_dbfs(data) < SILENCE_DBFS:
        raise UsageError(f"{label}: the sound is silent (peak below {SILENCE_DBFS:.0f} dBFS)")
    duration = len(data) / rate
    if duration < MIN_DURATION:
        raise UsageError(f"{label}: the sound lasts {duration * 1000:.0f} ms; templates need at least {MIN_DURATION * 1000:.0f} ms")
    if duration > MAX_DURATION:
        raise UsageError(f"{label}: the sound lasts {duration:.1f} s; templates may last at most {MAX_DURATION:.0f} s")


def make_loop(data: np.ndarray, length: float, crossfade: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A bed of `length` seconds that repeats without a click or a level dip: the audio just
    after the loop end is faded (equal power, since ambience is noise-like) into its start."""
    n, fade = int(length * rate), int(crossfade * rate)
    if len(data) < n + fade:
        n = len(data) - fade
    if n <= fade:
        raise ValueError("recording too short to loop with this crossfade")
    out = data[:n].copy()
    ramp = np.linspace(0.0, np.pi / 2, fade, dtype=np.float32)[:, None]
    out[:fade] = data[:fade] * np.sin(ramp) + data[n : n + fade] * np.cos(ramp)
    return out


def without_rumble(data: np.ndarray, loop: bool, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`data` (frames, channels) high-passed at RUMBLE_CUTOFF_HZ: its DC and sub-audible energy gone.

    Causal (recursive Butterworth sections, applied as their frequency response), so nothing is
    added before a hit's attack and the attack itself, all above the cut-off, keeps its time. A
    loop is filtered circularly, as the periodic signal it is, so it still joins itself without a
    step; a one-shot is padded until the filter has settled, then its end faded again (the last
    TAIL_FADE) since the filter's response to the trimmed end may stop short of zero. Done on the
    fly (Catalog.audio), so the bundled files and the sounds already added stay as they are. In
    float32 (numpy's FFT keeps it) with a one-dimensional response: a 30 s stereo sound, the
    longest a template may be, needs about 60 MB while it is filtered, not 150."""
    if not loop:
        data = _without_offset(data, rate)
    padded = len(data) if loop else 1 << int(np.ceil(np.log2(len(data) + RUMBLE_SETTLE_S * rate)))
    spectrum = np.fft.rfft(np.asarray(data, np.float32), n=padded, axis=0)
    spectrum *= _highpass_response(padded, rate).astype(np.complex64)[:, None]
    out = np.fft.irfft(spectrum, n=padded, axis=0)[: len(data)].astype(np.float32)
    if not loop:
        _fade(out, 0, int(min(TAIL_FADE * rate, len(out) // 4)))
    return out


def _without_offset(data: np.ndarray, rate: int) -> np.ndarray:
    """A one-shot's mean taken away under trim's fades: the offset rose with the faded-in start,
    and a high-pass turns that rise into a 40 ms bump, which was the loudest of the first
    milliseconds (the attack was measured on it) of a knock with an offset of 0.15."""
    shape = np.ones((len(data), 1), np.float32)
    _fade(shape, int(min(PRE_ROLL * rate, len(data) // 4)), int(min(TAIL_FADE * rate, len(data) // 4)))
    return data - shape * np.asarray(data, np.float32).mean(axis=0)


def _highpass_response(size: int, rate: int) -> np.ndarray:
    """The RUMBLE_ORDER Butterworth high-pass at RUMBLE_CUTOFF_HZ (biquads by the bilinear
    transform, one per pair of poles) at the rfft bins of `size`; in float64, since near DC both
    of a section's polynomials are differences of numbers close to each other."""
    k = np.tan(np.pi * RUMBLE_CUTOFF_HZ / rate)
    z1 = np.exp(-2j * np.pi * np.fft.rfftfreq(size))  # z^-1 at each bin
    z2 = z1 * z1
    response = np.ones(len(z1), complex)
    for pole in range(RUMBLE_ORDER // 2):
        damping = 2 * np.sin(np.pi * (2 * pole + 1) / (2 * RUMBLE_ORDER))  # 1/Q of this pair
        response *= (1.0 - 2.0 * z1 + z2) / ((1 + damping * k + k * k) + 2 * (k * k - 1) * z1
                                              + (1 - damping * k + k * k) * z2)
    return response


def split_events(
    data: np.ndarray, rate: int, max_events: int, min_gap: float, max_length: float, rise_db: float = 10.0
) -> list[np.ndarray]:
    """Cut a recording of several separate events (a walk, dripping, falling shards) into
    single events. An onset is where the 10 ms level climbs `rise_db` above the quietest point of
    the previous 150 ms (steps on gravel rise over tens of ms, so a frame-to-frame rise test
    misses them); onsets closer than `min_gap` merge, and the loudest `max_events` are kept."""
    env = envelope_db(data, rate, window=0.010)
    floor = np.array([env[max(0, i - 15) : i + 1].min() for i in range(len(env))])
    above = (env - floor >= rise_db) & (env > env.max() - 30.0)
    crossings = [i for i in range(1, len(env)) if above[i] and not above[i - 1]]
    onsets: list[int] = []
    for frame in crossings:
        if not onsets or (frame - onsets[-1]) * 0.010 >= min_gap:
            onsets.append(frame)
    onsets = sorted(sorted(onsets, key=lambda f: -env[f : f + 10].max())[:max_events])
    events = []
    for k, frame in enumerate(onsets):
        start = max(0, int((frame - 2) * 0.010 * rate))
        stop = int((onsets[k + 1] - 2) * 0.010 * rate) if k + 1 < len(onsets) else len(data)
        events.append(data[start : min(stop, start + int(max_length * rate))])
    return events


def repeat(data: np.ndarray, count: int, interval: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`count` copies of a short hit `interval` seconds apart (a knock is two or three raps);
    later raps are slightly softer, as knuckles on a door are."""
    step = int(interval * rate)
    out = np.zeros((step * (count - 1) + len(data), data.shape[1]), dtype=np.float32)
    for k in range(count):
        out[k * step : k * step + len(data)] += data * (0.85**k)
    return out


def encode_ogg(data: np.ndarray, path: Path, quality: float, rate: int = SAMPLE_RATE) -> None:
    """Ogg Vorbis at 48 kHz; `quality` 0..1 (higher = better, larger). libsndfile takes a
    compression level, the inverse of Vorbis quality."""
    sf.write(str(path), data, rate, format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
