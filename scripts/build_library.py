#!/usr/bin/env python3
"""Rebuild the bundled sound-template library (models/library/) from Debian packages.

Runs on a Debian/Ubuntu dev machine with apt (no root needed when the .deb files are already in
the cache). Each package is fetched with `apt-get download` and only the sound folders and the
copyright file are unpacked (`dpkg-deb --fsys-tarfile | tar`), so nothing gets installed.
What is taken, how it is categorised, tagged, cut and licensed is all in
models/library/curation.yaml; this script only carries it out and refuses to ship a file
whose licence it cannot confirm against the package's DEP-5 copyright file (or an explicit,
reviewed `licence_evidence` in the curation).

    python scripts/build_library.py                 # the starter library (~10 MB)
    python scripts/build_library.py --extended      # plus more variants, mostly from 0ad-data
    python scripts/build_library.py --cache /var/tmp/foley-debs --out /tmp/library
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.errors import UsageError  # noqa: E402
from appliance.library import attribution, audio_io  # noqa: E402
from appliance.library.catalog import INDEX_FORMAT, INDEX_NAME, KINDS, index_version  # noqa: E402
from appliance.atomic import write_json_atomic  # noqa: E402

CURATION = REPO / "models" / "library" / "curation.yaml"
ONE_SHOT_QUALITY = 0.4  # Vorbis quality: transparent enough for short mono hits
BED_QUALITY = 0.3  # beds are long and sit under everything else
LICENCE_ALIASES = {"CC0": "CC0-1.0"}


class BuildError(RuntimeError):
    """The curation and the packages disagree: fix the curation, do not ship."""


# ------------------------------------------------------------------------- Debian packages
def fetch(package: str, cache: Path) -> Path:
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        print(f"downloading {package} …", flush=True)
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        found = sorted(cache.glob(f"{package}_*.deb"))
    return found[-1]


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True).stdout.strip()


def unpack(deb: Path, members: list[str], dest: Path) -> Path:
    """Extract only `members` (paths in the package) into dest, once per package version."""
    stamp = dest / ".unpacked"
    if stamp.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    print(f"unpacking {deb.name} ({', '.join(members)}) …", flush=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)] + [f"./{m}" for m in members], stdin=tar.stdout, check=True)
    if tar.wait() != 0:
        raise BuildError(f"dpkg-deb failed on {deb}")
    stamp.touch()
    return dest


class PackageSounds:
    """The sound files of one unpacked package, loose or inside a zip archive (pk3/zip)."""

    def __init__(self, name: str, spec: dict, cache: Path):
        self.name = name
        self.spec = spec
        deb = fetch(name, cache)
        self.version = deb_version(deb)
        members = [spec["copyright"], spec.get("archive") or spec["root"]]
        self.dir = unpack(deb, members, cache / "unpacked" / f"{name}_{self.version}")
        self.root = spec["root"]
        if spec.get("archive"):
            self.zip = zipfile.ZipFile(self.dir / spec["archive"])
            self.names = sorted(n[len(self.root):] for n in self.zip.namelist() if n.startswith(self.root) and not n.endswith("/"))
        else:
            self.zip = None
            base = self.dir / self.root
            self.names = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
        self.copyright = parse_dep5((self.dir / spec["copyright"]).read_text(encoding="utf-8"))

    def select(self, patterns) -> list[str]:
        patterns = [patterns] if isinstance(patterns, str) else patterns
        chosen = []
        for pattern in patterns:
            matches = [n for n in self.names if fnmatch.fnmatchcase(n, pattern)]
            if not matches:
                raise BuildError(f"{self.name} {self.version}: nothing matches {pattern!r}")
            chosen += matches
        return list(dict.fromkeys(chosen))

    def read(self, name: str) -> bytes:
        return self.zip.read(self.root + name) if self.zip else (self.dir / self.root / name).read_bytes()

    def original_path(self, name: str) -> str:
        if self.zip:
            return f"/{self.spec['archive']}:{self.root}{name}"
        return f"/{self.root}{name}"

    def dep5(self, name: str) -> tuple[str, str]:
        """(licence, copyright holders) of the last DEP-5 paragraph matching the file."""
        path = self.spec["dep5_path"].format(path=name)
        match = None
        for patterns, holders, licence in self.copyright:
            if any(fnmatch.fnmatchcase(path, p) for p in patterns):
                match = (licence, holders)
        if match is None:
            raise BuildError(f"{self.name}: no copyright paragraph covers {path}")
        return match


def parse_dep5(text: str) -> list[tuple[list[str], str, str]]:
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            licence = fields["License"].splitlines()[0].strip()
            holders = "; ".join(h.strip() for h in fields.get("Copyright", "").splitlines() if h.strip())
            paragraphs.append((fields["Files"].split(), holders, LICENCE_ALIASES.get(licence, licence)))
    return paragraphs


# ------------------------------------------------------------------------- one template
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def licence_for(entry: dict, sounds: PackageSounds, name: str, licences: dict) -> tuple[str, str]:
    dep5_licence, holders = sounds.dep5(name)
    licence = entry.get("licence", dep5_licence)
    if licence != dep5_licence and not entry.get("licence_evidence"):
        raise BuildError(
            f"{sounds.name}:{name}: curated licence {licence} differs from the copyright file's {dep5_licence}; "
            "add licence_evidence saying where the per-file licence is stated"
        )
    if licence not in licences:
        raise BuildError(f"{sounds.name}:{name}: licence {licence!r} is not in curation.yaml's licences")
    return licence, entry.get("author") or holders


def pieces_of(entry: dict, data: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """Apply the entry's edits; returns (id suffix, edit description, audio) per template."""
    rate = audio_io.SAMPLE_RATE
    edits = []
    suffix = ""
    if "segment" in entry:
        start, end = entry["segment"]
        data = data[int(start * rate) : int(end * rate)]
        edits.append(f"segment {start:g}–{end:g} s")
        suffix += f"-at{int(start * 1000)}"
    if "split" in entry:
        spec = entry["split"]
        events = audio_io.split_events(data, rate, spec["max_events"], spec["min_gap"], spec["max_length"], spec.get("rise_db", 10.0))
        pieces = [(f"{suffix}-e{k + 1}", edits + [f"event {k + 1} cut from a recording of several"], ev) for k, ev in enumerate(events)]
    else:
        pieces = [(suffix, edits, data)]
    out = []
    for piece_suffix, piece_edits, piece in pieces:
        if "repeat" in entry:
            count, interval = entry["repeat"]["count"], entry["repeat"]["interval"]
            piece = audio_io.repeat(audio_io.trim(piece), count, interval)
            piece_edits = piece_edits + [f"one hit sequenced {count}× every {interval:g} s"]
        if "loop" in entry:
            length, fade = entry["loop"]["length"], entry["loop"]["crossfade"]
            piece = audio_io.make_loop(piece, length, fade)
            piece_edits = piece_edits + [f"loop of {len(piece) / rate:.1f} s with a {fade:g} s crossfade"]
        else:
            piece = audio_io.trim(piece)
        out.append((piece_suffix, "; ".join(piece_edits), piece))
    return out


