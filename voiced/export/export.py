"""torch → ONNX → INT8 for Moonshine v2 streaming: the three graphs, tokenizer and config.

The output directory appears complete or not at all: everything is written to a temporary
sibling directory that is renamed into place at the end.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from voiced.errors import ModelError
from voiced.export.configs import CONFIGS, TOKENIZERS, build_config
from voiced.export.layout import DECODER, DECODER_WITH_PAST, ENCODER, GRAPHS, INT8_SUFFIX, output_files

log = logging.getLogger(__name__)


def load_model(checkpoint: Optional[Path] = None, random_init: Optional[str] = None, seed: int = 0):
    """The PyTorch model in eval mode with eager attention (plain MatMul/Softmax in ONNX)."""
    import torch
    from transformers import MoonshineStreamingForConditionalGeneration

    if (checkpoint is None) == (random_init is None):
        raise ValueError("give exactly one of checkpoint or random_init")
    if checkpoint is not None:
        if not (checkpoint / "config.json").is_file():
            raise ModelError(f"{checkpoint}: no config.json; expected a transformers checkpoint directory")
        model = MoonshineStreamingForConditionalGeneration.from_pretrained(str(checkpoint), attn_implementation="eager")
    else:
        if random_init not in CONFIGS:
            raise ModelError(f"unknown configuration {random_init!r}; choose one of {', '.join(CONFIGS)}")
        config = build_config(random_init)
        config._attn_implementation = "eager"
        torch.manual_seed(seed)
        model = MoonshineStreamingForConditionalGeneration(config)
    return model.eval()


def _export_all(model, dest: Path) -> None:
    """Write the three float32 graphs into dest."""
    import torch

    from voiced.export import graphs
    from voiced.export.onnx_io import export_graph

    cfg = model.config
    layers = cfg.num_hidden_layers
    enc_width = cfg.encoder_config.hidden_size
    Dim = torch.export.Dim
    batch = Dim("batch", min=1, max=1024)
    # The encoder frames audio in 5 ms (80-sample) blocks, so samples is a multiple of 80.
    samples = 80 * Dim("blocks", min=2, max=100_000)
    frames = Dim("frames", min=1, max=cfg.max_position_embeddings)
    tokens = Dim("tokens", min=1, max=cfg.max_position_embeddings)
    past = Dim("past", min=1, max=cfg.max_position_embeddings)

    audio = torch.randn(2, 16_000)
    export_graph(
        graphs.EncoderGraph(model), (audio, torch.ones(2, 16_000, dtype=torch.int64)),
        dest / f"{ENCODER}.onnx", graphs.ENCODER_INPUTS, graphs.ENCODER_OUTPUTS,
        {"input_values": {0: batch, 1: samples}, "attention_mask": {0: batch, 1: samples}},
        {"input_values": ["batch", "samples"], "attention_mask": ["batch", "samples"],
         "encoder_hidden_states": ["batch", "frames", None]},
    )

    present = graphs.present_names(layers)
    kv_labels = {n: ["batch", None, "tokens" if "_self_" in n else "frames", None] for n in present}
    ids = torch.full((2, 2), cfg.bos_token_id, dtype=torch.int64)
    states = torch.randn(2, 50, enc_width)
    export_graph(
        graphs.FirstDecoderGraph(model), (ids, states), dest / f"{DECODER}.onnx",
        ["decoder_input_ids", "encoder_hidden_states"], ["logits"] + present,
        {"decoder_input_ids": {0: batch, 1: tokens}, "encoder_hidden_states": {0: batch, 1: frames}},
        {"decoder_input_ids": ["batch", "tokens"], "encoder_hidden_states": ["batch", "frames", None],
         "logits": ["batch", "tokens", None], **kv_labels},
    )

    with torch.no_grad():
        cache = graphs.flat_cache(graphs.FirstDecoderGraph(model)(ids, states))
    past_inputs = [graphs.past_name(n) for n in present]
    past_outputs = graphs.past_output_names(layers)
    cache_shapes = tuple({0: batch, 2: past if "_self_" in n else frames} for n in present)
    labels: Dict[str, list] = {
        "decoder_input_ids": ["batch", "tokens"], "logits": ["batch", "tokens", None],
        **{graphs.past_name(n): ["batch", None, "past" if "_self_" in n else "frames", None] for n in present},
        **{n: ["batch", None, "past_plus_tokens", None] for n in past_outputs},
    }
    export_graph(
        graphs.PastDecoderGraph(model), (ids, *cache), dest / f"{DECODER_WITH_PAST}.onnx",
        ["decoder_input_ids"] + past_inputs, ["logits"] + past_outputs,
        {"decoder_input_ids": {0: batch, 1: tokens}, "past": cache_shapes},
        labels,
    )


def export_model(
    out_dir: Path,
    checkpoint: Optional[Path] = None,
    random_init: Optional[str] = None,
    seed: int = 0,
    quantize: bool = True,
    verify: bool = False,
    force: bool = False,
) -> Path:
    """Export a checkpoint or a randomly initialised named shape into out_dir; returns out_dir."""
    from voiced.export.onnx_io import quantize as quantize_graph
    from voiced.export.tokenizer import write_tokenizer

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ModelError(f"{out_dir}: exists and is not empty (use --force to replace it)")
    model = load_model(checkpoint, random_init, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        fp32 = work / "fp32"
        fp32.mkdir()
        _export_all(model, fp32)
        if verify:
            from voiced.export.verify import verify_against_torch

            report = verify_against_torch(model, fp32, quantized=False)
            log.info("float32 graphs match PyTorch: %s", report)
        final = work / "model"
        final.mkdir()
        for name in GRAPHS:
            if quantize:
                quantize_graph(fp32 / f"{name}.onnx", final / f"{name}{INT8_SUFFIX}.onnx")
            else:
                shutil.move(str(fp32 / f"{name}.onnx"), final / f"{name}.onnx")
        model.config.save_pretrained(str(final))
        if checkpoint is not None and (checkpoint / "tokenizer.json").is_file():
            shutil.copyfile(checkpoint / "tokenizer.json", final / "tokenizer.json")
        else:
            kind = TOKENIZERS.get(random_init or "", "moonshine")
            write_tokenizer(kind, final, model.config.vocab_size)
            if kind == "moonshine":
                _write_tokenizer_license(final)
        if verify and quantize:
            from voiced.export.verify import verify_against_torch

            log.info("INT8 graphs against PyTorch: %s", verify_against_torch(model, final, quantized=True, check=False))
        _replace_dir(final, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def _replace_dir(src: Path, dest: Path) -> None:
    """Move src to dest in one rename, so readers never see a half-written model."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        src.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        src.rename(dest)


