"""The files an export writes, by name.

Shared by the exporter (voiced.export.export) and the check against PyTorch
(voiced.export.verify), which reads the graphs back; kept apart so neither imports the other.
"""
from __future__ import annotations

from typing import List

ENCODER = "encoder_model"
DECODER = "decoder_model"
DECODER_WITH_PAST = "decoder_with_past_model"
GRAPHS = (ENCODER, DECODER, DECODER_WITH_PAST)
INT8_SUFFIX = "_int8"


def graph_files(quantized: bool = True) -> List[str]:
    """The ONNX file names of the three graphs, in GRAPHS order."""
    suffix = INT8_SUFFIX if quantized else ""
    return [f"{name}{suffix}.onnx" for name in GRAPHS]


def output_files(quantized: bool = True) -> List[str]:
    """Every file an export leaves in its output folder."""
    return graph_files(quantized) + ["tokenizer.json", "config.json"]
