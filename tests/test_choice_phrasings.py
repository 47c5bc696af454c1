"""Description → category with everyday objects no category phrase names (issue 11, item 3).

An action phrasing is judged by the top category over all the library's action categories
(impact, periodic and sustained alike: stricter than the engine, which only ranks the categories
of the detected event's kind; a bed is never a candidate for an action); an ambience phrasing by
the bed its scene would get (engine/scene.py bed_kind: whether a bed is laid at all is the event
model's call). Strict: only the category meant counts, no family.
"""
from __future__ import annotations

import pytest

from appliance.engine.scene import bed_kind
from appliance.inference import embed_text
from appliance.library.catalog import Catalog
from appliance.library.description import DescriptionReader, action_of, split_description
from appliance.library.materials import material_in, singulars
from appliance.library.search import Searcher
from tests.choice_phrasings import BLIND, FIRST, GRAMMAR, LATER, PHRASINGS


@pytest.fixture(scope="module")
def reader() -> DescriptionReader:
    return DescriptionReader(Searcher(Catalog.load()), embed_text)


def chosen(reader: DescriptionReader, phrase: str, wanted: str) -> str:
    scores = reader.scores(phrase)
    if wanted.startswith("ambience_"):
        return bed_kind(reader.searcher.catalog, scores, scores.setting)
    actions = [n for n, c in reader.searcher.catalog.categories.items() if c.kind != "ambience"]
    return max(actions, key=scores.get)


def share(reader, phrasings) -> float:
    misses = [(p, w, chosen(reader, p, w)) for p, w in phrasings]
    misses = [m for m in misses if m[1] != m[2]]
    for phrase, wanted, got in misses:
        print(f"miss: {phrase!r} → {got} (meant {wanted})")
    return 1 - len(misses) / len(phrasings)


GOAL = 0.9
"""Issue 11's bar for top-1 on PHRASINGS."""
MEASURED = 0.95
"""What the reader reaches on PHRASINGS (0.966: FIRST 0.958, LATER 0.973; 0.747 before the
object → material table, the verb kinds and the nearest-things fallback; 0.959 before the
grammar of GRAMMAR), a ratchet so that a change that loses ground fails. BLIND, written before that change: 0.683 before, 0.950 after
(docs/library.md)."""
BLIND_FLOOR = 0.8
"""BLIND is reported, and held above a floor well under its measured figure: it is the honest
estimate for objects nobody tuned for, not a target."""


def test_everyday_objects_find_their_category(reader):
    """≥ 60 phrasings; the half written after the method was frozen is reported apart."""
    assert len(PHRASINGS) >= 60 and len(LATER) * 2 >= len(PHRASINGS)
    overall, later = share(reader, PHRASINGS), share(reader, LATER)
    print(f"top-1 {overall:.3f} overall, {share(reader, FIRST):.3f} on FIRST, {later:.3f} on LATER")
    assert overall >= MEASURED


def test_everyday_objects_reach_the_goal(reader):
    assert share(reader, PHRASINGS) >= GOAL


def test_blind_phrasings(reader):
    """New objects and phrasings written before the method changed (tests/choice_phrasings.py BLIND)."""
    assert len(BLIND) >= 40 and not {p for p, _ in BLIND} & {p for p, _ in PHRASINGS}
    blind = share(reader, BLIND)
    print(f"top-1 {blind:.3f} on BLIND")
    assert blind >= BLIND_FLOOR


def test_grammar_phrasings(reader):
    """Bare objects, relative clauses, asides, playing percussion, balls played on a court
    (tests/choice_phrasings.py GRAMMAR): 0.718 before the reader learnt them, 0.974 after."""
    assert len(GRAMMAR) >= 30 and not {p for p, _ in GRAMMAR} & {p for p, _ in PHRASINGS + BLIND}
    grammar = share(reader, GRAMMAR)
    print(f"top-1 {grammar:.3f} on GRAMMAR")
    assert grammar >= 0.9


def test_scene_words_do_not_outvote_the_struck_material(reader):
    scores = reader.scores("tapping a metal faucet over a sink")
    assert max(scores, key=scores.get) == "impact_metal"
    assert scores.reading.scene == "over a sink" and scores.reading.material == "metal"


@pytest.mark.parametrize("phrase, bed", [
    ("driving on a highway in heavy rain", "ambience_rain"),
    ("a dog running along a suburban sidewalk", "ambience_nature"),
    ("a bull in a meadow", "ambience_nature"),
])
def test_bed_kind_from_the_scene(reader, phrase, bed):
    scores = reader.scores(phrase)
    assert bed_kind(reader.searcher.catalog, scores, scores.setting) == bed


