"""Polyphase resampling with a Kaiser-windowed sinc filter, one-shot or streaming.

The same filter design as scipy.signal.resample_poly (half-length 10 zero crossings of the
lower rate, Kaiser beta 5), written in numpy so scipy is not a runtime dependency. The
streaming form gives the same samples as the one-shot form, whatever the chunking.

Both the filter and the work per call are bounded: a ratio beyond MAX_FACTOR is refused, a
ratio whose reduced terms exceed MAX_TERMS (a rate like 44101 Hz: 16000/44101) is replaced by
the nearest one within them, and outputs are computed in slices of at most _GATHER_FLOATS
gathered taps, so resampling a whole file costs no more than its input and output.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from typing import Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

log = logging.getLogger(__name__)

MAX_FACTOR = 64
"""widest ratio either way (8 kHz -> 16 kHz is 2, 384 kHz -> 16 kHz is 24)"""
MAX_TERMS = 1000
"""largest up or down factor; every common rate to 16 kHz needs at most 640 (11025 Hz: 640/441).
The filter has 20 * max(up, down) taps, so 16000/383999 exactly would need 7.7 million"""
_GATHER_FLOATS = 1 << 20  # taps gathered per slice of outputs (4 MB of float32)


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
        if max(src, dst) > MAX_FACTOR * min(src, dst):
            raise ValueError(f"cannot resample {src} Hz to {dst} Hz: the ratio is beyond {MAX_FACTOR}")
        self.up, self.down = _factors(src, dst)
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
        step = max(1, _GATHER_FLOATS // self.k)
        if n_end - n0 <= step:
            y = self._outputs(n0, n_end)
        else:
            y = np.concatenate([self._outputs(a, min(a + step, n_end)) for a in range(n0, n_end, step)])
        self._n_out = n_end
        # Keep the inputs the next output still needs.
        q, r = divmod(n_end, self.up)
        keep_from = q * self.down + int(self._newest[r]) - (self.k - 1)
        drop = max(0, keep_from - self._base)
        if drop:
            self._buf = self._buf[drop:]
            self._base += drop
        return y

    def _outputs(self, n0: int, n_end: int) -> np.ndarray:
        """Outputs n0 .. n_end - 1 from the buffered input."""
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
        return y.astype(np.float32, copy=False)


def _factors(src: int, dst: int) -> Tuple[int, int]:
    """(up, down): dst/src in lowest terms, or its nearest fraction with both terms <= MAX_TERMS."""
    ratio = Fraction(dst, src)
    if max(ratio.numerator, ratio.denominator) <= MAX_TERMS:
        return ratio.numerator, ratio.denominator
    if ratio < 1:
        near = ratio.limit_denominator(MAX_TERMS)
        up, down = near.numerator, near.denominator
    else:
        near = (1 / ratio).limit_denominator(MAX_TERMS)
        up, down = near.denominator, near.numerator
    log.info("resampling %d Hz as if it were %.2f Hz (ratio %d/%d): an exact filter would be too large",
             src, dst * down / up, up, down)
    return up, down


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Resample a whole signal from `src` Hz to `dst` Hz (float32 out)."""
    r = Resampler(src, dst)
    if r.passthrough:
        return np.asarray(audio, dtype=np.float32)
    return np.concatenate([r.process(audio), r.flush()])
