"""Carrier-template alternatives: the same intent and slot values said with another template.

The matcher keeps one alignment per intent, so when the recogniser garbles the carrier words
("switch fade light up" for "switch bed light off") its sentence may use the wrong wording
("switch off bed light"). Here every other template of the intent that takes exactly the
reading's slots is rendered once: at each choice the option sharing most words (or sound
keys) with the transcript is taken, optional parts only when they share any. A template with
more slots than the reading counts too when the others are optional: "set a timer for 5
minutes" says {minutes} with the template that also takes "[and {seconds} seconds]".
"""
from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from voiced.grammar.model import Grammar, Template
from voiced.grammar.normalize import tokenize
from voiced.grammar.similarity import phonetic
from voiced.grammar.template import Alt, Seq, SlotRef, Words
from voiced.grammar.walk import Chooser, references, render

MAX_RULE_DEPTH = 8  # rules may reference rules; the loader rejects cycles, this is a backstop


class CarrierRenderer:
    """Renders templates of a grammar with given slot words, steered towards a transcript."""

    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        self._slots: Dict[Tuple[str, int], FrozenSet[str]] = {}

    def template_slots(self, intent: str, index: int, template: Template) -> FrozenSet[str]:
        key = (intent, index)
        if key not in self._slots:
            self._slots[key] = self.grammar.said_slots(template)
        return self._slots[key]

    def alternatives(self, intent: str, slot_words: Dict[str, str], fixed: Dict[str, object],
                     heard: List[str], limit: int) -> List[Tuple[str, str]]:
        """Up to `limit` (sentence, template text) for `intent` saying `slot_words` ({slot: words}),
        most words in common with `heard` first; templates whose fixed slots disagree are skipped."""
        chosen = self.grammar.intents.get(intent)
        if chosen is None:
            return []
        keys = _keys(heard)
        out: List[Tuple[int, str, str]] = []
        for k, template in enumerate(chosen.templates):
            if not frozenset(slot_words) <= self.template_slots(intent, k, template):
                continue
            if any(fixed.get(name) != value for name, value in template.fixed_slots.items()):
                continue
            steered = _Steered(self.grammar, slot_words, keys)
            words = render(template.tree, steered, rules=self.grammar.rules, max_depth=MAX_RULE_DEPTH)
            if steered.missing or steered.used != set(slot_words):  # a slot it must say is not the reading's
                continue
            sentence = " ".join(" ".join(words).split())
            out.append((len(_keys(sentence.split()) & keys), sentence, template.text))
        out.sort(key=lambda t: -t[0])
        return [(s, t) for _, s, t in out[:limit]]


class _Steered(Chooser):
    """Takes at each choice the option sharing most words with the transcript (`keys`), and
    says `slots` ({slot: words})."""

    def __init__(self, grammar: Grammar, slots: Dict[str, str], keys: Set[str]):
        self.grammar = grammar
        self.slots = slots
        self.keys = keys
        self.used: Set[str] = set()
        self.missing = False
        """a slot the reading does not say had to be said"""

    def words(self, node: Words) -> Sequence[str]:
        return tokenize(node.text)

    def slot(self, node: SlotRef) -> str:
        if node.slot_name not in self.slots:
            self.missing = True
            return ""
        self.used.add(node.slot_name)
        return self.slots[node.slot_name]

    def option(self, node: Alt, depth: int) -> Optional[Seq]:
        scored = [(self._option_score(o, depth), k) for k, o in enumerate(node.options)]
        best, k = max(scored, key=lambda s: (s[0], -s[1]))
        if node.optional and best <= 0:
            return None
        return node.options[k]

    def _option_score(self, option: Seq, depth: int) -> int:
        """Slots still to say weigh most (a template must say each once), a slot the reading
        does not say rules an option out, then words heard."""
        refs, _ = references(option)
        if any(r.slot_name not in self.slots for r in refs):
            return -1000
        needed = sum(1 for r in refs if r.slot_name not in self.used)
        repeated = sum(1 for r in refs if r.slot_name in self.used)
        words = render(option, _Steered(self.grammar, {}, set()), rules=self.grammar.rules,
                       max_depth=MAX_RULE_DEPTH, depth=depth)
        return 100 * needed - 100 * repeated + len(_keys(words) & self.keys)


def _keys(words: List[str]) -> Set[str]:
    """Words and their sound keys, so 'lite' in the transcript still votes for 'light'."""
    return {w for w in words if w} | {phonetic(w) for w in words if w}
