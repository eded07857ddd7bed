"""Finding a model directory and recognising its layout."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from voiced.asr.models import DEFAULT_MODEL, find_dev_model, load_model_dir, resolve_model
from voiced.errors import ModelError


def _link_dir(src_files, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in src_files:
        os.symlink(f, dest / f.name)
    return dest


def test_dev_model_comes_from_the_installed_wheels(base_en_model):
    assert base_en_model.layout == "v1"
    assert base_en_model.encoder.name in ("encoder_model.ort", "encoder_model.onnx")
    assert base_en_model.decoder.name.startswith("decoder_model_merged")
    assert base_en_model.decoder_with_past is None
    assert base_en_model.tokenizer.parts[-3:] == ("moonshine_onnx", "assets", "tokenizer.json")
    assert "moonshine-cpp" in base_en_model.source
    assert find_dev_model() == base_en_model


def test_v1_directory_with_onnx_or_ort_files(base_en_model, tmp_path):
    d = _link_dir([base_en_model.encoder, base_en_model.decoder, base_en_model.tokenizer], tmp_path / "v1")
    files = load_model_dir(d, "test")
    assert (files.layout, files.encoder, files.decoder, files.tokenizer) == (
        "v1", d / base_en_model.encoder.name, d / base_en_model.decoder.name, d / "tokenizer.json")


def test_v2_directory(tiny_twin_model):
    files = tiny_twin_model
    assert files.layout == "v2"
    assert [p.name for p in (files.encoder, files.decoder, files.decoder_with_past)] == [
        "encoder_model_int8.onnx", "decoder_model_int8.onnx", "decoder_with_past_model_int8.onnx"]
    assert files.config["encoder_config"]["sliding_windows"]


def test_explicit_path_wins_and_is_logged(tiny_twin_model, tmp_path, caplog):
    cache = tmp_path / "models"
    _link_dir([tiny_twin_model.encoder, tiny_twin_model.decoder, tiny_twin_model.decoder_with_past,
               tiny_twin_model.tokenizer], cache / DEFAULT_MODEL)
    with caplog.at_level(logging.INFO, logger="voiced.asr.models"):
        files = resolve_model(tiny_twin_model.directory, models_dir=cache, origin="--model")
    assert files.directory == tiny_twin_model.directory and files.source == "--model"
    assert str(tiny_twin_model.directory) in caplog.text and "--model" in caplog.text


def test_default_model_in_the_cache_before_the_dev_model(tiny_twin_model, tmp_path):
    cache = tmp_path / "models"
    _link_dir([tiny_twin_model.encoder, tiny_twin_model.decoder, tiny_twin_model.decoder_with_past,
               tiny_twin_model.tokenizer], cache / DEFAULT_MODEL)
    files = resolve_model(None, models_dir=cache)
    assert (files.layout, files.directory, files.source) == ("v2", cache / DEFAULT_MODEL, "model cache")
    assert files.config == {}  # no config.json: the published small windows are assumed


def test_the_only_model_in_the_cache_is_used_whatever_its_name(tiny_twin_model, tmp_path):
    """`install.sh --models DIR` keeps the folder's own name."""
    cache = tmp_path / "models"
    files = [tiny_twin_model.encoder, tiny_twin_model.decoder, tiny_twin_model.decoder_with_past,
             tiny_twin_model.tokenizer]
    _link_dir(files, cache / "my-model")
    assert resolve_model(None, models_dir=cache).directory == cache / "my-model"
    _link_dir(files, cache / "another")  # two: ambiguous, so not guessed
    assert resolve_model(None, models_dir=cache).directory != cache / "my-model"


def test_empty_cache_falls_back_to_the_dev_model(base_en_model, tmp_path):
    assert resolve_model(None, models_dir=tmp_path) == base_en_model


def test_missing_directory_says_how_to_get_a_model(tmp_path):
    with pytest.raises(ModelError) as err:
        resolve_model(tmp_path / "nope", origin="--model")
    msg = str(err.value)
    assert "does not exist" in msg and "voiced models pull" in msg and "\n" not in msg


def test_unrecognised_directory_names_the_expected_files(base_en_model, tmp_path):
    _link_dir([base_en_model.encoder], tmp_path)  # an encoder alone is not a model
    with pytest.raises(ModelError) as err:
        load_model_dir(tmp_path)
    msg = str(err.value)
    for name in ("encoder_model_int8.onnx", "decoder_with_past_model_int8.onnx", "decoder_model_merged",
                 "tokenizer.json", "voiced models pull"):
        assert name in msg


def test_missing_tokenizer_is_named(base_en_model, tmp_path):
    _link_dir([base_en_model.encoder, base_en_model.decoder], tmp_path)
    with pytest.raises(ModelError, match="tokenizer.json is missing"):
        load_model_dir(tmp_path)


def test_broken_model_file_is_a_model_error(base_en_model, tmp_path):
    from voiced.asr.transcriber import Transcriber

    (tmp_path / "encoder_model.onnx").write_bytes(b"not a model")
    _link_dir([base_en_model.decoder, base_en_model.tokenizer], tmp_path)
    with pytest.raises(ModelError, match="encoder_model.onnx: onnxruntime cannot load it"):
        Transcriber(load_model_dir(tmp_path), warm=False)
