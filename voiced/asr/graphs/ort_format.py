"""Run ORT-format (.ort) models at full speed by handing them to onnxruntime as ONNX.

onnxruntime runs an ORT-format model exactly as it was saved: no graph optimisation happens at
load. The base-en model in the moonshine-cpp wheel stores each weight as 8-bit integers followed
by Cast, Mul and Add nodes, so every run dequantizes every weight again: about 45 ms of a 53 ms
decoder step on a 2-core x86 machine, and a third of an encode. The same graph given as ONNX is
constant-folded when the session is created, so the weights are dequantized once.

The conversion uses onnxruntime itself (it can write any graph it loaded as ONNX, with no
optimisation applied), in memory per load, so nothing is cached on disk. onnxruntime writes
subgraphs (the merged decoder's If branches) without the name ONNX requires; they are named
here with a small protobuf edit, so the ``onnx`` package is not needed.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import List, Union

from voiced.asr.graphs.protobuf import field, spans

log = logging.getLogger(__name__)

_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_NAME = 1, 2
_NODE_NAME, _NODE_ATTRIBUTE = 3, 5
_ATTR_NAME, _ATTR_GRAPH, _ATTR_GRAPHS = 1, 6, 11


def as_onnx(path: Union[str, Path]) -> bytes:
    """The model in ORT format at `path` as an ONNX ModelProto, graph unchanged."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    handle, target = tempfile.mkstemp(suffix=".onnx", prefix="voiced-")
    os.close(handle)
    try:
        options.optimized_model_filepath = target
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        data = Path(target).read_bytes()
    finally:
        os.unlink(target)
    return name_subgraphs(data)


def name_subgraphs(model: bytes) -> bytes:
    """`model` (ModelProto bytes) with every unnamed subgraph given a unique name."""
    out: List[bytes] = []
    for number, wire, a, b, first in spans(model, 0, len(model)):
        if number == _MODEL_GRAPH and wire == 2:
            out.append(field(_MODEL_GRAPH, _graph(model, a, b, "main", named=True)))
        else:
            out.append(model[first:b])
    return b"".join(out)


def _graph(buf: bytes, start: int, end: int, name: str, named: bool = False) -> bytes:
    """GraphProto buf[start:end] with its nodes' subgraphs named, and itself named `name` if unnamed."""
    out: List[bytes] = []
    for number, wire, a, b, first in spans(buf, start, end):
        if number == _GRAPH_NODE and wire == 2:
            out.append(field(_GRAPH_NODE, _node(buf, a, b, name)))
        elif number == _GRAPH_NAME and wire == 2 and b == a:
            continue  # an empty name: replaced below (protobuf would keep the last one anyway)
        else:
            named = named or number == _GRAPH_NAME
            out.append(buf[first:b])
    if not named:
        out.append(field(_GRAPH_NAME, name.encode("utf-8")))
    return b"".join(out)


def _node(buf: bytes, start: int, end: int, graph_name: str) -> bytes:
    node_name = next((buf[a:b].decode("utf-8", "replace") for n, w, a, b, _ in spans(buf, start, end)
                      if n == _NODE_NAME and w == 2), "node")
    if not any(n == _NODE_ATTRIBUTE for n, *_ in spans(buf, start, end)):
        return buf[start:end]
    out: List[bytes] = []
    for number, wire, a, b, first in spans(buf, start, end):
        if number == _NODE_ATTRIBUTE and wire == 2:
            out.append(field(_NODE_ATTRIBUTE, _attribute(buf, a, b, f"{graph_name}/{node_name}")))
        else:
            out.append(buf[first:b])
    return b"".join(out)


def _attribute(buf: bytes, start: int, end: int, owner: str) -> bytes:
    attr = next((buf[a:b].decode("utf-8", "replace") for n, w, a, b, _ in spans(buf, start, end)
                 if n == _ATTR_NAME and w == 2), "attr")
    out: List[bytes] = []
    k = 0
    for number, wire, a, b, first in spans(buf, start, end):
        if number in (_ATTR_GRAPH, _ATTR_GRAPHS) and wire == 2:
            out.append(field(number, _graph(buf, a, b, f"{owner}/{attr}/{k}")))
            k += 1
        else:
            out.append(buf[first:b])
    return b"".join(out)
