"""The processing stage: endpointer events in, published results out, one utterance at a time.

    speech_start        → reset the recogniser, remember where the utterance began (and tell
                          a SpeechListener sink, as speech_end does, before any result)
    audio               → feed the recogniser (a streaming model encodes as it goes)
    speech_maybe_ended  → the speaker paused
    audio_complete      → the utterance has all its audio unless speech resumes: with
                          `speculative`, finalize → match (→ rescore) → gate now, during the
                          rest of the hangover
    speech_resumed      → keep going (new audio discards a speculative result)
    speech_end          → publish the speculative result, or finalize → match (→ rescore)
                          → gate → publish (→ debug recording)

A rejected reading may get a second look (Interpreter.looks_again): the recogniser reads the
same audio half an encoder frame later, and that reading goes through the interpreter again,
judged at the second look's stricter threshold; if it is accepted, it is the pass's result.

An utterance that carries speech over a forced split (max_utterance_s cut the talk before it)
began mid-speech: it is the tail of a long stretch of talk, not a command said after a pause, so
its first reading is judged at the second look's threshold too. In synthetic chatter the last
half second of "... sorting the photos." cut off that way was read "Or?" and published as Cancel.

The gate (voiced.hallucination, the interpreter's last step) holds back a command from audio the
recogniser itself did not take for speech; like an utterance with an empty transcript, it is
not published.

A speculative result is only kept while no audio has been fed after it, so it is the result
of exactly the computation speech_end would run on exactly the same audio: what gets
published is identical with speculation on or off, only earlier.

Runs on the processing thread only: every ONNX call of the recogniser happens here.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

import numpy as np

from voiced.vad.endpoint import (AUDIO, AUDIO_COMPLETE, SPEECH_END, SPEECH_MAYBE_ENDED, SPEECH_RESUMED,
                             SPEECH_START, Event)
from voiced.hallucination import GATE
from voiced.interpreter import Interpreter
from voiced.mqtt.payloads import Utterance
from voiced.stages import (NO_OBSERVER, Finished, Observer, Recogniser, Recorder, Rescorer, ResultCallback, Sink,
                           SpeechListener, TextMatcher)

if TYPE_CHECKING:
    from voiced.asr.models import ModelFiles
    from voiced.asr.sessions import SessionSettings
    from voiced.asr.transcriber import Transcript
    from voiced.config import Config
    from voiced.vad.endpoint import Endpointer
    from voiced.grammar.matcher import Matcher, MatchResult
    from voiced.grammar.model import Grammar

log = logging.getLogger(__name__)


@dataclass
class _Pass:
    """One finalize → match (→ rescore) → gate over the utterance's audio as it stood."""

    transcript: Transcript
    result: MatchResult
    interpreter: Interpreter  # the one that produced `result`: its grammar's actions go out with it
    latency: Dict[str, float]  # compute times: asr, match, rescore, second_look when it ran (ms)
    not_speech: Optional[str] = None  # why the gate held the result back (nothing is published)


class _CallbackSink:
    """A plain function (utterance, result) used as a Sink; it has no use for the grammar."""

    def __init__(self, callback: ResultCallback):
        self._callback = callback

    def publish(self, utterance: Utterance, result: MatchResult, grammar: Grammar) -> object:
        return self._callback(utterance, result)


