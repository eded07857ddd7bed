"""Teacher-forced scoring of given token sequences, run the one way chosen when it is built.

How the decoder runs the sequences (voiced.asr.scoring.steps) depends on the model and on what
its graphs accept, and it is settled once, in `choose_steps`, not on the processing thread:

1. with `int8` on base-en, the token-tree step, when it builds and agrees with the 8-bit step
   it came from (voiced.asr.scoring.eight_bit);
2. else a batch on the cached step (the 8-bit copy when there is one; the float step after a
   token tree), the encoder cache passed once for all rows if the graph broadcasts it, else
   repeated per row;
3. else the uncached graph, which every decoder runs.

Each is tried on a probe (a few sequences on random encoder states, batched and pruned) and the
first that runs is kept, with one INFO line naming it. The probe costs about 80 ms once for
base-en's float step on 2 x86 cores (the 8-bit build around it about 1.9 s, as before). A scorer never changes its way
afterwards: a call that fails raises ScoringError, and the rescorer leaves that utterance to
the matcher.

The transcription itself needs no row at all: its greedy decode already holds its
log-probabilities (transcript_score).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np

from voiced.asr.decoder import Decoder
from voiced.asr.scoring.eight_bit import eight_bit_step
from voiced.asr.scoring.growth import Growth, growth_for
from voiced.asr.scoring.steps import Batched, Pruning, ScoringError, SequenceScore, Tree, Uncached
from voiced.asr.tokenizer import EOS_ID

log = logging.getLogger(__name__)

Steps = Union[Tree, Batched, Uncached]
PROBE = ([5, 6, 7], [5, 8, 9, 10], [11, 12])
"""token sequences a way of scoring must run before it is chosen: several lengths, a shared
opening, one longer than the probe's pruning opening"""
_PROBE_PRUNING = Pruning(after=2, gap=math.inf, min_batch=1)


class SequenceScorer:
    """Scores token sequences (ids without BOS and EOS) on an utterance's encoder states.

    Built by Transcriber.scorer; `steps` is the way chosen for the model (choose_steps),
    `end_ids` the tokens a sentence may end with, and `prune` applies where the way batches.
    """

    def __init__(self, steps: Steps, end_ids: Sequence[int], prune: Optional[Pruning] = None):
        self.steps = steps
        self.prune = prune
        self._end_ids = np.asarray(end_ids, dtype=np.int64)

    @property
    def description(self) -> str:
        """How the sequences run, for logs ("as one token tree on an 8-bit copy of ...")."""
        return self.steps.description

    def score(self, states: np.ndarray, sequences: Sequence[Sequence[int]]) -> List[SequenceScore]:
        """Scores of `sequences` (a pruned one scores -inf) on encoder `states` [1, frames,
        width]; ScoringError when the decoder refuses them."""
        if not sequences:
            return []
        try:
            return self.steps.score(states, sequences, self._end_ids, self.prune)
        except ScoringError:
            raise
        except Exception as exc:  # onnxruntime's own error types
            raise ScoringError(f"scoring {len(sequences)} sentences {self.description} failed: "
                               f"{_first_line(exc)}") from exc

    def growth(self, states: np.ndarray) -> Growth:
        """Next-token log-probabilities after prefixes a search chooses a call at a time, run
        the way the sentences are (voiced.asr.scoring.growth), on encoder `states`."""
        return growth_for(self.steps, states)

    @property
    def end_ids(self) -> np.ndarray:
        """The tokens a sentence may end with (EOS and final punctuation)."""
        return self._end_ids


def choose_steps(decoder: Decoder, probe_states: np.ndarray, int8: bool = False) -> Steps:
    """The first way of scoring, in the order of the module docstring, that runs the probe on
    `probe_states` (encoder states of this model's width); logged once at INFO."""
    t0 = time.perf_counter()
    for steps in _ways(decoder, int8):
        if _runs(steps, probe_states):
            break
    log.info("rescoring scores sentences %s (chosen in %.0f ms)", steps.description,
             (time.perf_counter() - t0) * 1000.0)
    return steps


def _ways(decoder: Decoder, int8: bool) -> Iterator[Steps]:
    """The ways to try, best first, each made only when the one before did not run; the last
    runs on every decoder."""
    step = eight_bit_step(decoder) if int8 else None
    if step is not None and step.tree:
        yield Tree(decoder, step)
        step = None  # the 8-bit step is not kept beside its token tree (memory): the float step is next
    later = step or decoder.later
    yield Batched(decoder, later, share_cross=True)
    yield Batched(decoder, later, share_cross=False)
    yield Uncached(decoder)


def _runs(steps: Steps, states: np.ndarray) -> bool:
    """Whether `steps` scores the probe on `states`, batched and pruned (the uncached graph is
    not tried: nothing is left to fall back to)."""
    if isinstance(steps, Uncached):
        return True
    end_ids = np.asarray([EOS_ID], dtype=np.int64)
    try:
        steps.score(states, PROBE, end_ids, None)
        steps.score(states, PROBE, end_ids, _PROBE_PRUNING)
    except Exception as exc:  # onnxruntime's own error types: a graph that will not take this input
        log.info("the decoder cannot score %s (%s); trying the next way", steps.description, _first_line(exc))
        return False
    return True


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


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]
