"""The processor against its typed seams: a stand-in recogniser, real matchers and the real
publisher (writing `topic payload` lines). A reload swaps one Interpreter, and a result is
published with the actions of the grammar that produced it, even when the swap lands mid-pass."""
from __future__ import annotations

import io
from typing import List, Tuple

import numpy as np
import pytest

from voiced.asr.transcriber import Transcript
from voiced.config import Config
from voiced.vad.endpoint import AUDIO, AUDIO_COMPLETE, SPEECH_END, SPEECH_START, Event
from voiced.grammar.loader import load_grammar_text
from voiced.grammar.matcher import Matcher, MatchResult
from voiced.grammar.model import Grammar
from voiced.interpreter import Interpreter
from voiced.mqtt.payloads import Utterance
from voiced.pipeline import UtteranceProcessor
from voiced.mqtt.publisher import Publisher, StdoutLink, topics_for
from voiced.stages import Finished, Observer, Recogniser, Sink, SpeechListener, TextMatcher

pytestmark = pytest.mark.timeout(60)


def grammar_text(topic: str) -> str:
    return f"""
lists:
  area: {{values: [kitchen, office]}}
intents:
  LightOn:
    data:
      - sentences: ["turn on the {{area}} light"]
    action:
      topic: "{topic}/{{area}}/set"
      payload: "ON"
"""


class FakeRecogniser:
    """Hears `text` for every utterance; counts what it was asked to do."""

    def __init__(self, text: str = "turn on the kitchen light"):
        self.text = text
        self.fed = 0
        self.finalized = 0

    def reset(self) -> None:
        self.fed = 0

    def feed(self, chunk: np.ndarray) -> None:
        self.fed += len(chunk)

    def finalize(self) -> Transcript:
        self.finalized += 1
        return Transcript(text=self.text, timings={"n_tokens": 6.0})

    def encoder_states(self) -> np.ndarray:
        return np.zeros((1, 1, 1), dtype=np.float32)


class SwapDuringMatch:
    """A matcher that lets a reload land while it matches, as the main thread may."""

    def __init__(self, matcher: Matcher, swap):
        self._matcher = matcher
        self._swap = swap

    @property
    def grammar(self):
        return self._matcher.grammar

    def match(self, text: str) -> MatchResult:
        result = self._matcher.match(text)
        self._swap()
        return result


class Tally(Observer):
    def __init__(self) -> None:
        self.discarded: List[str] = []
        self.finished: List[Finished] = []

    def speculation_discarded(self, why: str) -> None:
        self.discarded.append(why)

    def utterance_finished(self, finished: Finished) -> None:
        self.finished.append(finished)


def utterance(processor: UtteranceProcessor, speculate: bool = False) -> None:
    audio = np.zeros(1600, dtype=np.float32)
    processor.handle(Event(SPEECH_START, 0.0, 1, start_s=0.0))
    processor.handle(Event(AUDIO, 0.0, 1, audio))
    if speculate:
        processor.handle(Event(AUDIO_COMPLETE, 0.1, 1))
    processor.handle(Event(SPEECH_END, 0.1, 1, end_s=0.1, decided_s=0.6))


def publisher_lines() -> Tuple[Publisher, io.StringIO]:
    config = Config()
    out = io.StringIO()
    return Publisher(StdoutLink(out), topics_for(config), config.mqtt, config.site_id), out


def action_topics(out: io.StringIO) -> List[str]:
    return [line.split(" ", 1)[0] for line in out.getvalue().splitlines() if line.endswith("/set ON")]


def test_the_concrete_stages_fit_their_seams():
    publisher, _ = publisher_lines()
    recogniser: Recogniser = FakeRecogniser()
    matcher: TextMatcher = Matcher(load_grammar_text(grammar_text("old")))
    sink: Sink = publisher
    assert isinstance(sink, Sink) and recogniser and matcher


def test_a_reload_during_a_pass_publishes_the_result_with_its_own_grammars_actions():
    publisher, out = publisher_lines()
    old = Matcher(load_grammar_text(grammar_text("old")))
    new = Interpreter(Matcher(load_grammar_text(grammar_text("new"))))
    processor = UtteranceProcessor(FakeRecogniser(), SwapDuringMatch(old, lambda: processor.use(new)), publisher)
    utterance(processor)  # matched by the old grammar; the reload lands before it is published
    assert processor.interpreter is new
    utterance(processor)  # the next one is the new grammar's throughout
    assert action_topics(out) == ["old/kitchen/set", "new/kitchen/set"]


