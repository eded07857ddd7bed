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
from voiced.grammar.template import Alt, Node, RuleRef, Seq, SlotRef, Words

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
        tails, length = self._node(g, template.tree, [start], ())
        end = g.add(JOIN)
        for t in tails:
            g.succ[t].append(end)
        g.max_len = length
        g.groups = self._groups(template.tree, ())
        for v, kind in enumerate(g.kinds):
            if kind == WORD and self.vocab.words[g.word[v]] not in MERGE_EXCLUDED:
                for s in g.succ[v]:
                    if g.kinds[s] == WORD and self.vocab.words[g.word[s]] not in MERGE_EXCLUDED:
                        g.pairs[v].append((s, self.vocab.pair_id(g.word[v], g.word[s])))
        return g

    def _node(self, g: TemplateGraph, node: Node, preds: List[int], rules: Tuple[str, ...]) -> Tuple[List[int], int]:
        """Add `node` after `preds`; returns (tail nodes, longest length in tokens)."""
        if isinstance(node, Words):
            tails, length = preds, 0
            for token in remove_skip_words(tokenize(node.text), self.skip):
                v = g.add(WORD, word=self.vocab.word_id(token))
                for p in tails:
                    g.succ[p].append(v)
                tails, length = [v], length + 1
            return tails, length
        if isinstance(node, SlotRef):
            v = g.add(SLOT, slot=(node.list_name, node.slot_name))
            for p in preds:
                g.succ[p].append(v)
            return [v], self.list_lengths.get(node.list_name, 1) + 1
        if isinstance(node, RuleRef):
            if node.name in rules or node.name not in self.grammar.rules:
                return preds, 0  # the loader has already reported it
            return self._node(g, self.grammar.rules[node.name], preds, rules + (node.name,))
        if isinstance(node, Seq):
            tails, length = preds, 0
            for item in node.items:
                tails, n = self._node(g, item, tails, rules)
                length += n
            return tails, length
        out: List[int] = list(preds) if node.optional else []
        longest = 0
        for option in node.options:
            tails, n = self._node(g, option, preds, rules)
            out.extend(t for t in tails if t not in out)
            longest = max(longest, n)
        if len(out) > 1:
            # Branches meet in one join node, so the next part gets one incoming edge, not one per branch.
            join = g.add(JOIN)
            for t in out:
                g.succ[t].append(join)
            out = [join]
        return out, longest

    def _groups(self, node: Node, rules: Tuple[str, ...]) -> List[List[List[Union[int, str]]]]:
        """Choices every path makes: each group is a list of options, an option the words it must say.

        The cheapest option of every group must be paid, so the sum over groups bounds the cost.
        """
        if isinstance(node, Words):
            return [[self._words(node)]]
        if isinstance(node, SlotRef):
            return [[[node.list_name]]]
        if isinstance(node, RuleRef):
            if node.name in rules or node.name not in self.grammar.rules:
                return []
            return self._groups(self.grammar.rules[node.name], rules + (node.name,))
        if isinstance(node, Seq):
            return [group for item in node.items for group in self._groups(item, rules)]
        if isinstance(node, Alt) and not node.optional:
            return [[self._direct_words(option, rules) for option in node.options]]
        return []

    def _direct_words(self, node: Node, rules: Tuple[str, ...]) -> List[Union[int, str]]:
        """Words an option always says, ignoring its own nested choices."""
        return [w for group in self._groups(node, rules) if len(group) == 1 for w in group[0]]

    def _words(self, node: Words) -> List[Union[int, str]]:
        return [self.vocab.word_id(t) for t in remove_skip_words(tokenize(node.text), self.skip)]


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
