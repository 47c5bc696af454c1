"""The live mixer and audio outputs without a camera: the streamed limiter keeps the true peak
under the ceiling, cues start at once or are dropped when late, the choke and voice rules, the
seam's pace, a missing device said as such, and the PortAudio output on ALSA's null device."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.mixing.stream_limiter import StreamLimiter
from appliance.live.mixer import Cue, LiveMixer
from appliance.live.output import NoAudioDevice, SeamOutput, open_output
from appliance.mixing import Placement, true_peak_db
from appliance.mixing.placement import CHOKE_FADE_S

SR = 48000
PERIOD = 256


def _stream(limiter: StreamLimiter, signal: np.ndarray) -> np.ndarray:
    padded = np.concatenate([signal, np.zeros((limiter.lookahead + PERIOD, 2), np.float32)])
    out = np.concatenate([limiter.process(padded[i:i + PERIOD]) for i in range(0, len(padded) - PERIOD + 1, PERIOD)])
    return out[limiter.lookahead:limiter.lookahead + len(signal)]


def test_streamed_limiter_keeps_true_peak_under_ceiling_and_leaves_quiet_sound_alone():
    t = np.arange(SR // 2) / SR
    loud = (0.9 * np.sin(2 * np.pi * 9000 * t + 0.3) + 0.9 * np.sin(2 * np.pi * 11000 * t)).astype(np.float32)
    loud = np.stack([loud, -loud], axis=1)
    assert true_peak_db(loud) > 3
    assert true_peak_db(_stream(StreamLimiter(SR, -1.0), loud)) <= -1.0
    quiet = (0.1 * np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1)).astype(np.float32)
    np.testing.assert_array_equal(_stream(StreamLimiter(SR, -1.0), quiet), quiet)


def _click(seconds=0.2, source="knock"):
    audio = np.full(int(seconds * SR), 0.25, np.float32)
    return Placement(audio=audio, attack=0.0, time=0.0, source=source)


def _render(mixer, blocks, at=None):
    at = time.monotonic() if at is None else at
    return np.concatenate([mixer.render(PERIOD, at, 0.016) for _ in range(blocks)])


def test_a_cue_starts_in_the_next_block_and_a_late_one_is_dropped():
    mixer = LiveMixer(voices=4)
    now = time.monotonic()
    mixer.submit(Cue(_click(), seen_at=now, deadline=now + 1.0, tag="on time"))
    out = _render(mixer, 4, now)
    first = int(np.flatnonzero(np.abs(out[:, 0]) > 0)[0])
    assert first == mixer.limiter.lookahead  # the first sample of the first block, behind the limiter
    started = mixer.outcomes.popleft()
    assert started.started and started.cue.tag == "on time"
    assert started.latency == pytest.approx(0.016 + mixer.limiter.lookahead / SR)

    mixer.submit(Cue(_click(), seen_at=now - 1.0, deadline=now - 0.5, tag="late"))
    before = mixer.ringing
    mixer.render(PERIOD, now, 0.016)
    dropped = mixer.outcomes.popleft()
    assert not dropped.started and dropped.cue.tag == "late" and mixer.ringing == before


def test_every_block_reaches_each_sink_the_one_ending_and_the_one_started():
    """A recording ending (still taking its tail) while the next has started: both get every
    block, the same one, with its times."""
    mixer, now = LiveMixer(), time.monotonic()
    ending, started = [], []
    mixer.sinks = (lambda *block: ending.append(block),)
    mixer.render(PERIOD, now, 0.016)
    mixer.sinks += (lambda *block: started.append(block),)
    out = mixer.render(PERIOD, now + PERIOD / SR, 0.016)
    assert len(ending) == 2 and started == [ending[1]] and started[0][0] is out
    assert started[0][1:] == (now + PERIOD / SR, 0.016)


def test_same_source_chokes_and_the_voice_count_is_kept():
    mixer = LiveMixer(voices=2)
    now = time.monotonic()
    mixer.submit(Cue(_click(1.0, "a"), now, now + 1))
    _render(mixer, 2, now)
    mixer.submit(Cue(_click(1.0, "a"), now, now + 1))  # same source: the first one is choked
    _render(mixer, int(CHOKE_FADE_S * SR / PERIOD) + 2, now)
    assert mixer.ringing == 1
    for source in ("b", "c"):  # two more sources: past two voices, the oldest unchoked is choked
        mixer.submit(Cue(_click(1.0, source), now, now + 1))
        _render(mixer, 1, now)
    _render(mixer, int(CHOKE_FADE_S * SR / PERIOD) + 2, now)
    assert mixer.ringing == 2


def test_seam_takes_blocks_at_the_device_pace_with_real_sizes():
    handed = []
    lock = threading.Lock()

    def render(frames, at, latency):
        with lock:
            handed.append((frames, at, latency))
        return np.zeros((frames, 2), np.float32)

    seam = open_output("seam", render, None, PERIOD, 3)
    time.sleep(0.5)
    seam.close()
    assert isinstance(seam, SeamOutput)
    assert {frames for frames, _, _ in handed} == {PERIOD}
    assert all(0 < latency <= 3 * PERIOD / SR for _, _, latency in handed)
    span = handed[-1][1] - handed[0][1]
    assert len(handed) - 1 == pytest.approx(span * SR / PERIOD, abs=3)  # paced by the clock, not faster


def test_a_block_handed_late_within_the_buffer_is_heard_on_the_stream_clock():
    """A render that stalls 1.5 periods (a loaded board) with 3 periods of buffer: no underrun, so
    each block reaches the speaker one period after the one before, whatever its hand-over time.
    Reported as hand-over + its own latency, the live recording (live/recorder.py) lays the sound
    where the timeline says it was heard (before, a late block's latency was the full buffer's,
    and the recording's sound drifted behind its timeline at each stall: CI's failed run)."""
    heard = []

    def render(frames, at, latency):
        heard.append(at + latency)
        if len(heard) in (5, 12):
            time.sleep(1.5 * PERIOD / SR)
        return np.zeros((frames, 2), np.float32)

    seam = open_output("seam", render, None, PERIOD, 3)
    time.sleep(0.3)
    seam.close()
    assert seam.underruns == 0 and len(heard) > 15
    assert np.diff(heard) == pytest.approx(PERIOD / SR, abs=1e-6)


def test_missing_audio_device_is_said_as_such():
    with pytest.raises(NoAudioDevice, match="no-such-device|PortAudio"):
        open_output("sounddevice", lambda *a: None, "no-such-device-xyz", PERIOD, 3)
    with pytest.raises(NoAudioDevice, match="unknown audio output"):
        open_output("jack", lambda *a: None, None, PERIOD, 3)


PORTAUDIO_NULL = """
import time
import numpy as np
from appliance.live.mixer import Cue, LiveMixer
from appliance.live.output import open_output
from appliance.mixing import Placement
mixer = LiveMixer()
output = open_output("sounddevice", mixer.render, "nullout", 256, 3)
now = time.monotonic()
mixer.submit(Cue(Placement(audio=np.full(4800, 0.2, np.float32), attack=0.0, time=0.0), now, now + 5))
time.sleep(0.3)
output.close()
outcome = mixer.outcomes.popleft()
print(output.name, output.blocks > 0, outcome.started, 0 < outcome.output_latency < 1, output.failure)
"""


def test_portaudio_output_plays_through_alsa(tmp_path):
    """The `sounddevice` output for real: a PortAudio stream on ALSA's null device (defined in a
    private ~/.asoundrc; in a child process, as PortAudio reads the ALSA setup once), its callback
    rendering the mixer's blocks with the device's own latency."""
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("libportaudio2 is not installed")
    (tmp_path / ".asoundrc").write_text("pcm.nullout { type null }\n")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", PORTAUDIO_NULL], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["nullout", "True", "True", "True", "None"]
