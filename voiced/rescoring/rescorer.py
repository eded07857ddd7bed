"""Second stage after the fuzzy matcher: let the acoustic model choose among grammar readings.

    rescorer = Rescorer(transcriber, matcher, config.rescoring)
    result = rescorer.decide(matcher.match(t.text), t, transcriber.encoder_states())

The candidate sentences are scored on the encoder states the transcription already used (no
second encoder pass): the matcher-based ones first, and the whole-sentence neighbours in a
second decoder call only when none of those fits within `neighbours_gap` of the free
transcription. A score is the
summed token log-probability divided by tokens**length_alpha: the plain sum (alpha 0) favours
short sentences, the mean (alpha 1) lets a wrong word hide in a long one; 0.5 accepted the
most commands at the same safety margin against out-of-grammar speech on the tuning set. The
best reading wins; it is rejected when the free transcription's score is more than `max_gap`
above it, i.e. the speaker most likely said something the grammar cannot say.

With `constrained` on, the decoder also searches the grammar's own sentences on the audio
(voiced.asr.constrained): its best few join the candidates with the scores the search gave
them (the same teacher-forced scores, no further call), so a command the transcript garbled
past any parse still has its sentence among them. The gap decides as before, against
`constrained_max_gap` when the search ran: the best sentence of the whole grammar fits stray
speech better than the best of a few candidates does. And as scores are length-normalised, a
long stretch of stray speech can fit a short command better than its own transcript does: when
the search ran, a transcript of more than `constrained_words_ratio` words per word of the best
sentence (plus one) is not recognized. `auto` (the default) searches, beside the neighbour index,
only the templates that say a slot value and the intents too large for the index: a grammar of
fixed phrases is rescored exactly as with `off`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from voiced.asr.constrained import SearchSettings, SearchStats, compile_grammar
from voiced.asr.constrained import search as grammar_search
from voiced.asr.scoring import Pruning, ScoringError, SequenceScore, transcript_score
from voiced.grammar import address
from voiced.grammar.matcher import FUZZY, RESCORING, MatchResult, SlotMatch
from voiced.rescoring.candidates import Reading, Restyler, build_readings, grammar_readings, neighbour_readings
from voiced.rescoring.carriers import CarrierRenderer
from voiced.rescoring.neighbours import SentenceIndex

if TYPE_CHECKING:
    from voiced.config import RescoringConfig

log = logging.getLogger(__name__)

_FINAL_PUNCT = re.compile(r"[\s.?!]+$")
_WORD = re.compile(r"[\w']+")
FLOOR_SLACK = 1.0
"""the grammar-constrained search drops prefixes ranked more than constrained_max_gap + this below
the free transcription: a prefix's rank (log-probability / tokens**alpha so far) can still rise
as well-fitting tokens follow, but rarely by more"""

# One result type for the whole interpreter: MatchResult says which stage decided it
# (decided_by) and carries the rescoring figures when rescoring ran.
RescoredResult = MatchResult


@dataclass
class Evaluation:
    """Every reading with its acoustic score, and the free transcription's score."""

    readings: List[Reading]
    surfaces: List[str]
    scores: List[float]
    """normalised log-probability per reading (same order as readings)"""
    free_score: float
    ms: float = 0.0
    raw: List["tuple[float, int]"] = field(default_factory=list)
    """(summed log-probability, terms) per reading, then the free transcription's: for calibration"""
    scored: bool = True
    """False when the decoder was not needed (one reading, said exactly): scores are then 0"""
    constrained_ms: Optional[float] = None
    """time of the grammar-constrained search, when it ran"""

    def ranked(self) -> List[int]:
        return sorted(range(len(self.scores)), key=lambda k: -self.scores[k])

    def best_and_margin(self) -> "tuple[int, float]":
        """Index of the best reading and its margin over the best reading with a different answer."""
        order = self.ranked()
        best = order[0]
        key = self.readings[best].key
        runner = next((self.scores[k] for k in order[1:] if self.readings[k].key != key), None)
        return best, (math.inf if runner is None else self.scores[best] - runner)


