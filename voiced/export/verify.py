"""Check exported graphs against the PyTorch model they came from.

The reference is the model's own forward pass (encoder plus full-sequence decoder), not the
export wrappers, so a wrong cache hand-over between the two decoder graphs shows up too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from voiced.errors import ModelError
from voiced.export.layout import graph_files


# (batch, samples): several lengths and batch sizes, none of them the export example's.
CASES: Tuple[Tuple[int, int], ...] = ((1, 4_000), (2, 19_840), (3, 36_000))
STEPS = 3  # decoder steps with past after the first
# Float32 graphs differ from PyTorch only by operator order: a few ulps through each layer.
TOLERANCE = 1e-4


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(model_dir: Path, audio: np.ndarray, tokens: np.ndarray, quantized: bool) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Encoder, first decoder step on tokens[:, :1], then one with-past step per later token."""
    enc, dec, past = (_session(model_dir / f) for f in graph_files(quantized))
    mask = np.ones(audio.shape, dtype=np.int64)
    states = enc.run(None, {"input_values": audio, "attention_mask": mask})[0]
    names = [o.name for o in dec.get_outputs()]
    outs = dec.run(None, {"decoder_input_ids": tokens[:, :1], "encoder_hidden_states": states})
    logits = [outs[0]]
    feeds = {n.replace("present_", "past_", 1): v for n, v in zip(names[1:], outs[1:])}
    past_out = [o.name for o in past.get_outputs()]
    for step in range(1, tokens.shape[1]):
        feeds["decoder_input_ids"] = tokens[:, step:step + 1]
        outs = past.run(None, feeds)
        logits.append(outs[0])
        feeds.update({n.replace("present_", "past_", 1): v for n, v in zip(past_out[1:], outs[1:])})
    return states, logits


def run_torch(model, audio: np.ndarray, tokens: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    import torch

    inputs = torch.from_numpy(audio)
    mask = torch.ones(audio.shape, dtype=torch.int64)
    with torch.no_grad():
        # Encoder states come from a separate call: the decoder adds its position embeddings
        # to them in place, so the full forward returns them already modified.
        states = model.model.encoder(inputs, attention_mask=mask).last_hidden_state.numpy()
        out = model(
            input_values=inputs, attention_mask=mask, decoder_input_ids=torch.from_numpy(tokens), use_cache=False
        )
    return states, out.logits.numpy()


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        raise ModelError(f"exported graph gave shape {got.shape}, PyTorch {want.shape}")
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def verify_against_torch(model, model_dir: Path, quantized: bool, check: bool = True, seed: int = 0) -> Dict[str, float]:
    """Largest relative errors of the encoder states and the logits over CASES.

    With check=True a float32 export beyond TOLERANCE raises ModelError. Quantised graphs are
    only required to run and give finite values of the right shapes.
    """
    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size
    worst = {"encoder": 0.0, "decoder": 0.0, "decoder_with_past": 0.0}
    for batch, samples in CASES:
        audio = (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
        tokens = np.concatenate(
            [np.full((batch, 1), model.config.bos_token_id), rng.integers(3, vocab, (batch, STEPS))], axis=1
        ).astype(np.int64)
        states, logits = run_onnx(model_dir, audio, tokens, quantized)
        ref_states, ref_logits = run_torch(model, audio, tokens)
        if not all(np.isfinite(x).all() for x in [states] + logits):
            raise ModelError(f"{model_dir}: non-finite outputs for batch {batch}, {samples} samples")
        worst["encoder"] = max(worst["encoder"], _rel_err(states, ref_states))
        worst["decoder"] = max(worst["decoder"], _rel_err(logits[0], ref_logits[:, :1]))
        for step in range(1, tokens.shape[1]):
            err = _rel_err(logits[step], ref_logits[:, step:step + 1])
            worst["decoder_with_past"] = max(worst["decoder_with_past"], err)
    if check and max(worst.values()) > TOLERANCE:
        raise ModelError(f"{model_dir}: exported graphs differ from PyTorch beyond {TOLERANCE}: {worst}")
    return worst
