"""Whole-sentence neighbours: the grammar sentences that sound closest to the transcript.

The matcher aligns the transcript word by word, so when the recogniser garbles a command
across word boundaries ("let the drum floor" for "lock the front door", "sit the lamp in Gary
to cold white") it finds no slot span to align and its readings miss the command. Compared as
whole sentences by sound (the matcher's phonetic key of every word, then one rapidfuzz ratio),
the command is usually still among the nearest few grammar sentences, and the acoustic scores
then choose among them. On the tuning set the nearest 8 held the labelled command for 78 % of
the commands, against 70 % for the matcher-based list.

Every template is expanded (alternatives, optional words, rules; at most MAX_EXPANSIONS ways
per template) with every spoken form of its list slots: about 118 000 sentences for the shipped
grammar, built in about 0.5 s (x86) when the rescorer is made. Sentences are kept as one sound
key each plus (expansion, combination) numbers, and spelled out only when returned. Number-range
slots are indexed as one placeholder and take the numbers heard in the transcript, in order (every
value in every position would multiply the index a hundredfold); when more numbers were heard
than the sentence has number slots, each choice of them in order is a sentence of its own ("7
times for 5 minutes" gives "set a timer for 7 minutes" and "... for 5 minutes", and the audio
chooses). Free-text slots are left to the matcher.

The count grows as the product of a template's choices: one template with four slots of 100
values is 10^8 sentences, and building it ran out of memory at 3.5 GB. So each template's
sentences are counted first, without expanding anything (`plan_index`), and templates beyond
`rescoring.max_index_sentences` are left out, smallest kept first; their commands still get the
matcher-based candidates. `voiced check-config` runs the same count.
"""
from __future__ import annotations

import itertools
import logging
from array import array
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from rapidfuzz import fuzz, process

from voiced.grammar.matcher import SlotMatch
from voiced.grammar.model import Grammar, ListValue, Template
from voiced.grammar.normalize import tokenize
from voiced.grammar.numbers import parse_number
from voiced.grammar.similarity import phonetic
from voiced.grammar.template import SlotRef
from voiced.grammar.walk import count, expand
from voiced.rescoring.carriers import MAX_RULE_DEPTH

log = logging.getLogger(__name__)

MAX_EXPANSIONS = 256
"""ways of saying one template that are indexed (the shipped grammar's largest has 96)"""
NUMBER = "#"
"""stands for any number, in the index and in the query"""
MAX_NUMBER_CHOICES = 6
"""choices of the heard numbers tried per sentence (six numbers heard, two slots: 15 choices)"""
_NUMBER_FORM = ListValue(NUMBER, 0)
Item = Union[str, SlotRef]
BYTES_PER_SENTENCE = 110
"""memory an indexed sentence holds (the shipped grammar: 13 MB for 118 406; 15 MB at the peak
of the build)"""
TemplateId = Tuple[str, int]
"""(intent name, index of the template in the intent)"""


@dataclass(frozen=True)
class Expansion:
    """One way of saying a template, with its slots still open."""

    intent: str
    template: str
    items: Tuple[Item, ...]
    fixed: Tuple[Tuple[str, object], ...]
    choices: Tuple[Tuple[ListValue, ...], ...]
    """for each slot in `items`, in order: the list forms it can take (a number range: NUMBER)"""

    @property
    def numbers(self) -> int:
        """How many of its slots take a heard number."""
        return sum(1 for forms in self.choices if forms == (_NUMBER_FORM,))


@dataclass(frozen=True)
class Neighbour:
    intent: str
    template: str
    sentence: str
    slots: Dict[str, SlotMatch]
    similarity: float
    """sound similarity of the whole sentence to the transcript (0-1)"""


