"""Polyphase resampling with a Kaiser-windowed sinc filter, one-shot or streaming.

The same filter design as scipy.signal.resample_poly (half-length 10 zero crossings of the
lower rate, Kaiser beta 5), written in numpy so scipy is not a runtime dependency. The
streaming form gives the same samples as the one-shot form, whatever the chunking.
"""
from __future__ import annotations

from math import gcd

import numpy as np


def _design(up: int, down: int) -> np.ndarray:
    """Filter taps arranged by phase: taps[phase, k] multiplies x[i - k]."""
    ratio = max(up, down)
    half = 10 * ratio
    n = np.arange(-half, half + 1, dtype=np.float64)
    h = np.sinc(n / ratio) * np.kaiser(2 * half + 1, 5.0) * (up / ratio)
    k = -(-len(h) // up)
    padded = np.zeros(k * up)
    padded[: len(h)] = h
    return padded.reshape(k, up).T.astype(np.float32).copy()


class Resampler:
    """Streaming rational resampler. `process(chunk)` returns what can be computed so far,
    `flush()` the rest; both return float32 at `dst` Hz."""

    def __init__(self, src: int, dst: int):
        if src <= 0 or dst <= 0:
            raise ValueError(f"sample rates must be positive, got {src} -> {dst}")
        g = gcd(src, dst)
        self.up, self.down = dst // g, src // g
        self.passthrough = self.up == self.down
        if not self.passthrough:
            self.taps = _design(self.up, self.down)
            self.k = self.taps.shape[1]
            self.delay = (10 * max(self.up, self.down) * 2) // 2  # centre of the filter
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self._base = 0  # absolute input index of _buf[0]
        self._n_in = 0  # input samples seen
        self._n_out = 0  # output samples produced

    def process(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.passthrough:
            return chunk
        self._buf = np.concatenate([self._buf, chunk])
        self._n_in += len(chunk)
        # Output n needs input up to index (n*down + delay) // up.
        last = (self._n_in - 1) * self.up - self.delay
        n_end = last // self.down + 1 if last >= 0 else 0
        return self._emit(n_end)

    def flush(self) -> np.ndarray:
        if self.passthrough:
            return np.zeros(0, dtype=np.float32)
        n_total = -(-self._n_in * self.up // self.down)
        # Zero-pad so the last outputs can be computed.
        pad = self.delay // self.up + self.k + 1
        self._buf = np.concatenate([self._buf, np.zeros(pad, dtype=np.float32)])
        out = self._emit(n_total)
        self.reset()
        return out

    def _emit(self, n_end: int) -> np.ndarray:
        n = np.arange(self._n_out, max(n_end, self._n_out), dtype=np.int64)
        if len(n) == 0:
            return np.zeros(0, dtype=np.float32)
        pos = n * self.down + self.delay
        i_max = pos // self.up
        phase = pos - i_max * self.up
        idx = i_max[:, None] - np.arange(self.k)[None, :] - self._base
        # Indices before the buffer are the zeros before the stream started.
        padded = np.concatenate([np.zeros(self.k, dtype=np.float32), self._buf])
        x = padded[np.maximum(idx + self.k, 0)]
        y = np.einsum("nk,nk->n", x, self.taps[phase])
        self._n_out = int(n[-1]) + 1
        keep_from = int((self._n_out * self.down + self.delay) // self.up) - self.k + 1
        drop = max(0, keep_from - self._base)
        if drop:
            self._buf = self._buf[drop:]
            self._base += drop
        return y.astype(np.float32)


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Resample a whole signal from `src` Hz to `dst` Hz (float32 out)."""
    r = Resampler(src, dst)
    if r.passthrough:
        return np.asarray(audio, dtype=np.float32)
    return np.concatenate([r.process(audio), r.flush()])
