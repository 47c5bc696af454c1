"""A user's description → per-category scores, where what sounds outweighs where it happens.

One embedding of the whole sentence lets scene words win: "tapping a metal faucet over a sink"
lands on water because "sink" is the most water-like word in it, and the faucet's clang is lost.
So the sentence is read in parts, each embedded on its own (the text encoder takes one sentence
per run) and scored against the category phrases as the search does:

  * core: the verb of contact, its first contact preposition and the struck thing ("a drumstick
    hitting a leather armchair" → "hitting leather armchair"; "tapping a spoon on a jam jar" →
    "tapping on a jam jar"): strikers, subjects and instruments ("with a stick") left out;
  * sounding part: the sentence without its scene phrases ("tapping a metal faucet");
  * material reading: what the struck thing is made of, then one sentence that stands for the
    action on that material. The material comes first from a table of everyday things
    (library/materials.py: a material the user names, "a steel garage door", beats the thing's
    usual one), else from the three known things nearest to it in the encoder's space
    (library/nearest_things.py): the encoder alone places many objects wrongly (a lamp post
    nearer wood than metal, a fish tank nearer water). The sentence depends on the kind of verb
    (TEMPLATES): a strike on metal reads "hitting metal", steps on a concrete car park "footsteps
    on concrete", a slam or an opening is a door's, a liquid verb pours or drips, a breaking thing
    breaks ("a snow globe smashing on the patio": glass breaking); other verbs keep the core with
    the thing replaced by its material ("slicing through wood");
  * scene part: phrases after a place, time or direction preposition ("over a sink", "in a
    kitchen", "at night", "towards a person"), scene adverbs ("outdoors"), later clauses;
  * the whole sentence, so that nothing the user wrote is ignored (a flat core such as "walking"
    leaves the choice among footsteps to "in a park").

Action categories (impact, periodic, sustained) are scored mostly from the core and its material
reading; ambience beds mostly from the scene part, so "driving on a highway in heavy rain" asks
for rain as its bed while its actions stay actions. The setting (the whole sentence nearer
"indoors" or "outdoors") goes with the scores for the bed choice (engine/scene.py bed_kind). The
grammar is deliberately small (prepositions, determiners, gerunds and commas; no parser): a
phrase it misreads still reaches the whole-sentence term.

Encoder runs per new description: the whole sentence, the sounding part, the core, the scene
part when there is one, the struck thing only when the table does not know it, and the material
sentence only the first time it occurs (templates recur): 3-5, fewer than the 6 of the reading
it replaced; the reader keeps the last EMBED_CACHE sentences, and the engine's whole-sentence
search reuses the reader's run. Measured (tests/test_choice_phrasings.py, docs/library.md):
top-1 0.966 on the 146 seen phrasings (0.747 before), 0.950 on 60 BLIND phrasings written before
this method (0.683 before), 0.85 on BLIND with every object it names hidden from the table; 0.974
on the 39 GRAMMAR phrasings (bare objects, places, relative clauses, asides, playing percussion:
0.718 before the grammar's second pass).
"""
from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from appliance.library.materials import is_place, material_in, names_percussion
from appliance.library.nearest_things import NearestThings

SCENE_PREPOSITIONS = ("in front of", "next to", "close to", "in", "inside", "at", "near", "by", "beside",
                      "over", "under", "underneath", "behind", "outside", "during", "above", "below",
                      "among", "within", "beneath", "towards", "toward", "past", "to", "from")
