"""The processing stage: endpointer events in, published results out, one utterance at a time.

    speech_start        → reset the recogniser, remember where the utterance began
    audio               → feed the recogniser (a streaming model encodes as it goes)
    speech_maybe_ended  → the speaker paused; speculative finalization hooks in here
    speech_resumed      → keep going
    speech_end          → finalize → match → publish (→ debug recording)

Runs on the processing thread only: every ONNX call of the recogniser happens here.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Callable, List, Optional

import numpy as np

from voiced.endpoint import AUDIO, SPEECH_END, SPEECH_MAYBE_ENDED, SPEECH_RESUMED, SPEECH_START, Event
from voiced.payloads import Utterance

log = logging.getLogger(__name__)


class UtteranceProcessor:
    """Turns the endpointer's events into results. `matcher` and `recorder` may be swapped live."""

    def __init__(self, transcriber: Any, matcher: Any, publish: Callable[[Utterance, Any], Any],
                 recorder: Any = None, stream_started_at: Optional[float] = None):
        self.transcriber = transcriber
        self.matcher = matcher
        self.recorder = recorder
        self._publish = publish
        self._stream_started_at = stream_started_at
        self._audio: List[np.ndarray] = []
        self._start_s: Optional[float] = None
        self.completed = 0

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
            self._start_s = event.start_s if event.start_s is not None else event.time_s
        elif event.kind == AUDIO and self.in_utterance and event.audio is not None:
            self.transcriber.feed(event.audio)
            if self.recorder is not None:
                self._audio.append(event.audio)
        elif event.kind == SPEECH_MAYBE_ENDED:
            self._maybe_ended(event)
        elif event.kind == SPEECH_RESUMED:
            log.debug("speech resumed at %.2f s", event.time_s)
        elif event.kind == SPEECH_END and self.in_utterance:
            return self._finish(event)
        return None

    def _maybe_ended(self, event: Event) -> None:
        """The speaker paused. Today nothing happens until speech_end; finalizing here in the
        background (and keeping the result if speech does not resume) is where latency can go."""
        log.debug("speech may have ended at %.2f s", event.time_s)

    def abandon(self) -> None:
        """Drop the utterance in progress (listening was switched off)."""
        self.transcriber.reset()
        self._audio = []
        self._start_s = None

    def _finish(self, event: Event) -> Utterance:
        t0 = time.perf_counter()
        transcript = self.transcriber.finalize()
        t1 = time.perf_counter()
        result = self.matcher.match(transcript.text)
        t2 = time.perf_counter()
        start_s = self._start_s if self._start_s is not None else event.time_s
        end_s = event.end_s if event.end_s is not None else event.time_s
        wall = (self._stream_started_at or time.time() - end_s) + start_s
        # From the end-of-speech decision to a result (the hangover itself is vad.min_silence_ms).
        latency = {"asr": (t1 - t0) * 1000.0, "match": (t2 - t1) * 1000.0, "total": (t2 - t0) * 1000.0}
        utt = Utterance(id=uuid.uuid4().hex[:16], text=transcript.text, start_s=start_s, end_s=end_s,
                        started_at=wall, latency_ms=latency)
        if transcript.text.strip():
            self._publish(utt, result)
            self.completed += 1
        if not transcript.text.strip():  # a cough or a door: nothing to tell anyone
            log.info("heard nothing intelligible in %.1f s of speech", end_s - start_s)
        elif result.recognized:
            log.info("heard %r → %s %s (%.2f)", transcript.text, result.intent,
                     {k: s.value for k, s in result.slots.items()}, result.confidence)
        else:
            log.info("heard %r → not recognized (%s)", transcript.text, getattr(result, "reason", ""))
        if self.recorder is not None:
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.float32)
            self.recorder.save(utt.id, audio, {
                "utterance_id": utt.id, "text": transcript.text, "start_s": start_s, "end_s": end_s,
                "started_at": wall, "forced_split": event.forced, "match": result.to_dict(),
                "timings_ms": {**transcript.timings, **latency}})
        self._audio = []
        self._start_s = None
        self.transcriber.reset()
        return utt
