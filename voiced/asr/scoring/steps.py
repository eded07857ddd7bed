"""The ways a decoder can score token sequences under teacher forcing, one class each.

Every candidate is fed to the decoder as a whole token sequence [BOS, t1 .. tn] on the encoder
states the recogniser already computed; the row at position k gives log P(t(k+1) | audio,
t1 .. tk). The decoder is causal, so sequences are right-padded and positions past a
sequence's end are simply not read: padding cannot change a score.

The BOS position is the same for every candidate and is exactly the first step the recogniser
ran for its transcript, so it is taken from there (Decoder.first_step): its logits score every
candidate's first token, and its cache feeds the cached step.

* `Batched`: the cached step runs t1 .. tn of all candidates in one call, on the first step's
  cache. The cross-attention part of that cache (the encoder's keys and values) goes in once,
  batch 1, when the graph's MatMuls broadcast it over the candidates. With `Pruning`, two
  calls: the candidates' distinct openings, then the rest of those whose opening fits well
  enough, on their opening's cache. Both layouts work this way (v1: the merged graph with
  ``use_cache_branch`` true; v2: ``decoder_with_past_model``).
* `Tree`: with base-en's 8-bit step, the candidates go in as one token tree (token_tree,
  voiced.asr.graphs.tree_step): every distinct prefix once, one call, nothing padded, and no
  pruning needed. On the tuning commands that took 0.72x the time of the pruned batch, with
  the same decisions.
* `Uncached`: the uncached graph on [BOS, t1 .. tn] directly, the reference the tests compare
  against and the way left for a cached graph that cannot take several tokens at once.

The end of a sentence is scored as P(EOS) + P(".") + P("?") + P("!") after its last token:
Moonshine ends most sentences with punctuation, which candidates rendered from the grammar
do not carry, and the sentence ending at that point is what matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.asr.decoder import Decoder, DecoderGraph, log_sum_exp
from voiced.asr.graphs.names import ATTENTION_BIAS, BRANCH, STATES
from voiced.asr.graphs.tree_step import MAX_POSITIONS
from voiced.asr.scoring.rows import Rows
from voiced.asr.scoring.token_tree import TokenTree
from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.errors import ModelError


class ScoringError(ModelError):
    """A scoring call failed: onnxruntime refused the inputs, or a sentence is too long for the
    way chosen. The rescorer leaves that utterance to the matcher."""


@dataclass(frozen=True)
class SequenceScore:
    """Teacher-forced log-probability of one token sequence (natural log)."""

    total: float
    """sum of the log-probabilities of every token and of the sentence end"""
    count: int
    """number of terms in `total` (tokens + 1 for the end)"""

    def normalized(self, alpha: float = 1.0) -> float:
        """total / count**alpha: alpha 1 is the per-token mean, 0 the plain sum."""
        return self.total / (max(1, self.count) ** alpha)


@dataclass(frozen=True)
class Pruning:
    """Score in two calls and drop the sequences whose opening already fits far worse.

    The first call runs the distinct openings (first `after` tokens) of all sequences; a
    sequence whose opening's log-probability is more than `gap` below the best opening's is not
    run further and scores -inf. On the tuning commands, openings of 4 tokens and a gap of 10
    nats changed no decision and left about 60 % of the rows of one call."""

    after: int = 4
    gap: float = 10.0
    min_batch: int = 4
    """fewer sequences than this: one call (a second call costs as much as several rows)"""

    def applies(self, sequences: Sequence[Sequence[int]]) -> bool:
        return (self.after > 0 and len(sequences) >= self.min_batch
                and max(len(s) for s in sequences) > self.after + 1)


class Uncached:
    """[BOS, t1 .. tn] of every sequence through the first step's graph with an empty cache."""

    description = "as a batch on the uncached decoder graph"

    def __init__(self, decoder: Decoder):
        self._graph = decoder.first
        self._logits = decoder.first.outputs[0]

    def logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Decoder logits [B, T, vocab] for input ids [B, T] (BOS first) on encoder `states`
        [1, frames, width]."""
        graph, batch = self._graph, ids.shape[0]
        states = np.ascontiguousarray(states, dtype=np.float32)
        feeds: Dict[str, np.ndarray] = {graph.ids: ids, STATES: np.ascontiguousarray(np.repeat(states, batch, axis=0))}
        if BRANCH in graph.inputs:
            feeds[BRANCH] = np.array([False])
        for name in graph.past:
            dims = [d if isinstance(d, int) else 0 for d in graph.inputs[name].shape]
            dims[0] = batch
            feeds[name] = np.zeros(dims, dtype=np.float32)
        return graph.session.run([self._logits], feeds)[0]

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]], end_ids: np.ndarray,
              prune: Optional[Pruning] = None) -> List[SequenceScore]:
        ids = _padded(sequences, max(len(s) for s in sequences) + 1, start=1)
        ids[:, 0] = BOS_ID
        return _batch_scores(self.logits(states, ids), False, sequences, end_ids)


class Batched:
    """t1 .. tn of every sequence in one call of the cached `step` after the first step's BOS
    (two calls with Pruning). With `share_cross`, the encoder states and the cross-attention
    cache go in once (batch 1) and the graph's MatMuls broadcast them over the rows: the same
    numbers without B copies of every layer's encoder keys and values (about 30 MB for 12
    candidates on 3 s of base-en audio)."""

    def __init__(self, decoder: Decoder, step: DecoderGraph, share_cross: bool):
        self._decoder, self._step = decoder, step
        self.share_cross = share_cross
        self._logits = decoder.first.outputs[0]
        self._feeds = decoder.cache_outputs()
        self._grows = decoder.self_attention_outputs()
        self._cross = set(decoder.cross_attention_inputs())
        self.description = ("as a batch on the {} cached decoder step, {}".format(
            "8-bit" if step is not decoder.later else "model's own",
            "the encoder cache passed once" if share_cross else "the encoder cache repeated per sentence"))

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]], end_ids: np.ndarray,
              prune: Optional[Pruning] = None) -> List[SequenceScore]:
        if prune is not None and prune.applies(sequences):
            return self._pruned(states, sequences, end_ids, prune)
        ids = _padded(sequences, max(len(s) for s in sequences))
        first = self._decoder.first_step(states)
        head = first[self._logits].numpy()[:, -1:]
        if self._step.normalized:  # so that every row is log-probabilities, as the later ones
            head = head - log_sum_exp(head[0].copy())[:, None]
        head = np.repeat(head, ids.shape[0], axis=0)
        if ids.shape[1]:
            head = np.concatenate([head, self._run(first, states, ids)[0]], axis=1)
        return _batch_scores(head, self._step.normalized, sequences, end_ids)

    def _pruned(self, states: np.ndarray, sequences: Sequence[Sequence[int]], end_ids: np.ndarray,
                prune: Pruning) -> List[SequenceScore]:
        """Call 1: the distinct openings (first k tokens) after BOS, keeping their cache.
        Call 2: the rest of each sequence whose opening is within `prune.gap` of the best, on
        its opening's cache. Position 0 is BOS (the first step), 1..k call 1, k+1.. call 2."""
        k, normalized = prune.after, self._step.normalized
        first = self._decoder.first_step(states)
        head = Rows(first[self._logits].numpy()[:, -1:])
        opening: Dict[Tuple[int, ...], int] = {}
        for seq in sequences:
            opening.setdefault(tuple(seq[:k]), len(opening))
        logits, cache = self._run(first, states, _padded(list(opening), k), keep=True)
        level1 = Rows(logits, [u * k + j for words, u in opening.items() for j in range(len(words))], normalized)
        # rows of positions 1 .. min(n, k) of each sequence in the openings' call
        within = [[opening[tuple(s[:k])] * k + j for j in range(min(len(s), k))] for s in sequences]
        parts = [[(head, [0]), (level1, rows)] for rows in within]
        out = [SequenceScore(-math.inf, len(s) + 1) for s in sequences]
        fits = {b: head.tokens([0], s[:1]) + level1.tokens(within[b][:k - 1], s[1:k])
                for b, s in enumerate(sequences) if len(s) > k}
        best = max(fits.values(), default=0.0)
        rest = [b for b, fit in fits.items() if fit >= best - prune.gap]
        for b, s in enumerate(sequences):
            if len(s) <= k:
                out[b] = _sequence_score(parts[b], s, end_ids)
        if not rest:
            return out
        width = max(len(sequences[b]) for b in rest) - k
        parents = [opening[tuple(sequences[b][:k])] for b in rest]
        logits, _ = self._run(first, states, _padded([sequences[b][k:] for b in rest], width),
                              past={n: v[parents] for n, v in cache.items()})
        tails = [[i * width + j for j in range(len(sequences[b]) - k)] for i, b in enumerate(rest)]
        level2 = Rows(logits, [r for t in tails for r in t], normalized)
        for b, tail in zip(rest, tails):
            out[b] = _sequence_score(parts[b] + [(level2, tail)], sequences[b], end_ids)
        return out

    def _run(self, first: Dict[str, object], states: np.ndarray, ids: np.ndarray,
             past: Optional[Dict[str, np.ndarray]] = None, keep: bool = False):
        """(logits, self-attention cache with `keep`, else None) of one cached-step call on ids
        [B, T] after BOS (the first step's cache) or after `past` (a self-attention cache per row)."""
        graph, share, batch = self._step, self.share_cross, ids.shape[0]
        binding = graph.session.io_binding()
        binding.bind_cpu_input(graph.ids, np.ascontiguousarray(ids))
        if STATES in graph.inputs:
            one = np.ascontiguousarray(states, dtype=np.float32)
            binding.bind_cpu_input(STATES, one if share else np.repeat(one, batch, axis=0))
        if BRANCH in graph.inputs:
            binding.bind_cpu_input(BRANCH, np.array([True]))
        for name in graph.past:
            if past is not None and name in past:
                binding.bind_cpu_input(name, np.ascontiguousarray(past[name]))
            elif share and name in self._cross:
                binding.bind_ortvalue_input(name, first[self._feeds[name]])
            else:
                binding.bind_cpu_input(name, np.repeat(first[self._feeds[name]].numpy(), batch, axis=0))
        wanted = [graph.outputs[0]] + (list(self._grows.values()) if keep else [])
        for name in wanted:
            binding.bind_output(name)
        graph.session.run_with_iobinding(binding)
        got = dict(zip(wanted, binding.get_outputs()))
        cache = {p: got[o].numpy() for p, o in self._grows.items()} if keep else None
        return got[graph.outputs[0]].numpy(), cache


