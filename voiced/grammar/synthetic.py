"""A synthetic slot-heavy grammar for benchmarks and tests.

A few templates, each with 5-7 slots that may be said in any order, 10-40 values per slot:
far more sentences than could ever be listed, which is what the matcher must cope with.
Each list draws on its own vocabulary, as real slot lists (rooms, colours, cities) do.
"""
from __future__ import annotations

import random
from typing import List, Tuple

FRUITS = ("apple apricot banana blackberry blueberry cherry coconut cranberry currant date durian fig gooseberry "
          "grape grapefruit guava kiwi kumquat lemon lime lychee mango melon mulberry nectarine olive orange "
          "papaya peach pear persimmon pineapple plum pomegranate quince raspberry rhubarb strawberry tangerine "
          "watermelon").split()
CITIES = ("amsterdam berlin cairo dublin helsinki istanbul jakarta kyoto lisbon madrid nairobi oslo prague quebec "
          "reykjavik santiago toronto vienna warsaw zurich").split()
TOOLS = ("anvil axe bellows brush caliper chisel clamp compass crowbar drill file funnel gauge grinder hacksaw "
         "hammer hatchet jigsaw ladder level mallet pliers plunger pulley rake ruler sander saw scraper shovel "
         "sickle spanner spatula stapler tongs trowel vise wedge whisk wrench").split()
PAIRS: List[Tuple[List[str], List[str]]] = [
    ("crimson violet scarlet indigo ochre".split(), "otter badger heron lynx bison raven".split()),
    ("marble velvet copper cedar walnut bamboo granite".split(),
     "table bench shelf cabinet stool desk dresser".split()),
    ("stormy misty sunny frosty breezy cloudy rainy".split(), "tram ferry glider scooter rickshaw wagon yacht".split()),
    ("cheerful gloomy sleepy grumpy jolly".split(), "puffin pelican kestrel sparrow toucan".split()),
]
CARRIERS = ["with", "and", "using", "plus", "also"]


def _values(k: int, count: int, rng: random.Random) -> List[str]:
    single = {0: FRUITS, 3: CITIES, 6: TOOLS}
    if k in single:
        pool = single[k]
    else:
        adjectives, nouns = PAIRS[[1, 2, 4, 5].index(k)]
        pool = [f"{a} {b}" for a in adjectives for b in nouns]
    return sorted(rng.sample(pool, min(count, len(pool))))


def slot_heavy_yaml(slots: int = 7, values: int = 40, templates: int = 4, seed: int = 0) -> str:
    """YAML text of a grammar with `templates` templates over `slots` (at most 7) lists of 10-`values` values."""
    rng = random.Random(seed)
    names = [f"s{k}" for k in range(min(slots, 7))]
    lines: List[str] = ["language: en", "lists:"]
    for k, name in enumerate(names):
        count = values if k % 2 == 0 else max(10, values // 2)
        lines += [f"  {name}:", "    values:"]
        for text in _values(k, count, rng):
            lines += [f"      - in: \"{text}\"", f"        out: {name}_{text.replace(' ', '_')}"]
    lines.append("intents:")
    verbs = ["configure", "deploy", "schedule", "prepare", "register", "inspect"]
    # Any order without permutations: each position may hold any slot.
    any_slot = "(" + " | ".join(f"{{{n}}}" for n in names) + ")"
    for t in range(templates):
        verb = verbs[t % len(verbs)]
        width = min(len(names), 5 + t % 3)
        fixed = " ".join(f"{{{n}}}" for n in names[:width])
        pieces = " ".join(f"[{rng.choice(CARRIERS)}] {any_slot}" for _ in range(width))
        lines += [f"  {verb.capitalize()}Job:", "    data:", "      - sentences:",
                  f"          - \"{verb} [the] job {fixed}\"",
                  f"          - \"{verb} [a] [new] (task | job) {pieces}\""]
    return "\n".join(lines) + "\n"