"""Words that put what follows in the scene: the place, the weather, the time, the direction.
Contact prepositions (CONTACT_PREPOSITIONS) keep their noun with the sounding part."""
SCENE_WORDS = ("outdoors", "indoors", "outside", "inside")
"""Adverbs that are scene on their own."""
INSTRUMENT_PREPOSITIONS = ("with", "using")
"""What follows is the tool, not the thing that sounds: it stays in the sounding part but is not
the struck thing whose material is read."""
BOUNDARY = r"(?:,|;|\(|\)|\[|\]|\bwhile\b|\bwhilst\b|\bas\b|\bthen\b|\band then\b)"
"""Where a clause ends: what follows is scene (a parenthesis is an aside: "(close-up, slow motion)")."""
RELATIVES = ("that", "which", "who", "whose")
"""Words that open a relative clause: they end the noun phrase before them ("thin ice that cracks")."""
CONTACT_PREPOSITIONS = ("on", "onto", "against", "into", "across", "along", "through", "off", "upon", "around")
PHRASE_END = (*CONTACT_PREPOSITIONS, *INSTRUMENT_PREPOSITIONS, "and", "or", *SCENE_PREPOSITIONS, *SCENE_WORDS)
PARTICLES = ("out", "up", "down", "away", "back", "over", "open", "shut")
"""Words that follow a verb ("shaking out a towel", "swinging open")."""
DETERMINERS = ("a", "an", "the", "some", "his", "her", "their", "my", "your", "our", "its", "this", "that")

STEP_VERBS = frozenset(
    "walk run jog step stomp stamp march tread trudge tramp tiptoe plod pace stroll stride hike climb "
    "wade shuffle trot clomp clump crunch pad cross sneak creep limp sprint amble wander patrol "
    "traipse waddle dance saunter stagger totter scurry scamper skip hop prowl".split())
"""Verbs of going on foot: the struck thing is a surface walked on, the sound its footsteps."""
STRIKE_VERBS = frozenset(
    "hit strike tap knock bang thump thud slap smack whack punch kick pound beat rap drum jab flick "
    "bounce land drop fall tumble clang clonk clunk ping chip batter hammer bash bump poke prod pat "
    "ding swat paw crack collide thwack wallop clout thunk ram butt headbutt throw toss hurl fling "
    "dump plonk click clack tick tock rattle bat whip lash thrash".split())
"""Verbs of one thing striking another: the struck thing's material is the sound."""
DOOR_VERBS = {"open": frozenset("open unlatch unlock unbolt".split()),
              "close": frozenset("close shut latch".split()),
              "slam": frozenset("slam".split())}
"""Verbs whose sound is a door's, whatever is opened or shut."""
LIQUID_VERBS = {"pour": frozenset("pour fill empty spill trickle gush top water".split()),
                "drip": frozenset("drip leak dribble plop".split())}
"""Verbs whose sound is the liquid's: the vessel's material says nothing ("emptying a teapot")."""
BREAK_VERBS = frozenset("break shatter smash burst splinter".split())
"""Verbs of breaking: what sounds is the thing that breaks (the subject, "a lightbulb bursting
on a floor", or the object, "smashing a vase on the floor"), not the floor it lands on."""
CUT_VERBS = {"saw": frozenset("saw".split()),
             "cut": frozenset("chop dice slice mince hack cleave carve cut split whittle".split())}
"""Verbs of cutting: the sound is the blade's (a chop, or a saw when the verb or the tool is one
"cutting a dowel with a fretsaw"), whatever is cut: meat, onions or logs."""
RUSTLE_VERBS = frozenset("rustle crumple crinkle scrunch shake fold unfold flap ruffle brush leaf rummage "
                         "wrap unwrap crease".split())
"""Verbs of handling something flexible: the sound is its material rustling (cloth, paper, leaves)."""
THROW_VERBS = frozenset("throw toss hurl fling lob chuck".split())
"""Verbs that send a thing at a target: "at" after their object leads to the struck thing
("throwing pebbles at a garden shed"), where after other verbs it is a place ("at the park")."""
PLACED_VERBS = frozenset("drop fall bounce land tumble plonk dump".split()) | THROW_VERBS
"""Strike verbs that move a thing into contact: a ground after them is what is struck ("a
watermelon dropped onto the dirt"), where after a verb acting on a thing it is where ("hitting a
volleyball on the beach")."""
PLAY_VERBS = frozenset("play".split())
"""Playing is striking when what is played is percussion (materials.PERCUSSION)."""
KNOWN_VERBS = (STEP_VERBS | STRIKE_VERBS | frozenset().union(*DOOR_VERBS.values(), *LIQUID_VERBS.values(),
               *CUT_VERBS.values()) | BREAK_VERBS | RUSTLE_VERBS | PLAY_VERBS)
