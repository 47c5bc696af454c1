"""Placing sounds: from a decided category and an action event to a mixer Placement, and the
ambience bed decision for the whole scene."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from appliance.engine.choose import TemplatePicker
from appliance.library import Catalog, Template
from appliance.mixing import Ambience, Placement
from appliance.motion import SUSTAINED, ActionEvent

REFERENCE_MOMENTARY_LUFS = -14.0  # every recording is first brought to this peak momentary loudness
STRENGTH_RANGE_DB = 12.0  # the weakest action sits this much below the strongest
PAN_WIDTH = 0.8  # never hard left/right: a sound at the screen edge still reaches both ears
AMBIENCE_GAIN_DB = -14.0  # the bed sits under the actions
SUSTAINED_FADE_S = 0.08
ENVELOPE_STEP_S = 0.1
"""A sustained action's motion envelope is kept at this spacing (timeline and mix alike): the
swell of a scrape or a stir, not the frame-to-frame jitter of the motion energy."""
ENVELOPE_FLOOR = 0.25
"""The gain where the motion is at its weakest within the action (−12 dB under its strongest):
the texture follows the motion, louder where it is faster, yet never vanishes mid-action."""
BED_STANDOUT = 0.08
"""A bed is named by the scene when its score leads the next bed's by this much (a cosine
difference: "in heavy rain" leads by 0.11; unrelated beds differ by 0.02-0.06 on the description
method's scores)."""
SETTING_BEDS = {"outdoors": "ambience_nature", "indoors": "ambience_room"}
"""The plain bed of a setting, for a scene that names nothing more specific."""


GAIN_RANGE_DB = (-40.0, 12.0)
"""What a user may set an event's gain to, relative to the level the engine gives its recording
(level_gain: a quiet recording is raised up to ~+29 dB to sit with the others): from barely
audible to four times that level. Relative, so that every recording can be made louder."""


def level_gain(template: Template) -> float:
    return float(10 ** ((REFERENCE_MOMENTARY_LUFS - template.max_momentary_lufs) / 20))


def level_db(template: Template) -> float:
    """level_gain in dB, as timelines give gains."""
    return round(20 * math.log10(max(level_gain(template), 1e-9)), 2)


def gain_range_db(template: Template) -> tuple[float, float]:
    """The gains (dB) an edit may give a sound of `template`: GAIN_RANGE_DB around its level.
    Each placed sound's timeline entry carries it, so the page's slider offers only these."""
    level = level_db(template)
    return round(level + GAIN_RANGE_DB[0], 2), round(level + GAIN_RANGE_DB[1], 2)


def strength_gain(strength: float) -> float:
    """The gain of an action of `strength` (0..1): the weakest STRENGTH_RANGE_DB under the strongest."""
    return float(10 ** (-STRENGTH_RANGE_DB * (1 - float(np.clip(strength, 0, 1))) / 20))


def placement_for(event: ActionEvent, template: Template, audio: np.ndarray, picker: TemplatePicker) -> Placement:
    """Gain from strength, pan from screen position, small seeded variation in pitch and gain."""
    pitch, gain_variation = picker.variation()
    if event.kind == SUSTAINED and event.duration > 0:
        audio = sustained_sound(audio, event.duration, pitch, envelope_points(event))
    return Placement(
        audio=audio,
        attack=template.attack_time,
        time=event.time,
        gain=level_gain(template) * strength_gain(event.strength) * gain_variation,
        pan=PAN_WIDTH * (2 * float(np.clip(event.x, 0, 1)) - 1),
        pitch=pitch,
        source=template.category,  # same category, same source: the next hit chokes this one
    )


def sustained_sound(audio: np.ndarray, seconds: float, pitch: float,
                    envelope: list[tuple[float, float]] | None) -> np.ndarray:
    """A sustained action's sound: fitted to its length at its pitch, its level following its
    motion. The one recipe for scoring and for an edit's mix (engine/remix.py), which must give
    the same sound from the timeline's figures."""
    return shaped(fit_duration(audio, seconds, pitch), envelope, pitch)


