"""Find a Moonshine model on disk and recognise its layout.

Two layouts exist:

* ``v2`` (Moonshine streaming, the production model): ``encoder_model_int8.onnx``,
  ``decoder_model_int8.onnx`` (first step), ``decoder_with_past_model_int8.onnx`` (later steps),
  ``tokenizer.json`` and, when exported by ``voiced export``, a transformers ``config.json``.
* ``v1`` (Moonshine base/tiny): ``encoder_model`` plus ``decoder_model_merged`` whose cached and
  uncached paths are selected by a ``use_cache_branch`` input, as ``.onnx`` or ``.ort``.

Resolution order: an explicit directory, then the default model in the cache, then (development
machines) the offline base-en model that the ``moonshine-cpp`` wheel ships.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from voiced.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "moonshine-v2-small"
"""Directory name of the default model inside the model cache (``voiced models pull``)."""

HOW_TO_GET = "get one with `voiced models pull` or pass --model DIR"

# File name variants, most preferred first.
_V2_SUFFIXES = ("_int8", "", "_quantized")
_V1_EXTENSIONS = (".onnx", ".ort")
V2_FILES = ("encoder_model_int8.onnx", "decoder_model_int8.onnx",
            "decoder_with_past_model_int8.onnx", "tokenizer.json")
V1_FILES = ("encoder_model.onnx|.ort", "decoder_model_merged.onnx|.ort", "tokenizer.json")


@dataclass(frozen=True)
class ModelFiles:
    """The files of one model and where it was found."""

    layout: str
    """"v1" (merged decoder with use_cache_branch) or "v2" (decoder + decoder_with_past)"""
    directory: Path
    encoder: Path
    decoder: Path
    decoder_with_past: Optional[Path]
    tokenizer: Path
    config: Dict[str, Any] = field(default_factory=dict)
    """config.json of the export (transformers format), {} when the directory has none"""
    source: str = ""
    """human-readable origin, e.g. "--model", "model cache", "moonshine-cpp wheel (development)" """

    @property
    def name(self) -> str:
        return self.directory.name


def load_model_dir(directory: Union[str, Path], source: str = "given path",
                   tokenizer: Optional[Path] = None) -> ModelFiles:
    """Recognise the layout of `directory`; raise ModelError naming the files it expected."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ModelError(f"model directory {directory} does not exist ({source}); {HOW_TO_GET}")
    dev = find_dev_model() if tokenizer is None else None
    if dev is not None and dev.directory.resolve() == directory.resolve():
        # The moonshine-cpp wheel's folder has no tokenizer.json: it ships in another wheel.
        return dev
    files = _detect_v2(directory, tokenizer, source) or _detect_v1(directory, tokenizer, source)
    if files is None:
        raise ModelError(
            f"{directory} is not a Moonshine model directory: expected {', '.join(V2_FILES)} "
            f"(v2) or {', '.join(V1_FILES)} (v1); {HOW_TO_GET}")
    return files


def _first_existing(candidates: List[Path]) -> Optional[Path]:
    return next((p for p in candidates if p.is_file()), None)


def _tokenizer(directory: Path, given: Optional[Path], source: str) -> Path:
    path = given or directory / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{directory}: tokenizer.json is missing ({source}); {HOW_TO_GET}")
    return path


def _detect_v2(directory: Path, tokenizer: Optional[Path], source: str) -> Optional[ModelFiles]:
    for suffix in _V2_SUFFIXES:
        names = [f"{stem}{suffix}.onnx" for stem in ("encoder_model", "decoder_model", "decoder_with_past_model")]
        paths = [directory / n for n in names]
        if all(p.is_file() for p in paths):
            return ModelFiles("v2", directory, paths[0], paths[1], paths[2],
                              _tokenizer(directory, tokenizer, source), _read_config(directory), source)
    return None


def _detect_v1(directory: Path, tokenizer: Optional[Path], source: str) -> Optional[ModelFiles]:
    encoder = _first_existing([directory / f"encoder_model{ext}" for ext in _V1_EXTENSIONS])
    decoder = _first_existing([directory / f"decoder_model_merged{ext}" for ext in _V1_EXTENSIONS])
    if encoder is None or decoder is None:
        return None
    return ModelFiles("v1", directory, encoder, decoder, None,
                      _tokenizer(directory, tokenizer, source), _read_config(directory), source)


def _read_config(directory: Path) -> Dict[str, Any]:
    path = directory / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable config.json ({exc})") from exc
    return data if isinstance(data, dict) else {}


def _package_dir(name: str) -> Optional[Path]:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def find_dev_model() -> Optional[ModelFiles]:
    """The offline Moonshine base-en model from the moonshine-cpp wheel (x86_64 only), with the
    tokenizer of the useful-moonshine-onnx wheel; None when either wheel is not installed."""
    cpp = _package_dir("moonshine_cpp")
    onnx = _package_dir("moonshine_onnx")
    if cpp is None or onnx is None:
        return None
    tokenizer = onnx / "assets" / "tokenizer.json"
    directory = cpp / "models" / "base-en"
    if not tokenizer.is_file() or not directory.is_dir():
        return None
    return _detect_v1(directory, tokenizer, "moonshine-cpp wheel (development model)")


def resolve_model(path: Optional[Union[str, Path]] = None, models_dir: Optional[Path] = None,
                  origin: str = "given path") -> ModelFiles:
    """Pick the model to run: `path` (from --model or the config) first, then the default model
    in `models_dir` (the model cache), then the development model from the installed wheels."""
    if path:
        files = load_model_dir(path, origin)
    else:
        files = _default_model(models_dir)
    log.info("speech model: %s (%s layout) from %s [%s]", files.name, files.layout, files.directory, files.source)
    return files


def _default_model(models_dir: Optional[Path]) -> ModelFiles:
    if models_dir is None:
        from voiced.paths import models_dir as cache_models_dir

        models_dir = cache_models_dir()
    cached = Path(models_dir) / DEFAULT_MODEL
    if cached.is_dir():
        return load_model_dir(cached, "model cache")
    # `install.sh --models DIR` copies a model under its own folder name: one model is unambiguous.
    others = sorted(p for p in Path(models_dir).glob("*") if p.is_dir()) if Path(models_dir).is_dir() else []
    if len(others) == 1:
        return load_model_dir(others[0], "model cache")
    dev = find_dev_model()
    if dev is not None:
        return dev
    raise ModelError(
        f"no speech model found: {cached} does not exist (expected {', '.join(V2_FILES)}); {HOW_TO_GET}")