"""Every verb a kind is known for: such a gerund is the verb even with a bare noun after it ("a
man hitting tennis balls"), unless another verb came first in the clause."""
MOTION_PREPOSITIONS = ("across", "along")
"""Going over a surface ("a dancer tapping across a stage"): footsteps whatever the verb."""
VERB_PREPOSITIONS = ("at", "past")
"""Scene prepositions that, straight after the verb, lead to what it acts on ("chipping at a
statue", "brushing past a fern") rather than to a place."""
TEMPLATES = {
    "strike": {"wood": "hitting wood", "metal": "hitting metal", "glass": "tapping on glass",
               "stone": "hitting stone", "fabric": "hitting something soft", "plastic": "hitting plastic",
               "paper": "hitting cardboard", "water": "something falling into water",
               "earth": "hitting the ground", "pavement": "hitting the ground", "snow": "hitting the ground",
               "sand": "hitting the ground", "gravel": "hitting the ground", "grass": "hitting the ground",
               "foliage": "shaking a branch", "door": "knocking on a door"},
    "step": {"wood": "footsteps on wood", "metal": "footsteps on metal", "glass": "footsteps on glass",
             "stone": "footsteps on concrete", "fabric": "footsteps on carpet", "plastic": "footsteps on plastic",
             "paper": "footsteps on paper", "water": "footsteps in water", "earth": "footsteps on dirt",
             "pavement": "footsteps on concrete", "snow": "footsteps in snow", "sand": "footsteps in sand",
             "gravel": "footsteps on gravel", "grass": "footsteps on grass",
             "foliage": "walking through leaves", "door": "footsteps on wood"},
    "break": {m: f"{m} breaking" for m in ("wood", "metal", "glass", "stone", "plastic")},
    "rustle": {"fabric": "cloth rustling", "paper": "paper rustling", "foliage": "leaves rustling",
               "plastic": "plastic rustling"},
    "cut": "chopping with a knife or an axe",
    "saw": "sawing wood",
    "pour": "pouring water",
    "drip": "water dripping",
    "open": "opening a door",
    "close": "closing a door",
    "slam": "slamming a door",
}
"""For each kind of verb, the sentence that stands for the action on the material ("a spanner
clonking against a bicycle frame" → "hitting metal"), scored like any other part against the
library's phrases: the user's own verb ("clonking", "thudding") then cannot pull the material's
sound towards another category. A strike on any ground is the ground; a door verb (open, close,
slam) is a door's sound whatever is opened (an oven, a car boot), a liquid verb the liquid's
(a single sentence: no material is looked up). Other verbs (chop, saw, clatter …) name their own
sound: their material part is the core with the thing replaced by its material word. The
templates are fixed sentences, so each is embedded once per reader."""

WEIGHTS = {
    "action": {"core": 1.0, "sounding": 0.5, "material": 1.2, "scene": 0.1, "whole": 0.5},
    "ambience": {"core": 0.0, "sounding": 0.5, "material": 0.0, "scene": 1.0, "whole": 0.5},
}
"""Per kind of category, the weight of each part's cosine (a missing part drops out and the rest
are renormalised): actions listen to the core and the material sentence, beds to the scene.
Set by hand on the first phrasings; the material weight went from 0.8 to 1.2 when the table
and templates came in (a coarse grid on FIRST and LATER, midway through). With the final method
a grid over core 0.5-1, sounding 0.25-1, material 0.8-2.4 and whole 0.25-1 gave 137-139 of
146 everywhere (before the cutting verbs): nothing here is finely tuned."""


EMBED_CACHE = 512
"""Sentences whose embedding a reader keeps: the templates, material words and a description's
parts recur (the same description scored again, "sounding" equal to "whole"), and each encoder
run is costly on a Pi."""

SETTINGS = {"indoors": "indoors, inside a room", "outdoors": "outdoors, outside in the open air"}
"""Anchor sentences for where the scene is: a bed with nothing specific to go on follows it."""


class DescriptionScores(dict):
    """Category → score, plus what the reading found (a dict wherever scores are expected)."""

    def __init__(self, scores: dict[str, float], reading: "Reading", setting: str,
                 scene: dict[str, float] | None = None):
        super().__init__(scores)
        self.reading = reading
        self.setting = setting
        self.scene = scene
        """The scene part's own scores ("in heavy rain"), or None without one: whether the words
        name a bed (engine/scene.py named_bed)."""


