"""Polyphase resampling with a Kaiser-windowed sinc filter, one-shot or streaming.

The same filter design as scipy.signal.resample_poly (half-length 10 zero crossings of the
lower rate, Kaiser beta 5), written in numpy so scipy is not a runtime dependency. The
streaming form gives the same samples as the one-shot form, whatever the chunking.
"""
from __future__ import annotations

from math import gcd

import numpy as np
from numpy.lib.stride_tricks import as_strided


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
    `flush()` the rest; both return float32 at `dst` Hz.

    It runs on every microphone block all day, so the per-block work is one row gather from
    a sliding-window view and one dot product per output (no per-sample index arithmetic).
    """

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
            # Outputs n and n + up share a phase and are `down` inputs apart, so one period
            # of (newest input index, phase) describes every output.
            r = np.arange(self.up, dtype=np.int64) * self.down + self.delay
            self._newest = r // self.up
            self._taps_rev = np.ascontiguousarray(self.taps[r % self.up, ::-1])
        self.reset()

    def reset(self) -> None:
        # k - 1 leading zeros stand for the silence before the stream started.
        self._buf = np.zeros(self.k - 1 if not self.passthrough else 0, dtype=np.float32)
        self._base = -(len(self._buf))  # absolute input index of _buf[0]
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
        n0 = self._n_out
        if n_end <= n0:
            return np.zeros(0, dtype=np.float32)
        buf, k = self._buf, self.k
        item = buf.strides[0]
        if self.up == 1:  # integer decimation: the windows are evenly spaced, no gather
            first = int(self._newest[0]) + n0 * self.down - (k - 1) - self._base
            # as_strided + np.dot: sliding_window_view and matmul on a strided view are
            # several times slower for blocks of a few hundred outputs
            rows = as_strided(buf[first:], shape=(n_end - n0, k), strides=(item * self.down, item),
                              writeable=False)
            y = np.dot(rows, self._taps_rev[0])
        else:
            windows = as_strided(buf, shape=(len(buf) - k + 1, k), strides=(item, item), writeable=False)
            q, r = np.divmod(np.arange(n0, n_end, dtype=np.int64), self.up)
            rows = windows[q * self.down + self._newest[r] - (k - 1) - self._base]
            y = np.einsum("nk,nk->n", rows, self._taps_rev[r])
        self._n_out = n_end
        # Keep the inputs the next output still needs.
        q, r = divmod(n_end, self.up)
        keep_from = q * self.down + int(self._newest[r]) - (self.k - 1)
        drop = max(0, keep_from - self._base)
        if drop:
            self._buf = self._buf[drop:]
            self._base += drop
        return y.astype(np.float32, copy=False)


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Resample a whole signal from `src` Hz to `dst` Hz (float32 out)."""
    r = Resampler(src, dst)
    if r.passthrough:
        return np.asarray(audio, dtype=np.float32)
    return np.concatenate([r.process(audio), r.flush()])
