"""The v2 (streaming) layout on the random-weight tiny twin: graph wiring, decoding and
incremental encoding. Random weights give meaningless text, so nothing here checks words."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from asr_float_twin import dequantize_matmuls
from voiced.asr.decoder import map_cache
from voiced.asr.encoder import Encoder, IncrementalEncoder
from voiced.asr.geometry import geometry_from_config
from voiced.asr.sessions import SessionSettings
from voiced.asr.tokenizer import BOS_ID, EOS_ID
from voiced.asr.transcriber import Transcriber
from voiced.audio.wav import load_audio

# Float32 rounding only: the float graph gives 2.6e-6 here; one frame too little lookahead
# gives 2.5e-2 and one frame too little left context 1e-3, so 1e-4 separates right from wrong.
FLOAT_TOL = 1e-4


@pytest.fixture(scope="module")
def twin(tiny_twin_model):
    return Transcriber(tiny_twin_model, encode_interval_s=0.2)


@pytest.fixture(scope="module")
def speech(speech_dir):
    return load_audio(speech_dir / "sentences" / "moonshine_beckett.wav")  # 10 s


@pytest.fixture(scope="module")
def float_encoder(tiny_twin_model, tmp_path_factory):
    path = dequantize_matmuls(tiny_twin_model.encoder, tmp_path_factory.mktemp("float") / "encoder.onnx")
    return Encoder(path, SessionSettings(), frame_samples=80)


def _chunks(audio, sizes):
    pos, i = 0, 0
    while pos < len(audio):
        yield audio[pos:pos + sizes[i % len(sizes)]]
        pos += sizes[i % len(sizes)]
        i += 1


def _stream(encoder, geometry, audio, sizes, interval_s):
    inc = IncrementalEncoder(encoder, geometry, interval_s)
    for chunk in _chunks(audio, sizes):
        inc.feed(chunk)
    return inc, inc.states()


def test_geometry_comes_from_config(tiny_twin_model):
    g = geometry_from_config(tiny_twin_model.config)
    windows = tiny_twin_model.config["encoder_config"]["sliding_windows"]
    assert g.from_config and (g.frame_samples, g.hop_samples, g.conv_context) == (80, 320, 3)
    assert g.attention_context == sum(left - 1 for left, _ in windows)
    assert g.lookahead == sum(max(right - 1, 0) for _, right in windows)
    small = geometry_from_config({})  # no config.json: the published small windows
    assert (small.left_context, small.lookahead, small.from_config) == (153, 12, False)


@pytest.mark.parametrize("sizes, interval_s", [([512], 0.1), ([1600], 0.3), ([333, 4000, 97, 2500], 0.2),
                                               ([16000], 0.5)])
def test_incremental_equals_one_shot_on_the_float_graph(float_encoder, tiny_twin_model, speech, sizes,
                                                        interval_s):
    geometry = geometry_from_config(tiny_twin_model.config)
    one_shot = float_encoder.encode(speech)
    inc, streamed = _stream(float_encoder, geometry, speech, sizes, interval_s)
    assert inc.stats.calls > 3 and inc.finalized_frames > one_shot.shape[1] // 2  # really incremental
    assert streamed.shape == one_shot.shape
    assert np.abs(streamed - one_shot).max() < FLOAT_TOL


@pytest.mark.parametrize("field", ["lookahead", "attention_context"])
def test_the_tolerance_catches_a_receptive_field_one_frame_short(float_encoder, tiny_twin_model, speech, field):
    geometry = geometry_from_config(tiny_twin_model.config)
    short = dataclasses.replace(geometry, **{field: getattr(geometry, field) - 1})
    _, streamed = _stream(float_encoder, short, speech, [512], 0.1)
    assert np.abs(streamed - float_encoder.encode(speech)).max() > 10 * FLOAT_TOL


def _rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))


def test_incremental_int8_stays_within_the_quantisation_floor(twin, speech):
    """DynamicQuantizeLinear takes one scale per tensor from the whole call's min/max, so the INT8
    encoder's output for a frame shifts with the amount of audio in the call: encoding just the
    first half of the utterance moves the shared frames by a few percent. Incremental encoding
    must not add error beyond that inherent floor."""
    encoder, geometry = twin.encoding.encoder, twin.geometry
    one_shot = encoder.encode(speech)
    half = encoder.encode(speech[: len(speech) // 2 // 320 * 320])
    n = half.shape[1] - geometry.lookahead
    floor = _rel_rms(half[:, :n], one_shot[:, :n])
    assert 0 < floor < 0.1
    _, streamed = _stream(encoder, geometry, speech, [512], 0.2)
    assert _rel_rms(streamed, one_shot) < 1.5 * floor


def test_v2_cache_mapping_from_graph_names(twin):
    dec = twin.decoder
    assert dec.first is not dec.later
    mapping = map_cache(dec.first.outputs, dec.later.past, "twin")
    assert all(mapping[p] == p.replace("past_", "present_", 1) for p in dec.later.past)
    assert sorted(dec.cross_attention_inputs()) == sorted(p for p in dec.later.past if "cross" in p)
    assert map_cache(["logits", "present.0.key"], ["present.0.key_orig"], "x") == {"present.0.key_orig": "present.0.key"}


def test_decoder_matches_a_plain_numpy_loop(twin, speech):
    """The IOBinding loop gives the same tokens as session.run with numpy caches."""
    twin.transcribe(speech[:3 * 16000])
    states = twin.encoder_states()
    ours = twin.decoder.decode(states, max_tokens=12, stop_at_eos=False).tokens
    first, later = twin.decoder.first.session, twin.decoder.later.session
    names = [o.name for o in first.get_outputs()]
    out = dict(zip(names, first.run(None, {"decoder_input_ids": np.array([[BOS_ID]]), "encoder_hidden_states": states})))
    tokens = [int(out["logits"][0, -1].argmax())]
    past = {p: out[p.replace("past_", "present_", 1)] for p in [i.name for i in later.get_inputs()][1:]}
    later_names = [o.name for o in later.get_outputs()]
    while len(tokens) < 12:
        got = dict(zip(later_names, later.run(None, {"decoder_input_ids": np.array([[tokens[-1]]]), **past})))
        tokens.append(int(got["logits"][0, -1].argmax()))
        past.update({p: got[p.replace("past_", "present_", 1)] for p in past if "self" in p})
    assert ours == tokens


def test_transcribe_structure_and_budget(twin, speech):
    audio = speech[: int(2.5 * 16000)]
    result = twin.transcribe(audio)
    assert isinstance(result.text, str)
    assert len(result.tokens) <= int(np.ceil(2.5 * twin.max_tokens_per_second))
    assert all(0 <= t < twin.tokenizer.vocab_size and t != EOS_ID for t in result.tokens)
    states = twin.encoder_states()
    assert states.shape == (1, twin.geometry.frames_for(len(audio)), twin.encoding.encoder.width)


def test_fed_and_one_shot_transcripts_share_the_pipeline(twin, speech):
    twin.reset()
    for chunk in _chunks(speech, [512]):
        twin.feed(chunk)
    assert twin.encoding.stats.calls > 0  # encoded while "speaking"
    fed = twin.finalize()
    assert fed.audio_s == pytest.approx(len(speech) / 16000)
    assert fed.timings["finalize_encode"] < fed.timings["encode"]  # only the tail was left
    twin.reset()
    assert twin.audio_s == 0.0 and twin.encoding.finalized_frames == 0


def test_a_second_look_on_the_streaming_layout_reads_from_half_a_hop_in(twin, speech):
    audio = speech[: int(2.5 * 16000)]
    twin.reset()
    for chunk in _chunks(audio, [512]):
        twin.feed(chunk)
    states = twin.encoder_states()
    half = twin.half_frame()
    assert half == twin.geometry.hop_samples // 2
    look = twin.look_again()
    assert look.encoder_states().shape == (1, twin.geometry.frames_for(len(audio) - half), twin.encoding.encoder.width)
    assert look.transcript.audio_s == pytest.approx((len(audio) - half) / 16000)
    np.testing.assert_array_equal(twin.encoder_states(), states)  # the utterance is as it was
    assert twin.audio_s == pytest.approx(len(audio) / 16000)