@dataclass(frozen=True)
class Reading:
    """The parts a description was read into (for tests and for looking into a choice)."""

    sounding: str
    scene: str
    core: str
    struck: str
    material: str | None
    material_confidence: float
    action: str | None = None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9'-]+", text.lower())


def split_description(text: str) -> tuple[str, str, tuple[str, str]]:
    """(sounding part, scene part, (core, struck thing)) of a description; any may be empty."""
    clauses = [c.strip() for c in re.split(BOUNDARY, text.lower()) if c and c.strip()]
    first, later = (clauses[0] if clauses else ""), clauses[1:]
    words = _words(first)
    sounding, scene, i = [], list(later), 0
    while i < len(words):
        prep = next((p for p in SCENE_PREPOSITIONS if words[i:i + len(p.split())] == p.split()), None)
        if prep in VERB_PREPOSITIONS and (_after_verb(words, i) or _thrown_at(words, i)):
            prep = None
        if words[i] in SCENE_WORDS and (prep is None or i + 1 == len(words) or words[i + 1] in PHRASE_END):
            scene.append(words[i])
            i += 1
            continue
        if prep is None:
            sounding.append(words[i])
            i += 1
            continue
        j = i + len(prep.split())
        while j < len(words) and words[j] not in PHRASE_END and not is_verb(words, j):
            j += 1
        scene.append(" ".join(words[i:j]))
        i = j
    return " ".join(sounding), ", ".join(scene), _core(sounding)


def is_verb(words: list[str], k: int) -> bool:
    """Whether words[k] is a gerund acting as the verb ("hitting a", "walking on") rather than a
    modifier inside a noun phrase ("a rolling pin", "a steel shipping container"): it ends in -ing,
    follows no determiner, and opens the clause or is followed by what follows a verb — or it is
    the clause's first gerund of a known verb (KNOWN_VERBS), whatever follows ("a man hitting
    tennis balls")."""
    word, after = words[k], (words[k + 1] if k + 1 < len(words) else None)
    if not word.endswith("ing") or len(word) < 5 or (k and words[k - 1] in DETERMINERS):
        return False
    if k == 0 or after is None or after in DETERMINERS or after in PHRASE_END or after in PARTICLES:
        return True
    return bool(_stems(word) & KNOWN_VERBS) and not any(is_verb(words, j) for j in range(k))


def _thrown_at(words: list[str], k: int) -> bool:
    """Whether words[k] is an "at" leading to a throw's target (THROW_VERBS before it)."""
    return words[k] == "at" and any(_stems(w) & THROW_VERBS for w in words[:k])


def _after_verb(words: list[str], k: int) -> bool:
    """Whether words[k] directly follows the verb, or the verb and its particle."""
    return (k > 0 and is_verb(words, k - 1)) or (k > 1 and words[k - 1] in PARTICLES and is_verb(words, k - 2))


def _stems(word: str) -> set[str]:
    """Plausible bare forms of an inflected verb (tapping → tap, danced → dance, scurries →
    scurry); empty for a bare word, which may as well be a noun (a tap, a step, a drum)."""
    forms: set[str] = set()
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[:-len(suffix)]
            forms |= {base, base + "e"}
            if len(base) > 2 and base[-1] == base[-2]:
                forms.add(base[:-1])
            if suffix in ("ed", "es") and base.endswith("i"):
                forms.add(base[:-1] + "y")
    return forms


def action_of(words: list[str]) -> str | None:
    """A kind of TEMPLATES ("step", "strike", "break", "rustle", "cut", "saw", "pour", "drip",
    "open", "close", "slam") or None: the kind of the first gerund acting as a verb that has one, else of the first
    inflected word that has one ("dropped", "slams"). A step or strike verb going across or along
    a surface is a step ("tapping across a stage")."""
    gerunds = [w for k, w in enumerate(words) if is_verb(words, k)]
    for word in gerunds or words:
        stems = _stems(word)
        if stems & PLAY_VERBS:
            if names_percussion(words):
                return "strike"
            continue
        kind = "step" if stems & STEP_VERBS else "strike" if stems & STRIKE_VERBS else None
        if kind:
            return "step" if any(w in MOTION_PREPOSITIONS for w in words) else kind
        kind = next((k for k, verbs in {**DOOR_VERBS, **LIQUID_VERBS, **CUT_VERBS}.items() if stems & verbs), None)
        if kind == "cut" and any(w.endswith("saw") for w in words):
            kind = "saw"
        kind = kind or ("break" if stems & BREAK_VERBS else "rustle" if stems & RUSTLE_VERBS else None)
        if kind:
            return kind
    return None


