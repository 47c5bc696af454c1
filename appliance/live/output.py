"""Audio outputs behind one seam, chosen by kind (config key live.output).

Each output owns the real-time thread that pulls blocks from the mixer (`Render`): `period`
frames at a time, with `periods` periods of buffer in the device, and says when each block was
handed over and how long the device takes to play it. Kinds:

- `sounddevice`: the board's sound card through PortAudio (Debian's libportaudio2, ALSA
  underneath): 3.5 mm jack, HDMI or a USB speaker (docs/board.md). PortAudio's callback thread
  calls the mixer; its time info gives the output latency of each block.
- `seam`: no sound card (CI, a board without speakers): a clock thread hands blocks over at the
  pace a device of the same period and buffer would take them, with the same sizes, and
  reports the latency such a device would have (its buffer). What is measured through it is
  everything but the sound card's own converter delay.

An output that loses its device sets `failure`; the session's watchdog closes it and opens a
new one. Underruns (the device ran dry because a block came late) are counted by each output.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.mixing import SAMPLE_RATE

log = logging.getLogger("foley.live")
Render = Callable[[int, float, float], np.ndarray]
"""mixer.render(frames, handed_at, device_latency) → (frames, 2) float32"""
STALL_PERIODS = 50
"""A device whose callback has not run for this many periods is lost (unplugged, wedged)."""


AUDIO_PRIORITY = 20
"""SCHED_FIFO priority asked for the thread that renders audio (1-99; PipeWire/JACK use ~20)."""


def make_realtime(priority: int = AUDIO_PRIORITY) -> bool:
    """Ask the kernel to run the calling thread before normal ones (SCHED_FIFO), as audio
    servers do: on a loaded CPU a normal thread can wait longer than the device's buffer. Needs
    root, CAP_SYS_NICE or an RLIMIT_RTPRIO (systemd: LimitRTPRIO=); without them, False and the
    thread stays normal (underruns count what that costs)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (OSError, AttributeError):
        return False


class NoAudioDevice(Exception):
    """The output cannot be opened: no such device, none at all, or PortAudio missing."""


class DeviceBusy(NoAudioDevice):
    """The device is there but another program holds it (ALSA's EBUSY: an hw device opens once)."""


PA_DEVICE_UNAVAILABLE = -9985
"""PortAudio's paDeviceUnavailable: what its ALSA layer reports for EBUSY."""


class AudioOutput:
    """Base of the outputs: the counters and the failure flag the session reads."""

    kind = ""

    def __init__(self, render: Render, device: str | None, period: int, periods: int, sr: int = SAMPLE_RATE):
        self.render, self.device, self.period, self.periods, self.sr = render, device, period, periods, sr
        self.name = device or "default"
        self.underruns = 0
        self.blocks = 0
        self.failure: str | None = None
        """Why the device stopped (set by its thread); None while it plays."""
        self.realtime: bool | None = None
        """Whether the audio thread got real-time scheduling (None: not asked yet)."""

    @property
    def latency(self) -> float:
        """Seconds from handing a block over to its first sample at the speaker."""
        return self.periods * self.period / self.sr

    def close(self) -> None:
        raise NotImplementedError


OUTPUTS: dict[str, type[AudioOutput]] = {}


def register(cls: type[AudioOutput]) -> type[AudioOutput]:
    OUTPUTS[cls.kind] = cls
    return cls


def open_output(kind: str, render: Render, device: str | None, period: int, periods: int) -> AudioOutput:
    """An output of `kind`, playing; raises NoAudioDevice when it cannot be opened."""
    if kind not in OUTPUTS:
        raise NoAudioDevice(f"unknown audio output {kind!r}; use one of {', '.join(sorted(OUTPUTS))}")
    return OUTPUTS[kind](render, device, period, periods)


@register
class SeamOutput(AudioOutput):
    """A device that is only a clock: takes a block every period, on time, and keeps nothing.

    It models a device with `periods` periods of buffer: a block handed over more than
    (periods − 1) periods after it was due would have found the buffer empty — an underrun —
    and the clock starts again from there, as a real device restarts after one. A block handed
    over late but within the buffer still reaches the speaker on the stream's sample clock (due
    + the buffer), so that is the latency reported with it, as a real device's callback reports
    its DAC time: the recorder places each block, and the timeline each sound, by it."""

    kind = "seam"

    def __init__(self, render: Render, device: str | None, period: int, periods: int, sr: int = SAMPLE_RATE):
        super().__init__(render, device, period, periods, sr)
        self.name = "audio seam (no sound card: blocks are timed, not heard)"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="foley-live-seam", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.realtime = make_realtime()
        step = self.period / self.sr
        due = time.monotonic()
        while not self._stop.is_set() and self.failure is None:
            now = time.monotonic()
            if now - due > (self.periods - 1) * step:
                self.underruns += 1
                due = now
            self.render(self.period, now, due + self.latency - now)
            self.blocks += 1
            due += step
            pause = due - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)

    def lose(self, reason: str = "audio seam unplugged") -> None:
        """Behave like a device that went away (the watchdog's test)."""
        self.failure = reason

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)


