"""The export tool and the Moonshine v2 shape twins.

Twins have random weights, so these tests check structure and numerical equivalence with the
PyTorch model they came from, never text.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voiced.export.configs import CONFIGS

GRAPHS = ("encoder_model", "decoder_model", "decoder_with_past_model")
FIXTURE_FILES = {f"{g}_int8.onnx" for g in GRAPHS} | {"tokenizer.json", "config.json"}


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _io(path: Path):
    s = _session(path)
    return s, [i.name for i in s.get_inputs()], [o.name for o in s.get_outputs()]


def check_layout(model_dir: Path, suffix: str, config: dict) -> None:
    """The runtime contract: names of the three graphs' inputs and outputs, and their widths."""
    layers = config["num_hidden_layers"]
    enc, enc_in, enc_out = _io(model_dir / f"encoder_model{suffix}.onnx")
    assert enc_in == ["input_values", "attention_mask"]
    assert len(enc_out) == 1
    assert enc.get_outputs()[0].shape[2] == config["encoder_config"]["hidden_size"]

    dec, dec_in, dec_out = _io(model_dir / f"decoder_model{suffix}.onnx")
    assert dec_in == ["decoder_input_ids", "encoder_hidden_states"]
    assert dec_out[0] == "logits" and dec.get_outputs()[0].shape[2] == config["vocab_size"]
    presents = dec_out[1:]
    assert len(presents) == 4 * layers and all(n.startswith("present_") for n in presents)

    past, past_in, past_out = _io(model_dir / f"decoder_with_past_model{suffix}.onnx")
    assert past_in[0] == "decoder_input_ids"
    assert set(past_in[1:]) == {n.replace("present_", "past_", 1) for n in presents}
    assert past_out[0] == "logits"
    # Every cache the with-past graph returns feeds its own input of the same name at the next step.
    assert len(past_out) == 1 + 2 * layers
    assert {n.replace("present_", "past_", 1) for n in past_out[1:]} <= set(past_in)
    for value in past.get_inputs()[1:]:
        assert value.shape[0] == "batch" and value.shape[2] in ("past", "frames")


def greedy_shapes(model_dir: Path, suffix: str, batch: int, samples: int, steps: int):
    """Run encoder, first step and `steps` later steps; return the shapes seen."""
    enc = _session(model_dir / f"encoder_model{suffix}.onnx")
    dec, _, dec_out = _io(model_dir / f"decoder_model{suffix}.onnx")
    past, _, past_out = _io(model_dir / f"decoder_with_past_model{suffix}.onnx")
    audio = (0.1 * np.random.default_rng(batch).standard_normal((batch, samples))).astype(np.float32)
    states = enc.run(None, {"input_values": audio, "attention_mask": np.ones(audio.shape, np.int64)})[0]
    outs = dec.run(None, {"decoder_input_ids": np.ones((batch, 1), np.int64), "encoder_hidden_states": states})
    feeds = {n.replace("present_", "past_", 1): v for n, v in zip(dec_out[1:], outs[1:])}
    logits = [outs[0]]
    for _ in range(steps):
        feeds["decoder_input_ids"] = logits[-1][:, -1].argmax(-1).reshape(batch, 1).astype(np.int64)
        outs = past.run(None, feeds)
        logits.append(outs[0])
        feeds.update({n.replace("present_", "past_", 1): v for n, v in zip(past_out[1:], outs[1:])})
    cache_len = feeds[past_out[1].replace("present_", "past_", 1)].shape[2]
    assert all(np.isfinite(x).all() for x in logits)
    return states.shape, [x.shape for x in logits], cache_len


# --- the committed tiny-test twin (onnxruntime only) -------------------------------------

@pytest.fixture(scope="module")
def tiny_fixture(fixtures_dir: Path) -> Path:
    return fixtures_dir / "models" / "moonshine-v2-tiny-test"


def test_fixture_has_exactly_the_seed_files(tiny_fixture: Path):
    assert {p.name for p in tiny_fixture.iterdir()} == FIXTURE_FILES


def test_fixture_io_names_follow_the_seed_convention(tiny_fixture: Path):
    config = json.loads((tiny_fixture / "config.json").read_text())
    check_layout(tiny_fixture, "_int8", config)


