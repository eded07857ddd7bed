"""Named Moonshine v2 streaming shapes for `voiced export --random-init`.

Plain data here (no torch import), so the names can be listed without the export extra.
Field names are those of transformers' MoonshineStreamingConfig and
MoonshineStreamingEncoderConfig. Sliding windows follow transformers' convention:
[left, right], where left counts the frame itself and right is the lookahead in frames.
"""
from __future__ import annotations

from typing import Any, Dict

# The paper's Moonshine v2 "small": with these fields the parameter counts come out at
# 7.74M preprocessor, 43.49M encoder, 2.86M adapter and 69.27M decoder. The head size must
# be given explicitly: the config's default of 620 // 8 is wrong for this width.
SMALL: Dict[str, Any] = {
    "encoder_config": {
        "hidden_size": 620,
        "intermediate_size": 2480,
        "num_hidden_layers": 10,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "sliding_windows": [[16, 4], [16, 4]] + [[16, 0]] * 6 + [[16, 4], [16, 4]],
    },
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 10,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "max_position_embeddings": 4096,
    "vocab_size": 32768,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "decoder_start_token_id": 1,
}

# The smallest shape that still takes every code path: lookahead in the first and last encoder
# layers and none in the middle one (so lookahead adds up across layers, as in `small`), two
# decoder layers (so per-layer caches are told apart), and a decoder narrower than the encoder
# (equal widths would turn the adapter's projection into an Identity).
TINY_TEST: Dict[str, Any] = {
    "encoder_config": {
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "sliding_windows": [[16, 4], [16, 0], [16, 4]],
    },
    "hidden_size": 48,
    "intermediate_size": 192,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "vocab_size": 1024,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "decoder_start_token_id": 1,
}

CONFIGS: Dict[str, Dict[str, Any]] = {"small": SMALL, "tiny-test": TINY_TEST}

# Which tokenizer each named shape ships with (see voiced.export.tokenizer).
TOKENIZERS: Dict[str, str] = {"small": "moonshine", "tiny-test": "tiny-bpe"}


def build_config(name: str):
    """The transformers MoonshineStreamingConfig for a named shape (needs the export extra)."""
    from transformers import MoonshineStreamingConfig

    if name not in CONFIGS:
        raise KeyError(name)
    fields = dict(CONFIGS[name])
    fields["encoder_config"] = dict(fields["encoder_config"])
    # The config class wants lists of lists for the windows, not tuples.
    fields["encoder_config"]["sliding_windows"] = [list(w) for w in fields["encoder_config"]["sliding_windows"]]
    return MoonshineStreamingConfig(**fields)
