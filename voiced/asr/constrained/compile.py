"""Grammar -> token automaton (voiced.asr.constrained.automaton), without expanding it.

Every template is walked once by `_Builder`, a voiced.grammar.walk Visitor, into junctions and
calls: words become a call of their spellings' trie, a slot a call of its list's shared trie,
alternatives and optional parts empty moves around their options, rules are inlined, and a
permutation of n items becomes one junction per subset of items said (2^n junctions, each
item built n·2^(n-1) times instead of once per order). So the automaton grows with the
written size of the grammar: one template with six optional slots of 20 values (10^8
sentences) is a few hundred junctions and six small tries.

Around every template: up to two of the grammar's skip phrases ("could you", "please") before
it and one after, where speakers say them, and the grammar's address word (voiced.grammar.address)
as an optional opener ("Hey computer, please ..."), the only way into the templates of an intent
that needs it.

Left out, with the reason (their commands still get the matcher's candidates): templates with
a free-text slot (it would admit any tokens) and number ranges of more than MAX_NUMBERS numbers.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Collection, Dict, FrozenSet, List, Optional, Tuple

from voiced.asr.constrained.automaton import Addressed, Automaton, Said, Start, Trie
from voiced.asr.constrained.spelling import Speller, capitalised, spellings, words_of
from voiced.grammar.address import OPENERS, needed
from voiced.grammar.model import Grammar
from voiced.grammar.template import MAX_NESTING, Alt, Node, RuleRef, Seq, SlotRef, Words
from voiced.grammar.walk import RuleInliner, Visitor

log = logging.getLogger(__name__)

MAX_NUMBERS = 2000
"""numbers of a range spelt into its trie (the shipped grammar's largest has 300); a template
with a larger range is left out"""
LEADING_SKIPS = 2
"""skip phrases allowed before a template ("could you please")"""


class Unsupported(Exception):
    """A template part the automaton does not take (a free-text slot, a huge range)."""


@dataclass
class GrammarAutomaton:
    """A grammar compiled for one tokenizer."""

    automaton: Automaton
    grammar: Grammar
    left_out: List[Tuple[str, str, str]] = field(default_factory=list)
    """(intent, template text, why) of every template the automaton does not hold"""
    ms: float = 0.0
    optional_only: FrozenSet[Tuple[str, int]] = frozenset()
    """(intent, template number) of the templates whose every word is optional: a sentence of
    theirs finishes only once it has said a slot value (Grammar.optional_only)"""

    def stats(self) -> Dict[str, int]:
        a = self.automaton
        return {"junctions": len(a.moves), "calls": len(a.calls), "trie_nodes": sum(len(t) for t in a.tries()),
                "left_out": len(self.left_out)}


def compile_grammar(grammar: Grammar, tokenizer, max_numbers: int = MAX_NUMBERS,
                    only: Optional[Collection[Tuple[str, int]]] = None) -> GrammarAutomaton:
    """The automaton of every template of `grammar` it can hold, for `tokenizer`; with `only`,
    of those templates alone ((intent, number of the template in the intent))."""
    t0 = time.perf_counter()
    a = Automaton()
    speller = Speller(tokenizer)
    lists = _Lists(grammar, speller, max_numbers)
    body, end = a.junction(), a.junction()
    skips = [words_of(w) for w in grammar.skip_words]
    skip = speller.tries([(w, None) for w in skips if w], names=False) if any(skips) else None
    before = a.begin
    head = a.junction()  # after the leading skip phrases
    for k in range(LEADING_SKIPS if skip else 0):
        after = a.junction() if k < LEADING_SKIPS - 1 else head
        a.call(before, after, skip)
        a.move(before, after)
        before = after
    if before != head:
        a.move(before, head)
    a.move(head, body)
    addressed = body  # where the sentences that need the address word start
    if grammar.address.words:
        addressed = a.junction()
        a.move(addressed, body)
        _address(a, speller, grammar.address.words, head, addressed, skip)
    if skip is not None:
        a.call(end, a.final, skip)
    a.move(end, a.final)
    bare = grammar.optional_only()
    out = GrammarAutomaton(a, grammar, optional_only=frozenset(
        (name, number) for name, intent in grammar.intents.items()
        for number, template in enumerate(intent.templates) if (name, template.text) in bare))
    for name, intent in grammar.intents.items():
        for number, template in enumerate(intent.templates):
            if only is not None and (name, number) not in only:
                continue
            entry = a.junction()
            try:
                last = _Builder(a, speller, lists, grammar.rules).visit(template.tree, entry)
            except Unsupported as exc:
                out.left_out.append((name, template.text, str(exc)))
                continue  # what was built stays unreachable
            a.move(addressed if needed(grammar, name) else body, entry, Start(name, number))
            a.move(last, end)
    out.ms = (time.perf_counter() - t0) * 1000.0
    log.debug("grammar automaton: %s in %.0f ms", out.stats(), out.ms)
    return out


def _address(a: Automaton, speller: Speller, words: List[str], head: int, body: int, skip) -> None:
    """The address word as an optional opener of every sentence, from `head` to `body` (where
    the sentences said after it start): an opener ("Hey", "OK") then the address word, each
    perhaps followed by a comma, then perhaps one more skip phrase ("Computer, please ..."). The
    recogniser may also write the address as a sentence of its own ("Computer. Lock the front
    door."). Taking it records `Addressed`."""
    opened, named, after = a.junction(), a.junction(), a.junction()
    a.call(head, opened, _named(speller, [words_of(" ".join(o)) for o in OPENERS], ("", ",")))
    a.move(head, opened)
    phrases = [words_of(w) for w in words]
    a.call(opened, named, _named(speller, phrases, ("", ",")))
    a.call(opened, named, _named(speller, phrases, (".", "!")), restart=True)
    a.move(named, after, Addressed())
    if skip is not None:
        a.call(after, body, skip)
    a.move(after, body)


def _named(speller: Speller, phrases: List[List[str]], marks: Tuple[str, ...]) -> Tuple[Trie, Trie]:
    """Tries of names said on their own, in every spelling, followed by one of `marks` (the
    punctuation the recogniser writes after a name addressed: "Computer, unlock ...")."""
    inside, first = Trie(), Trie()
    for words in phrases:
        if not words:
            continue
        for form in spellings(words, names=True):
            for mark in marks:
                variant = form + ((mark, True),) if mark else form
                try:
                    tokens = speller.tokens(variant)
                except ValueError:  # a tokenizer that does not write the mark apart
                    continue
                inside.add(tokens)
                first.add(tokens)
                first.add(speller.tokens(capitalised(variant)))
    return inside, first


class _Lists:
    """The tries of the grammar's slot lists, built on first use and shared."""

    def __init__(self, grammar: Grammar, speller: Speller, max_numbers: int):
        self.grammar, self.speller, self.max_numbers = grammar, speller, max_numbers
        self._tries: Dict[str, Tuple[Trie, Trie]] = {}

    def tries(self, list_name: str) -> Tuple[Trie, Trie]:
        found = self._tries.get(list_name)
        if found is None:
            found = self._tries[list_name] = self._build(list_name)
        return found

    def _build(self, list_name: str) -> Tuple[Trie, Trie]:
        lst = self.grammar.lists.get(list_name)
        if lst is None:
            raise Unsupported(f"no list {list_name!r}")
        if lst.wildcard:
            raise Unsupported(f"free-text slot {{{list_name}}}")
        if lst.range is not None:
            numbers = _numbers(lst.range, self.max_numbers)
            if numbers is None:
                raise Unsupported(f"{{{list_name}}} has more than {self.max_numbers} numbers")
            return self.speller.numbers((n, Said(lst.range.canonical(n), _digits(n))) for n in numbers)
        phrases = [(words_of(v.spoken), Said(v.value, v.spoken)) for v in lst.values]
        phrases = [(w, s) for w, s in phrases if w]
        if not phrases:
            raise Unsupported(f"{{{list_name}}} has no spoken values")
        return self.speller.tries(phrases, names=True)


def _numbers(span, limit: int) -> Optional[List[float]]:
    """The numbers of a range as said, or None when there are more than `limit`."""
    step = span.step or 1
    if (span.stop - span.start) / step + 1 > limit * (1 + len(getattr(span, "fractions", ()))):
        return None
    said = span.numbers() if hasattr(span, "numbers") else [span.start + i * step for i in
                                                           range(int(round((span.stop - span.start) / step)) + 1)]
    return None if len(said) > limit else list(said)


def _digits(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


class _Builder(Visitor[int]):
    """Builds one template: each handler takes the junction its node starts at and returns the
    junction it ends at."""

    def __init__(self, automaton: Automaton, speller: Speller, lists: _Lists, rules):
        self.a, self.speller, self.lists = automaton, speller, lists
        self.inliner = RuleInliner(rules, MAX_NESTING)

    def words(self, node: Words, at: int) -> int:
        words = words_of(node.text)
        if not words:
            return at
        end = self.a.junction()
        self.a.call(at, end, self.speller.phrase(words))
        return end

    def slot(self, node: SlotRef, at: int) -> int:
        end = self.a.junction()
        self.a.call(at, end, self.lists.tries(node.list_name), node.slot_name)
        return end

    def rule(self, node: RuleRef, at: int) -> int:
        return self.inliner.inline(node, lambda rule: self.visit(rule, at), at)

    def seq(self, node: Seq, at: int) -> int:
        for item in node.items:
            at = self.visit(item, at)
        return at

    def alt(self, node: Alt, at: int) -> int:
        end = self.a.junction()
        if node.optional:
            self.a.move(at, end)
        for option in node.options:
            self.a.move(self.visit(option, at), end)
        return end

    def perm(self, node: Node, at: int) -> int:
        """Every item once, in any order: a junction per subset of the items said so far."""
        items = node.items
        done: Dict[int, int] = {0: at}
        for subset in sorted(range(1 << len(items)), key=lambda s: bin(s).count("1")):
            if subset not in done:
                continue
            for k, item in enumerate(items):
                if subset & (1 << k):
                    continue
                after = subset | (1 << k)
                if after not in done:
                    done[after] = self.a.junction()
                self.a.move(self.visit(item, done[subset]), done[after])
        return done[(1 << len(items)) - 1]