class SentenceIndex:
    """The grammar's sentences by sound, for `nearest`."""

    def __init__(self, grammar: Grammar, max_sentences: Optional[int] = None, searched: bool = False):
        """`max_sentences` bounds the index (None: no bound); templates beyond it are left out
        with one warning, or one info line when the grammar-constrained search covers them
        (`searched`)."""
        self.grammar = grammar
        self.plan = plan_index(grammar, max_sentences, whole_intents=searched)
        if self.plan.left_out:
            if searched:
                log.info("%s", self.plan.searched_note())
            else:
                log.warning("%s", self.plan.warning())
        self._expansions = list(self._expand_templates(self.plan.left_out))
        keys: List[str] = []
        # two flat int64 arrays: a tuple per sentence doubled the memory the build peaked at
        expansion_of, combination_of = array("q"), array("q")
        for e, expansion in enumerate(self._expansions):
            for c, words in enumerate(_combinations(expansion.items, expansion.choices)):
                keys.append(sound_key(words))
                expansion_of.append(e)
                combination_of.append(c)
        self._keys = keys
        self._owner = np.stack([np.frombuffer(expansion_of, dtype=np.int64),
                                np.frombuffer(combination_of, dtype=np.int64)], axis=1).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self._keys)

    def nearest(self, tokens: Sequence[str], limit: int) -> List[Neighbour]:
        """Up to `limit` distinct sentences closest in sound to `tokens` (the matcher's tokens).
        Numbers are compared as numbers: any heard number fits any number slot, in order."""
        if not tokens or limit <= 0:
            return []
        parsed = [parse_number(t) for t in tokens]
        numbers = [n for n in parsed if n is not None]
        query = sound_key([t if n is None else NUMBER for t, n in zip(tokens, parsed)])
        out: List[Neighbour] = []
        seen = set()
        for k, score in self._closest(query, 4 * limit):
            e, c = self._owner[k]
            expansion = self._expansions[int(e)]
            for chosen in itertools.islice(itertools.combinations(numbers, expansion.numbers), MAX_NUMBER_CHOICES):
                neighbour = self._spell(expansion, int(c), chosen, score / 100.0)
                if neighbour is not None and neighbour.sentence not in seen:
                    seen.add(neighbour.sentence)
                    out.append(neighbour)
                    if len(out) >= limit:
                        return out
        return out

    def _closest(self, query: str, count: int) -> List[Tuple[int, float]]:
        """(key index, ratio 0-100) of the `count` keys nearest `query`, best first, ties in
        index order. cdist and a partial sort: a third faster than process.extract here."""
        scores = process.cdist([query], self._keys, scorer=fuzz.ratio)[0]
        top = np.argpartition(-scores, count - 1)[:count] if count < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(k), float(scores[k])) for k in top]

    def _spell(self, expansion: Expansion, combo: int, numbers: Sequence[Union[int, float]],
               similarity: float) -> Optional[Neighbour]:
        """The sentence and slots of one combination with `numbers` in its number slots, in order;
        None when they do not fit."""
        picked = iter(_pick(expansion.choices, combo))
        heard = iter(numbers)
        words: List[str] = []
        slots: Dict[str, SlotMatch] = {name: SlotMatch(value, "", 1.0) for name, value in expansion.fixed}
        for item in expansion.items:
            if not isinstance(item, SlotRef):
                words.append(item)
                continue
            form = next(picked)
            span = self.grammar.lists[item.list_name].range
            if span is not None:
                number = next(heard)  # nearest() passes exactly one number per number slot
                if not span.contains(number):
                    return None
                form = ListValue(_digits(number), span.canonical(number))
            words.append(form.spoken)
            slots[item.slot_name] = SlotMatch(form.value, "".join(tokenize(form.spoken)), similarity, form.spoken)
        return Neighbour(expansion.intent, expansion.template, " ".join(words), slots, similarity)

    def _expand_templates(self, left_out: FrozenSet[TemplateId]) -> Iterator[Expansion]:
        for name, intent in self.grammar.intents.items():
            for number, template in enumerate(intent.templates):
                if (name, number) in left_out:
                    continue
                fixed = tuple(sorted(template.fixed_slots.items()))
                for items in expand(template.tree, MAX_EXPANSIONS, rules=self.grammar.rules,
                                    max_depth=MAX_RULE_DEPTH, words=tokenize, distinct=True):
                    slots = [i for i in items if isinstance(i, SlotRef)]
                    lists = [self.grammar.lists.get(s.list_name) for s in slots]
                    if any(lst is None or lst.wildcard for lst in lists):
                        continue  # free text: only the matcher can say where it starts and ends
                    choices = tuple((_NUMBER_FORM,) if lst.range is not None else tuple(lst.values)
                                    for lst in lists)
                    yield Expansion(name, template.text, items, fixed, choices)


def sound_key(words: Sequence[str]) -> str:
    """The sentence as the matcher hears it: each word's phonetic key, space-separated."""
    return " ".join(phonetic(w) for w in " ".join(words).split())


def _digits(number: Union[int, float]) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _pick(choices: Sequence[Sequence[ListValue]], combo: int) -> List[ListValue]:
    """The `combo`-th combination of one form per slot (the last slot varying fastest)."""
    picked: List[ListValue] = []
    for forms in reversed(choices):
        combo, k = divmod(combo, len(forms))
        picked.append(forms[k])
    return picked[::-1]


