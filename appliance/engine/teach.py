"""`foley library teach CLIP --category C --tags ...`: learn sounds from a clip WITH its sound.

Each detected action's own sound is cut from the clip's track (from just before its audible
onset to just before the next action, at most MAX_SOUND_S) and stored as a user template,
together with the vision embedding of that moment (the exemplar). Later clips of the same scene
then get these very sounds: their keyframes match the exemplar (appliance.engine.exemplars).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.cli_progress import stage_bar
from appliance.engine.analysis import analyse_clip
from appliance.engine.exemplars import exemplar_record
from appliance.engine.own_sound import first_samples
from appliance.engine.score_cli import engine_settings
from appliance.engine.visual import VisualLookup
from appliance.errors import UsageError
from appliance.inference import vision_encoder
from appliance.inference.sessions import default_threads
from appliance.library import Template
from appliance.library.store import UserLibrary, plain_words
from appliance.mixing import SAMPLE_RATE, write_wav_atomic
from appliance.motion import SUSTAINED
from appliance.os_text import display_name
from appliance.video import DEFAULT_MAX_SECONDS, audio_blocks, probe

MAX_SOUND_S = 1.0
PRE_ROLL_S = 0.01
SEARCH_BEFORE_S, SEARCH_AFTER_S = 0.10, 0.15  # where the sound's onset may sit around the picture's


def audible_onset(audio: np.ndarray, around: float, sr: int = SAMPLE_RATE) -> float:
    """The onset of the sound nearest `around`: the first 2 ms block reaching half the local peak."""
    start = max(0, int((around - SEARCH_BEFORE_S) * sr))
    window = np.abs(audio[start : int((around + SEARCH_AFTER_S) * sr)])
    block = int(0.002 * sr)
    if len(window) < block:
        return around
    envelope = window[: len(window) // block * block].reshape(-1, block).max(axis=1)
    first = int(np.argmax(envelope >= 0.5 * envelope.max()))
    return (start + first * block) / sr


def _own_sound(clip: Path, length: int) -> np.ndarray:
    """The clip's sound, mono, up to `length` samples (the picture's duration)."""
    blocks = list(first_samples(audio_blocks(clip, SAMPLE_RATE, mono=True), length))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def teach(clip: Path, category: str, tags=(), licence: str | None = None, author: str = "",
          max_sounds: int = 8, progress: Callable[[str, float], None] | None = None,
          max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[list[Template], list[str]]:
    """Store the sounds of the clip's actions; returns (templates added, reasons for skips).
    `progress(stage, fraction)` hears of the analysis, the long part (as Engine.score reports it);
    `max_seconds`: the longest clip taken (the config's engine.max_seconds, as `foley score`)."""
    clip = Path(clip)
    library = UserLibrary()
    library.catalog.category(category)
    library.check_fields(tags, licence, author)  # before the analysis, not once per action after it
    if max_sounds < 1:
        raise UsageError(f"--max {max_sounds}: at least one sound must be kept")
    info = probe(clip, max_seconds)  # an audio-only or over-long file: said before any sound is decoded
    audio = _own_sound(clip, int((info.duration or max_seconds) * SAMPLE_RATE))
    if not np.any(np.abs(audio) > 1e-4):
        raise UsageError(f"{clip}: the clip's sound is silent: nothing to learn from")
    analysis = analyse_clip(clip, max_seconds, default_threads(),
                            (lambda f: progress("analyse", f)) if progress else None)
    events = [e for e in analysis.events if e.kind != SUSTAINED]
    if not events:
        raise UsageError(f"{clip}: no action detected in the picture, so no sound to cut")
    visual = VisualLookup(vision_encoder(), cache=None)
    # Every action's onset, though only max_sounds are kept: the last one kept ends before the
    # next action's sound, not at the end of the clip (it held four hits).
    onsets = [audible_onset(audio, e.time) for e in events]
    added, skipped = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for number, (event, onset) in enumerate(zip(events[:max_sounds], onsets)):
            following = onsets[number + 1] - 0.03 if number + 1 < len(onsets) else len(audio) / SAMPLE_RATE
            start, end = max(0.0, onset - PRE_ROLL_S), min(following, onset + MAX_SOUND_S)
            cut = Path(scratch) / f"{display_name(clip.stem)}-{event.time:.2f}s.wav"
            write_wav_atomic(cut, audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], SAMPLE_RATE)
            embedding, _ = visual.outputs(analysis.keyframes.get(event.frame_index) or analysis.scene[0])
            try:
                added.append(library.add(
                    cut, category, tags, licence, author,
                    description=f"taught from {plain_words(display_name(clip.name))} at {event.time:.2f} s",
                    extra=exemplar_record(visual.model_key, embedding)))
            except UsageError as exc:
                skipped.append(f"action at {event.time:.2f} s: {exc}")
    return added, skipped


def handle(args) -> int:
    with stage_bar(Path(args.clip).name) as progress:
        added, skipped = teach(Path(args.clip), args.category, args.tags, args.licence, args.author or "", args.max,
                               progress, engine_settings(args).max_seconds)
    for template in added:
        print(f"added {template.id} ({template.duration:.2f} s, attack {template.attack_time * 1000:.0f} ms)")
    for reason in skipped:
        print(f"skipped {reason}")
    if not added:
        raise UsageError("no sound could be kept from this clip")
    return 0
