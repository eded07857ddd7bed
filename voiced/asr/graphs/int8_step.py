"""An 8-bit copy of the v1 merged decoder's cached step, for scoring many tokens at once.

The base-en decoder in the moonshine-cpp wheel stores each weight matrix as 8-bit integers q
with a scale s and an offset z (w = q*s + z, where z is a whole multiple of s) and expands them
to float32 when the session is created (voiced.asr.graphs.ort_format), so every product runs in
float32. Teacher-forced scoring (voiced.asr.scoring) runs the cached step on about a hundred
tokens per call, where those products are nearly all of the time.

This builds the cached branch of the merged graph (``use_cache_branch`` true) as a graph of its
own in which every weight product, the vocabulary projection included, is onnxruntime's
DynamicQuantizeMatMul on the stored integers: the weights are used exactly as shipped, the
activations are quantized per call (one scale per call, so a sentence's score moves by about
0.1 nats with the other sentences in its batch). Its logits come out log-softmax normalised,
computed in the graph on all threads. The embedding lookup reads the 8-bit table too, so the
float copy of the table is not kept. Rescoring took 0.74x the time of the float step on 2 x86
cores, with the same decisions on the tuning sets. The float graph stays in use for transcribing.

Only the protobuf fields involved are read and written (voiced.asr.graphs.protobuf). A graph laid out
any other way gives None, and scoring keeps the float graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from voiced.asr.graphs.graph_io import (A_GRAPH, A_GRAPHS, A_INTS, FLOAT, G_INIT, G_NAME, G_NODE, INT8, M_GRAPH,
                                       MS_DOMAIN, N_ATTR, N_INPUT, N_OUTPUT, Graph, Node, float_array, int_attribute,
                                       node, opset, read_graph, tensor)
from voiced.asr.graphs.names import BRANCH
from voiced.asr.graphs.protobuf import field, spans, varint
from voiced.asr.graphs.shared_weights import parse_initializer


@dataclass(frozen=True)
class _Weight:
    """A weight stored as 8-bit integers: w = scale * (q - zero_point)."""

    q: str
    scale: str
    offset: str
    """the float offset: w = scale * q + offset"""
    zero_point: int
    dims: Tuple[int, ...]
    data: Tuple[int, int]
    """offset and length of q's raw bytes in the model"""


def int8_cached_step(model: bytes) -> Optional[bytes]:
    """The cached step of a v1 merged decoder (ModelProto bytes, as from ort_format.as_onnx)
    as a model of its own with 8-bit weight products; None when the graph is not laid out so."""
    graphs = [(a, b) for n, w, a, b, _ in spans(model, 0, len(model)) if n == M_GRAPH and w == 2]
    if len(graphs) != 1:
        return None
    outer = read_graph(model, *graphs[0])
    branches = [n for n in outer.nodes if n.op == "If"]
    if len(branches) != 1 or BRANCH not in [name for name, _ in outer.inputs]:
        return None
    branch = _subgraph(branches[0], "then_branch")
    if branch is None:
        return None
    inner = read_graph(branch, 0, len(branch))
    if any(_has_subgraph(n) for n in inner.nodes):
        return None  # a nested graph may read outer names this rewrite cannot see
    weights = _stored_weights(model, outer)
    nodes, tensors = _rewrite(model, inner.nodes, weights)
    if not tensors:
        return None
    names = [name for name, _ in outer.outputs]
    nodes += [node("Identity", [src], [dst], f"out/{dst}")
              for (src, _), dst in zip(inner.outputs, names) if src != dst]
    nodes = _live([n for n in outer.nodes if n.op != "If"] + _normalized(nodes, names[0]), set(names))
    return _assemble(model, outer, branch, inner, nodes, tensors)


