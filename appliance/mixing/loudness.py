"""Loudness (ITU-R BS.1770-4 integrated, LUFS) and true peak (4× oversampled, dBTP), in numpy.

Implemented here rather than pulling scipy (~37 MB on aarch64) for two biquads. The K-weighting
filter is applied by overlap-add FFT, multiplying by the biquads' exact frequency response; its
impulse response has fallen below 1e-10 after TAIL samples, so chunks padded by TAIL give the
linear (not circular) filter. The meter and `loud_spans` read the track as consecutive pieces
(a rendered track's blocks, or slices of an array) with the filter state carried across them,
so memory stays proportional to a piece, not the track (5 minutes of float64 would be 230 MB).

Integrated loudness is split into `block_powers` (the expensive, filtered part) and
`gated_loudness` (the gating): the mixer scales a track by a gain g, whose block powers are
exactly g² times the measured ones, so it measures once and only re-measures after limiting.

The true-peak estimate interpolates 4× with a windowed-sinc polyphase filter as BS.1770 Annex 2
describes; `loud_spans` finds the only places it can exceed a ceiling (a sample's interpolated
value is bounded by the sum of |taps| times its neighbours' largest |value|), so the limiter
interpolates a few hundred milliseconds of a track instead of all of it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S, STEP_S = 0.4, 0.1
TAIL = 1 << 12  # K-weighting impulse response below 1e-10 of its peak after this many samples at 48 kHz
_FFT = 1 << 16
_SCAN = 1 << 16  # samples per chunk when scanning an array for its true peak
OVERSAMPLE = 4
_TAPS_PER_PHASE = 12
PEAK_CONTEXT = _TAPS_PER_PHASE  # samples either side that oversampled_peaks reads
_BOUND_SLACK = 1.01  # rounding headroom on the interpolation bound


def k_weighting_coefficients(sr: int) -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
    """(b, a) of the two K-weighting stages (high shelf, then high-pass) for sample rate `sr`,
    from the analogue prototypes of BS.1770 (at 48 kHz they equal the standard's table)."""
    k = np.tan(np.pi * 1681.974450955533 / sr)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0), \
        (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    k = np.tan(np.pi * 38.13547087602444 / sr)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    highpass = (1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0)
    return [shelf, highpass]


@lru_cache(maxsize=4)
def _k_weighting_response(sr: int, n_fft: int) -> np.ndarray:
    """The cascade's frequency response on the rfft grid of size n_fft."""
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(n_fft))  # z^-1 on the unit circle
    response = np.ones_like(z)
    for b, a in k_weighting_coefficients(sr):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return response[:, None]


