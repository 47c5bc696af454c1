"""The bundled starter library as shipped: coverage, sizes, formats, licences, integrity."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import soundfile as sf

from appliance.library.catalog import KINDS, Catalog, bundled_dir, index_version

REQUIRED = [
    "impact_wood", "impact_metal", "impact_stone", "impact_glass", "impact_soft", "impact_ground",
    "knock", "door_open", "door_close", "door_slam", "door_creak", "glass_clink", "glass_break",
    "metal_clank", "chop", "whoosh", "rustle_paper", "rustle_cloth", "water_splash", "water_pour",
    "water_drip", "ambience_water", "ambience_wind", "ambience_rain", "ambience_fire", "ambience_room",
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    """The bundled library alone. A module's fixture is made before each test's own state folder
    (conftest.isolated_state), so Catalog.load() here read the machine's real user library: a
    sound of the user's (licence `user`) failed the licence check."""
    return Catalog.load(user_folder=tmp_path_factory.mktemp("no-user-sounds"))


def test_size_count_and_coverage(catalog):
    folder = bundled_dir()
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 25 * 1024 * 1024
    bundled = [t for t in catalog.templates if t.origin == "bundled"]
    assert len(bundled) >= 200
    counts = {c: len(catalog.in_category(c)) for c in catalog.categories}
    surfaces = [c for c in counts if c.startswith("footsteps_") and counts[c] >= 3]
    assert len(surfaces) >= 6
    for category in REQUIRED:
        assert counts.get(category, 0) >= 2, f"{category} needs several variants"
    assert all(spec.kind in KINDS and spec.phrases for spec in catalog.categories.values())


def test_every_file_matches_its_metadata(catalog):
    for t in (t for t in catalog.templates if t.origin == "bundled"):
        blob = t.path.read_bytes()
        assert hashlib.sha256(blob).hexdigest() == t.sha256, t.id
        info = sf.info(str(t.path))
        assert info.samplerate == 48_000 == t.sample_rate and info.channels == t.channels, t.id
        assert abs(info.duration - t.duration) < 0.06, t.id
        assert 0 <= t.attack_time < t.duration and t.peak_dbfs <= 0.0 and t.loudness_lufs > -70, t.id
        assert t.loop == (catalog.categories[t.category].kind == "ambience"), t.id
        if not t.loop:  # leading silence trimmed: sound within the first 20 ms (the attack may come later)
            audio, _ = sf.read(str(t.path), dtype="float32", always_2d=True)  # as stored (the mix also
            # takes its rumble away, which in a few files is all there is of those 20 ms)
            assert np.abs(audio[: 960]).max() >= np.abs(audio).max() * 10 ** (-50 / 20), t.id
        assert set(t.source) >= {"package", "version", "path"}, t.id


def test_licences_are_known_and_credited(catalog):
    attribution = (bundled_dir() / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for t in (t for t in catalog.templates if t.origin == "bundled"):
        assert t.licence in catalog.licences and t.licence != "user", t.id
        assert t.author.strip(), t.id
        assert f"`sounds/{t.path.name}`" in attribution, t.id
    for licence in {t.licence for t in catalog.templates}:
        assert re.search(rf"^## {re.escape(licence)}: ", attribution, re.M)
    assert "ShareAlike" in attribution and "GNU General Public License" in attribution


def test_index_version_matches_its_content(catalog):
    assert catalog.bundled_index["version"] == index_version(catalog.bundled_index["templates"])


def test_ambience_beds_loop_without_a_click(catalog):
    for t in (t for t in catalog.templates if t.loop):
        audio = catalog.audio(t.id)
        seam = np.abs(audio[0] - audio[-1]).max()
        typical = np.abs(np.diff(audio, axis=0)).max()
        assert seam <= typical * 1.5 + 1e-3, t.id


def test_audio_is_cached_float32(catalog):
    template = catalog.in_category("knock")[0]
    first = catalog.audio(template.id)
    assert first.dtype == np.float32 and first.ndim == 2 and not first.flags.writeable
    assert catalog.audio(template.id) is first
