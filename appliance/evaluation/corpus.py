"""Which clips of a labelled folder count for what, decided from their labels by one rule.

- **contact** clips (`action` in CONTACT_ACTIONS: hits, chops, steps, drops, presses, typing,
  knocks, bounces, splashes …): their sound comes from visible contact, so their onsets train
  and judge the event model;
- **ambient** clips (`action` "ambient", or a labelled `ambience_*` category): judged on the bed
  laid and on placing at most AMBIENT_MAX_EVENTS spot events;
- every other clip (barks, engines, gunshots, fireworks, passing vehicles, pours, saws …) is
  scored and reported, but neither trains the event model nor enters the onset goal: its sound
  does not start where something visibly touches something.
Category fit counts only clips whose label names a library category (`category` not null).
Folds are split by `recording_id`; a clip without one is its own recording.
"""
from __future__ import annotations

CONTACT_ACTIONS = frozenset({"hit", "chop", "step", "drop", "press", "type", "knock", "bounce", "splash",
                             "tap", "kick", "slam", "stomp", "clap"})
AMBIENT_MAX_EVENTS = 2


def clip_role(label: dict | None) -> str:
    """"contact", "ambient" or "other" (no label: "other")."""
    if not label:
        return "other"
    action = str(label.get("action") or "").lower()
    if action == "ambient" or str(label.get("category") or "").startswith("ambience_"):
        return "ambient"
    return "contact" if action in CONTACT_ACTIONS else "other"


def recording_of(name: str, label: dict | None) -> str:
    return str((label or {}).get("recording_id") or name)


def family(category: str | None) -> str | None:
    """footsteps_gravel → footsteps: a family's members fit each other; other categories stand alone."""
    if category and category.startswith("footsteps_"):
        return "footsteps"
    return category


def category_fits(chosen: str | None, label: dict) -> bool | None:
    """Whether `chosen` is the labelled category (or of its family); None when the label has none."""
    wanted = label.get("category")
    if not wanted:
        return None
    return chosen is not None and family(chosen) == family(wanted)


def assign_folds(recordings: list[str], k: int, seed: int = 0) -> dict[str, int]:
    """Recording → fold: recordings shuffled with `seed`, dealt round-robin into k folds."""
    import numpy as np

    unique = sorted(set(recordings))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i]: position % k for position, i in enumerate(order)}