def _channels(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    return audio[:, None] if audio.ndim == 1 else audio


def _across_channels(op, values: np.ndarray) -> np.ndarray:
    """`op` (np.maximum, np.add) folded over the channels of (n, channels) `values`: column by
    column, because numpy reduces a 2-wide axis 1 element by element (~80× slower)."""
    out = values[:, 0].copy()
    for c in range(1, values.shape[1]):
        op(out, values[:, c], out=out)
    return out


def filter_chunk(sr: int) -> tuple[int, int, int]:
    """(chunk, tail, n_fft) of the K-weighting overlap-add at `sr`: a track read in pieces of
    `chunk` samples is filtered exactly as it would be whole."""
    tail = int(np.ceil(TAIL * sr / 48000))
    n_fft = max(_FFT, 1 << int(np.ceil(np.log2(2 * tail))))
    return n_fft - tail, tail, n_fft


def _at_edges(running: np.ndarray, position: int, multiple: int, offset: int) -> list[float]:
    """The running sum read at every edge k·multiple + offset (k ≥ 0) that falls in this part:
    running[i] sums the samples before position + i + 1."""
    first = max(0, -(-(position + 1 - offset) // multiple))
    edges = np.arange(first * multiple + offset, position + len(running) + 1, multiple)
    return running[edges - position - 1].tolist()


def block_powers(audio: np.ndarray | Iterable[np.ndarray], sr: int) -> np.ndarray:
    """Mean K-weighted power of each 400 ms gating block (100 ms apart), summed over channels
    (channel weights are 1 for L/R). audio: (n,) or (n, channels), or such consecutive pieces
    (a track rendered block by block: the filter state is carried across them)."""
    block, step = int(BLOCK_S * sr), int(STEP_S * sr)
    chunk, tail, n_fft = filter_chunk(sr)
    response = _k_weighting_response(sr, n_fft)
    pieces = [audio] if isinstance(audio, np.ndarray) else audio
    # Running sum of the squared filtered signal, read at every block's start and end.
    at_starts, at_ends = [0.0], []
    total, carry, position = 0.0, None, 0
    for piece in pieces:
        piece = _channels(piece)
        for start in range(0, len(piece), chunk):
            part = np.asarray(piece[start:start + chunk], np.float64)
            filtered = np.fft.irfft(np.fft.rfft(part, n_fft, axis=0) * response, n_fft, axis=0)
            if carry is not None:
                filtered[:tail] += carry
            carry = filtered[len(part):len(part) + tail]
            running = total + np.cumsum(_across_channels(np.add, filtered[:len(part)] ** 2))
            at_starts += _at_edges(running, position, step, step)
            at_ends += _at_edges(running, position, step, block)
            total, position = running[-1], position + len(part)
    if position == 0:
        return np.zeros(1)
    if position < block:
        return np.array([total / position])
    count = (position - block) // step + 1
    return (np.array(at_ends[:count]) - np.array(at_starts[:count])) / block


def gated_loudness(power: np.ndarray) -> float:
    """BS.1770-4 gating of block powers: LUFS, -inf when every block is under the absolute gate."""
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    kept = power[loudness > ABSOLUTE_GATE_LUFS]
    if not len(kept):
        return float("-inf")
    relative_gate = -0.691 + 10 * np.log10(kept.mean()) + RELATIVE_GATE_LU
    kept = power[(loudness > ABSOLUTE_GATE_LUFS) & (loudness > relative_gate)]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def integrated_loudness(audio: np.ndarray, sr: int) -> float:
    """BS.1770-4 gated integrated loudness in LUFS (-inf for silence). audio: (n,) or (n, channels)."""
    return gated_loudness(block_powers(audio, sr))


@lru_cache(maxsize=1)
def _polyphase() -> np.ndarray:
    """OVERSAMPLE × taps windowed-sinc interpolation filter (phase 0 is the identity)."""
    taps = OVERSAMPLE * _TAPS_PER_PHASE
    t = (np.arange(taps) - taps // 2) / OVERSAMPLE
    h = np.sinc(t) * np.kaiser(taps, 8.0)
    return np.stack([h[p::OVERSAMPLE] for p in range(OVERSAMPLE)])


def oversampled_peaks(audio: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per sample of audio[start:stop], the largest |value| of the 4× interpolated signal around
    it (all channels); the samples around the span are read too, so a span gives the same
    values as the whole track."""
    channels = _channels(audio)
    stop = len(channels) if stop is None else stop
    lo, hi = max(0, start - _TAPS_PER_PHASE), min(len(channels), stop + _TAPS_PER_PHASE)
    context = np.asarray(channels[lo:hi], np.float64)
    inner = slice(start - lo, start - lo + stop - start)
    peaks = _across_channels(np.maximum, np.abs(context[inner]))
    for phase in _polyphase()[1:]:
        for c in range(context.shape[1]):
            interpolated = np.convolve(context[:, c], phase[::-1], mode="same")[inner]
            np.maximum(peaks, np.abs(interpolated), out=peaks)
    return peaks


def loud_spans(blocks: Iterable[np.ndarray], ceiling: float, margin: int) -> list[tuple[int, int]]:
    """Sorted, disjoint (start, stop) spans outside which the 4× interpolated signal stays at or
    under `ceiling`, each widened by `margin` samples (spans closer than that are merged).
    blocks: the track as consecutive (n, channels) pieces (the spans do not depend on their size)."""
    threshold = ceiling / (_BOUND_SLACK * np.abs(_polyphase()).sum(axis=1).max())
    reach = margin + _TAPS_PER_PHASE
    spans: list[list[int]] = []
    position = 0
    for block in blocks:
        hot = np.flatnonzero(_across_channels(np.maximum, np.abs(_channels(block))) > threshold)
        hot += position
        position += len(block)
        if not len(hot):
            continue
        breaks = np.flatnonzero(np.diff(hot) > 2 * reach)
        for first, last in zip(np.r_[hot[0], hot[breaks + 1]], np.r_[hot[breaks], hot[-1]]):
            lo, hi = max(0, int(first) - reach), int(last) + reach + 1
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
    return [(lo, min(hi, position)) for lo, hi in spans]


def true_peak_db(audio: np.ndarray) -> float:
    """True peak in dBTP (dB relative to full scale of the 4× oversampled signal)."""
    channels = _channels(audio)
    peak = max((float(oversampled_peaks(channels, start, min(len(channels), start + _SCAN)).max())
                for start in range(0, len(channels), _SCAN)), default=0.0)
    return 20 * np.log10(peak) if peak > 0 else float("-inf")