class Tree:
    """Every distinct prefix of the sequences once, in one call of the token-tree `step`
    (voiced.asr.graphs.tree_step) after the first step's BOS: a sequence's first token is
    scored by the BOS row, each later token and its end by the node of the prefix before it.
    Pruning does not apply: nothing is run twice to begin with."""

    description = "as one token tree on an 8-bit copy of the decoder step"

    def __init__(self, decoder: Decoder, step: DecoderGraph):
        self._decoder, self._step = decoder, step
        self._logits = decoder.first.outputs[0]
        self._feeds = decoder.cache_outputs()
        self._heads = step.inputs[ATTENTION_BIAS].shape[1]

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]], end_ids: np.ndarray,
              prune: Optional[Pruning] = None) -> List[SequenceScore]:
        longest = max(len(s) for s in sequences)
        if longest >= MAX_POSITIONS:
            raise ScoringError(f"a sentence of {longest} tokens is longer than the token tree's "
                               f"{MAX_POSITIONS - 1} positions")
        first = self._decoder.first_step(states)
        head = Rows(first[self._logits].numpy()[:, -1:])
        tree = TokenTree(sequences)
        if not len(tree):  # only empty sequences: BOS's row scores their ends
            return [_sequence_score([(head, [0])], s, end_ids) for s in sequences]
        graph = self._step
        binding = graph.session.io_binding()
        for name, value in tree.feeds(self._heads).items():
            binding.bind_cpu_input(name, value)
        for name in graph.past:
            binding.bind_ortvalue_input(name, first[self._feeds[name]])
        binding.bind_output(graph.outputs[0])
        graph.session.run_with_iobinding(binding)
        rows = Rows(binding.get_outputs()[0].numpy(), normalized=True)
        return [_sequence_score([(head, [0]), (rows, tree.rows(s))], s, end_ids) for s in sequences]


