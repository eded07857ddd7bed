"""Weights common to the two v2 decoder graphs, kept once: the protobuf reader, the sessions
built on shared weights (same logits, same tokens as sessions loading their own) and the
fall-back to ordinary loading when a file cannot be read that way. On the tiny twin."""
from __future__ import annotations

import dataclasses
import logging
import mmap
import shutil

import numpy as np
import pytest

from voiced.asr.decoder import Decoder
from voiced.asr.sessions import SessionSettings
from voiced.asr.graphs.shared_weights import DTYPES, SharedWeights, read_initializers
from voiced.asr.transcriber import Transcriber
from voiced.audio.wav import load_audio


def _read(path):
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return {t.name: (t, bytes(buf[t.offset:t.offset + t.length])) for t in read_initializers(buf)}


@pytest.fixture(scope="module")
def decoders(tiny_twin_model):
    shared = Decoder(tiny_twin_model, SessionSettings(), share_weights=True)
    alone = Decoder(tiny_twin_model, SessionSettings(), share_weights=False)
    return shared, alone


@pytest.mark.parametrize("part", ["encoder", "decoder", "decoder_with_past"])
def test_reader_finds_the_initializers_onnx_finds(tiny_twin_model, part):
    onnx = pytest.importorskip("onnx")
    path = getattr(tiny_twin_model, part)
    ours = _read(path)
    theirs = {t.name: t for t in onnx.load(str(path)).graph.initializer}
    with_raw = {name for name, t in theirs.items() if t.HasField("raw_data") and t.data_type in DTYPES}
    assert set(ours) == with_raw
    assert len(ours) > 10
    for name, (tensor, data) in ours.items():
        ref = theirs[name]
        assert (tensor.dtype, tensor.dims) == (ref.data_type, tuple(ref.dims)), name
        assert data == ref.raw_data, name


def test_cached_step_weights_are_taken_from_the_first_step_file(tiny_twin_model):
    weights = SharedWeights([tiny_twin_model.decoder, tiny_twin_model.decoder_with_past])
    assert weights.active
    first, later = (_read(p) for p in (tiny_twin_model.decoder, tiny_twin_model.decoder_with_past))
    assert weights.per_file[1] and set(weights.per_file[1]) <= set(later)
    assert set(weights.per_file[0]) <= set(first)
    for name, value in weights.per_file[1].items():  # the shared value holds that file's own bytes
        tensor, data = later[name]
        assert value.numpy().tobytes() == data, name
        assert value.shape() == list(tensor.dims)
    assert weights.shared_bytes == sum(len(later[n][1]) for n in weights.per_file[1]) > 0


def _run_all(session, rng):
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else (1 if i == 0 else 7) for i, d in enumerate(inp.shape)]
        if "input_ids" in inp.name:
            feeds[inp.name] = rng.integers(0, 100, shape).astype(np.int64)
        else:
            feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return session.run(None, feeds)


def test_both_graphs_compute_the_same_with_shared_weights(decoders):
    shared, alone = decoders
    assert shared.shared is not None and shared.shared.active
    assert alone.shared is None
    for graph in ("first", "later"):
        got = _run_all(getattr(shared, graph).session, np.random.default_rng(1))
        want = _run_all(getattr(alone, graph).session, np.random.default_rng(1))
        assert len(got) == len(want) > 1
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


def test_transcribe_gives_the_same_tokens_with_shared_weights(tiny_twin_model, decoders, speech_dir):
    audio = load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")[:4 * 16000]
    transcriber = Transcriber(tiny_twin_model, encode_interval_s=0.5)
    assert transcriber.decoder.shared.active  # sharing is what the recogniser uses by default
    shared_result = transcriber.transcribe(audio)
    transcriber.decoder = decoders[1]
    alone_result = transcriber.transcribe(audio)
    assert len(shared_result.tokens) > 3
    assert shared_result.tokens == alone_result.tokens
    assert shared_result.text == alone_result.text


def test_unreadable_file_falls_back_to_ordinary_loading(tiny_twin_model, tmp_path, caplog):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tiny_twin_model.decoder.read_bytes()[:100_000])  # cut inside a tensor
    with caplog.at_level(logging.DEBUG, logger="voiced.asr.graphs.shared_weights"):
        weights = SharedWeights([broken, tiny_twin_model.decoder_with_past])
    assert not weights.active and weights.per_file == [{}, {}]
    assert "not sharing weights" in caplog.text
    with pytest.raises(ValueError):
        read_initializers(broken.read_bytes())


def test_external_data_is_left_to_onnxruntime(tiny_twin_model, decoders, tmp_path, caplog):
    onnx = pytest.importorskip("onnx")
    directory = tmp_path / "external"
    shutil.copytree(tiny_twin_model.directory, directory)
    path = directory / tiny_twin_model.decoder_with_past.name
    onnx.save(onnx.load(str(path)), str(path), save_as_external_data=True, location="weights.bin",
              size_threshold=1024)
    files = dataclasses.replace(tiny_twin_model, directory=directory, decoder_with_past=path,
                                decoder=directory / tiny_twin_model.decoder.name)
    with caplog.at_level(logging.DEBUG, logger="voiced.asr.graphs.shared_weights"):
        decoder = Decoder(files, SessionSettings())
    assert not decoder.shared.active
    assert "outside the file" in caplog.text
    states = np.random.default_rng(2).standard_normal((1, 30, _width(decoder))).astype(np.float32)
    assert decoder.decode(states, 8, stop_at_eos=False).tokens == \
        decoders[1].decode(states, 8, stop_at_eos=False).tokens


def _width(decoder):
    return decoder.first.inputs["encoder_hidden_states"].shape[-1]
