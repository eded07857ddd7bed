"""Teacher-forced scoring: how well does each candidate sentence fit the utterance's audio?

Every candidate is fed to the decoder's uncached (first-step) graph as a whole token sequence
[BOS, t1 .. tn] in one batch, on the encoder states the recogniser already computed; the
logits at position k give log P(t(k+1) | audio, t1 .. tk). The decoder is causal, so sequences
are right-padded and positions past a sequence's end are simply not read: no attention mask
is needed and padding cannot change a score.

* v1 (merged decoder): ``use_cache_branch`` false and zero-length past tensors [B, heads, 0, dim].
* v2: ``decoder_model`` (the first-step graph) takes ``decoder_input_ids`` [B, T] directly.

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
    """Scores token sequences with the first-step graph of a loaded Decoder (no new sessions)."""

    def __init__(self, decoder, tokenizer):
        graph = decoder.first
        self._session = graph.session
        self._ids = graph.ids
        self._inputs = graph.inputs
        if _STATES not in self._inputs:
            raise ModelError(f"decoder graph has no {_STATES} input; cannot rescore")
        self._past = list(graph.past)
        self._logits = graph.outputs[0]
        self._end_ids = np.asarray(end_token_ids(tokenizer), dtype=np.int64)

    def _empty_past(self, name: str, batch: int) -> np.ndarray:
        dims = [d if isinstance(d, int) else 0 for d in self._inputs[name].shape]
        dims[0] = batch
        return np.zeros(dims, dtype=np.float32)

    def logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Decoder logits [B, T, vocab] for input ids [B, T] on encoder `states` [1, frames, width]."""
        batch = ids.shape[0]
        states = np.ascontiguousarray(states, dtype=np.float32)
        feeds: Dict[str, np.ndarray] = {
            self._ids: ids, _STATES: np.ascontiguousarray(np.repeat(states, batch, axis=0))}
        if _BRANCH in self._inputs:
            feeds[_BRANCH] = np.array([False])
        for name in self._past:
            feeds[name] = self._empty_past(name, batch)
        return self._session.run([self._logits], feeds)[0]

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]]) -> List[SequenceScore]:
        """Scores of `sequences` (token ids without BOS/EOS), all in one decoder call."""
        if not sequences:
            return []
        lengths = [len(s) for s in sequences]
        width = max(lengths) + 1
        ids = np.full((len(sequences), width), EOS_ID, dtype=np.int64)
        ids[:, 0] = BOS_ID
        for b, seq in enumerate(sequences):
            ids[b, 1:1 + len(seq)] = seq
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
