"""Tokenizers shipped with exported models.

`moonshine`: the real 32768-token Moonshine tokenizer from the installed useful-moonshine-onnx
package (MIT). `tiny-bpe`: a 1024-token BPE with Moonshine's conventions (SentencePiece-style
"▁" word marks, byte fallback, <unk>=0, <s>=1, </s>=2), trained deterministically on the
Moonshine vocabulary's own pieces, so it needs nothing but that package.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Iterator, List

from voiced.errors import ModelError

SPECIALS = ["<unk>", "<s>", "</s>"]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def moonshine_tokenizer_path() -> Path:
    """tokenizer.json of the installed useful-moonshine-onnx package."""
    if importlib.util.find_spec("moonshine_onnx") is None:
        raise ModelError("the Moonshine tokenizer comes from the useful-moonshine-onnx package: pip install useful-moonshine-onnx")
    path = Path(str(importlib.resources.files("moonshine_onnx") / "assets" / "tokenizer.json"))
    if not path.is_file():
        raise ModelError(f"{path}: missing from the installed useful-moonshine-onnx package")
    return path


def _training_words(source: Path) -> Iterator[str]:
    """Moonshine's own vocabulary as plain text, most frequent pieces first."""
    vocab = json.loads(source.read_text(encoding="utf-8"))["model"]["vocab"]
    for piece, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        if piece.startswith("<") and piece.endswith(">"):
            continue  # specials and byte tokens
        yield piece.replace("▁", " ")


def train_tiny_bpe(vocab_size: int = 1024) -> str:
    """A Moonshine-style BPE tokenizer of exactly `vocab_size` tokens, as tokenizer.json text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    # Specials first so they get ids 0, 1, 2; then the 256 byte-fallback tokens (3..258).
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS + BYTE_TOKENS,
        limit_alphabet=96,
        show_progress=False,
    )
    words: List[str] = list(_training_words(moonshine_tokenizer_path()))
    tok.train_from_iterator(words, trainer=trainer, length=len(words))
    data = json.loads(tok.to_str())
    # Byte tokens are ordinary vocabulary for byte fallback, not special tokens that decoding skips.
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in SPECIALS]
    # Only the normalizer marks words; a pre-tokenizer would add a second "▁".
    data["pre_tokenizer"] = None
    if len(data["model"]["vocab"]) != vocab_size:
        raise ModelError(f"tokenizer training gave {len(data['model']['vocab'])} tokens, wanted {vocab_size}")
    return json.dumps(data, ensure_ascii=False, indent=None)


def write_tokenizer(kind: str, dest: Path, vocab_size: int) -> None:
    """Write tokenizer.json of the given kind ("moonshine" or "tiny-bpe") into dest."""
    if kind == "moonshine":
        src = moonshine_tokenizer_path()
        shutil.copyfile(src, dest / "tokenizer.json")
    elif kind == "tiny-bpe":
        (dest / "tokenizer.json").write_text(train_tiny_bpe(vocab_size), encoding="utf-8")
    else:
        raise ValueError(kind)
