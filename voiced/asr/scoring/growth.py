"""Decoding a growing set of token prefixes a call at a time, for a search that chooses the
tokens (voiced.asr.constrained): teacher forcing scores sentences given in full, a search
needs the next token's log-probabilities after prefixes it has only just chosen.

Each way of scoring (voiced.asr.scoring.steps) has a way of growing, made per utterance by
`SequenceScorer.growth(states)` on the encoder states the recogniser already computed:

* `TreeGrowth` (base-en's 8-bit token-tree step): the prefixes form one token tree whose rows
  stay in the self-attention cache; a call adds a chain of tokens under each chosen prefix, as
  new rows that see only their own ancestors (the tree step's attention bias), so a prefix is
  never run twice and a chain of tokens the search has no choice about costs one call with
  the rest. Pruned prefixes stay in the cache, unseen by the others.
* `BatchGrowth` (v2, and base-en's float step): one token per prefix and call, as a batch on
  the cached step, each row on its parent's self-attention cache; the encoder cache is passed
  as the scorer passes it.
* `UncachedGrowth`: every prefix whole through the uncached graph on each call: the fallback
  that runs on every decoder, and the reference in the tests.

Every row comes back as log-probabilities over the vocabulary. The BOS row is the recogniser's
own first step (Decoder.first_step), as in teacher-forced scoring.
"""
from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.asr.decoder import DecodeResult, first_token, log_sum_exp
from voiced.asr.graphs.names import ATTENTION_BIAS, INPUT_IDS, POSITION_IDS
from voiced.asr.graphs.tree_step import MAX_POSITIONS, attention_bias, present_names
from voiced.asr.scoring.steps import Batched, ScoringError, Tree, Uncached, _padded
from voiced.asr.tokenizer import BOS_ID, EOS_ID

Handle = object
"""where a prefix's cache is, as the growth that made it says (opaque to the search)"""
ROOT: Handle = ()
"""the handle of the empty prefix (BOS)"""


def log_softmax(rows: np.ndarray) -> np.ndarray:
    """Log-probabilities of logit rows [N, vocab] (a new array)."""
    out = np.array(rows, dtype=np.float32, copy=True)
    out -= log_sum_exp(out.copy())[:, None]
    return out


class Growth(ABC):
    """Next-token log-probabilities after prefixes chosen one call at a time."""

    chain: float = math.inf
    """most tokens one prefix may grow by in one call"""

    @abstractmethod
    def begin(self) -> np.ndarray:
        """log P(first token | audio) [vocab]: the BOS row."""

    @abstractmethod
    def grow(self, parents: Sequence[Handle], chains: Sequence[Sequence[int]]) -> Tuple[List[Handle], List[np.ndarray]]:
        """Append chains[i] (at least one token, at most `chain`) to the prefix of parents[i],
        in one decoder call. Returns the handle of each longer prefix and its rows [len(chain),
        vocab]: row k holds log P(next token | prefix + chain[:k + 1])."""


class TreeGrowth(Growth):
    """Prefixes as one token tree held in the tree step's self-attention cache."""

    def __init__(self, tree: Tree, states: np.ndarray):
        self._graph = tree._step
        decoder = tree._decoder
        first = decoder.first_step(states)
        self._head = first[tree._logits].numpy()[0, -1:]
        feeds = decoder.cache_outputs()
        self._past: Dict[str, object] = {name: first[feeds[name]] for name in self._graph.past}
        layers = sum(1 for name in self._graph.past if name.endswith(".decoder.key"))
        self._presents = present_names(layers)
        if not set(self._presents.values()) <= set(self._graph.outputs):
            raise ScoringError("the token-tree step does not return its self-attention cache")
        self._heads = tree._heads
        self._rows = 1  # cached rows: BOS, then every token fed
        self._paths: Dict[Handle, Tuple[int, ...]] = {ROOT: (0,)}  # prefix -> its rows, BOS first

    def begin(self) -> np.ndarray:
        return log_softmax(self._head)[0]

    def grow(self, parents: Sequence[Handle], chains: Sequence[Sequence[int]]) -> Tuple[List[Handle], List[np.ndarray]]:
        size = sum(len(c) for c in chains)
        past = self._rows
        allowed = np.zeros((size, past + size), dtype=bool)
        ids = np.zeros((1, size), dtype=np.int64)
        positions = np.zeros((1, size), dtype=np.int64)
        spans: List[Tuple[int, int]] = []
        handles: List[Handle] = []
        row = 0
        for parent, chain in zip(parents, chains):
            path = self._paths[parent]
            if len(path) + len(chain) > MAX_POSITIONS:
                raise ScoringError(f"a prefix of {len(path) + len(chain)} tokens is longer than the token "
                                   f"tree's {MAX_POSITIONS - 1} positions")
            start = row
            for k, token in enumerate(chain):
                allowed[row, list(path)] = True
                allowed[row, past + start:past + row + 1] = True
                ids[0, row], positions[0, row] = token, len(path) + k
                row += 1
            spans.append((start, row))
            handle = (len(self._paths),)
            self._paths[handle] = path + tuple(range(past + start, past + row))
            handles.append(handle)
        graph = self._graph
        binding = graph.session.io_binding()
        binding.bind_cpu_input(INPUT_IDS, ids)
        binding.bind_cpu_input(POSITION_IDS, positions)
        binding.bind_cpu_input(ATTENTION_BIAS, attention_bias(allowed, self._heads))
        for name, value in self._past.items():
            binding.bind_ortvalue_input(name, value)
        wanted = [graph.outputs[0]] + list(self._presents.values())
        for name in wanted:
            binding.bind_output(name)
        graph.session.run_with_iobinding(binding)
        got = dict(zip(wanted, binding.get_outputs()))
        for name, output in self._presents.items():
            self._past[name] = got[output]
        self._rows = past + size
        logits = got[graph.outputs[0]].numpy()[0]  # log-probabilities already (the step's LogSoftmax)
        return handles, [logits[a:b] for a, b in spans]


