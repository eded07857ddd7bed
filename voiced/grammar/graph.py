"""Compile parsed templates into small word/slot graphs for alignment.

A template becomes a directed acyclic graph whose nodes are carrier words, slot references
or joins, numbered in topological order. Alternatives and optional parts are branches, rules
are inlined, nothing is expanded into sentences: the graph grows with the template's length,
not with the number of sentences it describes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

from voiced.grammar.model import Grammar, SlotList, Template
from voiced.grammar.normalize import remove_skip_words, tokenize
from voiced.grammar.template import Alt, Perm, RuleRef, Seq, SlotRef, Words
from voiced.grammar.walk import Visitor

JOIN, WORD, SLOT = 0, 1, 2
WILDCARD_MAX_TOKENS = 8
# Recognisers fuse compounds ("nevermind", "livingroom"), not phrases with these words.
MERGE_EXCLUDED = frozenset("the a an of to in on at my for is and it me".split())


@dataclass
class TemplateGraph:
    """One template as a DAG. Node 0 is the start, the last node the end (both JOIN)."""

    intent: str
    template: Template
    kinds: List[int] = field(default_factory=list)
    word: List[int] = field(default_factory=list)            # vocabulary id of a WORD node, else -1
    slot: List[Optional[Tuple[str, str]]] = field(default_factory=list)  # (list, slot) of a SLOT node
    succ: List[List[int]] = field(default_factory=list)
    pairs: List[List[Tuple[int, int]]] = field(default_factory=list)  # WORD->WORD successor: (succ, pair id)
    # Sum over groups of the cheapest option bounds the cost. An option lists vocabulary ids of the
    # words it must say and the names (str) of the slot lists it must fill.
    groups: List[List[List[Union[int, str]]]] = field(default_factory=list)
    max_len: int = 0                                          # longest path in tokens

    def add(self, kind: int, word: int = -1, slot: Optional[Tuple[str, str]] = None) -> int:
        self.kinds.append(kind)
        self.word.append(word)
        self.slot.append(slot)
        self.succ.append([])
        self.pairs.append([])
        return len(self.kinds) - 1

    @property
    def end(self) -> int:
        return len(self.kinds) - 1


@dataclass
class Vocabulary:
    """Carrier words of all templates, and the joined word pairs that merges may match."""

    words: List[str] = field(default_factory=list)
    ids: Dict[str, int] = field(default_factory=dict)
    pairs: List[Tuple[int, int]] = field(default_factory=list)
    pair_ids: Dict[Tuple[int, int], int] = field(default_factory=dict)

    def word_id(self, word: str) -> int:
        if word not in self.ids:
            self.ids[word] = len(self.words)
            self.words.append(word)
        return self.ids[word]

    def pair_id(self, a: int, b: int) -> int:
        if (a, b) not in self.pair_ids:
            self.pair_ids[(a, b)] = len(self.pairs)
            self.pairs.append((a, b))
        return self.pair_ids[(a, b)]


Groups = List[List[List[Union[int, str]]]]  # see TemplateGraph.groups


class _Builder:
    def __init__(self, grammar: Grammar, vocab: Vocabulary, skip: Sequence[Tuple[str, ...]],
                 list_lengths: Dict[str, int]):
        self.grammar = grammar
        self.vocab = vocab
        self.skip = skip
        self.list_lengths = list_lengths

    def build(self, intent: str, template: Template) -> TemplateGraph:
        g = TemplateGraph(intent, template)
        start = g.add(JOIN)
        tails, length = _Paths(self, g).visit(template.tree, [start], ())
        end = g.add(JOIN)
        for t in tails:
            g.succ[t].append(end)
        g.max_len = length
        g.groups = _Groups(self).visit(template.tree, ())
        for v, kind in enumerate(g.kinds):
            if kind == WORD and self.vocab.words[g.word[v]] not in MERGE_EXCLUDED:
                for s in g.succ[v]:
                    if g.kinds[s] == WORD and self.vocab.words[g.word[s]] not in MERGE_EXCLUDED:
                        g.pairs[v].append((s, self.vocab.pair_id(g.word[v], g.word[s])))
        return g

    def inlined(self, node: RuleRef, rules: Tuple[str, ...]) -> Optional[Seq]:
        """The rule `node` names, or None when it is unknown or already being inlined (the
        loader has already reported both)."""
        if node.name in rules or node.name not in self.grammar.rules:
            return None
        return self.grammar.rules[node.name]

    def word_ids(self, node: Words) -> List[int]:
        return [self.vocab.word_id(t) for t in remove_skip_words(tokenize(node.text), self.skip)]


class _Paths(Visitor[Tuple[List[int], int]]):
    """Adds a node after `preds`; returns (tail nodes, longest length in tokens). `rules` are
    the rules being inlined around it."""

    def __init__(self, builder: _Builder, g: TemplateGraph):
        self.builder = builder
        self.g = g

    def words(self, node: Words, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        tails, length = preds, 0
        for word in self.builder.word_ids(node):
            v = self.g.add(WORD, word=word)
            for p in tails:
                self.g.succ[p].append(v)
            tails, length = [v], length + 1
        return tails, length

    def slot(self, node: SlotRef, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        v = self.g.add(SLOT, slot=(node.list_name, node.slot_name))
        for p in preds:
            self.g.succ[p].append(v)
        return [v], self.builder.list_lengths.get(node.list_name, 1) + 1

    def rule(self, node: RuleRef, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        rule = self.builder.inlined(node, rules)
        return (preds, 0) if rule is None else self.visit(rule, preds, rules + (node.name,))

    def seq(self, node: Seq, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        tails, length = preds, 0
        for item in node.items:
            tails, n = self.visit(item, tails, rules)
            length += n
        return tails, length

    def alt(self, node: Alt, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        out: List[int] = list(preds) if node.optional else []
        longest = 0
        for option in node.options:
            tails, n = self.visit(option, preds, rules)
            out.extend(t for t in tails if t not in out)
            longest = max(longest, n)
        if len(out) > 1:
            # Branches meet in one join node, so the next part gets one incoming edge, not one per branch.
            join = self.g.add(JOIN)
            for t in out:
                self.g.succ[t].append(join)
            out = [join]
        return out, longest

    def perm(self, node: Perm, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        # Every order is a branch: n items give n! copies (the parser allows few items).
        return self.alt(node.orders(), preds, rules)


class _Groups(Visitor[Groups]):
    """Choices every path makes: each group is a list of options, an option the words it must
    say (vocabulary ids) and the slot lists it must fill (names).

    The cheapest option of every group must be paid, so the sum over groups bounds the cost.
    """

    def __init__(self, builder: _Builder):
        self.builder = builder

    def words(self, node: Words, rules: Tuple[str, ...]) -> Groups:
        words: List[Union[int, str]] = list(self.builder.word_ids(node))
        return [[words]]

    def slot(self, node: SlotRef, rules: Tuple[str, ...]) -> Groups:
        return [[[node.list_name]]]

    def rule(self, node: RuleRef, rules: Tuple[str, ...]) -> Groups:
        rule = self.builder.inlined(node, rules)
        return [] if rule is None else self.visit(rule, rules + (node.name,))

    def seq(self, node: Seq, rules: Tuple[str, ...]) -> Groups:
        return [group for item in node.items for group in self.visit(item, rules)]

    def alt(self, node: Alt, rules: Tuple[str, ...]) -> Groups:
        if node.optional:
            return []
        return [[self._direct_words(option, rules) for option in node.options]]

    def perm(self, node: Perm, rules: Tuple[str, ...]) -> Groups:
        # Whatever the order, every item is said: its choices are the sentence's choices.
        return self.seq(Seq(node.items), rules)

    def _direct_words(self, node: Seq, rules: Tuple[str, ...]) -> List[Union[int, str]]:
        """Words an option always says, ignoring its own nested choices."""
        return [w for group in self.visit(node, rules) if len(group) == 1 for w in group[0]]


def list_token_length(slot_list: SlotList) -> int:
    """The most tokens a value of the list is spoken with."""
    if slot_list.wildcard:
        return WILDCARD_MAX_TOKENS
    if slot_list.range is not None:
        return 1
    return max(len(tokenize(v.spoken)) for v in slot_list.values)


def compile_graphs(grammar: Grammar, vocab: Vocabulary,
                   skip: Sequence[Tuple[str, ...]]) -> List[TemplateGraph]:
    lengths = {name: list_token_length(lst) for name, lst in grammar.lists.items()}
    builder = _Builder(grammar, vocab, skip, lengths)
    return [builder.build(intent.name, t) for intent in grammar.intents.values() for t in intent.templates]
