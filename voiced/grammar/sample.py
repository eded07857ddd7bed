"""Sentences sampled from a grammar, with the intent and slot values they must match back to.

Used by the property tests and by `voiced bench match`. Sampling walks one random path through
a template (never enumerating them all) and speaks numbers as digits or words at random.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from voiced.grammar.model import Grammar, Value
from voiced.grammar.normalize import normalize
from voiced.grammar.numbers import to_words
from voiced.grammar.template import Alt, Node, RuleRef, Seq, SlotRef, Words, references

WILDCARD_WORDS = ["apples", "milk", "bread", "paper towels", "coffee beans", "oat milk", "dish soap", "eggs"]


@dataclass
class Sample:
    text: str
    intent: str
    slots: Dict[str, Value] = field(default_factory=dict)
    template: str = ""


def number_text(value: Any, rng: random.Random) -> str:
    """A number as a recogniser might write it: "21", "twenty one" or "twenty-one"."""
    style = rng.randrange(3)
    if style == 0:
        return str(value)
    words = to_words(value)
    if style == 2 and " " in words and "point" not in words and "hundred" not in words:
        words = words.replace(" ", "-", 1)
    return words


def sample(grammar: Grammar, rng: random.Random, intent: Optional[str] = None) -> Sample:
    """One random sentence of one random (or the given) intent."""
    name = intent or rng.choice(grammar.intent_names())
    chosen = grammar.intents[name]
    template = rng.choice(chosen.templates)
    slots: Dict[str, Value] = dict(template.fixed_slots)
    words: List[str] = []
    _walk(template.tree, grammar, rng, words, slots)
    return Sample(" ".join(" ".join(words).split()), name, slots, template.text)


def _walk(node: Node, grammar: Grammar, rng: random.Random, out: List[str], slots: Dict[str, Value]) -> None:
    if isinstance(node, Words):
        out.append(node.text)
    elif isinstance(node, Seq):
        for item in node.items:
            _walk(item, grammar, rng, out, slots)
    elif isinstance(node, Alt):
        if node.optional and rng.random() < 0.5:
            return
        # Saying the same slot twice is not a sentence anyone means: prefer options with new slots.
        fresh = [o for o in node.options if not any(r.slot_name in slots for r in references(o)[0])]
        _walk(rng.choice(fresh or list(node.options)), grammar, rng, out, slots)
    elif isinstance(node, RuleRef):
        _walk(grammar.rules[node.name], grammar, rng, out, slots)
    elif isinstance(node, SlotRef):
        lst = grammar.lists[node.list_name]
        if lst.wildcard:
            text = rng.choice(WILDCARD_WORDS)
            slots[node.slot_name] = normalize(text)
        elif lst.range is not None:
            value = rng.choice(lst.range.values())
            text = number_text(value, rng)
            slots[node.slot_name] = value
        else:
            choice = rng.choice(lst.values)
            text = choice.spoken
            slots[node.slot_name] = choice.value
        out.append(text)


# --- recognition-error simulation ---------------------------------------------------------

HOMOPHONES = {
    "light": "lite", "lights": "lites", "two": "to", "to": "two", "for": "four", "four": "for", "right": "write",
    "off": "of", "on": "one", "the": "a", "whats": "what's", "timer": "timber", "set": "sat", "lock": "look",
    "kitchen": "kitchin", "weather": "whether", "minutes": "minute", "seconds": "second", "hours": "ours",
    "blinds": "blind", "bedroom": "bad room", "door": "dour", "pause": "paws", "volume": "volumes",
}
PERTURBATIONS = ("substitute", "merge", "split", "drop", "homophone")


def perturb(text: str, kind: str, rng: random.Random) -> str:
    """`text` with one simulated recognition error of the given kind (see PERTURBATIONS)."""
    words = text.split()
    if not words:
        return text
    if kind == "homophone":
        spots = [k for k, w in enumerate(words) if w.lower() in HOMOPHONES]
        if spots:
            k = rng.choice(spots)
            words[k] = HOMOPHONES[words[k].lower()]
            return " ".join(words)
        kind = "substitute"
    if kind == "substitute":
        spots = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()] or list(range(len(words)))
        k = rng.choice(spots)
        words[k] = _misspell(words[k], rng)
    elif kind == "merge" and len(words) > 1:
        k = rng.randrange(len(words) - 1)
        words[k:k + 2] = [words[k] + words[k + 1]]
    elif kind == "split":
        spots = [k for k, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        if spots:
            k = rng.choice(spots)
            cut = rng.randrange(3, len(words[k]) - 2)
            words[k:k + 1] = [words[k][:cut], words[k][cut:]]
    elif kind == "drop" and len(words) > 1:
        del words[rng.randrange(len(words))]
    return " ".join(words)


def _misspell(word: str, rng: random.Random) -> str:
    """One character inserted, deleted or replaced, as a spelling-level recognition error."""
    k = rng.randrange(1, len(word))  # keep the first letter: recognisers rarely miss it
    op = rng.randrange(3)
    letter = rng.choice("aeioulnrst")
    if op == 0:
        return word[:k] + letter + word[k:]
    if op == 1 and len(word) > 3:
        return word[:k] + word[k + 1:]
    return word[:k] + letter + word[k + 1:]
