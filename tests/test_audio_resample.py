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
