"""Sentences as one token tree, the input of the token-tree decoder step
(voiced.asr.graphs.tree_step): every distinct prefix of every sequence is one node."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from voiced.asr.graphs.names import ATTENTION_BIAS, INPUT_IDS, POSITION_IDS
from voiced.asr.graphs.tree_step import attention_bias


class TokenTree:
    """Nodes in first-seen order, so a parent always comes before its children. Node i holds
    the last token of its prefix; its decoder row scores the token after that prefix."""

    def __init__(self, sequences: Sequence[Sequence[int]]):
        self._index: Dict[Tuple[int, ...], int] = {}
        self.tokens: List[int] = []
        self.parents: List[int] = []
        self.depths: List[int] = []
        for seq in sequences:
            for j in range(1, len(seq) + 1):
                prefix = tuple(seq[:j])
                if prefix not in self._index:
                    self._index[prefix] = len(self.tokens)
                    self.tokens.append(int(seq[j - 1]))
                    self.parents.append(self._index.get(prefix[:-1], -1))
                    self.depths.append(j)

    def __len__(self) -> int:
        return len(self.tokens)

    def rows(self, seq: Sequence[int]) -> List[int]:
        """The nodes of seq[:1], seq[:2] .. seq: the rows that score seq[1:] and its end."""
        return [self._index[tuple(seq[:j])] for j in range(1, len(seq) + 1)]

    def feeds(self, heads: int) -> Dict[str, np.ndarray]:
        """input_ids, position_ids and attention_bias for the tree after one cached position
        (BOS at position 0): a node sees BOS, its ancestors and itself."""
        size = len(self.tokens)
        allowed = np.zeros((size, size + 1), dtype=bool)
        allowed[:, 0] = True
        for i, parent in enumerate(self.parents):
            if parent >= 0:
                allowed[i] = allowed[parent]
            allowed[i, i + 1] = True
        return {INPUT_IDS: np.asarray([self.tokens], dtype=np.int64),
                POSITION_IDS: np.asarray([self.depths], dtype=np.int64),
                ATTENTION_BIAS: attention_bias(allowed, heads)}
