"""Category fit: does the chosen sound's category suit the clip's labelled material/action?"""
from __future__ import annotations


def category_fit(chosen: str | None, label: dict) -> bool:
    """True when `chosen` equals the label's category, or names its material (impact_metal for
    a metal hit) or its action (chop for chopping). label: an entry of labels.json."""
    if not chosen:
        return False
    chosen = chosen.lower()
    if chosen == str(label.get("category", "")).lower():
        return True
    words = set(chosen.replace("-", "_").split("_"))
    return any(str(label.get(key, "")).lower() in words for key in ("material", "action") if label.get(key))
