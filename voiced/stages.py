"""What each pipeline stage must offer the next one, as small typed interfaces.

    audio ─▶ Endpointer ─(Event)─▶ UtteranceProcessor
                 Recogniser:  reset · feed(audio) · finalize() → Transcript · encoder_states()
                 Interpreter: TextMatcher.match(text) (→ Rescorer.decide) → MatchResult
                 (rejected: Recogniser.look_again() → Look, and the Interpreter once more)
             ─▶ Sink.publish(utterance, result, grammar)
             (and SpeechListener.speech(started) as utterances start and end, if the Sink is one)

The processor is written against these, not against the concrete classes, so a reader tracing
`UtteranceProcessor.handle` knows exactly which `feed` and which `publish` are meant, and tests
can stand in a fake for any one stage. The interpreter returns one result type, MatchResult,
whichever stage decided it (its `decided_by` says which).

`Observer` is how benchmarks and tests watch the running pipeline (blocks queued, events handled
and what they cost, utterances finished) without the production classes keeping counters for
them or being subclassed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Dict, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from voiced.asr.transcriber import Look, Transcript
    from voiced.vad.endpoint import Event
    from voiced.grammar.matcher import MatchResult
    from voiced.grammar.model import Grammar
    from voiced.mqtt.payloads import Utterance


class Encoded(Protocol):
    """One reading of an utterance's audio by the encoder, which the rescorer scores sentences on."""

    def encoder_states(self) -> np.ndarray:
        """Encoder states [1, frames, width]."""


class Recogniser(Protocol):
    """Speech to text for one utterance at a time (voiced.asr.Transcriber). Not thread-safe."""

    def reset(self) -> None:
        """Forget the current utterance."""

    def feed(self, chunk: np.ndarray) -> None:
        """Add float32 16 kHz mono audio of the current utterance."""

    def finalize(self) -> Transcript:
        """Transcribe everything fed since the last reset (kept until reset)."""

    def encoder_states(self) -> np.ndarray:
        """Encoder states [1, frames, width] of the audio fed so far (cached: no second encode)."""

    def look_again(self) -> Look:
        """The utterance read once more with its audio half an encoder frame later (it stays fed)."""


class TextMatcher(Protocol):
    """Transcript text to a result, against one grammar (voiced.grammar.Matcher)."""

    @property
    def grammar(self) -> Grammar:
        """The grammar its results come from: their intents, slots and actions."""

    def match(self, text: str, intents: Optional[Collection[str]] = None) -> MatchResult:
        """The best intent for `text` (only among `intents`, when given), or why there is none."""


class Rescorer(Protocol):
    """The acoustic second opinion after the matcher (voiced.rescoring.Rescorer)."""

    def decide(self, match: MatchResult, transcript: Transcript, encoder_states: np.ndarray) -> MatchResult:
        """The final result: `match` itself, or what scoring grammar sentences on the audio concluded."""

    def searches_grammar(self) -> bool:
        """Whether the grammar-constrained search may run for this grammar."""


class Recorder(Protocol):
    """Debug recordings of what the recogniser heard (voiced.recorder.Recorder)."""

    def save(self, utterance_id: str, audio: np.ndarray, info: Dict[str, Any]) -> Optional[Path]:
        """Write one recording; never raises."""


@runtime_checkable
class Sink(Protocol):
    """Where an utterance's result goes (voiced.mqtt.publisher.Publisher)."""

    def publish(self, utterance: Utterance, result: MatchResult, grammar: Grammar) -> object:
        """Publish one utterance and its result. `grammar` is the one that produced the result,
        so its actions are the ones that go out, even across a reload."""


@runtime_checkable
class SpeechListener(Protocol):
    """Told as soon as the endpointer starts or ends an utterance (voiced.mqtt.publisher.Publisher,
    for lights and sounds). A Sink that is also a SpeechListener gets both."""

    def speech(self, started: bool) -> None:
        """Processing thread: an utterance started (True), or ended or was dropped (False), before
        its result is published. Must return at once: it sits on the audio path."""


ResultCallback = Callable[["Utterance", "MatchResult"], object]
"""A plain function standing in for a Sink where actions do not matter (`voiced eval`, tests)."""


@dataclass(frozen=True)
class Finished:
    """One utterance the processor finished, for observers."""

    utterance: Utterance
    decided_s: Optional[float]
    """stream time (s) of the chunk that decided the endpoint; None when the stream's end did"""
    speculative: bool
    """the result was computed during the hangover and still held at the endpoint"""
    n_tokens: float
    """tokens the recogniser decoded"""


class Observer:
    """Watches the running pipeline; every hook does nothing unless overridden.

    Each hook runs on the thread named in it and must return quickly: it sits on the audio path.
    """

    def block_queued(self, samples: int) -> None:
        """Capture thread: a block of `samples` audio samples reached the daemon, about to be queued."""

    def event_handled(self, event: Event, in_utterance: bool, seconds: float) -> None:
        """Processing thread: `event` took `seconds` (wall) to handle; `in_utterance` as it arrived."""

    def speculation_discarded(self, why: str) -> None:
        """Processing thread: a speculative result was dropped (more audio, speech resumed)."""

    def utterance_finished(self, finished: Finished) -> None:
        """Processing thread: an utterance ended (before its result is published)."""


NO_OBSERVER = Observer()
