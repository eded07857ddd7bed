"""The streaming resampler against scipy's resample_poly, and chunking invariance."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from voiced.audio.resample import Resampler, resample


@pytest.mark.parametrize("src", [48000, 44100, 32000, 22050, 8000, 96000])
def test_matches_scipy_and_streams_identically(src):
    rng = np.random.default_rng(src)
    x = rng.normal(0, 0.3, src).astype(np.float32)
    whole = resample(x, src, 16000)
    from math import gcd

    g = gcd(src, 16000)
    ref = resample_poly(x.astype(np.float64), 16000 // g, src // g)
    assert len(whole) == len(ref)
    assert np.abs(whole - ref).max() < 2e-3
    r = Resampler(src, 16000)
    parts, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(1, 2500))
        parts.append(r.process(x[pos:pos + n]))
        pos += n
    parts.append(r.flush())
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)


def test_16k_is_passed_through():
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


def test_absurd_ratios_are_refused():
    for src, dst in ((1, 16000), (16000, 1), (8000, 16000 * 64 * 2)):
        with pytest.raises(ValueError, match="ratio is beyond 64"):
            Resampler(src, dst)


def test_a_ratio_with_huge_terms_is_approximated_with_a_small_filter():
    # 16000/383999 exactly would need a 7.7-million-tap filter
    r = Resampler(383999, 16000)
    assert max(r.up, r.down) <= 1000 and r.taps.size < 100_000
    t = np.arange(383999) / 383999.0
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 383999, 16000)
    assert abs(len(y) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y[1000:15000] * np.hanning(14000)))
    assert abs(np.argmax(spectrum) * 16000 / 14000 - 1000) < 2


def test_a_long_file_is_resampled_in_bounded_memory():
    import tracemalloc

    x = np.random.default_rng(0).normal(0, 0.1, 44100 * 60).astype(np.float32)  # one minute
    tracemalloc.start()
    try:
        y = resample(x, 44100, 16000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(y) == 960000
    # input copy + output + one slice of gathered taps; gathering every output at once took 460 MB
    assert peak < 60e6