def confidence(gap: float, margin: float, max_gap: float) -> float:
    """0-1: the mean of how close the reading comes to the free transcription (1 at gap <= 0,
    0 at the rejection threshold `max_gap`) and how far it leads the best reading with another
    answer (1 - exp(-margin / (max_gap / 4)); 1 when there is no other answer)."""
    scale = max(max_gap, 1e-6)
    fit = min(1.0, max(0.0, 1.0 - max(gap, 0.0) / scale))
    separation = 1.0 - math.exp(-max(margin, 0.0) / (scale / 4.0)) if math.isfinite(margin) else 1.0
    return 0.5 * fit + 0.5 * separation


def should_rescore(match: MatchResult, config) -> bool:
    """Mode always: every utterance; uncertain: rejections and matches below `uncertain_below`."""
    if config.mode == "always":
        return True
    if config.mode == "uncertain":
        return not match.recognized or match.confidence < config.uncertain_below
    return False


class Rescorer:
    """Decides between the matcher's result and the acoustically best grammar reading.

    Scores with the transcriber's own decoder (Transcriber.scorer) and tokenizer; runs on the
    processing thread.
    """

    def __init__(self, transcriber, matcher, config):
        self.config = config
        self.matcher = matcher
        self.tokenizer = transcriber.tokenizer
        prune = Pruning(config.prune_after, config.prune_gap) if config.prune_after > 0 else None
        self.scorer = transcriber.scorer(int8=config.int8_step, prune=prune)
        self._lists = matcher.slot_lists()
        self._carriers = CarrierRenderer(matcher.grammar)
        self._index = None
        if config.mode != "off" and config.neighbours > 0 and config.constrained in ("off", "auto"):
            self._index = SentenceIndex(matcher.grammar, config.max_index_sentences,
                                        searched=config.constrained == "auto")
        self._automaton = self._compile(matcher.grammar, transcriber.tokenizer) if config.mode != "off" else None
        self._search = SearchSettings(beam=config.constrained_beam, alpha=config.length_alpha)
        self._floor_slack = FLOOR_SLACK

    def _compile(self, grammar, tokenizer):
        """The grammar automaton `constrained` asks for, or None. The search finds what the
        neighbours would, from the audio (on the tuning split it accepted the same commands
        without them, in less time), so fallback and always search the whole grammar instead of
        the index. auto searches, beside the index, the templates that say a slot value (a
        misheard value is what no transcript-based list holds) and the intents the index could
        not hold whole. A fixed phrase it leaves to the index: searched, short phrases such as
        "forget it" fitted sung music about as well as its free transcription did."""
        mode = self.config.constrained
        if mode == "off":
            return None
        only = None
        if mode == "auto" and self._index is not None:  # with no index, auto searches the whole grammar
            only = self._index.plan.left_out | grammar.templates_saying_a_slot()
            if not only:
                return None
        automaton = compile_grammar(grammar, tokenizer, only=only)
        if automaton.left_out:
            intent, template, why = automaton.left_out[0]
            log.info("grammar-constrained decoding leaves out %d template(s), e.g. %r of %s (%s); their "
                     "commands get the matcher's candidates", len(automaton.left_out), template, intent, why)
        log.debug("grammar automaton %s built in %.0f ms", automaton.stats(), automaton.ms)
        return automaton

    def searches_grammar(self) -> bool:
        """Whether the grammar-constrained search may run (the decision's calibration depends on it)."""
        return self._automaton is not None

    def max_gap_for(self, reading: Reading) -> float:
        """The rejection threshold for `reading`: a one-word command ("next", "pause") is what
        stray speech most easily resembles, so it needs the free transcription to agree more."""
        if len(reading.sentence.split()) <= 1:
            return min(self.config.max_gap, self.config.max_gap_one_word)
        return self.config.max_gap

    def should_run(self, match: MatchResult) -> bool:
        return should_rescore(match, self.config)

    def evaluate(self, text: str, states: np.ndarray, limit: Optional[int] = None,
                 transcript=None) -> Optional[Evaluation]:
        """Score every reading of `text` and the free transcription; None when there is nothing
        to score. The readings are the matcher-based list (at most `limit`, default
        max_candidates) and, unless one of those already fits within `neighbours_gap` of the
        free transcription, the grammar sentences that sound closest to the whole transcript
        and (`constrained: fallback`) the best sentences of the grammar-constrained search; with
        `constrained: always` those are searched for whenever rescoring runs.
        With the `transcript` (voiced.asr.Transcript) of `text`, the free transcription's score
        comes from its own decode instead of the decoder call."""
        t0 = time.perf_counter()
        free = _FINAL_PUNCT.sub("", text.strip())
        if not free:
            return None
        readings = build_readings(self.matcher, text, limit or self.config.max_candidates,
                                  self.config.values_per_slot, lists=self._lists, carriers=self._carriers)
        restyle = Restyler(free, self.matcher.skip, self.matcher.address)
        surfaces = [restyle(r.sentence) for r in readings]
        scored = _Scored(self, states, free, transcript)
        exact = free in surfaces  # said exactly: nothing sounds closer
        search = self._index is not None and not exact
        constrained = self._automaton is not None and (self.config.constrained == "always" or not readings)
        fallback = self._automaton is not None and not constrained and not exact
        if (search or fallback) and readings and math.isfinite(self.config.neighbours_gap):
            scored.add(surfaces)  # a first call: a good enough fit needs no search
            wide = scored.gap(surfaces) > self.config.neighbours_gap
            search, constrained = search and wide, constrained or (fallback and wide)
        else:
            constrained = constrained or fallback
        constrained_ms = None
        if constrained:
            t1 = time.perf_counter()
            own = scored.by_text.get(free)
            floor = (own.normalized(self.config.length_alpha) - self.config.constrained_max_gap - self._floor_slack
                     if own is not None else -math.inf)
            for reading, surface, score in self._grammar_readings(states, surfaces, floor):
                readings.append(reading)
                surfaces.append(surface)
                scored.by_text.setdefault(surface, score)
            constrained_ms = (time.perf_counter() - t1) * 1000.0
        if search:
            more = neighbour_readings(self.matcher, self._index, text, self.config.neighbours, readings)
            readings += more
            surfaces += [restyle(r.sentence) for r in more]
        if not readings:
            return None
        if len(readings) == 1 and surfaces[0] == free:
            # The recogniser said exactly the one grammar sentence: gap 0, no rival, no decoder call.
            return Evaluation(readings, surfaces, [0.0], 0.0, (time.perf_counter() - t0) * 1000.0, scored=False,
                              constrained_ms=constrained_ms)
        scored.add(surfaces)
        by_text, alpha = scored.by_text, self.config.length_alpha
        return Evaluation(readings, surfaces, [by_text[s].normalized(alpha) for s in surfaces],
                          by_text[free].normalized(alpha), (time.perf_counter() - t0) * 1000.0,
                          [(by_text[s].total, by_text[s].count) for s in surfaces + [free]],
                          constrained_ms=constrained_ms)

    def _grammar_readings(self, states: np.ndarray, surfaces: List[str], floor: float):
        """(reading, surface, score) of the best sentences of the grammar-constrained search,
        but those already among `surfaces` (the same sentence in another spelling stays: the
        decoder's own spelling may fit better). Prefixes ranked below `floor` are not searched."""
        stats = SearchStats()
        found = grammar_search(self._automaton, self.scorer.growth(states), self.scorer.end_ids,
                               dataclasses.replace(self._search, floor=floor), stats)
        log.debug("grammar-constrained search: %d sentences, %d decoder calls of %d rows, %.0f ms",
                  len(found), stats.calls, stats.rows, stats.ms)
        return [(r, s, score) for r, s, score in grammar_readings(found, self.tokenizer, self.matcher.address)
                if s not in surfaces]

    def decide(self, match: MatchResult, transcript, encoder_states: np.ndarray) -> MatchResult:
        """The final result for one utterance: `match` itself, or what rescoring concluded."""
        if not self.should_run(match) or address.settled(match, self.matcher.grammar):
            return _tagged(match, FUZZY)
        try:
            ev = self.evaluate(transcript.text, encoder_states, transcript=transcript)
        except ScoringError as exc:
            log.warning("no rescoring for this utterance: %s", exc)
            return _tagged(match, FUZZY)
        if ev is None:
            return _tagged(match, FUZZY)
        best, margin = ev.best_and_margin()
        reading = ev.readings[best]
        gap = ev.free_score - ev.scores[best]
        info = {"gap": gap, "margin": margin if math.isfinite(margin) else None, "best": ev.scores[best],
                "free": ev.free_score, "sentence": ev.surfaces[best], "candidates": len(ev.readings), "ms": ev.ms,
                "scored": ev.scored, "source": reading.source}
        if ev.constrained_ms is not None:
            info["constrained_ms"] = ev.constrained_ms
        result = MatchResult(text=match.text, decided_by=RESCORING, rescoring=info)
        limit = self.max_gap_for(reading)
        searched = ev.constrained_ms is not None
        if searched:  # the best of the whole grammar: stray speech comes closer
            limit = min(limit, self.config.constrained_max_gap)
        if searched and _words(transcript.text) > self.config.constrained_words_ratio * (_words(ev.surfaces[best]) + 1):
            result.reason = "rescoring: the transcription says far more than any command"
            result.confidence = confidence(gap, margin, self.config.max_gap)
            result.alternatives = [(reading.intent, result.confidence, reading.slots)]
        elif gap > limit:
            result.reason = "rescoring: the transcription fits better than any command"
            result.confidence = confidence(gap, margin, self.config.max_gap)
            result.alternatives = [(reading.intent, result.confidence, reading.slots)]
        else:
            result.recognized = True
            result.intent = reading.intent
            result.slots = _placed(reading.slots, match, reading.intent)
            result.template = reading.template
            result.confidence = confidence(gap, margin, self.config.max_gap)
        result = address.apply(result, reading.addressed and match.addressed, self.matcher.grammar)
        log.debug("rescored %r: %s %s gap %.2f margin %.2f (%d candidates, %.0f ms)", transcript.text,
                  reading.intent, {k: s.value for k, s in reading.slots.items()}, gap, margin, len(ev.readings), ev.ms)
        return result


