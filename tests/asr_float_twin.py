"""Test helper: undo onnxruntime's dynamic INT8 quantisation of MatMul weights in a graph.

DynamicQuantizeLinear picks one activation scale per tensor from that tensor's min and max, so
an INT8 encoder's output for a frame depends (slightly) on how much other audio was in the same
call. With float MatMuls the graph is context-free again, and incremental encoding can be
checked for exact equality instead of against a quantisation noise floor.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def dequantize_matmuls(src: Path, dest: Path) -> Path:
    """Rewrite DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scales) as a float MatMul."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    quantized_from = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DynamicQuantizeLinear"}
    consumers = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    drop, added = set(), []
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        w_name, w_zero = node.input[1], node.input[3]
        scale = inits[w_name.replace("_quantized", "_scale")]
        weight = (inits[w_name].astype(np.float32) - inits[w_zero].astype(np.float32)) * scale
        cast = consumers[node.output[0]][0]
        mul = consumers[cast.output[0]][0]
        float_name = w_name + "_float"
        graph.initializer.append(numpy_helper.from_array(weight.astype(np.float32), float_name))
        added.append(helper.make_node("MatMul", [quantized_from[node.input[0]], float_name], [mul.output[0]]))
        drop.update(id(n) for n in (node, cast, mul))
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(kept + added)
    used = {name for n in graph.node for name in n.input}
    unused = [i for i in graph.initializer if i.name not in used]
    for init in unused:  # the INT8 weights and zero points nothing reads any more
        graph.initializer.remove(init)
    onnx.save(model, str(dest))
    return dest
