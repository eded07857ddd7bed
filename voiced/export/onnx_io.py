"""Exporting one wrapper to ONNX with named dynamic dimensions, and INT8 quantisation."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import onnx
import torch

log = logging.getLogger(__name__)

OPSET = 18


def export_graph(
    module: torch.nn.Module,
    args: Sequence[torch.Tensor],
    path: Path,
    input_names: List[str],
    output_names: List[str],
    dynamic_shapes,
    dim_labels: Dict[str, List[Optional[str]]],
) -> None:
    """torch.onnx.export(dynamo=True), then readable names for the I/O dimensions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            tuple(args),
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    model = program.model_proto
    _label_dims(model, dim_labels)
    onnx.save_model(model, str(path))
    log.info("exported %s (%.1f MiB)", path.name, path.stat().st_size / 2**20)


def _label_dims(model: onnx.ModelProto, labels: Dict[str, List[Optional[str]]]) -> None:
    """Replace exporter symbols such as "80*s0" on graph inputs/outputs with names like "samples"."""
    for value in list(model.graph.input) + list(model.graph.output):
        wanted = labels.get(value.name)
        if wanted is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for dim, label in zip(dims, wanted):
            if label is not None and dim.HasField("dim_param"):
                dim.dim_param = label


def quantize(src: Path, dest: Path) -> None:
    """Dynamic INT8 quantisation of MatMul/Gemm weights (symmetric), as the published v2 export."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dest),
        op_types_to_quantize=["MatMul", "Gemm"],
        weight_type=QuantType.QInt8,
        per_channel=False,
        extra_options={"WeightSymmetric": True, "MatMulConstBOnly": True},
    )
    log.info("quantised %s (%.1f MiB)", dest.name, dest.stat().st_size / 2**20)