@register
class SoundDeviceOutput(AudioOutput):
    """A PortAudio output stream (python-sounddevice) whose callback renders each block."""

    kind = "sounddevice"

    def __init__(self, render: Render, device: str | None, period: int, periods: int, sr: int = SAMPLE_RATE):
        super().__init__(render, device, period, periods, sr)
        try:
            import sounddevice
        except OSError as exc:  # the wheel is there, libportaudio2 is not
            raise NoAudioDevice(f"PortAudio is not installed ({exc}; apt install libportaudio2)") from None
        self._last_call = time.monotonic()
        try:
            self._stream = sounddevice.OutputStream(
                samplerate=sr, blocksize=period, channels=2, dtype="float32",
                device=int(device) if device and device.isdigit() else device,  # a number, or part of a name
                latency=periods * period / sr, callback=self._callback, finished_callback=self._finished)
            self.name = str(sounddevice.query_devices(self._stream.device)["name"])
            self._stream.start()
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise _open_error(device, exc) from None
        self._closing = False
        self._watch = threading.Thread(target=self._watch_stalls, name="foley-live-audio-watch", daemon=True)
        self._watch.start()

    @property
    def latency(self) -> float:
        return float(self._stream.latency)

    def _callback(self, outdata, frames, time_info, status) -> None:
        if self.realtime is None:  # PortAudio's callback thread, on its first call
            self.realtime = make_realtime()
        self._last_call = now = time.monotonic()
        if status.output_underflow:
            self.underruns += 1
        latency = time_info.outputBufferDacTime - time_info.currentTime
        outdata[:] = self.render(frames, now, latency if 0 < latency < 1 else self.latency)
        self.blocks += 1

    def _finished(self) -> None:
        if not self._closing:
            self.failure = f"{self.name}: the audio stream stopped (device unplugged or taken)"

    def _watch_stalls(self) -> None:
        limit = STALL_PERIODS * self.period / self.sr
        while not self._closing and self.failure is None:
            time.sleep(limit / 2)
            if time.monotonic() - self._last_call > limit and not self._closing:
                self.failure = f"{self.name}: no audio callback for {limit:.2f} s (device lost)"

    def close(self) -> None:
        self._closing = True
        try:
            self._stream.abort()
            self._stream.close()
        except Exception:  # closing a device that is already gone
            pass


def _open_error(device: str | None, exc: Exception, proc: Path = Path("/proc")) -> NoAudioDevice:
    """Why PortAudio could not open the device, in the user's words: busy (another program has it:
    not one of ours, those ask appliance/live/speaker.py first; named when ALSA says who) or missing."""
    name = device or "default"
    if len(exc.args) > 1 and exc.args[1] == PA_DEVICE_UNAVAILABLE:
        who = ", ".join(card_users(proc)) or "another program"
        return DeviceBusy(f"audio device {name} is busy: in use by {who} (PortAudio: {exc.args[0]})")
    return NoAudioDevice(f"audio device {name}: {exc}")


def card_users(proc: Path = Path("/proc")) -> list[str]:
    """The programs holding a sound card's playback open, as ALSA shows them (the `owner_pid` of
    /proc/asound/cardN/pcmMp/subS/status), e.g. ["pipewire (pid 812)"]; [] without ALSA or users."""
    users: list[str] = []
    for status in sorted(proc.glob("asound/card*/pcm*p/sub*/status")):
        try:
            owner = re.search(r"^owner_pid\s*:\s*(\d+)", status.read_text(), re.M)
        except OSError:
            continue
        if owner is None:  # "closed"
            continue
        try:
            program = (proc / owner[1] / "comm").read_text().strip() or "a program"
        except OSError:  # it has just ended, or its /proc entry is hidden from us (hidepid)
            program = "a program"
        user = f"{program} (pid {owner[1]})"
        if user not in users:
            users.append(user)
    return users
