"""The audio encoder: one-shot for both layouts, incremental for the streaming (v2) encoder."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from voiced.asr.geometry import EncoderGeometry
from voiced.asr.sessions import SessionSettings, create_session
from voiced.errors import ModelError

log = logging.getLogger(__name__)

# The v1 encoder's front end (three strided convolutions) needs about 900 samples to give one
# frame; shorter input is zero-padded to this length.
V1_MIN_SAMPLES = 1600


class Encoder:
    """Runs the encoder graph on a whole stretch of audio."""

    def __init__(self, path, settings: SessionSettings, frame_samples: int = 1):
        self.session = create_session(path, settings)
        names = [i.name for i in self.session.get_inputs()]
        if "input_values" not in names:
            raise ModelError(f"{path}: encoder has no input_values input (inputs: {', '.join(names)})")
        # Without attention_mask the v2 graph builds no sliding-window mask and transcribes nothing.
        self._with_mask = "attention_mask" in names
        self._frame_samples = max(1, frame_samples)
        self._min_samples = 1 if self._with_mask else V1_MIN_SAMPLES
        self.width = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Hidden states [1, frames, width] for float32 16 kHz mono `audio`."""
        n = max(len(audio), self._min_samples)
        n = -(-n // self._frame_samples) * self._frame_samples
        values = np.zeros((1, n), dtype=np.float32)
        values[0, : len(audio)] = audio
        feeds = {"input_values": values}
        if self._with_mask:
            feeds["attention_mask"] = np.ones((1, n), dtype=np.int64)
        return self.session.run(None, feeds)[0]


class AudioBuffer:
    """A growing float32 buffer for one utterance (amortised O(1) appends)."""

    def __init__(self, capacity: int):
        self._data = np.zeros(max(1, capacity), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0

    def append(self, chunk: np.ndarray) -> bool:
        """Add `chunk` (any shape, flattened); False when it was empty."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if not len(chunk):
            return False
        need = self._n + len(chunk)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data)), dtype=np.float32)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n: need] = chunk
        self._n = need
        return True

    def view(self) -> np.ndarray:
        return self._data[: self._n]


@dataclass
class EncodeStats:
    """What incremental encoding has cost for the current utterance."""

    calls: int = 0
    frames_computed: int = 0
    ms: float = 0.0


class IncrementalEncoder:
    """Encodes a growing utterance with a bounded amount of recomputation.

    Frames whose whole receptive field is inside the audio received so far are *finalized*
    and kept; the last `geometry.lookahead` frames are *provisional* and recomputed later.
    Each call re-encodes `geometry.left_context` frames of left context, so a call is made only
    once `interval_s` of new audio can be finalized, and only when the utterance is already
    longer than that context (before, finalizing encodes from the start anyway and an early
    call would be wasted work).
    """

    def __init__(self, encoder: Encoder, geometry: EncoderGeometry, interval_s: float = 1.0):
        self.encoder = encoder
        self.geometry = geometry
        self.interval_frames = max(1, int(round(interval_s * geometry.frame_rate)))
        self._audio = AudioBuffer(geometry.sample_rate * 4)
        self.reset()

    def reset(self) -> None:
        self._audio.clear()
        self._final: List[np.ndarray] = []
        self._n_final = 0
        self._cached: Optional[np.ndarray] = None
        self.stats = EncodeStats()

    @property
    def _samples(self) -> int:
        return len(self._audio)

    @property
    def _buffer(self) -> np.ndarray:
        return self._audio.view()

    @property
    def samples(self) -> int:
        return len(self._audio)

    @property
    def finalized_frames(self) -> int:
        return self._n_final

    def feed(self, chunk: np.ndarray, advance: bool = True) -> None:
        """Add audio; with `advance`, encode the finished stretch when an interval is due."""
        if not self._audio.append(chunk):
            return
        self._cached = None
        if advance and self._due():
            self._advance()

    def _exact_end(self) -> int:
        """Frames [0, exact_end) have their whole receptive field in the audio so far."""
        return self._samples // self.geometry.hop_samples - self.geometry.lookahead

    def _due(self) -> bool:
        end = self._exact_end()
        saved = end - self.geometry.left_context  # where a finalizing encode would then start
        return end - self._n_final >= self.interval_frames and saved >= self.interval_frames

    def _advance(self) -> None:
        end = self._exact_end()
        hop = self.geometry.hop_samples
        start = max(0, self._n_final - self.geometry.left_context)
        states = self._run(self._buffer[start * hop: (end + self.geometry.lookahead) * hop])
        self._final.append(states[:, self._n_final - start: end - start])
        self._n_final = end

    def _run(self, audio: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        states = self.encoder.encode(audio)
        self.stats.calls += 1
        self.stats.frames_computed += states.shape[1]
        self.stats.ms += (time.perf_counter() - t0) * 1000.0
        return states

    def states(self) -> np.ndarray:
        """Hidden states [1, frames, width] of everything fed so far (encodes only the tail)."""
        if self._cached is None:
            hop = self.geometry.hop_samples
            start = max(0, self._n_final - self.geometry.left_context)
            tail = self._run(self._buffer[start * hop: self._samples])
            self._cached = np.concatenate(self._final + [tail[:, self._n_final - start:]], axis=1)
        return self._cached

    def audio(self) -> np.ndarray:
        return self._audio.view()

    def load_per_second(self) -> float:
        """Audio seconds encoded per second of speech while someone speaks (the recompute factor)."""
        g = self.geometry
        return (g.left_context + self.interval_frames + g.lookahead) / self.interval_frames


class WholeEncoder:
    """Same interface as IncrementalEncoder for full-attention (v1) encoders: every output frame
    depends on all the audio, so the utterance is encoded once, when its states are asked for."""

    def __init__(self, encoder: Encoder, sample_rate: int = 16000):
        self.encoder = encoder
        self._audio = AudioBuffer(sample_rate * 4)
        self.reset()

    def reset(self) -> None:
        self._audio.clear()
        self._cached: Optional[np.ndarray] = None
        self.stats = EncodeStats()

    @property
    def samples(self) -> int:
        return len(self._audio)

    def feed(self, chunk: np.ndarray, advance: bool = True) -> None:
        if self._audio.append(chunk):
            self._cached = None

    def states(self) -> np.ndarray:
        if self._cached is None:
            t0 = time.perf_counter()
            self._cached = self.encoder.encode(self._audio.view())
            self.stats.calls += 1
            self.stats.frames_computed += self._cached.shape[1]
            self.stats.ms += (time.perf_counter() - t0) * 1000.0
        return self._cached

    def audio(self) -> np.ndarray:
        return self._audio.view()