def test_a_speculative_result_from_before_a_reload_is_computed_again():
    publisher, out = publisher_lines()
    recogniser = FakeRecogniser()
    processor = UtteranceProcessor(recogniser, Matcher(load_grammar_text(grammar_text("old"))), publisher,
                                   speculative=True)
    audio = np.zeros(1600, dtype=np.float32)
    processor.handle(Event(SPEECH_START, 0.0, 1, start_s=0.0))
    processor.handle(Event(AUDIO, 0.0, 1, audio))
    processor.handle(Event(AUDIO_COMPLETE, 0.1, 1))
    processor.use(Interpreter(Matcher(load_grammar_text(grammar_text("new")))))
    processor.handle(Event(SPEECH_END, 0.1, 1, end_s=0.1))
    assert recogniser.finalized == 2 and action_topics(out) == ["new/kitchen/set"]


def test_the_observer_sees_speculation_and_finished_utterances():
    tally = Tally()
    processor = UtteranceProcessor(FakeRecogniser(), Matcher(load_grammar_text(grammar_text("old"))),
                                   lambda utt, result: None, speculative=True, observer=tally)
    audio = np.zeros(1600, dtype=np.float32)
    processor.handle(Event(SPEECH_START, 0.0, 1, start_s=0.0))
    processor.handle(Event(AUDIO, 0.0, 1, audio))
    processor.handle(Event(AUDIO_COMPLETE, 0.1, 1))
    processor.handle(Event(AUDIO, 0.1, 1, audio))  # more audio: the speculative result is stale
    processor.handle(Event(SPEECH_END, 0.2, 1, end_s=0.2))
    utterance(processor, speculate=True)
    assert tally.discarded == ["more audio"]
    (first, second) = tally.finished
    assert (first.speculative, second.speculative) == (False, True)
    assert second.decided_s == 0.6 and second.n_tokens == 6.0
    assert second.utterance.text == "turn on the kitchen light" and "asr" in second.utterance.latency_ms


def test_a_plain_function_still_receives_every_result():
    published: List[Tuple[Utterance, MatchResult]] = []
    processor = UtteranceProcessor(FakeRecogniser(), Matcher(load_grammar_text(grammar_text("old"))),
                                   lambda utt, result: published.append((utt, result)))
    utterance(processor)
    ((utt, result),) = published
    assert result.recognized and result.intent == "LightOn" and result.decided_by == "fuzzy"
    assert set(utt.latency_ms) == {"asr", "match", "rescore", "total"}


class Heard:
    """A Sink that is also a SpeechListener: records every call in order."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: List[str] = []
        self._fail = fail

    def speech(self, started: bool) -> None:
        self.calls.append("start" if started else "stop")
        if self._fail:
            raise RuntimeError("the light is unplugged")

    def publish(self, utterance: Utterance, result: MatchResult, grammar: Grammar) -> object:
        self.calls.append(f"result {result.intent}")
        return None


def test_a_speech_listener_hears_start_and_end_before_the_result_and_with_speculation_too():
    heard = Heard()
    listener: SpeechListener = heard
    processor = UtteranceProcessor(FakeRecogniser(), Matcher(load_grammar_text(grammar_text("old"))), heard,
                                   speculative=True)
    utterance(processor)
    utterance(processor, speculate=True)  # the result is ready before the end: still told after it
    assert heard.calls == ["start", "stop", "result LightOn"] * 2 and isinstance(listener, SpeechListener)
    # Listening switched off mid-utterance: the speech is over, and no result comes.
    processor.handle(Event(SPEECH_START, 1.0, 1, start_s=1.0))
    processor.abandon()
    processor.abandon()  # nothing in progress: nothing to tell
    assert heard.calls[6:] == ["start", "stop"]
    # The plain publisher is one, the function sink is not.
    assert isinstance(publisher_lines()[0], SpeechListener) and not isinstance(lambda u, r: None, SpeechListener)


def test_a_failing_speech_listener_never_costs_the_utterance(caplog):
    heard = Heard(fail=True)
    processor = UtteranceProcessor(FakeRecogniser(), Matcher(load_grammar_text(grammar_text("old"))), heard)
    utterance(processor)
    assert heard.calls == ["start", "stop", "result LightOn"] and processor.completed == 1
    assert "the light is unplugged" in caplog.text
