"""Raw interleaved PCM bytes at any rate and channel count -> float32 16 kHz mono.

Shared by the microphone and stdin sources, so both run the same decoding, channel
selection and streaming resampling.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.audio.resample import Resampler

# name -> (numpy dtype, scale to -1..1)
FORMATS = {
    "s16le": ("<i2", 1.0 / 32768.0),
    "s32le": ("<i4", 1.0 / 2147483648.0),
    "f32le": ("<f4", 1.0),
}


class PcmConverter:
    """Streaming converter; `convert(bytes)` may be called with any byte count (partial
    frames are kept for the next call)."""

    def __init__(self, rate: int, channels: int = 1, channel: Optional[int] = None,
                 sample_format: str = "s16le"):
        if sample_format not in FORMATS:
            raise ValueError(f"unknown sample format {sample_format!r}; use one of {', '.join(FORMATS)}")
        if channel is not None and not 0 <= channel < channels:
            raise ValueError(f"channel {channel} does not exist in a {channels}-channel stream")
        dtype, scale = FORMATS[sample_format]
        self._scale = np.float32(scale)
        self._dtype = np.dtype(dtype)
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
        return self._resampler.flush()