def test_fixture_config_is_the_named_shape(tiny_fixture: Path):
    config = json.loads((tiny_fixture / "config.json").read_text())
    want = CONFIGS["tiny-test"]
    for key, value in want.items():
        if key != "encoder_config":
            assert config[key] == value, key
    for key, value in want["encoder_config"].items():
        assert config["encoder_config"][key] == value, key
    # Lookahead in some encoder layers and not others, as in the real model.
    rights = [w[1] for w in config["encoder_config"]["sliding_windows"]]
    assert 0 in rights and any(r > 0 for r in rights)


@pytest.mark.parametrize("batch,samples", [(1, 3_200), (2, 16_000), (3, 24_080)])
def test_fixture_runs_at_several_lengths_and_batches(tiny_fixture: Path, batch: int, samples: int):
    states, logits, cache_len = greedy_shapes(tiny_fixture, "_int8", batch, samples, steps=4)
    blocks = samples // 80
    frames = ((blocks - 1) // 2 + 1 - 1) // 2 + 1  # two stride-2 convolutions over 5 ms blocks
    assert states == (batch, frames, 64)
    assert logits == [(batch, 1, 1024)] * 5
    assert cache_len == 5


def test_fixture_tokenizer_is_a_1024_token_bpe_with_moonshine_specials(tiny_fixture: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_fixture / "tokenizer.json"))
    assert tok.get_vocab_size() == 1024
    assert (tok.token_to_id("<unk>"), tok.token_to_id("<s>"), tok.token_to_id("</s>")) == (0, 1, 2)
    text = "Ever tried. Ever failed. No matter. Try again, naïve café."
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) < len(text)  # merges happen
    assert tok.decode(ids) == text  # byte fallback covers what the merges do not
    assert tok.decode([1] + ids + [2], skip_special_tokens=True) == text


def test_fixture_tokenizer_is_reproducible(tiny_fixture: Path):
    from voiced.export.tokenizer import train_tiny_bpe

    assert json.loads(train_tiny_bpe(1024)) == json.loads((tiny_fixture / "tokenizer.json").read_text())


# --- the export tool (needs the export extra) ---------------------------------------------

@pytest.fixture(scope="module")
def torch_available():
    return pytest.importorskip("torch")