def _phrase(words: list[str], start: int) -> list[str]:
    """Words from `start` up to the next preposition, conjunction or verb."""
    end = start
    while end < len(words) and words[end] not in PHRASE_END and not (
            end > start and (is_verb(words, end) or words[end] in RELATIVES)):
        end += 1
    return words[start:end]


def _core(words: list[str]) -> tuple[str, str]:
    """(core, struck) of the sounding words. The verb of contact is the first gerund; the struck
    thing is what its first contact preposition leads to ("kicking a football against a garage
    door"), else its direct object ("hitting a leather armchair"), never an instrument ("with a
    stick"); the core is the verb, that preposition and the struck thing, strikers and subjects
    left out ("tapping a spoon on a jam jar" → "tapping on a jam jar", "jam jar"). Without a
    gerund the verb is somewhere in the clause ("someone slams the dishwasher shut"): the core is
    the whole sounding part and the struck thing its last phrase."""
    verbs = [k for k in range(len(words)) if is_verb(words, k)]
    start = verbs[0] + 1 if verbs else 0
    contact = [k for k in range(start, len(words)) if words[k] in CONTACT_PREPOSITIONS
               or (words[k] in VERB_PREPOSITIONS and (_after_verb(words, k) or _thrown_at(words, k)))]
    objects = [_phrase(words, k + 1) for k in verbs]  # "scraping and knocking a pot": the pot
    if contact and _acted_on_in_place(words, verbs, contact[0], objects):
        lead, struck = [], objects[0]
    elif contact:
        lead, struck = [words[contact[0]]], _phrase(words, contact[0] + 1)
    elif verbs:
        lead, struck = [], next((o for o in objects if o), [])
    else:
        starts = [0] + [k + 1 for k, w in enumerate(words) if w in PHRASE_END and w not in INSTRUMENT_PREPOSITIONS]
        lead, struck = [], _phrase(words, starts[-1])
    struck = _without_determiner(struck)
    core = [words[verbs[0]], *lead, *struck] if verbs else words
    return " ".join(core), " ".join(struck)


def _without_determiner(phrase: list[str]) -> list[str]:
    """A noun phrase from its head's modifiers on ("a big steel drum" → "big steel drum"; "the
    steel ramp of a ferry" keeps "of a ferry", the ramp being its head)."""
    head = phrase.index("of") if "of" in phrase else len(phrase)
    cut = max([k + 1 for k, w in enumerate(phrase[:max(0, head - 1)]) if w in DETERMINERS], default=0)
    return phrase[cut:]


def _acted_on_in_place(words: list[str], verbs: list[int], contact: int, objects: list[list[str]]) -> bool:
    """Whether "on" a place or a ground only says where the verb's object was acted on ("hitting
    tennis balls on an indoor court", "a chisel hitting a concrete pillar on a building site"):
    the verb has an object before it, is not one that moves a thing into contact ("a ball
    dropped on the lawn": the lawn is struck, PLACED_VERBS), and what follows is a place."""
    if not verbs or not objects[0] or words[contact] not in ("on", "upon"):
        return False
    if _stems(words[verbs[0]]) & PLACED_VERBS:
        return False
    return is_place(_without_determiner(_phrase(words, contact + 1)))