def _combinations(items: Sequence[Item], choices: Sequence[Sequence[ListValue]]) -> Iterator[List[str]]:
    """The words of every combination, in `_pick` order."""
    total = 1
    for forms in choices:
        total *= len(forms)
    for combo in range(total):
        picked = iter(_pick(choices, combo))
        yield [next(picked).spoken if isinstance(i, SlotRef) else i for i in items]


@dataclass(frozen=True)
class IndexPlan:
    """Which templates the sentence index holds, decided from counts before anything is built."""

    counts: Dict[TemplateId, int]
    """sentences of every template, by `count_sentences`"""
    left_out: FrozenSet[TemplateId]
    limit: Optional[int]

    @property
    def indexed(self) -> int:
        return sum(n for t, n in self.counts.items() if t not in self.left_out)

    def intents_left_out(self) -> str:
        """"intent(s) A, B" of the templates left out (at most eight named)."""
        intents = list(dict.fromkeys(name for name, number in self.counts if (name, number) in self.left_out))
        return "intent(s) " + ", ".join(intents[:8]) + (f" and {len(intents) - 8} more" if len(intents) > 8 else "")

    def sentences_left_out(self) -> int:
        return sum(self.counts[t] for t in self.left_out)

    def searched_note(self) -> str:
        """One line naming the intents left out, for when the grammar-constrained search covers them."""
        return (f"rescoring: {self.intents_left_out()} too large for the sentence index "
                f"({self.sentences_left_out():,} sentences): the grammar-constrained search covers them")

    def warning(self) -> Optional[str]:
        """One line naming the intents left out, how much they would hold and what to change."""
        if not self.left_out:
            return None
        missing = self.sentences_left_out()
        return (f"rescoring sentence index: {self.intents_left_out()} left out ({len(self.left_out)} template(s), "
                f"{missing:,} sentences, about {_size(missing)}; the limit is rescoring.max_index_sentences = "
                f"{self.limit:,}, and the {len(self.counts) - len(self.left_out)} other template(s) take "
                f"{self.indexed:,}). Their commands are still rescored, with candidates from the matcher only "
                "(hint: set rescoring.constrained: auto to search them, raise rescoring.max_index_sentences, or "
                "set rescoring.neighbours: 0 to build no index)")


def plan_index(grammar: Grammar, max_sentences: Optional[int], whole_intents: bool = False) -> IndexPlan:
    """Count every template's sentences and choose the templates that fit in `max_sentences`
    (None: all), smallest first, so one huge template costs the index only itself.

    With `whole_intents` (the grammar-constrained search covers what is left out), an intent with
    a template left out is left out whole: the search finds a garbled command by its sound where
    the index, which compares spellings, often cannot ("Single shot at Granzo" for "single shot
    espresso"), so an intent gets one or the other. Written as 80 templates, the coffee orders
    kept their 23 smallest in the index and accepted 89 of 125 synthetic orders against 93 as
    one template; searched whole, 93 either way, in half the rescoring time."""
    counts = {(name, number): count_sentences(grammar, template)
              for name, intent in grammar.intents.items() for number, template in enumerate(intent.templates)}
    left_out = set()
    if max_sentences is not None and sum(counts.values()) > max_sentences:
        room = max_sentences
        for template_id in sorted(counts, key=counts.__getitem__):  # stable: ties in grammar order
            if counts[template_id] <= room:
                room -= counts[template_id]
            else:
                left_out.add(template_id)
    if whole_intents:
        intents = {name for name, _ in left_out}
        left_out |= {t for t in counts if t[0] in intents}
    return IndexPlan(counts, frozenset(left_out), max_sentences)


def count_sentences(grammar: Grammar, template: Template) -> int:
    """The sentences the index would hold for `template`, without expanding it: the product of
    the choices along each way of saying it, summed over the alternatives. A number range counts
    as one form, a free-text slot takes its way out of the index. An upper bound: wordings that
    come out the same, and ways beyond MAX_EXPANSIONS, are counted too."""
    return count(template.tree, lambda slot: _forms(grammar, slot), rules=grammar.rules, max_depth=MAX_RULE_DEPTH)


def _forms(grammar: Grammar, slot: SlotRef) -> int:
    """Spoken forms the index holds for a slot: a number range is one, free text none."""
    lst = grammar.lists.get(slot.list_name)
    if lst is None or lst.wildcard:
        return 0
    return 1 if lst.range is not None else len(lst.values)


def _size(sentences: int) -> str:
    megabytes = sentences * BYTES_PER_SENTENCE / 1e6
    return f"{megabytes / 1000:,.0f} GB" if megabytes >= 10000 else f"{megabytes:,.0f} MB"