def _assemble(model: bytes, outer: Graph, branch: bytes, inner: Graph, nodes: List[Node],
              tensors: List[bytes]) -> bytes:
    """The model: `nodes`, the initializers they read (from either graph, and new `tensors`),
    the outer graph's inputs but the branch flag, its outputs, and the com.microsoft opset."""
    names = [name for name, _ in outer.outputs]
    used = {x for n in nodes for x in n.inputs} | set(names)
    graph = [field(G_NAME, b"cached_step_int8")] + [field(G_NODE, n.raw) for n in nodes]
    graph += [model[s:e] for name, (s, _, e) in outer.initializers.items() if name in used]
    graph += [branch[s:e] for name, (s, _, e) in inner.initializers.items() if name in used]
    graph += [field(G_INIT, t) for t in tensors]
    graph += [raw for name, raw in outer.inputs if name != BRANCH]
    graph += [raw for _, raw in outer.outputs]
    out = [model[s:e] for n, _, _, e, s in spans(model, 0, len(model)) if n != M_GRAPH]
    out.append(field(M_GRAPH, b"".join(graph)))
    out.append(opset(MS_DOMAIN, 1))
    return b"".join(out)


def _rewrite(model: bytes, nodes: List[Node], weights: Dict[str, _Weight]) -> Tuple[List[Node], List[bytes]]:
    """The branch's nodes with each MatMul on a stored weight (or on its 2-D transpose) made a
    DynamicQuantizeMatMul; and the new initializers (zero points, transposed integers)."""
    transposed: Dict[str, _Weight] = {}
    tensors: List[bytes] = []
    for n in nodes:
        w = weights.get(n.inputs[0]) if n.op == "Transpose" and n.inputs else None
        if w is not None and len(w.dims) == 2 and _perm(n) in (None, [1, 0]):
            flipped = np.frombuffer(model, np.int8, w.dims[0] * w.dims[1], w.data[0]).reshape(w.dims).T
            name = f"{w.q}/transposed"
            tensors.append(tensor(name, np.ascontiguousarray(flipped)))
            transposed[n.outputs[0]] = _Weight(name, w.scale, w.offset, w.zero_point, w.dims[::-1], (0, 0))
    out: List[Node] = []
    zero_points = set()
    for n in nodes:
        if n.op == "Gather" and n.inputs and n.inputs[0] in weights:
            out += _gather_rows(n, weights[n.inputs[0]])
            continue
        product = n.op == "MatMul" and len(n.inputs) == 2
        w = (weights.get(n.inputs[1]) or transposed.get(n.inputs[1])) if product else None
        if w is None:
            out.append(n)
            continue
        zp = f"{w.q}/zero_point"
        if zp not in zero_points:
            zero_points.add(zp)
            tensors.append(tensor(zp, np.array(w.zero_point, dtype=np.int8)))
        out.append(node("DynamicQuantizeMatMul", [n.inputs[0], w.q, w.scale, zp], n.outputs,
                         f"{n.name}/int8", domain=MS_DOMAIN))
    return out, tensors if zero_points else []


def _normalized(nodes: List[Node], logits: str) -> List[Node]:
    """`nodes` with the `logits` output passed through LogSoftmax: a scorer needs every row's
    log-normaliser, and onnxruntime computes it on all threads, 4x faster than numpy on one."""
    raw = f"{logits}/raw"
    out = []
    for n in nodes:
        if logits in n.outputs:
            n = Node(n.raw, n.op, n.inputs, [raw if o == logits else o for o in n.outputs], n.name, {})
            n.raw = _with_io(n)
        out.append(n)
    soft = node("LogSoftmax", [raw], [logits], f"{logits}/log_softmax")
    soft.raw += field(N_ATTR, int_attribute("axis", -1))
    return out + [soft]



def _gather_rows(gather: Node, w: _Weight) -> List[Node]:
    """Gather from the 8-bit table and expand only the rows taken (the embedding lookup), so
    the table is not kept a second time in float32."""
    at = f"{gather.name}/int8"
    rows, real, scaled = f"{at}/rows", f"{at}/float", f"{at}/scaled"
    cast = node("Cast", [rows], [real], f"{at}/cast")
    cast.raw += field(N_ATTR, int_attribute("to", FLOAT))
    taken = Node(gather.raw, gather.op, [w.q] + gather.inputs[1:], [rows], gather.name, {})
    taken.raw = _with_io(taken)
    return [taken, cast, node("Mul", [real, w.scale], [scaled], f"{at}/scale"),
            node("Add", [scaled, w.offset], list(gather.outputs), f"{at}/offset")]


