"""Word similarity for matching recognised text: spelling (rapidfuzz) and sound.

Recognisers confuse words that sound alike ("lite"/"light", "for"/"4", "too"/"two"), so a
similarity is the better of the spelling ratio and a slightly discounted ratio of crude
phonetic keys. Matrices are computed with rapidfuzz.process.cdist, in C.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import List, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from voiced.grammar.numbers import parse_number, to_words

PHONETIC_WEIGHT = 0.92  # sounding alike is weaker evidence than being spelt alike
_HOMOPHONES = {"two": "to", "too": "to", "four": "for", "fore": "for", "won": "one", "eight": "ate",
               "right": "write", "by": "buy", "bye": "buy", "hour": "our", "hours": "ours", "knight": "night",
               "wait": "weight", "see": "sea", "ad": "add", "blue": "blew", "red": "read"}
_RULES = [(re.compile(p), r) for p, r in [
    (r"^kn", "n"), (r"^wr", "r"), (r"^wh", "w"), (r"ph", "f"), (r"gh", ""), (r"ck", "k"), (r"q", "k"),
    (r"x", "ks"), (r"t?ch", "x"), (r"sh", "x"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"z", "s"), (r"dg", "j"),
    (r"mb$", "m"),
    (r"(?<=[a-z]{3})e$", ""), (r"(?<=[a-z]{2})es$", "s"), (r"y$", "i"), (r"([aeiou])[aeiouy]+", r"\1"),
    (r"(.)\1+", r"\1"),
]]


@lru_cache(maxsize=8192)
def phonetic(word: str) -> str:
    """A crude English sound key: 'light' and 'lite' -> 'lit', '4' and 'for' -> 'for'."""
    parts = []
    for w in word.split():
        number = parse_number(w)
        if number is not None:
            w = to_words(number)
        for piece in w.split():
            piece = _HOMOPHONES.get(piece, piece)
            for pattern, repl in _RULES:
                piece = pattern.sub(repl, piece)
            parts.append(piece)
    return "".join(parts)


def similarity(a: str, b: str) -> float:
    """Similarity of two (space-free or spaced) strings in 0..1."""
    raw = fuzz.ratio(a, b) / 100.0
    return max(raw, PHONETIC_WEIGHT * fuzz.ratio(phonetic(a), phonetic(b)) / 100.0)


def similarity_matrix(queries: Sequence[str], choices: Sequence[str],
                      choice_keys: Sequence[str] = ()) -> np.ndarray:
    """queries x choices similarity in 0..1; `choice_keys` are the choices' precomputed phonetic keys."""
    if not queries or not choices:
        return np.zeros((len(queries), len(choices)), dtype=np.float32)
    raw = process.cdist(queries, choices, scorer=fuzz.ratio, dtype=np.float32)
    keys = list(choice_keys) if choice_keys else [phonetic(c) for c in choices]
    sound = process.cdist([phonetic(q) for q in queries], keys, scorer=fuzz.ratio, dtype=np.float32)
    return np.maximum(raw, PHONETIC_WEIGHT * sound) / 100.0


def phonetic_keys(words: Sequence[str]) -> List[str]:
    return [phonetic(w) for w in words]
