"""The token-tree decoder step: every distinct prefix once, and the same scores as the 8-bit step."""
from __future__ import annotations

import numpy as np
import pytest

from voiced.asr.scoring.token_tree import TokenTree

SENTENCES = ["Set kitchen lights to green", "Set kitchen lights to red", "Set the kitchen lights to green",
             "Turn on the kitchen light please", "Kitchen lights on", "What's the weather like in New York"]


def test_a_token_tree_holds_each_prefix_once_and_sees_only_its_ancestors():
    tree = TokenTree([[5, 6, 7], [5, 6, 8], [5, 9], [4]])
    assert tree.tokens == [5, 6, 7, 8, 9, 4]
    assert tree.depths == [1, 2, 3, 3, 2, 1]
    assert tree.rows([5, 6, 8]) == [0, 1, 3]
    bias = tree.feeds(heads=2)["attention_bias"]
    assert bias.shape == (1, 2, 6, 7)
    seen = bias[0, 0] == 0
    # column 0 is BOS; node i is column i + 1
    assert seen[3].tolist() == [True, True, True, False, True, False, False]  # 5 6 8 sees BOS, 5, 6, itself
    assert seen[4].tolist() == [True, True, False, False, False, True, False]  # 5 9
    assert seen[5].tolist() == [True, False, False, False, False, False, True]  # 4


@pytest.fixture(scope="module")
def steps(kitchen_green):
    """The base-en 8-bit cached step and the tree step built from it, as sessions."""
    import onnxruntime as ort

    from voiced.asr.graphs.int8_step import int8_cached_step
    from voiced.asr.graphs.ort_format import as_onnx
    from voiced.asr.graphs.tree_step import tree_step

    transcriber, _ = kitchen_green
    model = int8_cached_step(as_onnx(transcriber.decoder.files.decoder))
    tree = tree_step(model, 8, 52)
    assert tree is not None
    return model, ort.InferenceSession(model), ort.InferenceSession(tree)


def test_the_tree_step_agrees_with_the_8_bit_step_and_the_check_can_fail(steps, monkeypatch):
    import onnxruntime as ort

    import voiced.asr.graphs.tree_step as tree_step
    from voiced.asr.graphs.tree_step import agrees

    model, int8, tree = steps
    assert agrees(tree, int8, 8, 52)
    monkeypatch.setattr(tree_step, "_EPSILON", 0.5)  # a misread layout: the norms' epsilon
    wrong = ort.InferenceSession(tree_step.tree_step(model, 8, 52))
    assert not agrees(wrong, int8, 8, 52)


def test_a_graph_not_laid_out_as_the_export_gives_none():
    from voiced.asr.graphs.tree_step import tree_step
    from voiced.vad.silero import BUNDLED_MODEL

    assert tree_step(BUNDLED_MODEL.read_bytes(), 1, 64) is None


def test_base_en_scores_a_tree_as_one_batch_and_one_by_one(kitchen_green):
    from voiced.asr.scoring import Pruning
    from voiced.asr.scoring.steps import Tree

    transcriber, states = kitchen_green
    scorer = transcriber.scorer(int8=True, prune=Pruning())  # the tree step does not prune
    assert isinstance(scorer.steps, Tree)
    sequences = [transcriber.tokenizer.encode(s) for s in SENTENCES]
    tree = scorer.score(states, sequences)
    single = [scorer.score(states, [s])[0] for s in sequences]
    reference = transcriber.scorer().score(states, sequences)
    for a, b, c in zip(tree, single, reference):
        assert a.count == b.count == c.count
        assert np.isfinite(a.total)
        # activations are quantized per call: measured at most 0.46 nats apart, each within 0.33 of float
        assert a.total == pytest.approx(b.total, abs=0.6)
        assert a.total == pytest.approx(c.total, abs=0.5)  # 8-bit against float products
    assert np.argmax([s.total for s in tree]) == np.argmax([s.total for s in reference]) == 0


def test_a_sentence_longer_than_the_tree_is_a_scoring_error(kitchen_green):
    from voiced.asr.graphs.tree_step import MAX_POSITIONS
    from voiced.asr.scoring import ScoringError

    transcriber, states = kitchen_green
    scorer = transcriber.scorer(int8=True)
    with pytest.raises(ScoringError, match="longer than the token tree"):
        scorer.score(states, [[5] * MAX_POSITIONS, [5, 6]])
