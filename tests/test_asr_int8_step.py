"""The 8-bit cached decoder step: built from the stored 8-bit weights, it scores like the float step."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from voiced.asr.int8_step import (_A_GRAPH, _A_NAME, _M_GRAPH, _M_OPSET, _int_attribute, _node, _read_graph, _tensor,
                                  int8_cached_step)
from voiced.asr.protobuf import encode_varint, field, spans

SENTENCES = ["Set kitchen lights to green", "So, kitchen likes to green", "Set kitchen lights to red",
             "Turn on the kitchen light please", "Kitchen lights on", "What's the weather like in New York"]


# --- a tiny merged-layout model, written with the same protobuf pieces -------------------------

def _value(name: str, elem: int, dims) -> bytes:
    shape = b"".join(field(1, encode_varint(1 << 3) + encode_varint(d)) for d in dims)
    tensor = encode_varint(1 << 3) + encode_varint(elem) + field(2, shape)
    return field(1, name.encode()) + field(2, field(1, tensor))


def _graph(name: str, nodes, inits, inputs, outputs) -> bytes:
    out = [field(2, name.encode())] + [field(1, n.raw) for n in nodes] + [field(5, t) for t in inits]
    return b"".join(out + [field(11, i) for i in inputs] + [field(12, o) for o in outputs])


def _merged(q: np.ndarray, scale: float, offset: float) -> bytes:
    """y = x @ (scale * q + offset) when use_cache_branch, else x, with q stored as int8."""
    cast = _node("Cast", ["q"], ["qf"], "cast")
    cast.raw += field(5, _int_attribute("to", 1))
    chain = [cast, _node("Mul", ["qf", "scale"], ["qs"], "mul"), _node("Add", ["qs", "offset"], ["w"], "add")]
    then = _graph("then", [_node("MatMul", ["x", "w"], ["y_then"], "matmul")], [], [], [_value("y_then", 1, [2, 3])])
    other = _graph("else", [_node("Identity", ["x"], ["y_else"], "same")], [], [], [_value("y_else", 1, [2, 3])])
    branch = _node("If", ["use_cache_branch"], ["y"], "if")
    for name, g in (("then_branch", then), ("else_branch", other)):
        graph_type = encode_varint(20 << 3) + encode_varint(5)
        branch.raw += field(5, field(_A_NAME, name.encode()) + field(_A_GRAPH, g) + graph_type)
    inits = [_tensor("q", q), _tensor("scale", np.array([scale], np.float32)),
             _tensor("offset", np.array([offset], np.float32))]
    graph = _graph("merged", chain + [branch], inits,
                   [_value("x", 1, [2, 3]), _value("use_cache_branch", 9, [1])], [_value("y", 1, [2, 3])])
    opset = field(_M_OPSET, field(1, b"") + encode_varint(2 << 3) + encode_varint(17))
    return encode_varint(1 << 3) + encode_varint(8) + opset + field(_M_GRAPH, graph)


def _ops(model: bytes):
    graph = next((a, b) for n, w, a, b, _ in spans(model, 0, len(model)) if n == _M_GRAPH)
    return [n.op for n in _read_graph(model, *graph).nodes]


def _run(model: bytes, x: np.ndarray, **extra) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x, **extra})[0]


def test_weight_products_become_8_bit_and_compute_the_same():
    q = np.array([[-20, 5, 127], [3, -128, 0], [64, 9, -7]], dtype=np.int8)
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    model = _merged(q, 0.02, 0.02 * 4)  # offset = 4 steps: zero point -4
    step = int8_cached_step(model)
    assert step is not None
    assert "DynamicQuantizeMatMul" in _ops(step) and "MatMul" not in _ops(step) and "If" not in _ops(step)
    weights = 0.02 * q.astype(np.float32) + 0.08
    logits = x @ weights
    assert np.allclose(_run(model, x, use_cache_branch=np.array([True])), logits, atol=1e-5)
    # the first output comes out as log-probabilities; activations are quantized to 8 bits per
    # call: within a step of their range times the weights (twice: the log-normaliser moves too)
    expected = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert np.allclose(_run(step, x), expected, atol=2 * np.abs(x).max() / 64 * np.abs(weights).sum(0).max())


def test_an_offset_between_steps_keeps_the_float_product():
    model = _merged(np.eye(3, dtype=np.int8), 0.02, 0.013)
    assert int8_cached_step(model) is None


def test_a_graph_without_a_cache_branch_is_left_alone():
    from voiced.vad import BUNDLED_MODEL

    assert int8_cached_step(BUNDLED_MODEL.read_bytes()) is None


# --- the real base-en decoder ----------------------------------------------------------------

@pytest.fixture(scope="module")
def scorers(kitchen_green):
    from voiced.rescoring.scorer import SequenceScorer

    transcriber, states = kitchen_green
    float_scorer = SequenceScorer(transcriber.decoder, transcriber.tokenizer)
    int8_scorer = SequenceScorer(transcriber.decoder, transcriber.tokenizer, int8=True)
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    return float_scorer, int8_scorer, states, sequences


def test_base_en_scores_with_8_bit_products_like_float(scorers):
    float_scorer, int8_scorer, states, sequences = scorers
    assert int8_scorer.int8 and not float_scorer.int8
    # built once per decoder: a grammar reload's new rescorer reuses the session
    decoder = float_scorer._decoder
    assert decoder.int8_step() is decoder.int8_step() is not None
    reference = float_scorer.score(states, sequences)
    scores = int8_scorer.score(states, sequences)
    single = [int8_scorer.score(states, [s])[0] for s in sequences]
    for a, b, c in zip(scores, reference, single):
        assert a.count == b.count
        # measured: at most 0.2 nats per sentence of 6-9 tokens, batched or alone
        assert a.total == pytest.approx(b.total, abs=0.5)
        assert c.total == pytest.approx(b.total, abs=0.5)
    assert np.argmax([s.total for s in scores]) == np.argmax([s.total for s in reference])