def test_split_keeps_the_struck_thing_and_drops_instruments():
    sounding, scene, (core, struck) = split_description("a drumstick hitting a leather armchair with force, indoors")
    assert (sounding, core, struck) == ("a drumstick hitting a leather armchair with force", "hitting leather armchair",
                                        "leather armchair")
    assert scene == "indoors"
    _, scene, (core, struck) = split_description("kicking a football against a garage door in the rain")
    assert (core, struck, scene) == ("kicking against garage door", "garage door", "in the rain")


@pytest.mark.parametrize("phrase, core, struck", [
    ("a man hitting tennis balls on an outdoor hard court", "hitting tennis balls", "tennis balls"),  # bare object; a place
    ("a chisel hitting a concrete pillar on a building site", "hitting concrete pillar", "concrete pillar"),
    ("a basketball bouncing on the tarmac of a schoolyard", "bouncing on tarmac of a schoolyard",
     "tarmac of a schoolyard"),  # moved into contact: the ground is struck
    ("tapping a spoon on a jam jar", "tapping on jam jar", "jam jar"),  # not a place: struck
    ("boots walking on thin ice that cracks under each step", "walking on thin ice", "thin ice"),  # relative clause
    ("two kids throwing pebbles at a garden shed", "throwing at garden shed", "garden shed"),  # a throw's target
    ("knocking on a wooden door (close-up, slow motion)", "knocking on wooden door", "wooden door"),
])
def test_the_grammar_finds_what_is_struck(phrase, core, struck):
    assert split_description(phrase)[2] == (core, struck)


def test_an_aside_is_scene():
    sounding, scene, _ = split_description("pouring water into a mug (top-down view)")
    assert sounding == "pouring water into a mug" and scene == "top-down view"


def test_the_table_reads_materials_named_or_known():
    assert material_in("steel garage door".split()) == ("metal", "word")  # a named material beats the door
    assert material_in("front door".split()) == ("door", "door")
    assert material_in("lamp post".split()) == ("metal", "thing")  # the compound, not "post" (wood)
    assert material_in("fence post".split()) == ("wood", "thing")
    assert material_in("handlebars of a scooter".split()) == ("metal", "thing")  # plural head before "of"
    assert material_in("side of a bookshelf".split()) == ("wood", "thing")  # "side" unknown: after "of"
    assert material_in("rack of ribs".split()) is None
    assert material_in("drum kit".split()) == ("", "mixed")  # several materials: none is guessed
    assert material_in("tabla drums".split()) == ("fabric", "other")  # … unless the kind of drum is known
    assert {"shelf", "shelves"} <= set(singulars("shelves")) and "bench" in singulars("benches")


@pytest.mark.parametrize("phrase, action", [
    ("a spanner clonking against a bicycle frame", "strike"),
    ("a walking cane tapping a granite step", "strike"),  # "a walking cane": a modifier, not the verb
    ("a dancer tapping across a wooden stage", "step"),  # across a surface: footsteps
    ("a rucksack dropped onto a muddy allotment", "strike"),
    ("someone slams the boot of a hatchback", "slam"),
    ("emptying a teapot into a sink", "pour"),
    ("a snow globe smashing on the patio", "break"),
    ("a chef dicing carrots", "cut"),
    ("cutting a dowel with a fretsaw", "saw"),  # the tool names the sound
    ("a bathroom mirror shattering", "break"),
    ("a man whistling", None),
    ("hands playing a rhythm on conga drums", "strike"),  # playing percussion is striking it
    ("a man playing tabla drums with his hands", "strike"),
    ("a boy playing the violin", None),
    ("kids playing football in the park", None),
])
def test_verb_kind(phrase, action):
    assert action_of(split_description(phrase)[0].split()) == action


def test_an_unknown_thing_takes_its_neighbours_material(reader):
    """Not in the table: the encoder's nearest known things decide (a harmonica sits by metal)."""
    assert material_in(["harmonica"]) is None
    material, clarity = reader.material_of("harmonica")
    assert material == "metal" and 0.5 <= clarity <= 1.0


def test_the_material_tables_matrix_ships_for_this_table_and_encoder():
    """Else every board and test would embed ~1,300 sentences at start (library/nearest_things.py)."""
    from appliance.library.nearest_things import matrix_name
    from appliance.paths import models_dir

    assert (models_dir() / matrix_name(embed_text)).is_file(), "rebuild it: scripts/build_nearest_things.py"

