"""Locating slot values in an utterance: every short token span scored against a list.

For each list the matcher needs, every span of up to (longest value + 1) tokens is compared
with every spoken form at once (rapidfuzz cdist). Spaces are removed on both sides, so
"livingroom" and "bed room" still find "living room" and "bedroom".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.grammar.graph import WILDCARD_MAX_TOKENS, list_token_length
from voiced.grammar.model import SlotList, Value
from voiced.grammar.normalize import FUNCTION_WORDS, remove_skip_words, tokenize
from voiced.grammar.numbers import parse_number
from voiced.grammar.similarity import phonetic_keys, similarity_matrix

MIN_SLOT_SIMILARITY = 0.62  # below this a span is not considered a value of the list at all
WILDCARD_COST = 0.15  # per token: free text is weaker evidence than a listed value
# Free text that repeats the command's own words ("add to my list": the item "add") is suspect.
WILDCARD_CARRIER_COST = 0.6
AMBIGUITY_DEPTH = 6  # ranked forms searched for the best different value


@dataclass(frozen=True)
class SpanMatch:
    start: int
    end: int
    cost: float
    similarity: float
    value: Value
    spoken: str        # the listed spoken form (or the raw text for numbers and wildcards)
    length: int        # tokens of the utterance the span covers
    margin: float = 1.0  # similarity ahead of the best form of a different value (small: ambiguous)


@dataclass
class ListIndex:
    """A slot list prepared for span search."""

    slot_list: SlotList
    max_tokens: int
    forms: List[str]          # spoken forms, normalised, without spaces
    form_text: List[str]      # spoken forms, normalised, with spaces
    form_len: List[int]
    form_value: List[Value]
    form_keys: List[str]
    carriers: frozenset = frozenset()  # the grammar's own words, priced higher inside a wildcard

    @classmethod
    def build(cls, slot_list: SlotList, skip: Sequence[Tuple[str, ...]],
              carriers: frozenset = frozenset()) -> "ListIndex":
        seen: Dict[str, int] = {}
        forms, texts, lens, values = [], [], [], []
        for v in slot_list.values:
            tokens = remove_skip_words(tokenize(v.spoken), skip) or tokenize(v.spoken)
            joined = "".join(tokens)
            if not joined or joined in seen:
                continue
            seen[joined] = len(forms)
            forms.append(joined)
            texts.append(" ".join(tokens))
            lens.append(len(tokens))
            values.append(v.value)
        return cls(slot_list, list_token_length(slot_list), forms, texts, lens, values, phonetic_keys(forms),
                   carriers - FUNCTION_WORDS)

    def spans(self, tokens: Sequence[str], keep: int = 1,
              shared: Optional[Tuple[List[Tuple[int, int]], np.ndarray]] = None,
              plain: Optional[Callable[[int, int], str]] = None) -> "SpanTable":
        """Every span of `tokens` that could be a value of this list, with its best `keep` values.

        `shared` is (spans, similarities to this list's forms) computed for several lists at once.
        `plain` gives the words of a span as heard, for wildcard values (normalize.plain_words).
        """
        n = len(tokens)
        table = SpanTable(n)
        lst = self.slot_list
        if lst.wildcard:
            self._wildcard_spans(tokens, table, plain)
            return table
        if lst.range is not None:
            for i, tok in enumerate(tokens):
                number = parse_number(tok)
                if number is not None and lst.range.contains(number):
                    table.add([SpanMatch(i, i + 1, 0.0, 1.0, lst.range.canonical(number), tok, 1)])
            return table
        if shared is None:
            spans = [(i, j) for i in range(n) for j in range(i + 1, min(n, i + self.max_tokens + 1) + 1)]
            if not spans:
                return table
            sims = similarity_matrix(["".join(tokens[i:j]) for i, j in spans], self.forms, self.form_keys)
        else:
            all_spans, all_sims = shared
            keep_rows = [r for r, (i, j) in enumerate(all_spans) if j - i <= self.max_tokens + 1]
            spans = [all_spans[r] for r in keep_rows]
            if not spans:
                return table
            sims = all_sims[keep_rows]
        best = sims.max(axis=1)
        rows = np.nonzero(best >= MIN_SLOT_SIMILARITY)[0].tolist()
        if not rows:
            return table
        # Enough ranked forms to find the runner-up of a different value (synonyms share a value).
        depth = min(sims.shape[1], max(keep, AMBIGUITY_DEPTH))
        kept = sims[rows]
        order = np.argsort(-kept, axis=1)[:, :depth].tolist()
        picked = kept.tolist()
        for r, row in enumerate(rows):
            i, j = spans[row]
            ranked = order[r]
            top_value = self.form_value[ranked[0]]
            other = next((picked[r][f] for f in ranked if self.form_value[f] != top_value), 0.0)
            found = []
            for f in ranked[:keep]:
                sim = picked[r][f]
                if sim < MIN_SLOT_SIMILARITY:
                    break
                # A span that says fewer words than the value (or more) is charged for the longer one.
                weight = max(j - i, self.form_len[f])
                found.append(SpanMatch(i, j, (1.0 - sim) * weight, sim, self.form_value[f], self.form_text[f], j - i,
                                       sim - other if f == ranked[0] else 0.0))
            table.add(found)
        return table


    def _wildcard_spans(self, tokens: Sequence[str], table: "SpanTable",
                        plain: Optional[Callable[[int, int], str]] = None) -> None:
        n = len(tokens)
        costs = [WILDCARD_CARRIER_COST if t in self.carriers else WILDCARD_COST for t in tokens]
        # A span's per-token share is its tokens' average: at least the cheapest token's cost.
        table.min_cost = min(costs, default=float("inf"))
        table.cover = [table.min_cost] * n
        for i in range(n):
            cost, named = 0.0, False
            for j in range(i + 1, min(n, i + WILDCARD_MAX_TOKENS) + 1):
                cost += costs[j - 1]
                named = named or tokens[j - 1] not in FUNCTION_WORDS
                if named:  # "add to my list" names no item
                    # not number-repaired: "add flour" adds flour, not 4
                    raw = plain(i, j) if plain is not None else " ".join(tokens[i:j])
                    # similarity 1: free text has no listed value to be unlike; its cost is the doubt
                    table.by_start[i].append([SpanMatch(i, j, cost, 1.0, raw, raw, j - i)])


class SpanTable:
    """Slot spans by start token, and the cheapest per-token share of any span covering each token."""

    def __init__(self, n: int):
        self.by_start: List[List[List[SpanMatch]]] = [[] for _ in range(n + 1)]
        self.cover: List[float] = [float("inf")] * n
        self.min_cost = float("inf")

    def add(self, options: List[SpanMatch]) -> None:
        m = options[0]
        self.min_cost = min(self.min_cost, m.cost)
        self.by_start[m.start].append(options)
        share = m.cost / (m.end - m.start)
        cover = self.cover
        for k in range(m.start, m.end):
            if share < cover[k]:
                cover[k] = share


class SlotSearch:
    """All lists of a grammar: one similarity matrix per utterance serves every value list."""

    def __init__(self, indexes: Dict[str, ListIndex]):
        self.indexes = indexes
        self.columns: Dict[str, Tuple[int, int]] = {}
        self.forms: List[str] = []
        self.keys: List[str] = []
        for name, ix in indexes.items():
            if ix.forms:
                self.columns[name] = (len(self.forms), len(self.forms) + len(ix.forms))
                self.forms.extend(ix.forms)
                self.keys.extend(ix.form_keys)
        self.max_tokens = max((indexes[name].max_tokens for name in self.columns), default=0)

    def for_utterance(self, tokens: Sequence[str],
                      plain: Optional[Callable[[int, int], str]] = None) -> Callable[[str], SpanTable]:
        """A cached `list name -> SpanTable` lookup for one utterance (`plain`: see ListIndex.spans)."""
        n = len(tokens)
        cache: Dict[str, SpanTable] = {}
        shared: List[Tuple[List[Tuple[int, int]], np.ndarray]] = []

        def lookup(name: str) -> SpanTable:
            if name in cache:
                return cache[name]
            ix = self.indexes[name]
            if name not in self.columns:
                cache[name] = ix.spans(tokens, plain=plain)
                return cache[name]
            if not shared:
                spans = [(i, j) for i in range(n) for j in range(i + 1, min(n, i + self.max_tokens + 1) + 1)]
                queries = ["".join(tokens[i:j]) for i, j in spans]
                sims = (similarity_matrix(queries, self.forms, self.keys) if spans
                        else np.zeros((0, len(self.forms)), dtype=np.float32))
                shared.append((spans, sims))
            spans, sims = shared[0]
            start, stop = self.columns[name]
            cache[name] = ix.spans(tokens, shared=(spans, sims[:, start:stop]))
            return cache[name]

        return lookup
