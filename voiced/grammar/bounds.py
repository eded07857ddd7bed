"""Upper bounds of every template's confidence for one utterance, computed before aligning.

The matcher aligns templates best bound first and stops when no remaining bound can beat (or
tie with) what it has, so most templates are never aligned. Bounds are computed for all
templates at once with numpy reductions over flat index arrays.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from voiced.grammar.align import INF, Utterance
from voiced.grammar.graph import TemplateGraph

IMPOSSIBLE = 1e6


class TemplateBounds:
    """Per-template index arrays: the words and slot lists each template must or may use."""

    def __init__(self, graphs: List[TemplateGraph], vocab_size: int, list_names: List[str]):
        self.graphs = graphs
        v = vocab_size
        self._list_names = list_names
        list_pos = {name: k for k, name in enumerate(self._list_names)}
        option_words: List[List[int]] = []
        group_options: List[int] = []
        template_groups: List[int] = []
        words: List[List[int]] = []
        lists: List[List[int]] = []
        for g in graphs:
            template_groups.append(len(g.groups))
            for group in g.groups:
                group_options.append(len(group))
                option_words.extend([w if isinstance(w, int) else v + list_pos.get(w, len(list_pos))
                                     for w in option] for option in group)
            words.append(sorted({w for w in g.word if w >= 0}))
            # Index len(lists) is an all-infinite row: templates without slots get no coverage.
            lists.append(sorted({list_pos[s[0]] for s in g.slot if s is not None and s[0] in list_pos}))
        self._word_rows, self._word_starts = _flatten(words, v)
        self._list_rows, self._list_starts = _flatten(lists, len(self._list_names))
        self._max_len = np.asarray([g.max_len for g in self.graphs], dtype=np.float64)
        # Word-side bound: sum over groups of the cheapest option's words (np.*.reduceat over flat arrays).
        self._option_rows, self._option_starts = _flatten(option_words, v + len(self._list_names) + 1)
        self._group_starts = _starts(group_options)
        self._template_groups = np.asarray(template_groups, dtype=np.intp)

    def _word_bound(self, word_min: np.ndarray, list_min: np.ndarray) -> np.ndarray:
        if not len(self._group_starts):
            return np.zeros(len(self.graphs))
        # word costs, then slot list costs (an unknown list is impossible), then 0 for empty options
        # (a large finite number stands for "impossible": cumulative sums must not see inf - inf)
        padded = np.minimum(np.concatenate([word_min, list_min, [INF, 0.0]]), IMPOSSIBLE)
        options = np.add.reduceat(padded[self._option_rows], self._option_starts)
        groups = np.minimum.reduceat(options, self._group_starts)
        sums = np.concatenate([[0.0], np.cumsum(groups)])
        ends = np.cumsum(self._template_groups)
        return sums[ends] - sums[ends - self._template_groups]

    def upper(self, u: Utterance, sub: np.ndarray, split: np.ndarray, merge: np.ndarray,
                word_min: np.ndarray) -> np.ndarray:
        """Upper bound of every template's confidence, from the words it needs and the tokens it must absorb.

        Every required word costs at least its cheapest use; every token costs at least its cheapest
        consumption (insertion, a word of the template, a slot span, a split or a merge). The cost is at
        least the larger of the two sums; the denominator at most max(utterance, longest path).
        """
        n = len(u.tokens)
        tables = [u.spans(name) for name in self._list_names]
        list_min = np.asarray([t.min_cost for t in tables], dtype=np.float64)
        word_lb = self._word_bound(word_min, list_min)
        # initial=INF: a grammar whose sentences are all slots has no carrier words (no rows)
        token_cost = np.minimum(np.asarray(u.ins), split.min(axis=0, initial=INF) / 2)
        if n > 1:
            token_cost[1:] = np.minimum(token_cost[1:], split[:, :-1].min(axis=0, initial=INF) / 2)
        if merge.shape[0]:
            token_cost = np.minimum(token_cost, merge.min(axis=0))
        padded = np.vstack([sub, np.full((1, n), INF)])
        per_template = np.minimum.reduceat(padded[self._word_rows], self._word_starts, axis=0)
        cover = np.asarray([t.cover for t in tables] + [[INF] * n]).reshape(-1, n)
        per_template = np.minimum(per_template,
                                  np.minimum.reduceat(cover[self._list_rows], self._list_starts, axis=0))
        token_lb = np.minimum(per_template, token_cost[None, :]).sum(axis=1)
        lower = np.maximum(word_lb, token_lb)
        # The denominator max(utterance, path) is at most the longest path, and also at most
        # max(utterance, cost + absorbed): path words not absorbed by a token are paid as deletions,
        # and a token absorbs one word (two where a merge is possible).
        weighted_n = max(sum(u.ins), 1.0)
        absorbed = n + (int(np.isfinite(merge.min(axis=0)).sum()) if merge.shape[0] else 0)
        denominator = np.minimum(np.maximum(self._max_len, weighted_n), np.maximum(lower + absorbed, weighted_n))
        return 1.0 - lower / denominator


def _flatten(groups: List[List[int]], pad: int) -> Tuple[np.ndarray, np.ndarray]:
    """Row indices and group starts for np.minimum.reduceat; an empty group reads the `pad` row."""
    rows: List[int] = []
    starts: List[int] = []
    for group in groups:
        starts.append(len(rows))
        rows.extend(group or [pad])
    return np.asarray(rows, dtype=np.intp), np.asarray(starts, dtype=np.intp)


def _starts(sizes: List[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp) if sizes else np.zeros(0, dtype=np.intp)
