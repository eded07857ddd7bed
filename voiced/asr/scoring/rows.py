"""Log-probabilities read from decoder logits without a full log-softmax.

A batch's logits are [rows, 32768] floats, tens of MB; a score needs one entry per row (the
next token's) plus the row's log-normaliser. `Rows` computes only the normalisers, once per row.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from voiced.asr.decoder import log_sum_exp


class Rows:
    """Logit rows [N, vocab] and the log-normaliser of the rows that will be read (0 for rows
    that are log-probabilities already: `normalized`)."""

    def __init__(self, logits: np.ndarray, needed: Optional[Sequence[int]] = None, normalized: bool = False):
        self.logits = logits.reshape(-1, logits.shape[-1])
        self.log_z = np.zeros(len(self.logits), dtype=np.float32)
        if normalized:
            return
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
        return float(log_sum_exp(self.logits[row, ids][None])[0]) - float(self.log_z[row])