def reusable(old: dict | None, source_sha: str, edits: str, measured: audio_io.Measurements, path: Path) -> bool:
    """Keep the existing encoded file when the same original went through the same edits and
    measures the same: Ogg files carry a random stream serial, so re-encoding unchanged audio
    would change every file's bytes (and the library version) on each rebuild."""
    return (
        old is not None
        and old["source_sha256"] == source_sha
        and old["source"].get("edits") == edits
        and all(old.get(k) == v for k, v in measured.as_dict().items())
        and path.exists()
        and hashlib.sha256(path.read_bytes()).hexdigest() == old["sha256"]
    )


def build_entry(entry: dict, sounds: PackageSounds, curation: dict, out: Path, seen: dict, previous: dict) -> list[dict]:
    category = entry["category"]
    if category not in curation["categories"]:
        raise BuildError(f"unknown category {category!r} in a {sounds.name} entry")
    records = []
    for name in sounds.select(entry["files"]):
        raw = sounds.read(name)
        licence, author = licence_for(entry, sounds, name, curation["licences"])
        data, rate = audio_io.decode(raw, name=f"{sounds.name}:{name}")
        data = audio_io.to_template_format(data, rate, mono=not entry.get("stereo", False))
        stem = slug(Path(name).stem)
        for suffix, edits, piece in pieces_of(entry, data):
            template_id = f"{category}-{sounds.name.split('-')[0]}-{stem}{suffix}"
            if template_id in seen:
                continue  # an extended selection overlapping the starter one
            try:
                audio_io.check_usable(piece, audio_io.SAMPLE_RATE, template_id)
            except UsageError as exc:
                raise BuildError(str(exc)) from None
            piece = audio_io.with_headroom(piece)
            measured = audio_io.measure(piece)
            path = out / "sounds" / f"{template_id}.ogg"
            source_sha = hashlib.sha256(raw).hexdigest()
            if not reusable(previous.get(template_id), source_sha, edits, measured, path):
                audio_io.encode_ogg(piece, path, BED_QUALITY if "loop" in entry else ONE_SHOT_QUALITY)
            record = {
                "id": template_id,
                "category": category,
                "tags": list(entry["tags"]),
                "description": entry["description"],
                "file": f"sounds/{path.name}",
                "sample_rate": audio_io.SAMPLE_RATE,
                **measured.as_dict(),
                "loop": "loop" in entry,
                "source": {"package": sounds.name, "version": sounds.version, "path": sounds.original_path(name), "edits": edits},
                "licence": licence,
                "author": author,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "source_sha256": source_sha,
            }
            seen[template_id] = record
            records.append(record)
    return records


