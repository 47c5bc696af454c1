"""credits.txt of a result: every recording its track uses (the ambience bed included), with
author, licence and source, as each licence asks (docs/library.md, "Licences").

Made from the timeline (which names each placed recording) and the catalog (authors, sources,
the licence table); a recording no longer in the library is still credited from what the
timeline says of it. The same text goes into the MP4's `comment` tag (appliance.engine.mux), so
a video passed on without its credits file still carries them.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from appliance.atomic import atomic_open
from appliance.engine.timeline import Timeline
from appliance.library import Catalog
from appliance.library.store import plain_words

SHARE_ALIKE = ("CC-BY-SA-3.0", "CC-BY-SA-4.0")


def _source(source: dict) -> str:
    if source.get("type") == "user":
        name = source.get("original_name")
        return "a sound added on this appliance" + (f" ({plain_words(str(name))})" if name else "")
    text = f"Debian package {source.get('package', '?')} {source.get('version', '')}".rstrip()
    if source.get("path"):
        text += f", {source['path']}"
    if source.get("edits"):
        text += f"; edits: {source['edits']}"
    return text


def credits_text(timeline: Timeline, catalog: Catalog) -> str:
    """The credits of one result, as plain text (UTF-8, one recording per paragraph)."""
    uses = Counter(e.template_id for e in timeline.events)
    roles = {t: f"placed {n} time{'s' if n > 1 else ''}" for t, n in sorted(uses.items(), key=lambda u: (-u[1], u[0]))}
    described = {e.template_id: (e.template, e.licence) for e in timeline.events}
    bed = timeline.ambience.template_id
    if bed:
        roles.setdefault(bed, "the ambience bed")
        described.setdefault(bed, (timeline.ambience.category or "ambience bed", timeline.ambience.licence or "?"))
    lines = [f"Sound credits for the Foley track of {timeline.clip.file}",
             "Made with the Foley appliance from these recordings, each under its own licence.", ""]
    if not roles:
        lines.append("No recordings were used: the track is silent.")
    licences = set()
    for number, (template_id, role) in enumerate(roles.items(), 1):
        template = catalog.recording(template_id)
        description, licence = described[template_id]
        licence = template.licence if template else licence
        licences.add(licence)
        # plain_words: a sound added before its file name was cleaned may hold a newline or a
        # bidi override in its automatic description (store.py UserLibrary.add).
        lines.append(f"{number}. \"{plain_words(template.description if template else description)}\" ({template_id}), "
                     f"{role}")
        if template is None:
            lines.append("   No longer in this appliance's library; its author and source are not known here.")
        else:
            lines.append(f"   By: {template.author or 'unknown'}")
            lines.append(f"   Source: {_source(template.source)}")
        terms = catalog.licences.get(licence)
        lines.append(f"   Licence: {licence}" + (f" — {terms['name']}" + (f", {terms['url']}" if terms['url'] else "")
                                                  if terms else ""))
        lines.append("")
    lines += _obligations(licences, catalog)
    return "\n".join(lines).rstrip() + "\n"


def _obligations(licences: set[str], catalog: Catalog) -> list[str]:
    """What each licence used asks of someone who passes the result on."""
    lines = ["What the licences ask:"] if licences else []
    if licences & set(SHARE_ALIKE):
        lines.append("This track contains share-alike recordings: it is an adaptation of them, and if you "
                     f"distribute it, do so under {', '.join(sorted(licences & set(SHARE_ALIKE)))} with these credits.")
    for licence in sorted(licences):
        terms = catalog.licences.get(licence)
        if terms:
            lines.append(f"{licence}: {terms['terms']}")
        elif licence == "user":
            lines.append("user: your own recording, added on this appliance; its terms are yours to give.")
    return lines


def write_credits(path: Path, text: str) -> Path:
    with atomic_open(path) as out:
        out.write(text)
    return Path(path)
