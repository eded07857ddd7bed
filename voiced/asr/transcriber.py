"""Speech to text for one utterance at a time: feed audio as it arrives, then finalize."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from voiced.asr.decoder import Decoder
from voiced.asr.encoder import Encoder, IncrementalEncoder, WholeEncoder
from voiced.asr.geometry import describe, geometry_from_config
from voiced.asr.models import ModelFiles
from voiced.asr.repetition import first_turn
from voiced.asr.scoring import Pruning, SequenceScorer, Steps, choose_steps
from voiced.asr.scoring.growth import greedy_decode
from voiced.asr.scoring.steps import Tree
from voiced.asr.sessions import SessionSettings
from voiced.asr.tokenizer import EOS_ID, Tokenizer
from voiced.errors import ModelError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WARM_LENGTHS_S = (0.5, 1.0, 2.0)
"""audio lengths run through every session at load: onnxruntime plans per shape, and the
first runs of the cold base-en decoder took ~0.9 s per step against ~65 ms warm"""
V1_FRAME_SAMPLES = 384
"""audio samples per base-en encoder frame: its convolutions stride 64, 3 and 2"""


@dataclass
class Transcript:
    text: str
    tokens: List[int] = field(default_factory=list)
    """token ids without BOS and EOS"""
    timings: Dict[str, float] = field(default_factory=dict)
    """milliseconds: encode (all encoder work), finalize_encode (the part done in finalize),
    first_step, per_token, decode, total (finalize latency); and n_tokens"""
    audio_s: float = 0.0
    logprobs: List[float] = field(default_factory=list)
    """log-probability of each decoded token (EOS included when reached), as the decoder chose it"""
    end_logprobs: List[float] = field(default_factory=list)
    """per decoder step: log-probability that the sentence ends there (EOS or final punctuation)"""


@dataclass
class Look:
    """The utterance read once more (Transcriber.look_again): what was heard, and the encoder
    states the rescorer scores grammar sentences on."""

    transcript: Transcript
    states: np.ndarray

    def encoder_states(self) -> np.ndarray:
        return self.states


class Transcriber:
    """One recogniser: sessions are created and warmed once, then reused for every utterance.

    Not thread-safe: one utterance at a time, fed from one thread.
    """

    def __init__(self, files: ModelFiles, settings: SessionSettings = SessionSettings(),
                 max_tokens_per_second: float = 6.5, encode_interval_s: float = 1.0, warm: bool = True,
                 never_empty: bool = True, int8_decode: bool = False):
        self.files = files
        self.max_tokens_per_second = max_tokens_per_second
        # Moonshine sometimes ends at once on speech it finds hard (a clipped onset, an unusual
        # voice). The audio it gets has already passed the VAD, so its best non-empty reading is
        # worth more to the matcher and the rescorer than nothing.
        self.never_empty = never_empty
        self.tokenizer = Tokenizer(files.tokenizer)
        self._end_ids = np.asarray(self.tokenizer.end_ids(), dtype=np.int64)
        self.geometry = None
        if files.layout == "v2":
            self.geometry = geometry_from_config(files.config)
            encoder = Encoder(files.encoder, settings, self.geometry.frame_samples)
            self.encoding: Union[IncrementalEncoder, WholeEncoder] = IncrementalEncoder(
                encoder, self.geometry, encode_interval_s)
            log.info("incremental encoding: %s; encodes every %.2f s of new speech, %.1f s of audio "
                     "encoded per second of speech", describe(self.geometry)[0],
                     encode_interval_s, self.encoding.load_per_second())
        else:
            encoder = Encoder(files.encoder, settings)
            self.encoding = WholeEncoder(encoder, SAMPLE_RATE)
        self.decoder = Decoder(files, settings)
        self._scoring: Dict[bool, Steps] = {}  # int8 -> the way of scoring chosen (Transcriber.scorer)
        # base-en's 8-bit token-tree step picks the same tokens as the float step on the real clips
        # in a third of the time; v2 graphs are 8-bit already and decode on their own step.
        self._greedy: Optional[Tree] = None
        if int8_decode and files.layout == "v1":
            steps = self._steps(True)
            self._greedy = steps if isinstance(steps, Tree) else None
            log.info("greedy decoding %s", "on the 8-bit token-tree step" if self._greedy else "on the float step")
        if warm:
            self.warm()

    def warm(self) -> None:
        """Run every session (encoder, each decoder branch) at a few lengths."""
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        for seconds in WARM_LENGTHS_S:
            n = int(seconds * SAMPLE_RATE)
            states = self.encoding.encoder.encode((rng.standard_normal(n) * 0.01).astype(np.float32))
            if self.geometry is not None and states.shape[1] != self.geometry.frames_for(n):
                raise ModelError(
                    f"{self.files.encoder}: {states.shape[1]} frames for {n} samples, expected "
                    f"{self.geometry.frames_for(n)}; the encoder front end is not the Moonshine streaming one")
            self.decoder.warm(states)
            if self._greedy is not None:  # onnxruntime plans the one-token call on first use
                greedy_decode(self._greedy, states, 4, stop_at_eos=False)
        log.info("warmed %s in %.0f ms", self.files.name, (time.perf_counter() - t0) * 1000.0)

    def scorer(self, int8: bool = False, prune: Optional[Pruning] = None) -> SequenceScorer:
        """Teacher-forced scoring of token sequences on this recogniser's decoder, for the
        rescorer (voiced.asr.scoring). How the sequences run is chosen, checked and logged on
        the first call for an `int8` setting and then kept: a grammar reload's new rescorer
        reuses it (base-en's 8-bit step takes about 2 s to build)."""
        return SequenceScorer(self._steps(int8), self._end_ids, prune)

    def greedy_steps(self) -> Optional[Tree]:
        """The 8-bit token-tree step the decode runs on, or None when it runs on the float step."""
        return self._greedy

    def _steps(self, int8: bool) -> Steps:
        if int8 not in self._scoring:
            width = self.encoding.encoder.width
            probe = np.random.default_rng(0).standard_normal((1, 12, width)).astype(np.float32)
            self._scoring[int8] = choose_steps(self.decoder, probe, int8)
        return self._scoring[int8]

    @property
    def audio_s(self) -> float:
        return self.encoding.samples / SAMPLE_RATE

    def reset(self) -> None:
        """Forget the current utterance."""
        self.encoding.reset()

    def feed(self, chunk: np.ndarray) -> None:
        """Add float32 16 kHz mono audio; a v2 model encodes finished stretches as they come."""
        self.encoding.feed(chunk)

    def encoder_states(self) -> np.ndarray:
        """Encoder hidden states [1, frames, width] of the utterance fed so far."""
        return self.encoding.states()

    def finalize(self) -> Transcript:
        """Transcribe everything fed since the last reset (the utterance is kept until reset)."""
        t0 = time.perf_counter()
        before = self.encoding.stats.ms
        states = self.encoder_states()
        timings = {"finalize_encode": self.encoding.stats.ms - before, "encode": self.encoding.stats.ms,
                   "encode_calls": float(self.encoding.stats.calls)}
        return self._read(states, self.audio_s, timings, t0)

    def look_again(self) -> Look:
        """The utterance fed so far read once more, its audio starting half an encoder frame
        later. Where the frames fall on the audio moves base-en's reading of a word: "add apples
        to my shopping list" came out as "and apples to buy chopping loose" at some offsets and
        right at others. The utterance itself is left as it was."""
        t0 = time.perf_counter()
        audio = self.encoding.audio()[self.half_frame():]
        states = self.encoding.encoder.encode(np.ascontiguousarray(audio))
        timings = {"encode": (time.perf_counter() - t0) * 1000.0, "encode_calls": 1.0}
        return Look(self._read(states, len(audio) / SAMPLE_RATE, timings, t0), states)

    def half_frame(self) -> int:
        """Half the audio samples of one encoder frame."""
        frame = self.geometry.hop_samples if self.geometry is not None else V1_FRAME_SAMPLES
        return frame // 2

    def _read(self, states: np.ndarray, audio_s: float, timings: Dict[str, float], t0: float) -> Transcript:
        """The decode of `states` (of `audio_s` seconds of audio) as a Transcript."""
        budget = self.decoder.budget(audio_s, self.max_tokens_per_second)
        if self._greedy is not None:
            result = greedy_decode(self._greedy, states, budget, self.never_empty, self._end_ids)
        else:
            result = self.decoder.decode(states, budget, never_empty=self.never_empty, end_ids=self._end_ids)
        tokens = [t for t in result.tokens if t != EOS_ID]
        timings.update(
            first_step=result.first_step_ms,
            per_token=result.ms_per_token,
            decode=result.first_step_ms + result.later_steps_ms,
            n_tokens=float(len(result.tokens)),
            total=(time.perf_counter() - t0) * 1000.0,
        )
        text = self.tokenizer.decode(tokens)
        log.debug("transcript %r (%.2f s audio, %s)", text, audio_s, timings)
        heard = first_turn(Transcript(text=text, tokens=tokens, timings=timings, audio_s=audio_s,
                                      logprobs=result.logprobs, end_logprobs=result.end_logprobs), self.tokenizer)
        if heard.text != text:
            log.debug("the decode looped: read as its first turn %r", heard.text)
        return heard

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """One-shot: reset, feed all of `audio`, finalize."""
        self.reset()
        self.encoding.feed(audio, advance=False)  # the whole utterance is here: one encode
        return self.finalize()