def _with_io(node: Node) -> bytes:
    """`node.raw` with its inputs and outputs replaced by node.inputs / node.outputs."""
    rest = [node.raw[s:e] for n, _, _, e, s in spans(node.raw, 0, len(node.raw)) if n not in (N_INPUT, N_OUTPUT)]
    return (b"".join(field(N_INPUT, x.encode()) for x in node.inputs)
            + b"".join(field(N_OUTPUT, y.encode()) for y in node.outputs) + b"".join(rest))


def _stored_weights(model: bytes, graph: Graph) -> Dict[str, _Weight]:
    """{output of Add(Mul(Cast(q), scale), offset): the weight} for every such chain on 8-bit
    initializers whose offset is a whole multiple of the scale in int8 range."""
    made = {o: n for n in graph.nodes for o in n.outputs}
    found: Dict[str, _Weight] = {}
    for add in graph.nodes:
        mul = made.get(add.inputs[0]) if add.op == "Add" and len(add.inputs) == 2 else None
        cast = made.get(mul.inputs[0]) if mul is not None and mul.op == "Mul" and len(mul.inputs) == 2 else None
        if cast is None or cast.op != "Cast":
            continue
        q = _tensor_info(model, graph, cast.inputs[0])
        scale = _scalar(model, graph, mul.inputs[1])
        offset = _scalar(model, graph, add.inputs[1])
        if q is None or q[0] != INT8 or scale is None or offset is None or scale == 0.0:
            continue
        steps = offset / scale
        zero = -round(steps)
        if abs(steps + zero) > 1e-3 or not -128 <= zero <= 127:
            continue
        found[add.outputs[0]] = _Weight(cast.inputs[0], mul.inputs[1], add.inputs[1], zero, q[1], q[2])
    return found


def _tensor_info(model: bytes, graph: Graph, name: str):
    """(data type, dims, (offset, length)) of an initializer held as raw_data, else None."""
    span = graph.initializers.get(name)
    tensor = parse_initializer(model, span[1], span[2]) if span else None
    return None if tensor is None else (tensor.dtype, tensor.dims, (tensor.offset, tensor.length))


def _scalar(model: bytes, graph: Graph, name: str) -> Optional[float]:
    values = float_array(model, graph, name)
    return None if values is None or values.size != 1 else float(values.reshape(-1)[0])


def _subgraph(node: Node, attribute: str) -> Optional[bytes]:
    span = node.attrs.get(attribute)
    if span is None:
        return None
    return next((node.raw[a:b] for n, w, a, b, _ in spans(node.raw, *span) if n == A_GRAPH and w == 2), None)


def _has_subgraph(node: Node) -> bool:
    return any(n in (A_GRAPH, A_GRAPHS) for a, b in node.attrs.values() for n, *_ in spans(node.raw, a, b))


def _perm(node: Node) -> Optional[List[int]]:
    """A Transpose's perm attribute (packed or not), None when absent (reverse all axes)."""
    span = node.attrs.get("perm")
    if span is None:
        return None
    perm: List[int] = []
    for n, w, a, b, _ in spans(node.raw, *span):
        if n == A_INTS and w == 0:
            perm.append(a)
        elif n == A_INTS and w == 2:
            while a < b:
                value, a = varint(node.raw, a, b)
                perm.append(value)
    return perm


def _live(nodes: List[Node], wanted: set) -> List[Node]:
    """The nodes that contribute to `wanted` names, in their order."""
    need = set(wanted)
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.outputs):
            keep.append(n)
            need.update(n.inputs)
    return keep[::-1]

