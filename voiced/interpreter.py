"""Transcript to result: the grammar matcher, then (maybe) the acoustic rescorer, then the
hallucination gate (voiced.hallucination), which holds back a command from audio the recogniser
itself did not take for speech, then the calibrated decision (voiced.decision), which rejects a
reading that is unlikely to be a real command read right. A rejected utterance may get a second
look (the recogniser's reading half an encoder frame later), judged at a stricter threshold.

An Interpreter is everything a grammar reload replaces, built completely before it is used and
then swapped as one value: the matcher (and through it the grammar, its intents and actions),
the rescorer that renders its candidates from that same grammar, the gate with the reloaded
rescoring bounds, the decision with the reloaded budget, and the debug recorder. The
processor reads it once per utterance and hands its grammar to the sink with the result, so a
result is never matched by one grammar, rescored against another or published with a third's
actions.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, cast

from voiced.decision import Decision
from voiced.grammar import address
from voiced.hallucination import GATE, HallucinationGate
from voiced.stages import Encoded, Recogniser, Recorder, Rescorer, TextMatcher

if TYPE_CHECKING:
    from pathlib import Path

    from voiced.asr.transcriber import Transcript
    from voiced.config import Config
    from voiced.grammar.matcher import Matcher, MatchResult
    from voiced.grammar.model import Grammar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interpreter:
    """One grammar's matcher, the rescorer built on it (or None), the debug recorder (or None),
    the hallucination gate, the calibrated decision and the second look's (None: no second look)."""

    matcher: TextMatcher
    rescorer: Optional[Rescorer] = None
    recorder: Optional[Recorder] = None
    gate: HallucinationGate = field(default_factory=HallucinationGate)
    decision: Decision = field(default_factory=Decision)
    second_look: Optional[Decision] = None

    @property
    def grammar(self) -> Grammar:
        """The grammar every result of this interpreter comes from (intents, slots, actions)."""
        return self.matcher.grammar

    def interpret(self, transcript: Transcript, heard: Encoded,
                  strict: bool = False) -> Tuple[MatchResult, Dict[str, float]]:
        """The result for one reading of an utterance (its transcript, and `heard`: the recogniser
        that read it, or its Look), and what each step cost (ms: match, rescore). A result the
        gate held back has decided_by "gate" and is not to be published. `strict`: judged by the
        second look's decision (a Look, or an utterance that began mid-speech: see
        UtteranceProcessor)."""
        t0 = time.perf_counter()
        result = self.matcher.match(transcript.text)
        t1 = time.perf_counter()
        if self.rescorer is not None and transcript.text.strip():
            # Scores grammar sentences on this reading's encoder states (cached: no new encode).
            result = self.rescorer.decide(result, transcript, heard.encoder_states())
        result = self.gate.apply(transcript, result)
        decision = self.second_look if strict and self.second_look is not None else self.decision
        if transcript.text.strip():
            result = decision.decide(result, transcript)
            # last, whichever stage accepted: an intent that needs the address word never goes out without it
            result = address.apply(result, result.addressed, self.grammar)
        t2 = time.perf_counter()
        return result, {"match": (t1 - t0) * 1000.0, "rescore": (t2 - t1) * 1000.0}

    def looks_again(self, transcript: Transcript, result: MatchResult) -> bool:
        """Whether a rejected first reading gets a second look: not when nothing was heard or the
        gate found no speech in the audio."""
        return (self.second_look is not None and not result.recognized and result.decided_by != GATE
                and bool(transcript.text.strip()))


def load_matcher(config: Config, extra: Sequence[Tuple[str, str]] = ()) -> Tuple[Grammar, Matcher]:
    """The grammar named by config.grammar.paths (plus generated `extra` files: (name, YAML text),
    e.g. zigbee2mqtt's devices) and a matcher for it; GrammarError lists every problem."""
    from voiced.grammar.loader import load_grammar
    from voiced.grammar.matcher import Matcher

    paths: List[Path] = [_path(config, p) for p in config.grammar.paths]
    grammar = load_grammar(paths, extra=extra)
    return grammar, Matcher(grammar, threshold=config.grammar.threshold, tie_margin=config.grammar.tie_margin,
                            slot_threshold=config.grammar.slot_threshold)


def make_recorder(config: Config) -> Optional[Recorder]:
    """The debug recorder of config.debug; None when recordings are off."""
    if not config.debug.recordings_dir:
        return None
    from voiced.recorder import Recorder as FileRecorder

    return FileRecorder(_path(config, config.debug.recordings_dir), config.debug.max_recordings)


def build_interpreter(config: Config, transcriber: Recogniser, matcher: Optional[Matcher] = None,
                      recorder: Optional[Recorder] = None, extra: Sequence[Tuple[str, str]] = ()) -> Interpreter:
    """A complete interpreter for `config`: `matcher` (loaded from config.grammar when None), a
    rescorer on it per config.rescoring, and `recorder`. The rescorer scores with the decoder
    and tokenizer of `transcriber` (a voiced.asr.Transcriber, the one the processor runs)."""
    from voiced.decision import make_decision, make_second_look
    from voiced.rescoring import make_rescorer

    if matcher is None:
        _, matcher = load_matcher(config, extra)
    # the rescorer renders candidates from the grammar, so it is built on this very matcher
    rescorer = make_rescorer(config.rescoring, transcriber, matcher)
    searches = rescorer is not None and rescorer.searches_grammar()
    decision = make_decision(config, transcriber, searches)
    return Interpreter(matcher, rescorer, recorder, HallucinationGate.for_config(config), decision,
                       make_second_look(config, decision))


def _path(config: Config, path: str) -> Path:
    # Config.resolve returns None only for None, and `path` is a str
    return cast("Path", config.resolve(path))
