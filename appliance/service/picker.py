"""The sound picker's data: the recordings a placed sound could be swapped for, grouped by category.

Groups are ordered by how well the engine thought the category fits this action: "best" is the
category its votes chose, "good" the others it weighed, "other" the rest of the categories of
the action's kind (and those of the user's own sounds). The current recording comes first, in
its group, which comes first. Within a group the user's own sounds come before the bundled ones,
and each group holds at most PER_GROUP recordings. With a search text only the library search's
best matches are offered (of any category), in the same groups. Recordings with one description
(several cuts from one game's sound pack) are told apart by `source`: the package and file they
come from.
"""
from __future__ import annotations

import re

from appliance.engine.choose import candidate_categories
from appliance.engine.timeline import TimelineEvent
from appliance.library import Catalog, Template, searcher

PER_GROUP = 8
SEARCH_DEPTH = 60
"""With a search text: how many of the library search's best matches are grouped."""
_FITS = ("best", "good", "other")
_PART = re.compile(r"event (\d+) cut")


def source_label(template: Template) -> str:
    """Where a recording comes from, in a few words: "0ad-data · lumber_tree_01", "ufoai-sound ·
    breakglass03, part 2", "your sound · ding.flac"."""
    source = template.source
    if template.origin == "user" or source.get("type") == "user":
        return f"your sound · {source.get('original_name') or template.id}"
    name = re.split(r"[/:]", source.get("path", ""))[-1].rsplit(".", 1)[0] or template.id
    part = _PART.search(source.get("edits") or "")
    return f"{source.get('package', 'library')} · {name}" + (f", part {part.group(1)}" if part else "")


def sound_json(template: Template, current: bool) -> dict:
    return {"id": template.id, "description": template.description, "category": template.category,
            "source": source_label(template), "licence": template.licence, "author": template.author,
            "duration": template.duration, "user": template.origin == "user", "current": current,
            "audio_url": f"/api/v1/library/{template.id}/audio"}


def _fits(event: TimelineEvent) -> dict[str, str]:
    """Category → "best" / "good" from the engine's votes for this event (the user's own
    choice of category counts as best for an event the user added)."""
    voted = [c["category"] for c in event.why.candidates] or [event.category]
    return {name: "best" if k == 0 else "good" for k, name in enumerate(voted)}


def picker_groups(catalog: Catalog, event: TimelineEvent, query: str = "") -> list[dict]:
    """The picker's groups for `event` (see the module's docstring)."""
    spot = {name for name, c in catalog.categories.items() if c.kind != "ambience"}
    fits = _fits(event)
    current = catalog.recording(event.template_id)
    if query:
        ranked = [m.template for m in searcher(catalog).search(query, k=len(catalog.templates))
                  if m.template.category in spot][:SEARCH_DEPTH]
    else:
        names = {*fits, *candidate_categories(catalog, event.kind),
                 *(t.category for t in catalog.templates if t.origin == "user")}
        ranked = [t for t in catalog.templates if t.category in names & spot]
    members: dict[str, list[Template]] = {}
    for template in ranked:  # in the search's order (or the library's), user sounds first below
        if current is None or template.id != current.id:
            members.setdefault(template.category, []).append(template)
    if current is not None:
        members.setdefault(current.category, [])
    order = {name: k for k, name in enumerate(members)}  # the search's order within one fit

    def rank(name: str) -> tuple:
        return (current is None or name != current.category, _FITS.index(fits.get(name, "other")),
                list(fits).index(name) if name in fits else order[name])

    groups = []
    for name in sorted(members, key=rank):
        sounds = sorted(members[name], key=lambda t: t.origin != "user")
        chosen = ([sound_json(current, True)] if current is not None and name == current.category else [])
        chosen += [sound_json(t, False) for t in sounds][:PER_GROUP - len(chosen)]
        groups.append({"category": name, "label": catalog.categories[name].description,
                       "fit": fits.get(name, "other"), "sounds": chosen})
    return groups
