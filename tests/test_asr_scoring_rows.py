"""Log-probabilities read from logit rows equal a float64 log-softmax."""
from __future__ import annotations

import numpy as np
import pytest

from voiced.asr.decoder import log_sum_exp
from voiced.asr.scoring.rows import Rows


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    peak = x.max(axis=-1, keepdims=True)
    return x - peak - np.log(np.exp(x - peak).sum(axis=-1, keepdims=True))


def test_rows_read_tokens_and_any_of_several_ids():
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 3, 32768)) * 6).astype(np.float32)
    reference = _log_softmax(logits).reshape(6, -1)
    rows = Rows(logits, needed=[0, 1, 4])
    assert rows.tokens([0, 1, 4], [7, 9, 11]) == pytest.approx(reference[[0, 1, 4], [7, 9, 11]].sum(), abs=1e-3)
    ids = np.array([2, 5, 8])
    assert rows.any_of(4, ids) == pytest.approx(np.log(np.exp(reference[4, ids]).sum()), abs=1e-4)
    assert rows.tokens([], []) == 0.0


def test_log_sum_exp_survives_large_logits_and_works_in_place():
    rows = np.array([[1000.0, 1000.0], [-5.0, 0.0]], dtype=np.float32)
    out = log_sum_exp(rows.copy())
    assert out[0] == pytest.approx(1000.0 + np.log(2.0), abs=1e-3)
    assert out[1] == pytest.approx(np.log(np.exp(-5.0) + 1.0), abs=1e-5)
