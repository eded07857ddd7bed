"""The three inference graphs cut out of MoonshineStreamingForConditionalGeneration.

Each wrapper takes and returns plain tensors, so torch.onnx.export sees no cache objects.
Output names follow the runtime contract: the first-step decoder returns `logits` then
`present_*` key/values for every layer; the with-past decoder takes the same tensors as
`past_*` inputs and returns `logits` plus the grown self-attention `present_*` tensors.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_causal_mask

ENCODER_INPUTS = ["input_values", "attention_mask"]
ENCODER_OUTPUTS = ["encoder_hidden_states"]
KINDS = ("self_key", "self_value", "cross_key", "cross_value")


def present_names(num_layers: int) -> List[str]:
    """Per layer: self-attention key/value, then cross-attention key/value."""
    return [f"present_{kind}_{i}" for i in range(num_layers) for kind in KINDS]


def past_name(present: str) -> str:
    return "past_" + present[len("present_"):]


class EncoderGraph(nn.Module):
    """Audio [batch, samples] plus its mask → hidden states [batch, frames, width].

    The mask input is required: without it transformers builds no sliding-window mask and
    every frame would attend to the whole utterance.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.model.encoder

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_values, attention_mask=attention_mask).last_hidden_state


class FirstDecoderGraph(nn.Module):
    """First decoder step: token ids and encoder states → logits and every layer's cache."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.decoder = model.model.decoder
        self.proj_out = model.proj_out

    def forward(self, decoder_input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        # The decoder adds its position embeddings to encoder_hidden_states in place.
        out = self.decoder(
            input_ids=decoder_input_ids,
            encoder_hidden_states=encoder_hidden_states.clone(),
            past_key_values=cache,
            use_cache=True,
        )
        result = [self.proj_out(out.last_hidden_state)]
        for self_layer, cross_layer in zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers):
            result += [self_layer.keys, self_layer.values, cross_layer.keys, cross_layer.values]
        return tuple(result)


class PastDecoderGraph(nn.Module):
    """Later decoder steps: new token ids plus the cache → logits and the grown self-attention cache.

    This repeats the decoder's forward without the adapter (position embedding and projection
    of the encoder states): its only use is computing cross-attention keys/values, which are
    already in the cache, so the graph needs neither the encoder states nor those weights.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.decoder = model.model.decoder
        self.proj_out = model.proj_out

    def forward(self, decoder_input_ids: torch.Tensor, *past: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        layers = len(self.decoder.layers)
        self_cache = DynamicCache([(past[4 * i], past[4 * i + 1]) for i in range(layers)])
        cross_cache = DynamicCache([(past[4 * i + 2], past[4 * i + 3]) for i in range(layers)])
        cache = EncoderDecoderCache(self_cache, cross_cache)
        hidden = self.decoder.embed_tokens(decoder_input_ids)
        position_ids = (torch.arange(hidden.shape[1]) + self_cache.get_seq_length()).unsqueeze(0)
        causal_mask = create_causal_mask(
            config=self.decoder.config,
            inputs_embeds=hidden,
            attention_mask=None,
            past_key_values=cache,
            position_ids=position_ids,
        )
        rotary = self.decoder.rotary_emb(hidden, position_ids=position_ids)
        for layer in self.decoder.layers:
            # Any non-None tensor turns cross-attention on; its keys/values come from the cache.
            hidden = layer(
                hidden,
                causal_mask,
                hidden,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                position_embeddings=rotary,
            )
        result = [self.proj_out(self.decoder.norm(hidden))]
        for self_layer in cache.self_attention_cache.layers:
            result += [self_layer.keys, self_layer.values]
        return tuple(result)


def past_output_names(num_layers: int) -> List[str]:
    return [n for n in present_names(num_layers) if "_self_" in n]


def flat_cache(first_outputs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """The cache part of FirstDecoderGraph's outputs, in PastDecoderGraph's input order."""
    return list(first_outputs[1:])
