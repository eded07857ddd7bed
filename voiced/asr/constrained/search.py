"""Beam search of the recogniser's decoder inside a grammar automaton.

On the utterance's encoder states (no new encode), the decoder proposes next tokens and the
automaton (voiced.asr.constrained.automaton) says which of them the grammar allows. Each round
is one decoder call (voiced.asr.scoring.growth):

1. every live prefix offers its allowed tokens, scored by the row its last call returned;
   the `beam` best extensions over all prefixes are kept, ranked by the length-normalised score
   (summed log-probability / tokens**alpha, as the rescorer ranks sentences);
2. an extension goes on by the tokens the grammar leaves no choice about (the rest of a word,
   a fixed phrase), as far as the growth allows in one call (the token tree: any length);
3. a prefix at which the grammar can end becomes a finished sentence, scored with the
   probability that the sentence ends there (EOS or final punctuation, as in teacher-forced
   scoring), when its row is read.

It stops when no prefix is left, none is within `stop_gap` of the best finished sentence, or
the prefixes reach `max_tokens`. A finished sentence's score is exactly its teacher-forced
score on the same decoder step, so it can stand beside the rescorer's other sentences.
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.asr.constrained.automaton import Addressed, Cursor, Fill, Said, Start, Trail, events
from voiced.asr.constrained.compile import GrammarAutomaton
from voiced.asr.decoder import log_sum_exp
from voiced.asr.scoring.growth import ROOT, Growth, Handle
from voiced.asr.scoring.steps import ScoringError, SequenceScore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSettings:
    beam: int = 6
    """prefixes kept per round"""
    results: int = 4
    """finished sentences returned, best first"""
    alpha: float = 0.5
    """length normalisation: score / tokens**alpha"""
    stop_gap: float = 1.5
    """a prefix trailing the best finished sentence by more than this (normalised) is dropped"""
    floor: float = -math.inf
    """a prefix ranked below this (normalised) is dropped: where no sentence would be accepted anyway"""
    max_tokens: int = 40


@dataclass(frozen=True)
class Sentence:
    """One grammar sentence the search finished, with what it means."""

    tokens: Tuple[int, ...]
    score: SequenceScore
    intent: str
    template: str
    slots: Dict[str, Said]
    """slot name -> what was said for it (a template's fixed slots with an empty `spoken`)"""
    addressed: bool = False
    """the sentence opens with an address word"""

    def normalized(self, alpha: float) -> float:
        return self.score.normalized(alpha)


@dataclass
class SearchStats:
    calls: int = 0
    rows: int = 0
    ms: float = 0.0
    decoder_ms: float = 0.0


@dataclass
class _Prefix:
    tokens: Tuple[int, ...]
    total: float
    cursor: Cursor
    handle: Handle
    row: np.ndarray
    """log P(next token | audio, tokens) [vocab]"""

    def rank(self, alpha: float) -> float:
        return self.total / max(1, len(self.tokens)) ** alpha


@dataclass
class _Finished:
    found: List[Tuple[float, Tuple[int, ...], SequenceScore, Trail]] = field(default_factory=list)

    def add(self, tokens: Tuple[int, ...], total: float, trail: Trail, alpha: float) -> None:
        score = SequenceScore(total, len(tokens) + 1)
        self.found.append((score.normalized(alpha), tokens, score, trail))

    def best(self) -> float:
        return max((f[0] for f in self.found), default=-math.inf)


def search(compiled: GrammarAutomaton, growth: Growth, end_ids: np.ndarray,
           settings: SearchSettings = SearchSettings(), stats: Optional[SearchStats] = None) -> List[Sentence]:
    """The best `settings.results` grammar sentences for the audio behind `growth`, best first.
    ScoringError when the decoder fails."""
    t0 = time.perf_counter()
    stats = stats if stats is not None else SearchStats()
    automaton = compiled.automaton
    finished = _Finished()
    try:
        live = [_Prefix((), 0.0, automaton.start(), ROOT, growth.begin())]
        while live:
            offers = _offers(live, compiled, end_ids, finished, settings)
            floor = max(finished.best() - settings.stop_gap, settings.floor)
            offers = [o for o in offers if o[0] >= floor]
            if not offers:
                break
            live = _grow(offers, automaton, growth, end_ids, finished, settings, stats)
    except ScoringError:
        raise
    except Exception as exc:  # onnxruntime's own error types
        raise ScoringError(f"constrained decoding failed: {str(exc).splitlines()[0][:160]}") from exc
    stats.ms = (time.perf_counter() - t0) * 1000.0
    return _sentences(compiled, finished, settings.results)


def _offers(live: List[_Prefix], compiled: GrammarAutomaton, end_ids: np.ndarray, finished: _Finished,
            settings: SearchSettings) -> List[Tuple[float, float, _Prefix, int]]:
    """(rank, total, prefix, token) of the `beam` best extensions; finishes the prefixes that
    can end here."""
    automaton = compiled.automaton
    offers: List[Tuple[float, float, _Prefix, int]] = []
    for p in live:
        if p.cursor.accept is not None and _says_something(compiled, p.cursor.accept[0]):
            end = float(log_sum_exp(p.row[end_ids][None].copy())[0])
            finished.add(p.tokens, p.total + end, p.cursor.accept[0], settings.alpha)
        if len(p.tokens) >= settings.max_tokens:
            continue
        allowed = automaton.tokens(p.cursor)
        if not len(allowed):
            continue
        logp = p.row[allowed]
        if len(allowed) > settings.beam:
            top = np.argpartition(-logp, settings.beam - 1)[:settings.beam]
            allowed, logp = allowed[top], logp[top]
        scale = (len(p.tokens) + 1) ** settings.alpha
        for token, lp in zip(allowed.tolist(), logp.tolist()):
            total = p.total + lp
            offers.append((total / scale, total, p, token))
    return heapq.nlargest(settings.beam, offers, key=lambda o: o[0])


def _grow(offers, automaton, growth: Growth, end_ids: np.ndarray, finished: _Finished,
          settings: SearchSettings, stats: SearchStats) -> List[_Prefix]:
    """One decoder call: each offer's token and the tokens forced after it."""
    chains: List[List[int]] = []
    cursors: List[List[Cursor]] = []
    for _rank, _total, p, token in offers:
        cursor = automaton.advance(p.cursor, token)
        chain, along = [token], [cursor]
        while len(chain) < growth.chain and len(p.tokens) + len(chain) < settings.max_tokens:
            allowed = automaton.tokens(cursor)
            if len(allowed) != 1:
                break
            cursor = automaton.advance(cursor, int(allowed[0]))
            chain.append(int(allowed[0]))
            along.append(cursor)
        chains.append(chain)
        cursors.append(along)
    t0 = time.perf_counter()
    handles, rows = growth.grow([o[2].handle for o in offers], chains)
    stats.decoder_ms += (time.perf_counter() - t0) * 1000.0
    stats.calls += 1
    stats.rows += sum(len(c) for c in chains)
    live: List[_Prefix] = []
    for (_rank, total, p, _token), chain, along, handle, got in zip(offers, chains, cursors, handles, rows):
        tokens = p.tokens + (chain[0],)
        for k in range(1, len(chain)):
            cursor = along[k - 1]
            if cursor.accept is not None:  # the sentence may end inside the chain
                end = float(log_sum_exp(got[k - 1][end_ids][None].copy())[0])
                finished.add(tokens, total + end, cursor.accept[0], settings.alpha)
            total += float(got[k - 1][chain[k]])
            tokens += (chain[k],)
        live.append(_Prefix(tokens, total, along[-1], handle, got[-1]))
    return live


def _says_something(compiled: GrammarAutomaton, trail: Trail) -> bool:
    """False for a sentence of only optional words ("A", "I'd like" of an order with every part
    optional): finished early, it would also cut off the real orders trailing it."""
    if not compiled.optional_only:
        return True
    start = None
    for event in events(trail):
        if isinstance(event, Fill):
            return True
        if isinstance(event, Start):
            start = (event.intent, event.template)
    return start not in compiled.optional_only


def _sentences(compiled: GrammarAutomaton, finished: _Finished, limit: int) -> List[Sentence]:
    out: List[Sentence] = []
    for _rank, tokens, score, trail in sorted(finished.found, key=lambda f: -f[0])[:limit]:
        out.append(meaning(compiled, tokens, score, trail))
    return out


def meaning(compiled: GrammarAutomaton, tokens: Sequence[int], score: SequenceScore, trail: Trail) -> Sentence:
    """The intent, template and slots a finished sentence's trail says."""
    intent, number = "", 0
    slots: Dict[str, Said] = {}
    addressed = False
    for event in events(trail):
        if isinstance(event, Addressed):
            addressed = True
        elif isinstance(event, Start):
            intent, number = event.intent, event.template
        elif isinstance(event, Fill):
            slots[event.slot] = event.said
    template = compiled.grammar.intents[intent].templates[number]
    for name, value in template.fixed_slots.items():
        slots[name] = Said(value, "")
    return Sentence(tuple(tokens), score, intent, template.text, slots, addressed)
