"""Raw interleaved PCM bytes at any rate and channel count -> float32 16 kHz mono.

Shared by the microphone and stdin sources, so both run the same decoding, channel
selection and streaming resampling. Float input (the f32le stream, float WAVs) also passes
`FloatGuard`: one NaN reaching the resampler smears over ~60 samples, and the recogniser
then hears nothing in the whole utterance.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import numpy as np

from voiced.audio import MAX_CHANNELS, MAX_RATE, MIN_RATE, SAMPLE_RATE
from voiced.audio.resample import Resampler

log = logging.getLogger(__name__)

# name -> (numpy dtype, scale to -1..1)
FORMATS = {
    "s16le": ("<i2", 1.0 / 32768.0),
    "s32le": ("<i4", 1.0 / 2147483648.0),
    "f32le": ("<f4", 1.0),
}
REPORT_INTERVAL_S = 60.0


class FloatGuard:
    """Cleans float samples in place: NaN and ±Inf become 0, values beyond ±1 are clipped.

    Integer PCM cannot hold either, so only float input needs it. Finite but huge values are
    clipped because the VAD hears no speech in them (1000x scaled speech peaked at a
    probability of 0.04; clipped, 0.73). The counts are logged as one warning at the first
    occurrence, then as one summary at most every `interval_s`, and the rest by `flush()`.
    """

    def __init__(self, name: str, interval_s: float = REPORT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.replaced = 0  # non-finite samples set to 0, in total
        self.clipped = 0  # samples beyond -1..1, in total
        self._interval, self._clock = interval_s, clock
        self._logged = (0, 0)
        self._logged_at: Optional[float] = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """`x` (a writable float array) cleaned in place, and returned."""
        finite = np.isfinite(x)
        if not finite.all():
            self.replaced += x.size - int(np.count_nonzero(finite))
            x[~finite] = 0.0
        if x.size and (x.max() > 1.0 or x.min() < -1.0):
            self.clipped += int(np.count_nonzero(np.abs(x) > 1.0))
            np.clip(x, -1.0, 1.0, out=x)
        if (self.replaced, self.clipped) != self._logged:
            now = self._clock()
            if self._logged_at is None or now - self._logged_at >= self._interval:
                self._report(now)
        return x

    def flush(self) -> None:
        """Log what is not logged yet (end of stream)."""
        if (self.replaced, self.clipped) != self._logged:
            self._report(self._clock())

    def _report(self, now: float) -> None:
        replaced, clipped = self.replaced - self._logged[0], self.clipped - self._logged[1]
        parts = []
        if replaced:
            parts.append(f"replaced {replaced} non-finite sample(s) (NaN/Inf) with 0")
        if clipped:
            parts.append(f"clipped {clipped} sample(s) outside -1..1")
        first = self._logged_at is None
        total = f"; {self.replaced} replaced and {self.clipped} clipped in all" if not first else ""
        more = " (further ones are summed up at most once a minute)" if first else ""
        log.warning("%s: %s%s%s; is the sample format right?", self.name, " and ".join(parts), total, more)
        self._logged, self._logged_at = (self.replaced, self.clipped), now


class PcmConverter:
    """Streaming converter; `convert(bytes)` may be called with any byte count (partial
    frames are kept for the next call)."""

    def __init__(self, rate: int, channels: int = 1, channel: Optional[int] = None,
                 sample_format: str = "s16le", name: str = "audio"):
        if sample_format not in FORMATS:
            raise ValueError(f"unknown sample format {sample_format!r}; use one of {', '.join(FORMATS)}")
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"{channels} channels is outside 1-{MAX_CHANNELS}")
        if channel is not None and not 0 <= channel < channels:
            raise ValueError(f"channel {channel} does not exist in a {channels}-channel stream")
        dtype, scale = FORMATS[sample_format]
        self._scale = np.float32(scale)
        self._dtype = np.dtype(dtype)
        self._guard = FloatGuard(name) if self._dtype.kind == "f" else None
        self.rate, self.channels, self.channel = rate, channels, channel
        self.frame_bytes = self._dtype.itemsize * channels
        self._resampler = Resampler(rate, SAMPLE_RATE)
        self._partial = b""

    def reset(self) -> None:
        self._resampler.reset()
        self._partial = b""

    def convert(self, data: bytes) -> np.ndarray:
        if self._partial:
            data = self._partial + data
        usable = len(data) - len(data) % self.frame_bytes
        self._partial = data[usable:]
        x = np.frombuffer(data, dtype=self._dtype, count=usable // self._dtype.itemsize)
        if self._guard is not None:  # before the downmix, which could overflow or mix Inf and -Inf
            x = self._guard(x.astype(np.float32))
        ch = self.channels
        if ch == 1:
            mono = x.astype(np.float32)
            mono *= self._scale
        elif self.channel is not None:
            mono = x[self.channel::ch].astype(np.float32)
            mono *= self._scale
        else:
            # Strided adds: a mean over a reshaped axis of length 2 is ~10x slower per block.
            mono = x[0::ch].astype(np.float32)
            for c in range(1, ch):
                mono += x[c::ch]
            mono *= self._scale / ch
        return self._resampler.process(mono)

    def flush(self) -> np.ndarray:
        """The resampler's tail at end of stream."""
        self._partial = b""
        if self._guard is not None:
            self._guard.flush()
        return self._resampler.flush()