class BatchGrowth(Growth):
    """One token per prefix and call, the prefixes as a batch on the cached step, each row on
    the self-attention cache of its parent (all parents from the previous call)."""

    chain = 1

    def __init__(self, batched: Batched, states: np.ndarray):
        self._batched, self._states = batched, states
        self._first = batched._decoder.first_step(states)
        self._cache = None
        self._calls = 0

    def begin(self) -> np.ndarray:
        return log_softmax(self._first[self._batched._logits].numpy()[0, -1:])[0]

    def grow(self, parents: Sequence[Handle], chains: Sequence[Sequence[int]]) -> Tuple[List[Handle], List[np.ndarray]]:
        if any(len(c) != 1 for c in chains):
            raise ValueError("a batch grows every prefix by one token per call")
        ids = np.asarray([[c[0]] for c in chains], dtype=np.int64)
        if self._cache is None:
            if any(p != ROOT for p in parents):
                raise ValueError("unknown prefix")
            past = None  # the first step's cache, repeated per row
        else:
            if any(p == ROOT or p[0] != self._calls for p in parents):
                raise ValueError("a batch grows only the prefixes of its previous call")
            rows = [p[1] for p in parents]
            past = {name: value[rows] for name, value in self._cache.items()}
        logits, self._cache = self._batched._run(self._first, self._states, ids, past=past, keep=True)
        self._calls += 1
        rows = logits[:, 0] if self._batched._step.normalized else log_softmax(logits[:, 0])
        return [(self._calls, b) for b in range(len(chains))], [rows[b:b + 1] for b in range(len(chains))]


class UncachedGrowth(Growth):
    """Every prefix whole, [BOS, t1 .. tn], through the uncached graph on each call."""

    def __init__(self, uncached: Uncached, states: np.ndarray):
        self._uncached, self._states = uncached, states

    def begin(self) -> np.ndarray:
        ids = np.asarray([[BOS_ID]], dtype=np.int64)
        return log_softmax(self._uncached.logits(self._states, ids)[0, -1:])[0]

    def grow(self, parents: Sequence[Handle], chains: Sequence[Sequence[int]]) -> Tuple[List[Handle], List[np.ndarray]]:
        prefixes = [tuple(p) + tuple(c) for p, c in zip(parents, chains)]
        ids = _padded(prefixes, max(len(p) for p in prefixes) + 1, start=1)
        ids[:, 0] = BOS_ID
        logits = self._uncached.logits(self._states, ids)
        out = [log_softmax(logits[b, len(p) + 1:len(p) + len(c) + 1]) for b, (p, c) in enumerate(zip(parents, chains))]
        return prefixes, out


def growth_for(steps, states: np.ndarray) -> Growth:
    """The growth that runs the way `steps` runs (see the module docstring)."""
    if isinstance(steps, Tree):
        return TreeGrowth(steps, states)
    if isinstance(steps, Batched):
        return BatchGrowth(steps, states)
    return UncachedGrowth(steps, states)


def greedy_decode(steps, states: np.ndarray, max_tokens: int, never_empty: bool = False,
                  end_ids: Optional[np.ndarray] = None, stop_at_eos: bool = True) -> DecodeResult:
    """Decoder.decode's greedy tokens, grown a token per call the way `steps` runs: on base-en's
    8-bit token-tree step a token costs about a third of the float step's time. The first row
    comes from the float first step either way."""
    result = DecodeResult()
    t0 = time.perf_counter()
    growth = growth_for(steps, states)
    row = growth.begin()
    token = first_token(row, never_empty)
    result.record(row, token, end_ids)
    result.first_step_ms = (time.perf_counter() - t0) * 1000.0
    t1 = time.perf_counter()
    handle, eos = ROOT, EOS_ID if stop_at_eos else -1
    while len(result.tokens) < max_tokens and token != eos:
        handles, rows = growth.grow([handle], [[token]])
        handle, row = handles[0], rows[0][-1]
        token = int(np.argmax(row))
        result.record(row, token, end_ids)
    result.later_steps_ms = (time.perf_counter() - t1) * 1000.0
    return result