def fit_duration(audio: np.ndarray, seconds: float, pitch: float, sr: int = 48000) -> np.ndarray:
    """A sustained sound that plays as long as the action at `pitch` (a placement plays
    `pitch` times faster, so it needs seconds × pitch of the recording): looped or cut, with a
    short fade-out. Fitted to `seconds` alone it stopped up to 4 % (131 ms) early at the highest
    variation, or rang past the action (and the WAV's end) at the lowest."""
    length = max(1, round(seconds * pitch * sr))
    reps = int(np.ceil(length / len(audio)))
    fitted = np.concatenate([audio] * reps)[:length].copy() if reps > 1 else audio[:length].copy()
    fade = min(len(fitted), int(SUSTAINED_FADE_S * sr))
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    fitted[-fade:] *= ramp if fitted.ndim == 1 else ramp[:, None]
    return fitted


def envelope_points(event: ActionEvent) -> list[tuple[float, float]] | None:
    """The action's motion envelope as (seconds from its start, level 0..1) every
    ENVELOPE_STEP_S, as the timeline keeps it; None for an event without one. Each point is the
    median of the motion in its step, scaled by the 90th percentile of the points: the motion
    energy of one frame jumps (a blur, a flash) and, scaled by its peak, left a real saw's
    strokes at 3-16 % with one frame at 87 %."""
    if event.kind != SUSTAINED or len(event.envelope) < 2:
        return None
    times, levels = (np.asarray(values, np.float64) for values in zip(*event.envelope))
    offsets = times - times[0]
    steps = np.arange(0.0, offsets[-1] + 1e-9, ENVELOPE_STEP_S)
    medians = np.array([_median_near(offsets, levels, t) for t in steps])
    scale = float(np.percentile(medians, 90))
    if scale <= 0:
        return None
    return [(round(float(t), 3), round(float(min(1.0, m / scale)), 3)) for t, m in zip(steps, medians)]


def _median_near(offsets: np.ndarray, levels: np.ndarray, t: float) -> float:
    """The median level within half a step of `t` (the nearest sample where none is)."""
    near = levels[np.abs(offsets - t) <= ENVELOPE_STEP_S / 2]
    return float(np.median(near)) if len(near) else float(levels[np.argmin(np.abs(offsets - t))])


def shaped(audio: np.ndarray, points: list[tuple[float, float]] | None, pitch: float,
           sr: int = 48000) -> np.ndarray:
    """A sustained sound's level following its action's motion (`points`: envelope_points), from
    ENVELOPE_FLOOR where the motion is weakest to 1 where it is strongest, in amplitude as the
    square root of the motion energy. The sound plays `pitch` times faster, so its sample i is
    heard i / (sr · pitch) s after the start. Unchanged without points (an added sound)."""
    if not points:
        return audio
    times, levels = zip(*points)
    heard_at = np.arange(len(audio)) / (sr * pitch)
    level = np.sqrt(np.clip(np.interp(heard_at, times, levels), 0.0, 1.0))
    gains = (ENVELOPE_FLOOR + (1 - ENVELOPE_FLOOR) * level).astype(np.float32)
    return audio * (gains if audio.ndim == 1 else gains[:, None])


def library_beds(catalog: Catalog) -> list[str]:
    return sorted(n for n, c in catalog.categories.items() if c.kind == "ambience" and catalog.in_category(n))


def bed_kind(catalog: Catalog, scores: dict[str, float], setting: str | None = None) -> str | None:
    """Which bed fits a scene, whether or not one is laid: the best-scoring bed when it leads the
    runner-up by BED_STANDOUT; otherwise nothing specific (rain, fire, a river) was named or
    seen, and the scene's setting picks the plain bed of its kind (SETTING_BEDS: a dog on a
    sidewalk outdoors gets nature, not the wind that scores a hair higher)."""
    beds = library_beds(catalog)
    if not beds:
        return None
    best, lead = leading_bed(beds, scores)
    plain = SETTING_BEDS.get(setting or "")
    return plain if lead < BED_STANDOUT and plain in beds else best


def leading_bed(beds: list[str], scores: dict[str, float]) -> tuple[str, float]:
    """The best-scoring of `beds` (at least one) and by how much it leads the next."""
    ranked = sorted(beds, key=lambda n: -scores.get(n, -1.0))
    return ranked[0], scores.get(ranked[0], -1.0) - (scores.get(ranked[1], -1.0) if len(ranked) > 1 else -1.0)