# ------------------------------------------------------------------------- whole library
def check_curation(curation: dict) -> None:
    for name, spec in curation["categories"].items():
        if spec["kind"] not in KINDS:
            raise BuildError(f"category {name}: kind {spec['kind']!r} is not one of {KINDS}")
        if not spec.get("phrases"):
            raise BuildError(f"category {name}: give a few phrases people would use for it")


def build(out: Path, cache: Path, extended: bool, embed: bool, reencode: bool = False) -> dict:
    started = time.monotonic()
    curation = yaml.safe_load(CURATION.read_text(encoding="utf-8"))
    check_curation(curation)
    cache.mkdir(parents=True, exist_ok=True)
    (out / "sounds").mkdir(parents=True, exist_ok=True)
    entries = [e for e in curation["templates"] if extended or not e.get("extended")]
    packages = {name: PackageSounds(name, curation["packages"][name], cache) for name in dict.fromkeys(e["package"] for e in entries)}
    seen: dict[str, dict] = {}
    previous = {} if reencode or not (out / INDEX_NAME).exists() else {
        r["id"]: r for r in json.loads((out / INDEX_NAME).read_text(encoding="utf-8"))["templates"]
    }
    for entry in entries:
        build_entry(entry, packages[entry["package"]], curation, out, seen, previous)
    records = list(seen.values())
    for category in curation["categories"]:
        if not any(r["category"] == category for r in records):
            raise BuildError(f"category {category} has no template")
    keep = {Path(r["file"]).name for r in records}
    for stale in (out / "sounds").glob("*.ogg"):
        if stale.name not in keep:
            stale.unlink()
    index = {
        "format": INDEX_FORMAT,
        "version": index_version(records),
        "built_from": {name: p.version for name, p in packages.items()},
        "extended": extended,
        "categories": curation["categories"],
        "licences": curation["licences"],
        "templates": records,
    }
    if embed:
        from appliance.library.search import write_bundled_embeddings

        index["embeddings"] = write_bundled_embeddings(index, out)
    write_json_atomic(out / INDEX_NAME, index)
    (out / "ATTRIBUTION.md").write_text(attribution.render(index), encoding="utf-8")
    report(index, out, time.monotonic() - started)
    return index


def report(index: dict, out: Path, seconds: float) -> None:
    counts: dict[str, int] = {}
    for record in index["templates"]:
        counts[record["category"]] = counts.get(record["category"], 0) + 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(json.dumps({"templates": len(index["templates"]), "bytes": size, "seconds": round(seconds, 1), "per_category": counts}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "models" / "library", help="library folder to (re)write")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "foley-build", help="where .deb files are downloaded and unpacked")
    parser.add_argument("--extended", action="store_true", help="also build the larger selection (entries marked extended)")
    parser.add_argument("--no-embed", dest="embed", action="store_false", help="skip the search embeddings (no text model yet)")
    parser.add_argument("--reencode", action="store_true", help="re-encode every file even when an identical one exists")
    args = parser.parse_args()
    try:
        build(args.out, args.cache, args.extended, args.embed, args.reencode)
    except BuildError as exc:
        print(f"build_library: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
