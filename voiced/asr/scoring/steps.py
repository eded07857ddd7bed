"""Teacher-forced scoring: how well does each candidate sentence fit the utterance's audio?

Every candidate is fed to the decoder as a whole token sequence [BOS, t1 .. tn], batched, on
the encoder states the recogniser already computed; the logits at position k give
log P(t(k+1) | audio, t1 .. tk). The decoder is causal, so sequences are right-padded and
positions past a sequence's end are simply not read: padding cannot change a score.

The BOS position is the same for every candidate and is exactly the first step the recogniser
ran for its transcript, so it is taken from there (Decoder.first_step): its logits score every
candidate's first token, and its cache feeds the cached-step graph, which then runs t1 .. tn of
all candidates at once. The cross-attention part of that cache (the encoder's keys and values)
goes in once, batch 1, and the graph's MatMuls broadcast it over the candidates. Both layouts
work this way (v1: the merged graph with ``use_cache_branch`` true; v2:
``decoder_with_past_model``). The uncached graph scoring [BOS, t1 .. tn] directly (``logits``)
is the reference the tests compare against, and the fallback for a cached graph that cannot
take several tokens at once.

With base-en's 8-bit step, the candidates instead go in as one token tree (voiced.asr.graphs.tree_step,
voiced.rescoring.token_tree): every distinct prefix once, one call, nothing padded, and no
pruning needed. On the tuning commands that took 0.72x the time of the pruned batch, with the
same decisions.

With Pruning, the batch runs in two calls: the candidates' distinct openings, then the rest of
those whose opening fits well enough, on their opening's cache. The transcription itself needs
no row at all: its greedy decode already holds its log-probabilities (transcript_score).

The end of a sentence is scored as P(EOS) + P(".") + P("?") + P("!") after its last token:
Moonshine ends most sentences with punctuation, which candidates rendered from the grammar
do not carry, and the sentence ending at that point is what matters.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.asr.decoder import log_sum_exp
from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.asr.graphs.tree_step import MAX_POSITIONS
from voiced.errors import ModelError
from voiced.rescoring.logprobs import Rows
from voiced.rescoring.token_tree import TokenTree

log = logging.getLogger(__name__)

_STATES = "encoder_hidden_states"
_BRANCH = "use_cache_branch"


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


def transcript_score(sequence: Sequence[int], transcript) -> Optional[SequenceScore]:
    """The score of `sequence` read off the recogniser's own greedy decode, when `sequence` is
    the start of its tokens: those decoder steps were exactly the teacher-forced rows, so the
    transcription needs no place in the scoring batch. None when the decode kept no
    log-probabilities or tokenises the text differently (e.g. "%." as one token)."""
    steps = getattr(transcript, "logprobs", None)
    ends = getattr(transcript, "end_logprobs", None)
    n = len(sequence)
    if not steps or not ends or n >= len(ends) or list(transcript.tokens[:n]) != list(sequence):
        return None
    return SequenceScore(float(sum(steps[:n])) + ends[n], n + 1)


class SequenceScorer:
    """Scores token sequences with the graphs of a loaded Decoder; with `int8`, the cached steps
    run on its 8-bit copy of the cached step (Decoder.int8_step), whose rows come out as
    log-probabilities already."""

    def __init__(self, decoder, tokenizer, int8: bool = False):
        self._decoder = decoder
        graph = decoder.first
        self._session = graph.session
        self._ids = graph.ids
        self._inputs = graph.inputs
        if _STATES not in self._inputs:
            raise ModelError(f"decoder graph has no {_STATES} input; cannot rescore")
        self._past = list(graph.past)
        self._logits = graph.outputs[0]
        self._end_ids = np.asarray(tokenizer.end_ids(), dtype=np.int64)
        self._later = (decoder.int8_step() if int8 else None) or decoder.later
        self.int8 = self._later is not decoder.later
        """scoring through the 8-bit copy of the cached step (Decoder.int8_step)"""
        self._feeds_later = decoder.cache_outputs()
        self._grows = decoder.self_attention_outputs()
        self._cross = set(decoder.cross_attention_inputs())
        self.shared_cross = True
        """pass the encoder cache once for all candidates; False after a graph refused to broadcast it"""
        self.cached = True
        """score through the cached-step graph; False after it refused several tokens at once"""

    def _empty_past(self, name: str, batch: int) -> np.ndarray:
        dims = [d if isinstance(d, int) else 0 for d in self._inputs[name].shape]
        dims[0] = batch
        return np.zeros(dims, dtype=np.float32)

    def logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Decoder logits [B, T, vocab] for input ids [B, T] (BOS first) on encoder `states`
        [1, frames, width], from the uncached graph."""
        batch = ids.shape[0]
        states = np.ascontiguousarray(states, dtype=np.float32)
        feeds: Dict[str, np.ndarray] = {
            self._ids: ids, _STATES: np.ascontiguousarray(np.repeat(states, batch, axis=0))}
        if _BRANCH in self._inputs:
            feeds[_BRANCH] = np.array([False])
        for name in self._past:
            feeds[name] = self._empty_past(name, batch)
        return self._session.run([self._logits], feeds)[0]

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]],
              prune: Optional[Pruning] = None) -> List[SequenceScore]:
        """Scores of `sequences` (token ids without BOS/EOS): all in one batch, or with `prune`
        in two (see Pruning), where a pruned sequence scores -inf."""
        if not sequences:
            return []
        if self._later.tree and self.cached and max(len(s) for s in sequences) < MAX_POSITIONS:
            try:
                return self._score_tree(states, sequences)
            except Exception as exc:  # onnxruntime's own error types
                log.info("the token-tree step failed (%s); scoring as a batch", str(exc).splitlines()[0][:120])
                self._later = self._decoder.later
        if prune is not None and self.cached and prune.applies(sequences):
            try:
                return self._score_pruned(states, sequences, prune)
            except Exception as exc:  # onnxruntime's own error types: a graph traced for one token
                self._uncached(exc)
        lengths = [len(s) for s in sequences]
        ids = _padded(sequences, max(lengths) + 1, start=1)
        ids[:, 0] = BOS_ID
        logits, normalized = None, False
        if self.cached:
            try:
                logits, normalized = self._cached_logits(states, ids[:, 1:]), self._later.normalized
            except Exception as exc:  # as above
                self._uncached(exc)
        if logits is None:
            logits = self.logits(states, ids)
        width = logits.shape[1]
        positions = [[b * width + j for j in range(n + 1)] for b, n in enumerate(lengths)]
        rows = Rows(logits, [r for p in positions for r in p], normalized=normalized)
        return [_sequence_score([(rows, p)], seq, self._end_ids) for p, seq in zip(positions, sequences)]

    def _score_tree(self, states: np.ndarray, sequences: Sequence[Sequence[int]]) -> List[SequenceScore]:
        """One call of the token-tree step (voiced.asr.graphs.tree_step) on every distinct prefix of
        `sequences` after the first step's BOS: a sequence's first token is scored by the BOS
        row, each later token and its end by the node of the prefix before it."""
        first = self._decoder.first_step(states)
        head = Rows(first[self._logits].numpy()[:, -1:])
        tree = TokenTree(sequences)
        if not len(tree):  # only empty sequences: BOS's row scores their ends
            return [_sequence_score([(head, [0])], s, self._end_ids) for s in sequences]
        graph = self._later
        binding = graph.session.io_binding()
        heads = graph.inputs["attention_bias"].shape[1]
        for name, value in tree.feeds(heads).items():
            binding.bind_cpu_input(name, value)
        for name in graph.past:
            binding.bind_ortvalue_input(name, first[self._feeds_later[name]])
        binding.bind_output(graph.outputs[0])
        graph.session.run_with_iobinding(binding)
        rows = Rows(binding.get_outputs()[0].numpy(), normalized=True)
        return [_sequence_score([(head, [0]), (rows, tree.rows(s))], s, self._end_ids) for s in sequences]

    def _uncached(self, exc: Exception) -> None:
        log.info("the cached decoder step takes one token at a time (%s); rescoring with the "
                 "uncached step", str(exc).splitlines()[0][:120])
        self.cached = False

    def _cached_logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Logits [B, T+1, vocab] for [BOS] + ids [B, T]: the BOS row from the first step, the
        rest from one cached-step call on the first step's cache."""
        first = self._decoder.first_step(states)
        head = first[self._logits].numpy()[:, -1:]
        if self._later.normalized:  # so that every row is log-probabilities, as the later ones
            head = head - log_sum_exp(head[0].copy())[:, None]
        batch = ids.shape[0]
        if ids.shape[1] == 0:
            return np.repeat(head, batch, axis=0)
        rest, _ = self._later_step(first, states, ids)
        return np.concatenate([np.repeat(head, batch, axis=0), rest], axis=1)

    def _score_pruned(self, states: np.ndarray, sequences: Sequence[Sequence[int]],
                      prune: Pruning) -> List[SequenceScore]:
        """Call 1: the distinct openings (first k tokens) after BOS, keeping their cache.
        Call 2: the rest of each sequence whose opening is within `prune.gap` of the best, on
        its opening's cache. Position 0 is BOS (the first step), 1..k call 1, k+1.. call 2."""
        k = prune.after
        first = self._decoder.first_step(states)
        head = Rows(first[self._logits].numpy()[:, -1:])
        opening: Dict[Tuple[int, ...], int] = {}
        for seq in sequences:
            opening.setdefault(tuple(seq[:k]), len(opening))
        logits, cache = self._later_step(first, states, _padded(list(opening), k), keep=True)
        level1 = Rows(logits, [u * k + j for words, u in opening.items() for j in range(len(words))],
                      self._later.normalized)
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
                out[b] = _sequence_score(parts[b], s, self._end_ids)
        if not rest:
            return out
        width = max(len(sequences[b]) for b in rest) - k
        parents = [opening[tuple(sequences[b][:k])] for b in rest]
        logits, _ = self._later_step(first, states, _padded([sequences[b][k:] for b in rest], width),
                                     past={n: v[parents] for n, v in cache.items()})
        tails = [[i * width + j for j in range(len(sequences[b]) - k)] for i, b in enumerate(rest)]
        level2 = Rows(logits, [r for t in tails for r in t], self._later.normalized)
        for b, tail in zip(rest, tails):
            out[b] = _sequence_score(parts[b] + [(level2, tail)], sequences[b], self._end_ids)
        return out

    def _later_step(self, first: Dict[str, object], states: np.ndarray, ids: np.ndarray,
                    past: Optional[Dict[str, np.ndarray]] = None, keep: bool = False):
        """(logits, self-attention cache with `keep`, else None) of one cached-step call."""
        if self.shared_cross:
            try:
                return self._run_later(first, states, ids, True, past, keep)
            except Exception as exc:  # onnxruntime's own error types: a graph that will not broadcast
                log.info("the cached decoder step needs the encoder cache per candidate (%s)",
                         str(exc).splitlines()[0][:120])
                self.shared_cross = False
        return self._run_later(first, states, ids, False, past, keep)

    def _run_later(self, first: Dict[str, object], states: np.ndarray, ids: np.ndarray, share: bool,
                   past: Optional[Dict[str, np.ndarray]], keep: bool):
        """One cached-step call on ids [B, T] after BOS (the first step's cache) or after `past`
        (a self-attention cache per row). With `share`, the encoder states and the
        cross-attention cache go in once (batch 1) and the graph's MatMuls broadcast them over
        the rows: the same numbers without B copies of every layer's encoder keys and values
        (about 30 MB for 12 candidates on 3 s of base-en audio)."""
        graph = self._later
        batch = ids.shape[0]
        binding = graph.session.io_binding()
        binding.bind_cpu_input(graph.ids, np.ascontiguousarray(ids))
        if _STATES in graph.inputs:
            one = np.ascontiguousarray(states, dtype=np.float32)
            binding.bind_cpu_input(_STATES, one if share else np.repeat(one, batch, axis=0))
        if _BRANCH in graph.inputs:
            binding.bind_cpu_input(_BRANCH, np.array([True]))
        for name in graph.past:
            if past is not None and name in past:
                binding.bind_cpu_input(name, np.ascontiguousarray(past[name]))
            elif share and name in self._cross:
                binding.bind_ortvalue_input(name, first[self._feeds_later[name]])
            else:
                binding.bind_cpu_input(name, np.repeat(first[self._feeds_later[name]].numpy(), batch, axis=0))
        wanted = [graph.outputs[0]] + (list(self._grows.values()) if keep else [])
        for name in wanted:
            binding.bind_output(name)
        graph.session.run_with_iobinding(binding)
        got = dict(zip(wanted, binding.get_outputs()))
        cache = {p: got[o].numpy() for p, o in self._grows.items()} if keep else None
        return got[graph.outputs[0]].numpy(), cache


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
