"""Commands sampled from the grammar, with their labels known by construction.

A random walk over a template's tree: one option of each alternative, each optional part
with probability one half, a random spoken form for each slot (numbers spelled out). The
label is the intent plus the canonical value behind each spoken form.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from voiced.grammar.numbers import to_words
from voiced.grammar.template import Alt, RuleRef, Seq, SlotRef, Words

# Spoken values for wildcard slots (e.g. shopping items): the canonical value is the words.
WILDCARD_WORDS = ("milk", "eggs", "bread", "apples", "coffee beans", "paper towels", "orange juice",
                  "bananas", "dish soap", "butter", "tomatoes", "rice", "olive oil", "cat food", "batteries",
                  "toothpaste", "peanut butter", "yogurt", "flour", "sugar")


class CommandSampler:
    """Draws (text, intent, slots) from a Grammar; every draw uses the given numpy Generator."""

    def __init__(self, grammar: Any):
        self.grammar = grammar
        self.intents = sorted(name for name, intent in grammar.intents.items() if intent.templates)

    def sample(self, rng: np.random.Generator, intent: Optional[str] = None) -> Tuple[str, str, Dict[str, Any]]:
        intent = intent or self.intents[int(rng.integers(len(self.intents)))]
        templates = self.grammar.intents[intent].templates
        template = templates[int(rng.integers(len(templates)))]
        slots: Dict[str, Any] = dict(template.fixed_slots)
        words: List[str] = []
        self._walk(template.tree, rng, words, slots)
        return " ".join(" ".join(words).split()), intent, slots

    def _walk(self, node: Any, rng: np.random.Generator, words: List[str], slots: Dict[str, Any]) -> None:
        if isinstance(node, Words):
            words.append(node.text)
        elif isinstance(node, Seq):
            for item in node.items:
                self._walk(item, rng, words, slots)
        elif isinstance(node, Alt):
            if node.optional and rng.random() < 0.5:
                return
            self._walk(node.options[int(rng.integers(len(node.options)))], rng, words, slots)
        elif isinstance(node, RuleRef):
            self._walk(self.grammar.rules[node.name], rng, words, slots)
        elif isinstance(node, SlotRef):
            spoken, value = self._slot_value(node.list_name, rng)
            words.append(spoken)
            slots[node.slot_name] = value

    def _slot_value(self, list_name: str, rng: np.random.Generator) -> Tuple[str, Any]:
        slot_list = self.grammar.lists[list_name]
        if slot_list.wildcard:
            item = WILDCARD_WORDS[int(rng.integers(len(WILDCARD_WORDS)))]
            return item, item
        if slot_list.range is not None:
            values = slot_list.range.values()
            # Half round numbers (what people mostly say), half anything in the range.
            round_ones = [v for v in values if float(v) % 5 == 0] or values
            pool = round_ones if rng.random() < 0.5 else values
            value = pool[int(rng.integers(len(pool)))]
            return to_words(value), value
        choice = slot_list.values[int(rng.integers(len(slot_list.values)))]
        return choice.spoken, choice.value