class UtteranceProcessor:
    """Turns the endpointer's events into results. Its Interpreter may be swapped live with `use`."""

    def __init__(self, transcriber: Recogniser, matcher: TextMatcher, publish: Union[Sink, ResultCallback],
                 recorder: Optional[Recorder] = None, stream_started_at: Optional[float] = None,
                 rescorer: Optional[Rescorer] = None, speculative: bool = False,
                 observer: Observer = NO_OBSERVER):
        self.transcriber = transcriber
        self.interpreter = Interpreter(matcher, rescorer, recorder)
        self._sink: Sink = publish if isinstance(publish, Sink) else _CallbackSink(publish)
        self._listener: Optional[SpeechListener] = publish if isinstance(publish, SpeechListener) else None
        self._observer = observer
        self._stream_started_at = stream_started_at
        self._audio: List[np.ndarray] = []
        self._start_s: Optional[float] = None
        self._continued = False  # the utterance carries speech over a forced split
        self.speculative = speculative
        self._spec: Optional[_Pass] = None
        self.completed = 0
        self.last_not_speech: Optional[str] = None
        """why the gate held back the last finished utterance's result (None: it did not)"""

    def use(self, interpreter: Interpreter) -> None:
        """Swap in a reloaded grammar's interpreter; the next pass uses all of it."""
        self.interpreter = interpreter

    @property
    def in_utterance(self) -> bool:
        return self._start_s is not None

    def stream_started(self, wall_time: float) -> None:
        """Wall-clock time of stream time 0, so utterances carry a real start time."""
        self._stream_started_at = wall_time

    def handle(self, event: Event) -> Optional[Utterance]:
        """Process one event; returns the Utterance when one ended (published unless empty)."""
        if event.kind == SPEECH_START:
            self.transcriber.reset()
            self._audio = []
            self._spec = None
            self._start_s = event.start_s if event.start_s is not None else event.time_s
            self._continued = event.continued
            self._tell(True)
        elif event.kind == AUDIO and self.in_utterance and event.audio is not None:
            self._discard("more audio")
            self.transcriber.feed(event.audio)
            if self.interpreter.recorder is not None:
                self._audio.append(event.audio)
        elif event.kind == SPEECH_MAYBE_ENDED:
            log.debug("speech may have ended at %.2f s", event.time_s)
        elif event.kind == AUDIO_COMPLETE and self.in_utterance and self.speculative:
            self._spec = self._run_pass()
            log.debug("speculative result at %.2f s: %r", event.time_s, self._spec.transcript.text)
        elif event.kind == SPEECH_RESUMED:
            log.debug("speech resumed at %.2f s", event.time_s)
            self._discard("speech resumed")
        elif event.kind == SPEECH_END and self.in_utterance:
            self._tell(False)
            return self._finish(event)
        return None

    def _tell(self, started: bool) -> None:
        if self._listener is not None:
            try:
                self._listener.speech(started)
            except Exception:  # noqa: BLE001 - feedback must never cost an utterance
                log.exception("error telling that speech %s", "started" if started else "ended")

    def _discard(self, why: str) -> None:
        if self._spec is not None:
            log.debug("speculative result discarded: %s", why)
            self._spec = None
            self._observer.speculation_discarded(why)

    def _run_pass(self) -> _Pass:
        t0 = time.perf_counter()
        transcript = self.transcriber.finalize()
        asr_ms = (time.perf_counter() - t0) * 1000.0
        interpreter = self.interpreter  # read once: a reload on another thread swaps the whole value
        if self._continued:
            log.debug("the utterance began mid-speech (a forced split): judged at the second look's threshold")
        result, steps = interpreter.interpret(transcript, self.transcriber, strict=self._continued)
        latency = {"asr": asr_ms, **steps}
        if interpreter.looks_again(transcript, result):
            t1 = time.perf_counter()
            look = self.transcriber.look_again()
            again, _ = interpreter.interpret(look.transcript, look, strict=True)
            latency["second_look"] = (time.perf_counter() - t1) * 1000.0
            log.debug("second look: %r %s", look.transcript.text,
                      f"accepted as {again.intent}" if again.recognized else "rejected too")
            if again.recognized:
                transcript, result = look.transcript, again
        not_speech = result.reason if result.decided_by == GATE else None
        return _Pass(transcript, result, interpreter, latency, not_speech)

    def _take_pass(self) -> Optional[_Pass]:
        """The speculative result, if it is still what finalizing now would give."""
        done, self._spec = self._spec, None
        if done is not None and done.interpreter is not self.interpreter:
            log.debug("grammar reloaded since the speculative result; finalizing again")
            return None
        return done

    def abandon(self) -> None:
        """Drop the utterance in progress (listening was switched off)."""
        if self.in_utterance:
            self._tell(False)
        self.transcriber.reset()
        self._audio = []
        self._spec = None
        self._start_s = None

    def _finish(self, event: Event) -> Utterance:
        t0 = time.perf_counter()
        done = self._take_pass()
        speculated = done is not None
        if done is None:
            done = self._run_pass()
        transcript, result = done.transcript, done.result
        wait_ms = (time.perf_counter() - t0) * 1000.0
        start_s = self._start_s if self._start_s is not None else event.time_s
        end_s = event.end_s if event.end_s is not None else event.time_s
        wall = (self._stream_started_at or time.time() - end_s) + start_s
        # total: from handling the end-of-speech decision to a result (the hangover itself is
        # vad.min_silence_ms); the others are compute times, also when they ran speculatively.
        latency = {**done.latency, "total": wait_ms}
        utt = Utterance(id=uuid.uuid4().hex[:16], text=transcript.text, start_s=start_s, end_s=end_s,
                        started_at=wall, latency_ms=latency)
        self._observer.utterance_finished(Finished(utt, event.decided_s, speculated,
                                                   transcript.timings.get("n_tokens", 0.0)))
        self.last_not_speech = done.not_speech
        if transcript.text.strip() and done.not_speech is None:
            self._sink.publish(utt, result, done.interpreter.grammar)
            self.completed += 1
        if not transcript.text.strip():  # a cough or a door: nothing to tell anyone
            log.info("heard nothing intelligible in %.1f s of speech", end_s - start_s)
        elif done.not_speech is not None:  # nor when the recogniser only guessed at words
            log.info("heard %r → %s held back: %s", transcript.text, result.alternatives[0][0], done.not_speech)
        elif result.recognized:
            log.info("heard %r → %s %s (%.2f)", transcript.text, result.intent,
                     {k: s.value for k, s in result.slots.items()}, result.confidence)
        else:
            log.info("heard %r → not recognized (%s)", transcript.text, result.reason)
        recorder = self.interpreter.recorder
        if recorder is not None:
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.float32)
            recorder.save(utt.id, audio, {
                "utterance_id": utt.id, "text": transcript.text, "start_s": start_s, "end_s": end_s,
                "started_at": wall, "forced_split": event.forced, "began_mid_speech": self._continued,
                "match": result.to_dict(),
                "timings_ms": {**transcript.timings, **latency}})
        self._audio = []
        self._start_s = None
        self.transcriber.reset()
        return utt


def build_stages(config: Config, files: ModelFiles, asr_settings: SessionSettings, vad_threads: int,
                 matcher: Matcher, publish: Union[Sink, ResultCallback], recorder: Optional[Recorder] = None,
                 observer: Observer = NO_OBSERVER) -> Tuple[Endpointer, UtteranceProcessor]:
    """The endpointer and the utterance processor as the daemon runs them; `voiced eval` builds
    them here too, so what it measures is the daemon's path. Loads and warms the models."""
    from voiced.asr.transcriber import Transcriber
    from voiced.vad.endpoint import Endpointer
    from voiced.interpreter import build_interpreter
    from voiced.vad.silero import SileroVad

    transcriber = Transcriber(files, asr_settings, config.model.max_tokens_per_second,
                              int8_decode=config.model.int8_decode)
    endpointer = Endpointer(config.vad, SileroVad.for_config(config, threads=vad_threads))
    interpreter = build_interpreter(config, transcriber, matcher, recorder)
    processor = UtteranceProcessor(transcriber, interpreter.matcher, publish, speculative=config.speculative,
                                   observer=observer)
    processor.use(interpreter)  # all of it: rescorer, recorder, gate and decision, as a reload swaps them
    return endpointer, processor