def _batch_scores(logits: np.ndarray, normalized: bool, sequences: Sequence[Sequence[int]],
                  end_ids: np.ndarray) -> List[SequenceScore]:
    """Scores from one batch's rows [B, T, vocab], row j of sequence b scoring its token j."""
    width = logits.shape[1]
    positions = [[b * width + j for j in range(len(s) + 1)] for b, s in enumerate(sequences)]
    rows = Rows(logits, [r for p in positions for r in p], normalized=normalized)
    return [_sequence_score([(rows, p)], seq, end_ids) for p, seq in zip(positions, sequences)]


def _padded(sequences: Sequence[Sequence[int]], width: int, start: int = 0) -> np.ndarray:
    """Token ids [len(sequences), width], each sequence from column `start`, right-padded with
    EOS (never read: the decoder is causal)."""
    ids = np.full((len(sequences), width), EOS_ID, dtype=np.int64)
    for b, seq in enumerate(sequences):
        ids[b, start:start + len(seq)] = seq
    return ids


def _sequence_score(parts: List[Tuple[Rows, List[int]]], sequence: Sequence[int], end_ids: np.ndarray) -> SequenceScore:
    """Score of `sequence` from the rows of its positions 0..n, in order over `parts`: position
    j scores token j, position n the end of the sentence."""
    n = len(sequence)
    parts = [p for p in parts if p[1]]
    total, at = 0.0, 0
    for rows, index in parts:
        take = index[:max(0, n - at)]
        total += rows.tokens(take, sequence[at:at + len(take)])
        at += len(index)
    last, index = parts[-1]
    return SequenceScore(total + last.any_of(index[-1], end_ids), n + 1)