def reads_as_place(catalog: Catalog, scores: dict[str, float] | None) -> bool:
    """Whether these scores (the scene frames', or a description's) match an ambience category at
    least as well as any action category."""
    beds = library_beds(catalog)
    if not scores or not beds:
        return False
    best_other = max((v for n, v in scores.items() if n not in beds), default=-1)
    return max(scores.get(n, -1) for n in beds) >= best_other


class BedChoice(NamedTuple):
    """The bed decided for a clip: its category (None: no bed), the reason for the timeline, and
    whether the scene is ambient (the bed instead of spot sounds) or the bed goes under them."""

    category: str | None
    why: str
    ambient: bool


def named_bed(catalog: Catalog, description: dict[str, float] | None) -> str | None:
    """The bed the description's scene words name — "in heavy rain", "by a campfire", "in a living
    room" — or None. Its scene part alone (library/description.py) must read as a place (its best
    category of all is a bed) and one bed must lead the next by BED_STANDOUT (bed_kind's test).
    The whole description's bed scores are not enough: they follow the sounding words too, and
    named a fire for "a knife chopping cabbage on a cutting board"."""
    scene = getattr(description, "scene", None)
    if not scene or not reads_as_place(catalog, scene):  # (no beds in the library: not a place)
        return None
    best, lead = leading_bed(library_beds(catalog), scene)
    return best if lead >= BED_STANDOUT else None


def ambience_category(
    catalog: Catalog, description: dict[str, float] | None, vision: dict[str, float] | None, actions: int
) -> BedChoice:
    """The bed to lay under the clip, if any, and whether the scene is ambient.

    What decides whether a scene is ambient is the picture, not the words: the scene is ambient
    when its motion holds no action the engine would place (`actions`: the impacts the event
    model kept, the sustained runs) or when the scene frames look like a place or weather more
    than like any action. A description does not decide it, in either direction: on real clips it
    read as actions for a dog trotting along a sidewalk and a drive in the rain (29 and 46 spot
    sounds laid), and as a place for a game of squash (its hits silenced). What the description
    says decides *which* bed (its scene words weigh most for beds, library/description.py), and
    the sound of the actions when there are some. A scene with actions gets a bed under them only
    when the words name one specifically (`named_bed`: "footsteps on gravel in heavy rain" gets
    its rain; it had the footsteps alone), never from the picture alone.

    Without a description the bed is the plain bed of the setting the scene frames show
    (engine/zeroshot.py: their labels nearer "indoors" or "outdoors"). The picture does not
    name a specific bed: ImageNet has no class for rain, wind or a soundscape, and on the real
    clips the zero-shot reading named `ambience_water` as the best category of all for a dog on
    a sidewalk, a bull in a meadow and a barbell drop, while the category probe has seen a
    single rain clip; the picture's best bed was wrong on both nature clips (docs/benchmarks.md).
    Rain, a river or a fire need words."""
    beds = library_beds(catalog)
    if not beds:
        return BedChoice(None, "no ambience recordings in the library", False)
    if actions and not reads_as_place(catalog, vision):
        named = named_bed(catalog, description)
        if named:
            return BedChoice(named, f"the description names {named}; laid under the actions", False)
        return BedChoice(None, "the motion holds actions and the scene frames do not look like a place", False)
    why = "the motion holds no action" if not actions else "the scene frames look like a place"
    if description:
        bed = bed_kind(catalog, description, getattr(description, "setting", None))
        return BedChoice(bed, f"{why}; the description matches {bed} best; an ambient scene gets no spot sounds",
                         True)
    setting = getattr(vision, "setting", None)
    if SETTING_BEDS.get(setting or "") in beds:
        return BedChoice(SETTING_BEDS[setting], f"{why}; no words name the weather, and the picture is {setting}; "
                         "an ambient scene gets no spot sounds", True)
    return BedChoice(None, f"{why}, and nothing says which bed", False)  # the actions stay


def ambience_bed(template: Template, audio: np.ndarray) -> Ambience:
    return Ambience(audio=audio, gain=level_gain(template) * 10 ** (AMBIENCE_GAIN_DB / 20))