def _write_tokenizer_license(dest: Path) -> None:
    """The Moonshine tokenizer is MIT licensed; the licence travels with the copy."""
    import importlib.metadata

    text = None
    try:
        dist = importlib.metadata.distribution("useful-moonshine-onnx")
        for f in dist.files or []:
            if f.name.upper().startswith("LICENSE"):
                text = f.read_text()
                break
    except importlib.metadata.PackageNotFoundError:
        pass
    note = "tokenizer.json is the Moonshine tokenizer (useful-moonshine-onnx), MIT licence.\n"
    (dest / "TOKENIZER_LICENSE").write_text(note + ("\n" + text if text else ""), encoding="utf-8")


def ensure_twin(name: str, dest: Path) -> Path:
    """Export the random-init shape `name` into dest unless all its files are already there.

    For benchmarks only: this takes minutes for `small` and needs the export extra.
    """
    dest = Path(dest)
    if all((dest / f).is_file() for f in output_files(quantized=True)):
        return dest
    log.warning("exporting the %s twin into %s (takes a few minutes)", name, dest)
    return export_model(dest, random_init=name, seed=0, quantize=True, force=True)


def summary(out_dir: Path) -> List[Tuple[str, int]]:
    return [(p.name, p.stat().st_size) for p in sorted(Path(out_dir).iterdir()) if p.is_file()]
