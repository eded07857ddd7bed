"""The 8-bit cached decoder step: built from the stored 8-bit weights, it scores like the float step."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from voiced.asr.graphs.graph_io import (A_GRAPH, A_NAME, M_GRAPH, int_attribute, node, opset, read_graph, tensor,
                                       value_info)
from voiced.asr.graphs.int8_step import int8_cached_step
from voiced.asr.graphs.protobuf import encode_varint, field, spans

SENTENCES = ["Set kitchen lights to green", "So, kitchen likes to green", "Set kitchen lights to red",
             "Turn on the kitchen light please", "Kitchen lights on", "What's the weather like in New York"]


# --- a tiny merged-layout model, written with the same protobuf pieces -------------------------

def _graph(name: str, nodes, inits, inputs, outputs) -> bytes:
    out = [field(2, name.encode())] + [field(1, n.raw) for n in nodes] + [field(5, t) for t in inits]
    return b"".join(out + [field(11, i) for i in inputs] + [field(12, o) for o in outputs])


def _merged(q: np.ndarray, scale: float, offset: float) -> bytes:
    """y = x @ (scale * q + offset) when use_cache_branch, else x, with q stored as int8."""
    cast = node("Cast", ["q"], ["qf"], "cast")
    cast.raw += field(5, int_attribute("to", 1))
    chain = [cast, node("Mul", ["qf", "scale"], ["qs"], "mul"), node("Add", ["qs", "offset"], ["w"], "add")]
    then = _graph("then", [node("MatMul", ["x", "w"], ["y_then"], "matmul")], [], [], [value_info("y_then", 1, [2, 3])])
    other = _graph("else", [node("Identity", ["x"], ["y_else"], "same")], [], [], [value_info("y_else", 1, [2, 3])])
    branch = node("If", ["use_cache_branch"], ["y"], "if")
    for name, g in (("then_branch", then), ("else_branch", other)):
        graph_type = encode_varint(20 << 3) + encode_varint(5)
        branch.raw += field(5, field(A_NAME, name.encode()) + field(A_GRAPH, g) + graph_type)
    inits = [tensor("q", q), tensor("scale", np.array([scale], np.float32)),
             tensor("offset", np.array([offset], np.float32))]
    graph = _graph("merged", chain + [branch], inits,
                   [value_info("x", 1, [2, 3]), value_info("use_cache_branch", 9, [1])], [value_info("y", 1, [2, 3])])
    return encode_varint(1 << 3) + encode_varint(8) + opset(b"", 17) + field(M_GRAPH, graph)


def _ops(model: bytes):
    graph = next((a, b) for n, w, a, b, _ in spans(model, 0, len(model)) if n == M_GRAPH)
    return [n.op for n in read_graph(model, *graph).nodes]


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
    from voiced.vad.silero import BUNDLED_MODEL

    assert int8_cached_step(BUNDLED_MODEL.read_bytes()) is None


# --- the real base-en decoder ----------------------------------------------------------------

@pytest.fixture(scope="module")
def scorers(kitchen_green):
    from voiced.asr.decoder import DecoderGraph
    from voiced.asr.graphs.ort_format import as_onnx
    from voiced.asr.scoring import SequenceScorer
    from voiced.asr.scoring.steps import Batched

    transcriber, states = kitchen_green
    decoder = transcriber.decoder
    float_scorer = transcriber.scorer()
    # the 8-bit step itself, as scoring runs it where the token-tree step cannot run
    path = decoder.files.decoder
    step = DecoderGraph(ort.InferenceSession(int8_cached_step(as_onnx(path))), path, normalized=True)
    int8_scorer = SequenceScorer(Batched(decoder, step, share_cross=True), transcriber.tokenizer.end_ids())
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    return transcriber, float_scorer, int8_scorer, states, sequences


def test_base_en_scores_with_8_bit_products_like_float(scorers):
    transcriber, float_scorer, int8_scorer, states, sequences = scorers
    assert "8-bit" in int8_scorer.description and "8-bit" not in float_scorer.description
    # built once per recogniser: a grammar reload's new rescorer reuses the session
    assert transcriber.scorer(int8=True).steps is transcriber.scorer(int8=True).steps
    assert "8-bit" in transcriber.scorer(int8=True).description
    reference = float_scorer.score(states, sequences)
    scores = int8_scorer.score(states, sequences)
    single = [int8_scorer.score(states, [s])[0] for s in sequences]
    for a, b, c in zip(scores, reference, single):
        assert a.count == b.count
        # measured: at most 0.2 nats per sentence of 6-9 tokens, batched or alone
        assert a.total == pytest.approx(b.total, abs=0.5)
        assert c.total == pytest.approx(b.total, abs=0.5)
    assert np.argmax([s.total for s in scores]) == np.argmax([s.total for s in reference])
