"""A finished result played on the board's own audio output ("Play on the appliance").

The sound is the result's MP4 track (mix.wav when the job kept the clip's own sound, else
audio.wav), sent through the live mode's audio outputs (appliance/live/output.py, config section
`live:` — kind, device, period, periods), so the board has one way to reach its speaker. One
result plays at a time: a new one replaces the one playing, and deleting its job stops it. Each
playback claims the board's speaker first (appliance/live/speaker.py) and lets it go when it ends;
whether it may play at all while live mode is on is the service's policy (board_audio.py).

The WAV is never loaded whole: a reader thread decodes it `period` frames at a time
(soundfile's blocks) into a short queue, and the output's real-time thread only takes the next
block from it (no disk read in the audio callback; a block that is not ready yet is played as
silence and counted). Both outputs ask for exactly `period` frames per call (PortAudio's stream
is opened with that blocksize). When the last block has been handed over, the reader waits for
the device's buffer to drain and closes the output.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from appliance.config import LiveConfig
from appliance.live.output import AudioOutput, DeviceBusy, NoAudioDevice, open_output
from appliance.live.speaker import Claim, SpeakerBusy, claim_speaker
from appliance.mixing import SAMPLE_RATE

AHEAD_SECONDS = 0.5
"""How much decoded sound waits for the audio thread (an SD card read can stall for tens of ms)."""
BlockSink = Callable[[np.ndarray, float], None]
"""Receives each block handed to the output and when it was handed (a level meter, the tests)."""

FREE = "Stop on the page (or POST /api/v1/play/stop) ends it"
"""How to free the speaker from a result playing (said to whoever is refused it)."""

__all__ = ["DeviceBusy", "NoAudioDevice", "Player", "PlayStatus", "SpeakerBusy"]


@dataclass(frozen=True)
class PlayStatus:
    """What the board is playing, as the API shows it."""

    playing: bool
    job: str | None = None
    seconds: float | None = None
    """The result's length."""
    position: float | None = None
    """Seconds handed to the output so far."""
    output: str | None = None
    late_blocks: int = 0
    """Blocks played as silence because the file's next block was not decoded in time."""
    error: str | None = None
    """Why the last playback stopped early (device lost, file unreadable); None otherwise."""
    blocked: str | None = None
    """Why a play would be refused now (live mode or another program has the speaker); None: it would not."""

    def public(self) -> dict:
        return asdict(self)


