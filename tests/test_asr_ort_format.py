"""ORT-format models are handed to onnxruntime as ONNX so that their graphs get optimised."""
from __future__ import annotations

import numpy as np
import pytest

from voiced.asr.models import find_dev_model
from voiced.asr.graphs.ort_format import as_onnx, name_subgraphs
from voiced.asr.graphs.protobuf import fields


@pytest.fixture(scope="module")
def base_en_files():
    files = find_dev_model()
    if files is None or files.decoder.suffix != ".ort":
        pytest.skip("the base-en development model (moonshine-cpp wheel, .ort) is not installed")
    return files


def _subgraph_names(model: bytes):
    """Names of the If branches of the model's top-level nodes (ModelProto.graph.node.attribute.g)."""
    names = []
    for n, _, a, b in fields(model, 0, len(model)):
        if n != 7:
            continue
        for gn, _, na, nb in fields(model, a, b):
            if gn != 1:
                continue
            for an, _, aa, ab in fields(model, na, nb):
                if an != 5:
                    continue
                for f, _, ga, gb in fields(model, aa, ab):
                    if f == 6:
                        names.append(next((model[x:y].decode() for k, _, x, y in fields(model, ga, gb) if k == 2), ""))
    return names


def test_merged_decoder_converts_and_gives_the_same_logits(base_en_files):
    import onnxruntime as ort

    data = as_onnx(base_en_files.decoder)
    names = _subgraph_names(data)
    assert len(names) == 2 and all(names) and len(set(names)) == 2  # both If branches, unique names
    original = ort.InferenceSession(str(base_en_files.decoder), providers=["CPUExecutionProvider"])
    converted = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for i in original.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = rng.integers(100, 3000, (2, 3)).astype(np.int64)
        elif i.name == "use_cache_branch":
            feeds[i.name] = np.array([False])
        elif i.name == "encoder_hidden_states":
            feeds[i.name] = rng.standard_normal((2, 40, 416)).astype(np.float32)
        else:
            feeds[i.name] = np.zeros((2, 8, 0, 52), dtype=np.float32)
    want, got = original.run(None, feeds)[0], converted.run(None, feeds)[0]
    assert want.shape == got.shape
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_naming_keeps_existing_names_and_is_idempotent(base_en_files):
    once = as_onnx(base_en_files.decoder)
    assert name_subgraphs(once) == once
