"""Endpointing: turn per-chunk speech probabilities into utterances with stream timestamps.

`EndpointState` is the pure state machine: it consumes (probability, 512-sample chunk) pairs
and knows nothing about the model, so it can be driven by any probability sequence.
`Endpointer` feeds it from a `SileroVad` and accepts audio blocks of any length.
`segment_audio` runs the same pair over a whole signal, as `voiced segments` does.

States, in chunks of 32 ms:
  idle     -> a chunk at or above `threshold` starts a candidate (pre-roll kept in front)
  candidate-> confirmed once it has stayed at or above `neg_threshold` for `min_speech_ms`:
              `speech_start` + the audio so far; dropped as a blip if it falls below earlier
  speech   -> a chunk below `neg_threshold` starts the hangover: `speech_maybe_ended`
  hangover -> a chunk at or above `threshold` returns to speech: `speech_resumed`;
              `min_silence_ms` of hangover ends the utterance: `speech_end` (`short_silence_ms`
              while it holds less than SHORT_SPEECH_CHUNKS of speech, or while the hangover's
              readings, the last one too, are mostly at least `faint_threshold`, in an utterance
              under 6 s: a word half masked by noise)
The first `post_pad_ms` of the hangover belong to the utterance and are sent as they
arrive; later hangover chunks are held back and only sent if speech resumes. Once the post
pad is complete (before the endpoint when post_pad_ms < min_silence_ms) `audio_complete`
says the utterance has all its audio unless speech resumes: a result computed then is the
one speech_end would get, which is what speculative finalization relies on. An utterance
reaching `max_utterance_s` is cut there (`speech_end` with forced=True) and, if the talker
is still speaking, the next chunk opens a new utterance with no gap and no overlap
(`speech_start` with continued=True: it began mid-speech).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.config import VadConfig
from voiced.vad.silero import CHUNK, SileroVad

SPEECH_START = "speech_start"
AUDIO = "audio"
SPEECH_MAYBE_ENDED = "speech_maybe_ended"
SPEECH_RESUMED = "speech_resumed"
SPEECH_END = "speech_end"
AUDIO_COMPLETE = "audio_complete"

_IDLE, _CANDIDATE, _SPEECH = 0, 1, 2
IDLE_QUIET = 0.1  # speech probability below which an idle chunk counts as quiet for the VAD reset
SHORT_SPEECH_CHUNKS = 10  # 320 ms: less speech than this, and an utterance may be a command's first word
# A faint hangover waits only in an utterance this short (6 s: the longest commands, coffee orders):
# waiting in long talk joined chatter up to max_utterance_s, and the cut left "It" -> Cancel (p 0.94).
FAINT_WAIT_CHUNKS = 6 * SAMPLE_RATE // CHUNK


@dataclass(eq=False)
class Event:
    """One endpointing event. Times are seconds of stream time (samples fed / 16 kHz).

    time_s: speech_start: onset of speech; audio: start of `audio`; speech_maybe_ended: end
    of the last speech chunk; speech_resumed: start of the chunk where speech came back;
    speech_end: end of the utterance's audio; audio_complete: end of the utterance's audio so
    far (its last post-pad chunk). start_s/end_s (speech_end): the utterance's audio span,
    pre-roll and trailing pad included; start_s is also set on speech_start. decided_s
    (speech_end): end of the chunk that decided the endpoint, the earliest moment it was known.
    """

    kind: str
    time_s: float
    utterance: int
    audio: Optional[np.ndarray] = None
    start_s: Optional[float] = None
    end_s: Optional[float] = None
    forced: bool = False  # speech_end: cut at max_utterance_s rather than by silence
    continued: bool = False  # speech_start: speech carried over such a cut (the utterance began mid-speech)
    decided_s: Optional[float] = None


@dataclass(eq=False)
class Segment:
    start_s: float
    end_s: float
    audio: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _chunks(ms: float) -> int:
    """Milliseconds to whole 32 ms chunks, rounded up so no setting is silently shortened."""
    return int(math.ceil(ms * SAMPLE_RATE / 1000.0 / CHUNK - 1e-9))


class EndpointState:
    """The endpointing state machine over (probability, chunk) pairs; see the module doc."""

    def __init__(self, config: VadConfig):
        self.threshold = config.threshold
        self.neg_threshold = config.neg_threshold  # at most threshold: a config rule (voiced.config_rules)
        self.min_speech = max(1, _chunks(config.min_speech_ms))
        self.min_silence = max(1, _chunks(config.min_silence_ms))
        # A lone short burst is often a command's first words before a pause ("turn off the ...
        # all of the lights"): ended after min_silence_ms it became an utterance of its own, read
        # as a command ("Turn off the" -> LightOff). Waiting longer keeps the command whole.
        self.short_silence = max(self.min_silence, _chunks(config.short_silence_ms))
        # Noise masks a command's weak middle words ("of the") below neg_threshold but seldom down
        # to the noise's own readings: a hangover still reading above faint waits as long.
        self.faint = config.faint_threshold if config.faint_threshold > 0 else math.inf
        self.pad = _chunks(config.speech_pad_ms)  # pre-roll
        self.post_pad = _chunks(config.post_pad_ms)
        self.max_chunks = max(2, int(config.max_utterance_s * SAMPLE_RATE) // CHUNK)
        self.utterance = 0
        self.reset()

    def reset(self) -> None:
        self._n = 0  # chunks consumed
        self._state = _IDLE
        self._preroll: Deque[np.ndarray] = deque(maxlen=max(self.pad, 1))
        self._pending: List[np.ndarray] = []  # candidate: pre-roll + chunks since onset
        self._held: List[np.ndarray] = []  # hangover chunks beyond the trailing pad
        self._start = 0  # first chunk of the utterance's audio (pre-roll included)
        self._onset = 0  # first speech chunk
        self._speech_chunks = 0  # chunks at or above neg_threshold since the onset
        self._sent_end = 0  # chunk index after the last chunk sent as audio
        self._silence_at: Optional[int] = None  # first chunk of the running hangover
        self._faint_chunks = 0  # readings of the running hangover at or above faint_threshold
        self._continue = False  # a forced split happened mid-speech

    @property
    def idle(self) -> bool:
        """No utterance and no candidate onset in progress."""
        return self._state == _IDLE

    @staticmethod
    def _t(chunk_index: int) -> float:
        return chunk_index * CHUNK / SAMPLE_RATE

    def step(self, prob: float, chunk: np.ndarray) -> List[Event]:
        """Consume one chunk and its speech probability; return the events it causes."""
        i = self._n
        self._n += 1
        if self._state == _SPEECH:
            return self._step_speech(i, prob, chunk)
        if self._state == _CANDIDATE:
            return self._step_candidate(i, prob, chunk)
        if self._continue and prob >= self.neg_threshold:
            # Speech carried over a forced split: start at once, no pre-roll, no min_speech.
            self._continue = False
            return self._open(i, i, [chunk], continued=True)
        self._continue = False
        if prob >= self.threshold:
            self._state = _CANDIDATE
            self._onset = i
            self._pending = list(self._preroll) if self.pad else []
            self._start = i - len(self._pending)
            self._pending.append(chunk)
            return self._step_candidate(i, prob, chunk, appended=True)
        if self.pad:
            self._preroll.append(chunk)
        return []

    def _step_candidate(self, i: int, prob: float, chunk: np.ndarray, appended: bool = False) -> List[Event]:
        if not appended:
            self._pending.append(chunk)
        if self.pad:
            self._preroll.append(chunk)
        if prob < self.neg_threshold:
            # A blip: drop it. Its audio stays in the pre-roll, so a word that follows at
            # once still gets its beginning; a breath or click does not move the onset.
            self._state = _IDLE
            self._pending = []
            return []
        if i + 1 - self._onset >= self.min_speech:
            pending, self._pending = self._pending, []
            return self._open(self._start, self._onset, pending)
        return []

    def _open(self, start: int, onset: int, chunks: List[np.ndarray], continued: bool = False) -> List[Event]:
        self.utterance += 1
        self._speech_chunks = len(chunks) - (onset - start)
        self._state = _SPEECH
        self._start, self._onset = start, onset
        self._sent_end = start + len(chunks)
        self._silence_at = None
        self._held = []
        self._preroll.clear()
        u = self.utterance
        events = [Event(SPEECH_START, self._t(onset), u, start_s=self._t(start), continued=continued),
                  Event(AUDIO, self._t(start), u, audio=np.concatenate(chunks))]
        return events + self._check_length()

    def _step_speech(self, i: int, prob: float, chunk: np.ndarray) -> List[Event]:
        u = self.utterance
        events: List[Event] = []
        if prob >= self.neg_threshold:
            self._speech_chunks += 1
        hangover = self.min_silence if self._speech_chunks >= SHORT_SPEECH_CHUNKS else self.short_silence
        if self._silence_at is None:
            if prob < self.neg_threshold:
                self._silence_at, self._faint_chunks = i, 0
                events.append(Event(SPEECH_MAYBE_ENDED, self._t(i), u))
                if not self.post_pad and hangover > 1:
                    events.append(Event(AUDIO_COMPLETE, self._t(self._sent_end), u))
            else:
                return self._send([chunk], events)
        elif prob >= self.threshold:
            self._silence_at = None
            events.append(Event(SPEECH_RESUMED, self._t(i), u))
            held, self._held = self._held, []
            return self._send(held + [chunk], events)
        silent = i + 1 - self._silence_at
        self._faint_chunks += prob >= self.faint
        if silent <= self.post_pad:
            self._send([chunk], events, check=False)
            if silent == self.post_pad and silent < hangover:
                events.append(Event(AUDIO_COMPLETE, self._t(self._sent_end), u))
        else:
            self._held.append(chunk)
        if silent >= hangover and not self._waits_for_faint_speech(i, prob, silent):
            return self._close(events, forced=False)
        return events + self._check_length()

    def _waits_for_faint_speech(self, i: int, prob: float, silent: int) -> bool:
        """Whether a hangover that would end here waits on: it reads faint speech now and read it
        in at least half its chunks (a pause between sentences reads quiet but for a breath and
        the next onset; the tail of a word fades through faint to quiet), the utterance is
        command-length, and the wait is still within short_silence_ms."""
        return (prob >= self.faint and 2 * self._faint_chunks >= silent and silent < self.short_silence
                and i - self._start < FAINT_WAIT_CHUNKS)

    def _send(self, chunks: List[np.ndarray], events: List[Event], check: bool = True) -> List[Event]:
        room = self._start + self.max_chunks - self._sent_end
        if len(chunks) > room > 0:
            # Held hangover chunks released on resume would overrun max_utterance_s: cut
            # there and carry the rest (ending with the resuming chunk) into a new utterance.
            self._send(chunks[:room], events, check=False)
            first_new = self._sent_end
            self._close(events, forced=True)
            return events + self._open(first_new, first_new + len(chunks) - room - 1, chunks[room:], continued=True)
        audio = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        events.append(Event(AUDIO, self._t(self._sent_end), self.utterance, audio=audio))
        self._sent_end += len(chunks)
        return events + self._check_length() if check else events

    def _check_length(self) -> List[Event]:
        if self._sent_end - self._start < self.max_chunks:
            return []
        speaking = self._silence_at is None
        events = self._close([], forced=True)
        self._continue = speaking
        return events

    def _close(self, events: List[Event], forced: bool) -> List[Event]:
        events.append(Event(SPEECH_END, self._t(self._sent_end), self.utterance,
                            start_s=self._t(self._start), end_s=self._t(self._sent_end), forced=forced,
                            decided_s=self._t(self._n)))
        self._state = _IDLE
        self._preroll.clear()
        if self.pad:
            self._preroll.extend(self._held)  # silence after the utterance may pre-roll the next
        self._held = []
        self._silence_at = None
        return events

    def finish(self, tail: Optional[np.ndarray] = None) -> List[Event]:
        """End of stream: close an open utterance, appending `tail` (a final partial chunk)
        when the utterance is still taking audio. A candidate shorter than min_speech is dropped."""
        events: List[Event] = []
        if self._state == _SPEECH:
            if tail is not None and len(tail) and (self._silence_at is None or not self._held):
                events.append(Event(AUDIO, self._t(self._sent_end), self.utterance, audio=tail))
                end_s = self._t(self._sent_end) + len(tail) / SAMPLE_RATE
            else:
                end_s = self._t(self._sent_end)
            events.append(Event(SPEECH_END, end_s, self.utterance, start_s=self._t(self._start),
                                end_s=end_s))
        self.reset()
        return events


class Endpointer:
    """VAD + endpointing over a live stream: `feed` blocks of 16 kHz float audio, any length."""

    def __init__(self, config: VadConfig, vad: SileroVad):
        self.config = config
        self.vad = vad
        self.state = EndpointState(config)
        self._rest = np.zeros(0, dtype=np.float32)
        self.samples = 0  # stream position, samples fed
        # Silero's recurrent state drifts over quiet after speech until the onset of a short word
        # scores near zero (a 340-command stream lost 99 commands to it). Restarting the state from
        # the last half second of audio every second of idle quiet left 13, all but one of them words
        # the recogniser misses per clip too, with no more false accepts.
        self._reset_after = int(round(config.idle_reset_s * SAMPLE_RATE / CHUNK))
        self._quiet = 0  # consecutive idle chunks below IDLE_QUIET

    def reset(self) -> None:
        """Start a new stream: clears the VAD's context and state, and the state machine."""
        self.vad.reset()
        self.state.reset()
        self._rest = np.zeros(0, dtype=np.float32)
        self.samples = 0
        self._quiet = 0

    def feed(self, audio: np.ndarray) -> List[Event]:
        # concatenate copies, so the chunks kept for pre-roll never alias the caller's buffer
        buf = np.concatenate([self._rest, np.asarray(audio, dtype=np.float32).reshape(-1)])
        self.samples += len(buf) - len(self._rest)
        n = len(buf) // CHUNK
        events: List[Event] = []
        probability, step = self.vad.probability, self.state.step
        for k in range(n):
            chunk = buf[k * CHUNK:(k + 1) * CHUNK]
            prob = probability(chunk)
            events.extend(step(prob, chunk))
            if self._reset_after:
                self._watch_quiet(prob)
        self._rest = buf[n * CHUNK:]
        return events

    def _watch_quiet(self, prob: float) -> None:
        """Restart the VAD's recurrent state after every `vad.idle_reset_s` of quiet between
        utterances. It drifts over digital silence within seconds (a word's peak 0.95 right after
        speech, 0.37 after 4 s, 0.02 after 16 s), so once per quiet stretch is not enough. A zeroed
        state is cold, though: an onset right after it peaks at 0.30 where a warm one reaches
        0.93. So the state is zeroed and then fed the last WARM_CHUNKS again, which leaves it as a
        file starting with half a second of room tone leaves it (SileroVad.restart)."""
        self._quiet = self._quiet + 1 if prob < IDLE_QUIET and self.state.idle else 0
        if self._quiet and self._quiet % self._reset_after == 0:
            self.vad.restart()  # the context ends up where it was: the last chunk's tail

    def flush(self) -> List[Event]:
        """End of stream: close any open utterance and reset for the next stream."""
        events = self.state.finish(self._rest)
        self.reset()  # also the quiet count and the replay audio, or they would reach the next stream
        return events


def collect_segments(events: List[Event]) -> List[Segment]:
    """Group a complete event list into segments (one per speech_end)."""
    parts: dict = {}
    segments: List[Segment] = []
    for ev in events:
        if ev.kind == AUDIO:
            parts.setdefault(ev.utterance, []).append(ev.audio)
        elif ev.kind == SPEECH_END:
            chunks = parts.pop(ev.utterance, [])
            audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
            segments.append(Segment(float(ev.start_s), float(ev.end_s), audio))
    return segments


def segment_audio(audio: np.ndarray, config: VadConfig, vad: Optional[SileroVad] = None) -> List[Segment]:
    """Utterances in a whole 16 kHz mono signal, found exactly as the daemon finds them live."""
    vad = vad or SileroVad(config.model, phases=config.phases)
    endpointer = Endpointer(config, vad)
    endpointer.reset()
    events = endpointer.feed(audio)
    events += endpointer.flush()
    return collect_segments(events)
