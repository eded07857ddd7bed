"""Reading and writing ONNX graphs at the protobuf level (voiced.asr.graphs.protobuf), without the
``onnx`` package: the pieces voiced.asr.graphs.int8_step and voiced.asr.graphs.tree_step build models from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from voiced.asr.graphs.protobuf import encode_varint, field, spans
from voiced.asr.graphs.shared_weights import DTYPES, parse_initializer

M_IR_VERSION, M_GRAPH, M_OPSET = 1, 7, 8
G_NODE, G_NAME, G_INIT, G_INPUT, G_OUTPUT = 1, 2, 5, 11, 12
N_INPUT, N_OUTPUT, N_NAME, N_OP, N_ATTR, N_DOMAIN = 1, 2, 3, 4, 5, 7
A_NAME, A_FLOAT, A_INT, A_GRAPH, A_INTS, A_GRAPHS, A_TYPE = 1, 2, 3, 6, 8, 11, 20
T_DIMS, T_TYPE, T_NAME, T_RAW = 1, 2, 8, 9
FLOAT, INT8, INT64 = 1, 3, 7
MS_DOMAIN = b"com.microsoft"


@dataclass
class Node:
    raw: bytes
    op: str
    inputs: List[str]
    outputs: List[str]
    name: str
    attrs: Dict[str, Tuple[int, int]]
    """attribute name -> span of the AttributeProto in `raw`"""


@dataclass
class Graph:
    nodes: List[Node]
    initializers: Dict[str, Tuple[int, int, int]]
    """name -> (field start, payload start, payload end) in the model bytes"""
    inputs: List[Tuple[str, bytes]]
    """(name, whole field) of each graph input"""
    outputs: List[Tuple[str, bytes]]


def model_graph(model: bytes) -> Graph:
    """The main graph of ModelProto bytes; ValueError unless there is exactly one."""
    graphs = [(a, b) for n, w, a, b, _ in spans(model, 0, len(model)) if n == M_GRAPH and w == 2]
    if len(graphs) != 1:
        raise ValueError(f"expected one graph in the model, found {len(graphs)}")
    return read_graph(model, *graphs[0])


def float_array(model: bytes, graph: Graph, name: str) -> Optional[np.ndarray]:
    """The values of a float32 initializer held as raw_data (a view into `model`), else None."""
    span = graph.initializers.get(name)
    found = parse_initializer(model, span[1], span[2]) if span else None
    if found is None or found.dtype != FLOAT:
        return None
    return np.frombuffer(model, np.float32, int(np.prod(found.dims)), found.offset).reshape(found.dims)


def read_graph(buf: bytes, start: int, end: int) -> Graph:
    graph = Graph([], {}, [], [])
    for number, wire, a, b, first in spans(buf, start, end):
        if wire != 2:
            continue
        if number == G_NODE:
            graph.nodes.append(read_node(buf[a:b]))
        elif number == G_INIT:
            name = next((buf[x:y].decode("utf-8") for n, _, x, y, _ in spans(buf, a, b) if n == T_NAME), "")
            graph.initializers[name] = (first, a, b)
        elif number in (G_INPUT, G_OUTPUT):
            name = next((buf[x:y].decode("utf-8") for n, _, x, y, _ in spans(buf, a, b) if n == 1), "")
            (graph.inputs if number == G_INPUT else graph.outputs).append((name, buf[first:b]))
    return graph


def read_node(raw: bytes) -> Node:
    node = Node(raw, "", [], [], "", {})
    for number, wire, a, b, first in spans(raw, 0, len(raw)):
        text = raw[a:b].decode("utf-8") if wire == 2 and number != N_ATTR else ""
        if number == N_INPUT:
            node.inputs.append(text)
        elif number == N_OUTPUT:
            node.outputs.append(text)
        elif number == N_NAME:
            node.name = text
        elif number == N_OP:
            node.op = text
        elif number == N_ATTR:
            name = next((raw[x:y].decode("utf-8") for n, _, x, y, _ in spans(raw, a, b) if n == A_NAME), "")
            node.attrs[name] = (a, b)
    return node


def node(op: str, inputs: List[str], outputs: List[str], name: str, domain: bytes = b"",
         **attributes: Union[int, float]) -> Node:
    """A NodeProto; int and float keyword arguments become its attributes."""
    raw = b"".join(field(N_INPUT, x.encode()) for x in inputs)
    raw += b"".join(field(N_OUTPUT, y.encode()) for y in outputs)
    raw += field(N_NAME, name.encode()) + field(N_OP, op.encode())
    if domain:
        raw += field(N_DOMAIN, domain)
    for key, value in attributes.items():
        raw += field(N_ATTR, float_attribute(key, value) if isinstance(value, float) else int_attribute(key, value))
    return Node(raw, op, list(inputs), list(outputs), name, {})


def int_attribute(name: str, value: int) -> bytes:
    """An AttributeProto of type INT (negative values as 64-bit two's complement)."""
    return (field(A_NAME, name.encode()) + encode_varint(A_INT << 3) + encode_varint(value & (1 << 64) - 1)
            + encode_varint(A_TYPE << 3) + encode_varint(2))


def float_attribute(name: str, value: float) -> bytes:
    """An AttributeProto of type FLOAT."""
    return (field(A_NAME, name.encode()) + encode_varint(A_FLOAT << 3 | 5) + np.float32(value).tobytes()
            + encode_varint(A_TYPE << 3) + encode_varint(1))


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto holding `array` as raw_data."""
    dtype = next(k for k, v in DTYPES.items() if np.dtype(v) == array.dtype)
    out = [encode_varint(T_DIMS << 3) + encode_varint(d) for d in array.shape]
    out.append(encode_varint(T_TYPE << 3) + encode_varint(dtype))
    out.append(field(T_NAME, name.encode()))
    out.append(field(T_RAW, array.tobytes()))
    return b"".join(out)


def value_info(name: str, elem: int, dims: Iterable[Union[int, str]]) -> bytes:
    """A ValueInfoProto of a tensor: element type and dims (int sizes or str symbols)."""
    shape = b"".join(field(1, encode_varint(1 << 3) + encode_varint(d) if isinstance(d, int) else field(2, d.encode()))
                     for d in dims)
    tensor_type = encode_varint(1 << 3) + encode_varint(elem) + field(2, shape)
    return field(1, name.encode()) + field(2, field(1, tensor_type))


def opset(domain: bytes, version: int) -> bytes:
    """An OperatorSetIdProto field of a ModelProto."""
    return field(M_OPSET, field(1, domain) + encode_varint(2 << 3) + encode_varint(version))
