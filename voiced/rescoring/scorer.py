"""Teacher-forced scoring: how well does each candidate sentence fit the utterance's audio?

Every candidate is fed to the decoder as a whole token sequence [BOS, t1 .. tn], all in one
batch, on the encoder states the recogniser already computed; the logits at position k give
log P(t(k+1) | audio, t1 .. tk). The decoder is causal, so sequences are right-padded and
positions past a sequence's end are simply not read: padding cannot change a score.

The BOS position is the same for every candidate and is exactly the first step the recogniser
ran for its transcript, so it is taken from there (Decoder.first_step): its logits score every
candidate's first token, and its cache (BOS self-attention and the cross-attention keys and
values of the encoder states) is repeated across the batch into the cached-step graph, which
then runs t1 .. tn of all candidates at once. Projecting the encoder states once instead of
once per candidate halves the cost of a batch of 8. Both layouts work this way (v1: the merged
graph with ``use_cache_branch`` true; v2: ``decoder_with_past_model``). The uncached graph
scoring [BOS, t1 .. tn] directly (``logits``) is the reference the tests compare against, and
the fallback for a cached graph that cannot take several tokens at once.

The end of a sentence is scored as P(EOS) + P(".") + P("?") + P("!") after its last token:
Moonshine ends most sentences with punctuation, which candidates rendered from the grammar
do not carry, and the sentence ending at that point is what matters.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np

from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.errors import ModelError

log = logging.getLogger(__name__)

_STATES = "encoder_hidden_states"
_BRANCH = "use_cache_branch"
END_MARKS = (".", "?", "!")


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


def end_token_ids(tokenizer) -> List[int]:
    """EOS and the ids of sentence-final punctuation as Moonshine writes it (attached to a word)."""
    ids = [EOS_ID]
    for mark in END_MARKS:
        pieces = tokenizer.encode("a" + mark)
        if pieces and pieces[-1] not in ids:
            ids.append(pieces[-1])
    return ids


class SequenceScorer:
    """Scores token sequences with the graphs of a loaded Decoder (no new sessions)."""

    def __init__(self, decoder, tokenizer):
        self._decoder = decoder
        graph = decoder.first
        self._session = graph.session
        self._ids = graph.ids
        self._inputs = graph.inputs
        if _STATES not in self._inputs:
            raise ModelError(f"decoder graph has no {_STATES} input; cannot rescore")
        self._past = list(graph.past)
        self._logits = graph.outputs[0]
        self._end_ids = np.asarray(end_token_ids(tokenizer), dtype=np.int64)
        self._later = decoder.later
        self._feeds_later = decoder.cache_outputs()
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

    def _cached_logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Logits [B, T+1, vocab] for [BOS] + ids [B, T]: the BOS row from the first step, the
        rest from one cached-step call with the first step's cache repeated over the batch."""
        first = self._decoder.first_step(states)
        head = first[self._logits].numpy()[:, -1:]
        batch = ids.shape[0]
        if ids.shape[1] == 0:
            return np.repeat(head, batch, axis=0)
        graph = self._later
        feeds: Dict[str, np.ndarray] = {graph.ids: ids}
        if _STATES in graph.inputs:
            feeds[_STATES] = np.repeat(np.ascontiguousarray(states, dtype=np.float32), batch, axis=0)
        if _BRANCH in graph.inputs:
            feeds[_BRANCH] = np.array([True])
        for name in graph.past:
            feeds[name] = np.repeat(first[self._feeds_later[name]].numpy(), batch, axis=0)
        rest = graph.session.run([graph.outputs[0]], feeds)[0]
        return np.concatenate([np.repeat(head, batch, axis=0), rest], axis=1)

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]]) -> List[SequenceScore]:
        """Scores of `sequences` (token ids without BOS/EOS), all in one batch."""
        if not sequences:
            return []
        lengths = [len(s) for s in sequences]
        ids = np.full((len(sequences), max(lengths) + 1), EOS_ID, dtype=np.int64)
        ids[:, 0] = BOS_ID
        for b, seq in enumerate(sequences):
            ids[b, 1:1 + len(seq)] = seq
        logits = None
        if self.cached:
            try:
                logits = self._cached_logits(states, ids[:, 1:])
            except Exception as exc:  # onnxruntime's own error types: a graph traced for one token
                log.info("the cached decoder step takes one token at a time (%s); rescoring with the "
                         "uncached step", str(exc).splitlines()[0][:120])
                self.cached = False
        if logits is None:
            logits = self.logits(states, ids)
        return [self._sequence_score(logits[b], ids[b], n) for b, n in enumerate(lengths)]

    def _sequence_score(self, logits: np.ndarray, ids: np.ndarray, n: int) -> SequenceScore:
        """Log-probabilities of ids[1..n] and of the end, from rows 0..n only (the rest is padding)."""
        rows = logits[: n + 1]
        peak = rows.max(axis=1, keepdims=True)
        # float32 is enough: every term of the sum is in (0, 1] and there are ~32k of them.
        log_z = np.log(np.exp(rows - peak).sum(axis=1, dtype=np.float64)) + peak[:, 0]
        tokens = rows[np.arange(n), ids[1:n + 1]] - log_z[:n]
        end = rows[n, self._end_ids] - log_z[n]
        end_peak = end.max()
        end_lp = float(end_peak + np.log(np.exp(end - end_peak).sum()))
        return SequenceScore(float(tokens.sum()) + end_lp, n + 1)