def test_small_shape_reproduces_the_paper_parameter_counts(torch_available):
    import torch
    from transformers import MoonshineStreamingForConditionalGeneration

    from voiced.export.configs import build_config

    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = MoonshineStreamingForConditionalGeneration(build_config("small"))

    def count(*modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    enc, dec = model.model.encoder, model.model.decoder
    preprocessor = count(enc.embedder)
    encoder = count(enc) - preprocessor
    adapter = count(dec.pos_emb, dec.proj)
    decoder = count(dec) - adapter
    millions = [round(n / 1e6, 2) for n in (preprocessor, encoder, adapter, decoder)]
    assert millions == [7.74, 43.49, 2.86, 69.27]
    assert count(model.proj_out) == 512 * 32768  # untied output layer
    assert model.proj_out.weight is not dec.embed_tokens.weight


def test_random_init_is_deterministic_given_the_seed(torch_available):
    import torch

    from voiced.export.export import load_model

    a, b, c = (load_model(random_init="tiny-test", seed=s).state_dict() for s in (7, 7, 8))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.fixture(scope="module")
def exported(torch_available, tmp_path_factory) -> Path:
    """tiny-test exported through the CLI, float32 (so it can be compared tightly)."""
    from voiced.cli import main

    out = tmp_path_factory.mktemp("export") / "tiny"
    assert main(["export", str(out), "--random-init", "tiny-test", "--no-quantize"]) == 0
    return out


@pytest.mark.slow
def test_export_writes_the_files_and_names(exported: Path):
    assert {p.name for p in exported.iterdir()} == {f"{g}.onnx" for g in GRAPHS} | {"tokenizer.json", "config.json"}
    check_layout(exported, "", json.loads((exported / "config.json").read_text()))


@pytest.mark.slow
def test_export_matches_pytorch_before_quantisation(exported: Path):
    from voiced.export.export import load_model
    from voiced.export.verify import CASES, TOLERANCE, verify_against_torch

    assert len({b for b, _ in CASES}) > 1 and len({n for _, n in CASES}) > 1
    worst = verify_against_torch(load_model(random_init="tiny-test", seed=0), exported, quantized=False, check=False)
    assert max(worst.values()) < TOLERANCE, worst
    # The same comparison does tell models apart.
    other = verify_against_torch(load_model(random_init="tiny-test", seed=1), exported, quantized=False, check=False)
    assert min(other.values()) > 100 * TOLERANCE, other


@pytest.mark.slow
def test_quantised_export_runs_and_stays_close(exported: Path, tmp_path: Path):
    from voiced.export.export import load_model
    from voiced.export.onnx_io import quantize
    from voiced.export.verify import verify_against_torch

    for g in GRAPHS:
        quantize(exported / f"{g}.onnx", tmp_path / f"{g}_int8.onnx")
        assert (tmp_path / f"{g}_int8.onnx").stat().st_size < (exported / f"{g}.onnx").stat().st_size
    check_layout(tmp_path, "_int8", json.loads((exported / "config.json").read_text()))
    for batch, samples in ((1, 4_000), (2, 12_000)):
        greedy_shapes(tmp_path, "_int8", batch, samples, steps=3)
    # INT8 weights cost a few per cent on random weights; a different model is off by ~100 %.
    worst = verify_against_torch(load_model(random_init="tiny-test", seed=0), tmp_path, quantized=True, check=False)
    assert max(worst.values()) < 0.2, worst


@pytest.mark.slow
def test_committed_fixture_is_the_seed_0_twin(tiny_fixture: Path, torch_available):
    from voiced.export.export import load_model
    from voiced.export.verify import verify_against_torch

    worst = verify_against_torch(load_model(random_init="tiny-test", seed=0), tiny_fixture, quantized=True, check=False)
    assert max(worst.values()) < 0.2, worst


@pytest.mark.slow
def test_encoder_frames_depend_only_on_their_windows(exported: Path):
    """Sliding windows bound each frame's receptive field; the exported mask must enforce them."""
    config = json.loads((exported / "config.json").read_text())["encoder_config"]
    lookahead = sum(w[1] for w in config["sliding_windows"])
    left = sum(w[0] - 1 for w in config["sliding_windows"])
    enc = _session(exported / "encoder_model.onnx")

    def encode(audio):
        return enc.run(None, {"input_values": audio[None], "attention_mask": np.ones((1, audio.size), np.int64)})[0][0]

    rng = np.random.default_rng(3)
    audio = (0.1 * rng.standard_normal(320 * 100)).astype(np.float32)  # 100 frames
    base = encode(audio)
    longer = encode(np.concatenate([audio, (0.1 * rng.standard_normal(320 * 20)).astype(np.float32)]))
    settled = 100 - lookahead
    np.testing.assert_allclose(longer[:settled], base[:settled], atol=1e-5)
    assert np.abs(longer[settled:100] - base[settled:100]).max() > 1e-3  # the lookahead frames do move
    # Far past: changing the first 20 frames' audio leaves frames beyond every left window alone
    # (plus a couple of frames for the causal convolutions).
    changed = audio.copy()
    changed[: 320 * 20] = (0.1 * rng.standard_normal(320 * 20)).astype(np.float32)
    far = 20 + left + 3
    np.testing.assert_allclose(encode(changed)[far:], base[far:], atol=1e-5)


def test_cli_rejects_a_missing_checkpoint(torch_available, tmp_path: Path, capsys):
    from voiced.cli import main

    code = main(["export", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "nope")])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "not a directory" in err


def test_cli_needs_a_source(tmp_path: Path, capsys):
    from voiced.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["export", str(tmp_path / "out")])
    assert exc.value.code == 2


def test_export_refuses_a_non_empty_directory(torch_available, tmp_path: Path):
    from voiced.errors import ModelError
    from voiced.export.export import export_model

    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="not empty"):
        export_model(tmp_path, random_init="tiny-test")
    assert (tmp_path / "keep.txt").read_text() == "x"