class _Scored:
    """The scores of one utterance's sentences, each sentence scored once, in as many decoder
    calls as `add` is called with new sentences."""

    def __init__(self, rescorer: Rescorer, states: np.ndarray, free: str, transcript):
        self._rescorer, self._states, self.free = rescorer, states, free
        self.by_text: Dict[str, SequenceScore] = {}
        own = transcript_score(rescorer.tokenizer.encode(free), transcript)
        if own is not None:  # None: the free text goes in the first call too
            self.by_text[free] = own

    def add(self, texts: List[str]) -> None:
        new = [t for t in dict.fromkeys(texts + [self.free]) if t not in self.by_text]
        if new:
            r = self._rescorer
            ids = [r.tokenizer.encode(t) for t in new]
            self.by_text.update(zip(new, r.scorer.score(self._states, ids)))

    def gap(self, texts: List[str]) -> float:
        """How far the free transcription's normalised score is above the best of `texts`."""
        alpha = self._rescorer.config.length_alpha
        return self.by_text[self.free].normalized(alpha) - max(self.by_text[t].normalized(alpha) for t in texts)


def make_rescorer(config: RescoringConfig, transcriber, matcher) -> Optional[Rescorer]:
    """The rescorer for `config` (the rescoring section); None when rescoring is off."""
    if config.mode == "off":
        return None
    return Rescorer(transcriber, matcher, config)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _placed(slots: Dict[str, SlotMatch], match: MatchResult, intent: str) -> Dict[str, SlotMatch]:
    """`slots`, each with the characters of the text its words take up: where the text matcher's
    parse of the same intent put a slot of that name, when the reading has no place of its own
    (a sentence found by sound, or a value the audio chose for words the matcher could not place)."""
    heard: Dict[str, SlotMatch] = {}
    for name, _, parsed in reversed(match.alternatives):
        if name == intent:
            heard.update(parsed)
    if match.intent == intent:
        heard.update(match.slots)
    return {name: slot if slot.span is not None or name not in heard
            else dataclasses.replace(slot, span=heard[name].span) for name, slot in slots.items()}


def _tagged(match: MatchResult, decided_by: str) -> MatchResult:
    return dataclasses.replace(match, decided_by=decided_by)
