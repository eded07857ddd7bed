"""Model export tool: Moonshine v2 streaming from PyTorch to the INT8 ONNX layout the recogniser runs.

Needs the `export` extra (torch, transformers, onnx, onnxscript); nothing outside this package
and voiced.commands.export imports it, so the daemon never loads torch.
"""
from __future__ import annotations

from pathlib import Path

from voiced.export.configs import CONFIGS

__all__ = ["CONFIGS", "ensure_twin", "export_model"]


def export_model(out_dir: Path, **kwargs) -> Path:
    """See voiced.export.export.export_model."""
    from voiced.export.export import export_model as _export_model

    return _export_model(out_dir, **kwargs)


def ensure_twin(name: str, dest: Path) -> Path:
    """Export the random-init shape `name` into dest if it is not there yet; returns dest."""
    from voiced.export.export import ensure_twin as _ensure_twin

    return _ensure_twin(name, dest)
