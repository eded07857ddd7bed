"""Moonshine's BPE tokenizer (a Hugging Face tokenizers JSON file)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from voiced.errors import ModelError

BOS_ID = 1
EOS_ID = 2
END_MARKS = (".", "?", "!")


class Tokenizer:
    """Turns token ids into text; special tokens (BOS, EOS, padding) are dropped."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer as HfTokenizer

        try:
            self._tok = HfTokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on malformed files
            raise ModelError(f"{path}: not a tokenizer.json file ({exc})") from exc
        self.vocab_size = self._tok.get_vocab_size()

    def decode(self, tokens: Sequence[int]) -> str:
        return self._tok.decode([t for t in tokens if t != EOS_ID], skip_special_tokens=True).strip()

    def encode(self, text: str) -> list:
        """Token ids of `text` without special tokens (for rescoring candidate sentences)."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def end_ids(self) -> List[int]:
        """EOS and the ids of sentence-final punctuation as Moonshine writes it (attached to a
        word): the tokens by which a sentence ends at a given point."""
        ids = [EOS_ID]
        for mark in END_MARKS:
            pieces = self.encode("a" + mark)
            if pieces and pieces[-1] not in ids:
                ids.append(pieces[-1])
        return ids
