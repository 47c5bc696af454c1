"""Descriptions naming everyday objects that no category phrase names, with the category meant
(tests/test_choice_phrasings.py). The material of the thing that sounds decides, not the scene.

FIRST were written before the description reader (appliance/library/description.py) was tuned and
used while tuning it; LATER were written after its method and weights were frozen, and are the
honest figure of how it generalises. Neither list may be edited to suit the reader.
"""

FIRST = [
    ("tapping a metal faucet over a sink", "impact_metal"),
    ("a drumstick hitting a leather armchair", "impact_soft"),
    ("kicking a football against a steel garage door", "impact_metal"),
    ("hitting a frying pan with a wooden spoon", "impact_metal"),
    ("banging on a radiator with a screwdriver in the corridor", "impact_metal"),
    ("punching a beanbag in the living room", "impact_soft"),
    ("slapping a pair of jeans on the bed", "impact_soft"),
    ("a fist thumping a teddy bear", "impact_soft"),
    ("a hammer tapping the side of a bookshelf", "impact_wood"),
    ("hitting an oak wardrobe with a broom handle", "impact_wood"),
    ("a spoon hitting a wooden salad bowl in the kitchen", "impact_wood"),
    ("tapping a marble countertop with a knuckle", "impact_stone"),
    ("a golf club striking a granite boulder", "impact_stone"),
    ("flicking a fingernail against a bathroom mirror", "impact_glass"),
    ("tapping a spoon on a jam jar at breakfast", "impact_glass"),
    ("a basketball bouncing on the tarmac of a schoolyard", "impact_ground"),
    ("a man walking on a wooden jetty by the lake", "footsteps_wood"),
    ("boots climbing an iron fire escape at night", "footsteps_metal"),
    ("a woman walking down a marble staircase in a hotel", "footsteps_stone"),
    ("someone slams the dishwasher shut", "door_slam"),
    ("opening the oven to check the cake", "door_open"),
    ("a bathroom mirror shattering", "glass_break"),
    ("two beer tankards clinking in a pub", "glass_clink"),
    ("spanners rattling in a toolbox", "metal_clank"),
    ("a chef dicing carrots for a stew", "chop"),
    ("swinging a golf club on the driving range", "whoosh"),
    ("unfolding a road map in the car", "rustle_paper"),
    ("pulling on a woolly jumper", "rustle_cloth"),
    ("a frog jumping into a garden pond", "water_splash"),
    ("pouring lemonade into a jug", "water_pour"),
    ("a tent on a hilltop in a gale", "ambience_wind"),
    ("a wood stove burning in a mountain hut", "ambience_fire"),
]

LATER: list[tuple[str, str]] = []

PHRASINGS = FIRST + LATER