class DescriptionReader:
    """Scores descriptions against one searcher's category phrases with one text encoder."""

    def __init__(self, searcher, embed: Callable[[str], np.ndarray], cache_dir: Path | None = None):
        self.searcher = searcher
        self.embed = lru_cache(maxsize=EMBED_CACHE)(embed)
        self.nearest = NearestThings(embed, cache_dir)
        self.setting_vectors = {name: embed(text) for name, text in SETTINGS.items()}
        kinds = {name: c.kind for name, c in searcher.catalog.categories.items()}
        self.kind_group = {name: "ambience" if kind == "ambience" else "action" for name, kind in kinds.items()}

    def material_of(self, thing: str) -> tuple[str, float]:
        """The material of a thing the table does not hold, by its nearest known things."""
        return self.nearest.material_of(self.embed(thing))

    def read(self, text: str) -> tuple[Reading, dict[str, np.ndarray]]:
        sounding, scene, (core, struck) = split_description(text)
        vectors = {"whole": self.embed(text)}
        for part, words in (("sounding", sounding), ("scene", scene), ("core", core)):
            if words:
                vectors[part] = self.embed(words)
        action = action_of(_words(sounding))
        template = TEMPLATES.get(action or "")
        if isinstance(template, str):  # the verb alone names the sound: no material to look up
            material, confidence, vectors["material"] = None, 1.0, self.embed(template)
        else:
            material, confidence = self.material_reading(action, sounding, core, struck)
            if material:
                vectors["material"] = self.embed(material_sentence(action, material, core, struck))
        return Reading(sounding, scene, core, struck, material, round(confidence, 3), action), vectors

    def material_reading(self, action: str | None, sounding: str, core: str, struck: str) -> tuple[str | None, float]:
        """The material of what sounds and how sure. Usually the struck thing: by the table (sure),
        else by its nearest known things (as sure as their vote). With no struck thing, the subject ("pots and
        pans clattering"); for a verb of breaking, the subject or the object before the struck
        thing ("a snow globe smashing on the patio"): those by the table only."""
        words = _words(sounding)
        verb = core.split()[0] if core and core != sounding else None
        k = words.index(verb) if verb in words else None
        subject = words[:k] if k else []
        candidates = [subject, _phrase(words, k + 1)] if action == "break" and k is not None else []
        candidates.append(_words(struck) if struck else subject)
        for thing in candidates:
            found = material_in(thing) if thing else None
            if found and (thing is not subject or found[0] != "door"):
                return found[0], 1.0
        return self.material_of(struck) if struck else (None, 0.0)

    def scores(self, text: str) -> DescriptionScores:
        """Per category, the weighted mean of each part's best cosine to its phrases; with the
        setting (indoors or outdoors) the whole sentence is closer to."""
        reading, vectors = self.read(text)
        setting = max(SETTINGS, key=lambda name: float(self.setting_vectors[name] @ vectors["whole"]))
        per_part = {part: self.searcher.category_scores(v) for part, v in vectors.items()}
        out = {}
        for name, group in self.kind_group.items():
            weights = dict(WEIGHTS[group])
            weights["material"] = weights.get("material", 0.0) * reading.material_confidence
            used = {p: w for p, w in weights.items() if p in per_part and w > 0}
            out[name] = sum(w * per_part[p][name] for p, w in used.items()) / sum(used.values())
        return DescriptionScores(out, reading, setting, per_part.get("scene"))


def material_sentence(action: str | None, material: str, core: str, struck: str) -> str:
    """The sentence that stands for the sound of the material: the verb kind's template for it
    (TEMPLATES), else the core with the struck thing replaced by its material word ("sawing
    through wood"), or the material before the verb when the subject sounds ("metal clattering")."""
    template = TEMPLATES.get(action or "", {})
    if material in template:
        return template[material]
    return _replace_last(core, struck, material) if struck else f"{material} {core}"


def _replace_last(sounding: str, struck: str, material: str) -> str:
    head, found, tail = sounding.rpartition(struck)
    return f"{head}{material}{tail}" if found else f"{sounding} {material}"


_readers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def reader_for(searcher, embed: Callable[[str], np.ndarray], cache_dir: Path | None = None) -> DescriptionReader:
    """The reader of a searcher and an encoder, built once (it embeds its setting words and,
    unless cached in `cache_dir`, the material table's things) and dropped with the searcher
    when the library changes."""
    with _readers_lock:
        per_encoder = _readers.setdefault(searcher, {})
        if embed not in per_encoder:
            per_encoder[embed] = DescriptionReader(searcher, embed, cache_dir)
        return per_encoder[embed]
