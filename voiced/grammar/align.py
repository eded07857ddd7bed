"""Align one template graph against utterance tokens: a small edit-distance DP over the DAG.

cost[v][i] is the cheapest way to arrive at node v having consumed i tokens. A carrier word
is matched (1 - similarity), deleted, split over two tokens or merged with the next word into
one token; a slot consumes a span scored by the list index; an extra token costs an insertion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from voiced.grammar.graph import JOIN, WORD, TemplateGraph
from voiced.grammar.normalize import FUNCTION_WORDS
from voiced.grammar.slots import SpanTable

INF = float("inf")
OP_INS, OP_SUB, OP_DEL, OP_SPLIT, OP_MERGE, OP_SLOT, OP_JOIN = range(7)
FUNCTION_COST = 0.6
JOIN_PENALTY = 0.25  # extra cost of matching a word to two tokens, or two words to one token
MIN_WORD_SIMILARITY = 0.5  # below this a substitution costs a full word


@dataclass
class Utterance:
    """Per-utterance tables shared by all templates: word costs and slot spans."""

    tokens: List[str]
    sub: List[List[float]]    # [vocab][n] cost of matching word w to token i
    split: List[List[float]]  # [vocab][n] cost of word w matching tokens i, i+1 joined
    merge: List[List[float]]  # [pairs][n] cost of word pair p matching token i
    word_del: List[float]    # [vocab] deletion cost
    ins: List[float]         # [n] insertion cost of token i
    spans: Callable[[str], SpanTable]


@dataclass
class Alignment:
    graph: TemplateGraph
    cost: float
    length: float                 # weighted template tokens on the path (slots count their span)
    steps: List[Tuple[int, int, int, int, Any]]  # (op, node, start, end, SpanMatch for slots)

    def confidence(self, utterance_length: float) -> float:
        """1 - cost per (weighted) token, over the longer of the utterance and the template path."""
        return max(0.0, 1.0 - self.cost / max(utterance_length, self.length, 1.0))


def align(g: TemplateGraph, u: Utterance, limit: float = INF) -> Optional[Alignment]:
    """Cheapest alignment of `g` to the utterance, or None when every one costs more than `limit`."""
    n = len(u.tokens)
    size = len(g.kinds)
    cost = [[INF] * (n + 1) for _ in range(size)]
    back: List[List[Any]] = [[None] * (n + 1) for _ in range(size)]
    cost[0][0] = 0.0
    kinds, words, succ, pairs, slots = g.kinds, g.word, g.succ, g.pairs, g.slot
    ins = u.ins
    for v in range(size):
        c, b = cost[v], back[v]
        for i in range(n):  # extra tokens absorbed before this node's own content
            if c[i] > limit:
                continue
            nc = c[i] + ins[i]
            if nc < c[i + 1]:
                c[i + 1] = nc
                b[i + 1] = (v, i, OP_INS, None)
        kind = kinds[v]
        targets = succ[v]
        if not targets:
            continue
        if kind == JOIN:
            for i in range(n + 1):
                ci = c[i]
                if ci <= limit:
                    for s in targets:
                        if ci < cost[s][i]:
                            cost[s][i] = ci
                            back[s][i] = (v, i, OP_JOIN, None)
        elif kind == WORD:
            w = words[v]
            sub_w, split_w, dcost = u.sub[w], u.split[w], u.word_del[w]
            for i in range(n + 1):
                ci = c[i]
                if ci > limit:
                    continue
                for s in targets:
                    cs = cost[s]
                    if ci + dcost < cs[i]:
                        cs[i] = ci + dcost
                        back[s][i] = (v, i, OP_DEL, None)
                    if i < n:
                        nc = ci + sub_w[i]
                        if nc < cs[i + 1]:
                            cs[i + 1] = nc
                            back[s][i + 1] = (v, i, OP_SUB, None)
                        if i + 1 < n:
                            nc = ci + split_w[i]
                            if nc < cs[i + 2]:
                                cs[i + 2] = nc
                                back[s][i + 2] = (v, i, OP_SPLIT, None)
                if i < n:
                    for s, p in pairs[v]:
                        nc = ci + u.merge[p][i]
                        if nc < INF:
                            for t in succ[s]:
                                if nc < cost[t][i + 1]:
                                    cost[t][i + 1] = nc
                                    back[t][i + 1] = (v, i, OP_MERGE, s)
        else:  # SLOT
            table = u.spans(slots[v][0]).by_start
            for i in range(n):
                ci = c[i]
                if ci > limit:
                    continue
                for options in table[i]:
                    m = options[0]
                    nc = ci + m.cost
                    for s in targets:
                        if nc < cost[s][m.end]:
                            cost[s][m.end] = nc
                            back[s][m.end] = (v, i, OP_SLOT, m)
    end = g.end
    if cost[end][n] > limit:
        return None
    return _trace(g, u.word_del, cost[end][n], back, end, n)


def _trace(g: TemplateGraph, weight: List[float], total: float, back: List[List[Any]], v: int, i: int) -> Alignment:
    steps = []
    length = 0.0
    while back[v][i] is not None:
        pv, pi, op, data = back[v][i]
        if op == OP_SLOT:
            length += data.length
        elif op in (OP_SUB, OP_DEL, OP_SPLIT):
            length += weight[g.word[pv]]
        elif op == OP_MERGE:
            length += weight[g.word[pv]] + weight[g.word[data]]
        if op != OP_JOIN:
            steps.append((op, pv, pi, i, data))
        v, i = pv, pi
    steps.reverse()
    return Alignment(g, total, length, steps)


def word_costs(sims: np.ndarray, word_weight: Sequence[float], token_weight: Sequence[float]) -> np.ndarray:
    """[vocab, n] similarity -> substitution cost; poor matches cost a whole (weighted) word."""
    costs = 1.0 - sims
    costs[sims < MIN_WORD_SIMILARITY] = 1.0
    return costs * np.maximum(np.asarray(word_weight)[:, None], np.asarray(token_weight)[None, :])


def join_costs(sims: np.ndarray, min_similarity: float = 0.8) -> np.ndarray:
    costs = 1.0 - sims + JOIN_PENALTY
    costs[sims < min_similarity] = INF
    return costs


def deletion_costs(vocab: Sequence[str]) -> List[float]:
    return [FUNCTION_COST if w in FUNCTION_WORDS else 1.0 for w in vocab]


def insertion_costs(tokens: Sequence[str]) -> List[float]:
    return [FUNCTION_COST if t in FUNCTION_WORDS else 1.0 for t in tokens]