class Playback:
    """One result being played: its file, its reader thread and the output it feeds."""

    def __init__(self, job_id: str, path: Path, settings: LiveConfig, sink: BlockSink | None):
        self.job_id, self.sink = job_id, sink
        self.period = settings.period
        try:
            self._file = sf.SoundFile(path)
        except RuntimeError as exc:  # soundfile's errors
            raise ValueError(f"its sound could not be read ({_reason(exc)})") from None
        rate = self._file.samplerate
        if rate != SAMPLE_RATE:
            self._file.close()
            raise ValueError(f"its sound is {rate} Hz; the appliance plays {SAMPLE_RATE} Hz")
        self.seconds = self._file.frames / self._file.samplerate
        self.handed = 0
        self.late = 0
        self.error: str | None = None
        self._ahead: queue.Queue[np.ndarray] = queue.Queue(max(2, int(AHEAD_SECONDS * SAMPLE_RATE / self.period)))
        self._read_all = threading.Event()
        self._ended = threading.Event()  # the last block was handed over
        self._stop = threading.Event()
        self._blocks = self._file.blocks(blocksize=self.period, dtype="float32", always_2d=True, fill_value=0.0)
        self._claim: Claim | None = None
        try:
            self._claim = claim_speaker(f"the service playing job {job_id}", FREE)  # SpeakerBusy: `foley live` has it
            try:
                self._fill()  # the first blocks are ready before the device asks
            except RuntimeError as exc:  # soundfile's errors
                raise ValueError(f"its sound could not be read ({_reason(exc)})") from None
            self.output: AudioOutput = open_output(settings.output, self._render, settings.device,
                                                   settings.period, settings.periods)
        except BaseException:
            self._file.close()
            if self._claim is not None:
                self._claim.release()
            raise
        self._reader = threading.Thread(target=self._run, name="foley-play-reader", daemon=True)
        self._reader.start()

    @property
    def done(self) -> bool:
        return not self._reader.is_alive()

    def _fill(self) -> None:
        """Decode blocks until the queue is full or the file has ended."""
        while not self._ahead.full():
            block = next(self._blocks, None)
            if block is None:
                self._read_all.set()
                return
            self._ahead.put_nowait(_stereo(block))

    def _run(self) -> None:
        try:
            while not self._read_all.is_set() and not self._stopping():
                self._fill()
                self._stop.wait(self.period / SAMPLE_RATE)
            while not self._ended.is_set() and not self._stopping():
                self._stop.wait(self.period / SAMPLE_RATE)
            if not self._stopping():
                self._stop.wait(self.output.latency)  # what is in the device's buffer reaches the speaker
        except RuntimeError as exc:  # soundfile's errors: the file went bad while playing
            self.error = f"the result's sound could not be read: {_reason(exc)}"
        finally:
            self.output.close()
            self._claim.release()
            self._file.close()
            if self.output.failure and not self.error:
                self.error = self.output.failure

    def _stopping(self) -> bool:
        return self._stop.is_set() or self.output.failure is not None

    def _render(self, frames: int, handed_at: float, _latency: float) -> np.ndarray:
        """The output's thread: the next decoded block, or silence when there is none."""
        try:
            block = self._ahead.get_nowait()
        except queue.Empty:
            if self._read_all.is_set():
                self._ended.set()
            elif not self._stop.is_set():
                self.late += 1
            return np.zeros((frames, 2), np.float32)
        self.handed += frames
        if self.sink is not None:
            self.sink(block, handed_at)
        return block

    def stop(self) -> None:
        """Stop at once and wait until the output and the file are closed."""
        self._stop.set()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=5.0)

    def status(self) -> PlayStatus:
        return PlayStatus(playing=not self.done, job=self.job_id, seconds=round(self.seconds, 3),
                          position=round(min(self.handed / SAMPLE_RATE, self.seconds), 3),
                          output=self.output.name, late_blocks=self.late, error=self.error)


def _reason(exc: RuntimeError) -> str:
    """libsndfile's own words, without the file's path."""
    return getattr(exc, "error_string", None) or "not a sound file"


def _stereo(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 2:
        return block
    if block.shape[1] == 1:
        return np.repeat(block, 2, axis=1)
    return np.ascontiguousarray(block[:, :2])


class Player:
    """The board's one player (a shared object of the app: appliance/service/shared.py)."""

    def __init__(self, settings: LiveConfig):
        self.settings = settings
        self.sink: BlockSink | None = None
        self._lock = threading.Lock()
        self._current: Playback | None = None

    def play(self, job_id: str, path: Path) -> PlayStatus:
        """Start `path` for `job_id`, replacing what plays; NoAudioDevice when the output cannot
        be opened (DeviceBusy: another program has it; the seam always opens), SpeakerBusy when
        another Foley process holds the speaker, ValueError for a file that cannot be read or played."""
        with self._lock:
            self._stop_locked()
            self._current = Playback(job_id, path, self.settings, self.sink)
            return self._current.status()

    def stop(self, job_id: str | None = None) -> PlayStatus | None:
        """Stop what plays (only if it is `job_id`'s, when given); what was playing, or None."""
        with self._lock:
            current = self._current
            if current is None or current.done or job_id is not None and current.job_id != job_id:
                return None
            self._stop_locked()
            return current.status()

    def _stop_locked(self) -> None:
        if self._current is not None:
            self._current.stop()
            self._current = None

    def status(self) -> PlayStatus:
        current = self._current
        if current is None:
            return PlayStatus(playing=False)
        status = current.status()
        if not status.playing and not status.error:
            return PlayStatus(playing=False)
        return status

    def close(self) -> None:
        with self._lock:
            self._stop_locked()

