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
from typing import Dict, List, Optional, Sequence

import numpy as np

from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.errors import ModelError

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
        self._end_ids = np.asarray(tokenizer.end_ids(), dtype=np.int64)
        self._later = decoder.later
        self._feeds_later = decoder.cache_outputs()
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

    def _cached_logits(self, states: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Logits [B, T+1, vocab] for [BOS] + ids [B, T]: the BOS row from the first step, the
        rest from one cached-step call on the first step's cache."""
        first = self._decoder.first_step(states)
        head = first[self._logits].numpy()[:, -1:]
        batch = ids.shape[0]
        if ids.shape[1] == 0:
            return np.repeat(head, batch, axis=0)
        if self.shared_cross:
            try:
                rest = self._run_later(first, states, ids, share=True)
            except Exception as exc:  # onnxruntime's own error types: a graph that will not broadcast
                log.info("the cached decoder step needs the encoder cache per candidate (%s)",
                         str(exc).splitlines()[0][:120])
                self.shared_cross = False
        if not self.shared_cross:
            rest = self._run_later(first, states, ids, share=False)
        return np.concatenate([np.repeat(head, batch, axis=0), rest], axis=1)

    def _run_later(self, first: Dict[str, object], states: np.ndarray, ids: np.ndarray, share: bool) -> np.ndarray:
        """One cached-step call for all candidates. With `share`, the encoder states and the
        cross-attention cache go in once (batch 1) and the graph's MatMuls broadcast them over
        the candidates: the same numbers without B copies of every layer's encoder keys and
        values (about 30 MB for 12 candidates on 3 s of base-en audio)."""
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
            value = first[self._feeds_later[name]]
            if share and name in self._cross:
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, np.repeat(value.numpy(), batch, axis=0))
        binding.bind_output(graph.outputs[0])
        graph.session.run_with_iobinding(binding)
        return binding.get_outputs()[0].numpy()

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
        return self._sequence_scores(logits, ids, lengths)

    def _sequence_scores(self, logits: np.ndarray, ids: np.ndarray, lengths: List[int]) -> List[SequenceScore]:
        """Log-probabilities of ids[b, 1..n] and of the end, from rows 0..n of each sequence
        (the rows past its end are padding and never read)."""
        width = logits.shape[1]
        flat = logits.reshape(-1, logits.shape[-1])
        rows = np.concatenate([b * width + np.arange(n + 1) for b, n in enumerate(lengths)])
        log_z = _log_sum_exp(flat[rows])
        out, at = [], 0
        for b, n in enumerate(lengths):
            base = b * width
            tokens = flat[base + np.arange(n), ids[b, 1:n + 1]] - log_z[at:at + n]
            end = flat[base + n, self._end_ids] - log_z[at + n]
            out.append(SequenceScore(float(tokens.sum()) + float(_log_sum_exp(end[None])[0]), n + 1))
            at += n + 1
        return out


def _log_sum_exp(rows: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) per row of a 2-D float32 array, computed in place (`rows` is a scratch
    copy: a batch's logits are tens of MB, and a second temporary would double the time). float32
    is enough: every term of the sum is in (0, 1] and there are ~32k of them."""
    peak = rows.max(axis=1)
    rows -= peak[:, None]
    np.exp(rows, out=rows)
    return np.log(rows.sum(axis=1)) + peak
