"""Log-probabilities read from decoder logits without a full log-softmax.

A batch's logits are [rows, 32768] floats, tens of MB; a score needs one entry per row (the
next token's) plus the row's log-normaliser. `Rows` computes only the normalisers, once per row.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def log_sum_exp(rows: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) per row of a 2-D float32 array, computed in place (`rows` is a scratch
    copy: a second temporary as large would double the time). float32 is enough: every term of
    the sum is in (0, 1] and there are ~32k of them."""
    peak = rows.max(axis=1)
    rows -= peak[:, None]
    np.exp(rows, out=rows)
    return np.log(rows.sum(axis=1)) + peak


class Rows:
    """Logit rows [N, vocab] and the log-normaliser of the rows that will be read."""

    def __init__(self, logits: np.ndarray, needed: Optional[Sequence[int]] = None):
        self.logits = logits.reshape(-1, logits.shape[-1])
        self.log_z = np.zeros(len(self.logits), dtype=np.float32)
        index = np.arange(len(self.logits)) if needed is None else np.asarray(sorted(set(needed)), dtype=np.int64)
        if len(index):
            self.log_z[index] = log_sum_exp(self.logits[index])  # fancy indexing copies: safe in place

    def tokens(self, rows: Sequence[int], tokens: Sequence[int]) -> float:
        """Summed log-probability of tokens[i] at rows[i]."""
        if not len(rows):
            return 0.0
        r = np.asarray(rows, dtype=np.int64)
        return float((self.logits[r, np.asarray(tokens, dtype=np.int64)] - self.log_z[r]).sum())

    def any_of(self, row: int, ids: np.ndarray) -> float:
        """log P(any of `ids`) at `row`."""
        values = self.logits[row, ids] - self.log_z[row]
        peak = float(values.max())
        return peak + float(np.log(np.exp(values - peak).sum()))
