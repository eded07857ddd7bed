"""onnxruntime session settings shared by every model voiced runs (recogniser and VAD)."""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Optional, Tuple

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSettings:
    """How one onnxruntime session uses the CPU."""

    intra_op_threads: int = 1
    """threads inside one operator (1 to the number of cores)"""
    inter_op_threads: int = 1
    """threads across independent operators; 1 with sequential execution"""
    affinity: Optional[Tuple[int, ...]] = None
    """cores to pin the intra-op threads to (logical CPU numbers), None leaves it to the OS"""
    spinning: bool = False
    """busy-wait between operators: lower latency, but burns a core while idle on a Pi"""


def make_session_options(settings: SessionSettings):
    """Build onnxruntime SessionOptions: sequential execution, full graph optimisation."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.intra_op_threads
    opts.inter_op_num_threads = settings.inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if settings.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    if settings.affinity and settings.intra_op_threads > 1:
        affinity = _affinity_entry(settings)
        if affinity:
            opts.add_session_config_entry("session.intra_op_thread_affinities", affinity)
    return opts


def _affinity_entry(settings: SessionSettings) -> Optional[str]:
    """onnxruntime wants one entry per extra intra-op thread (threads - 1), ';'-separated,
    1-based logical processor ids; the calling thread itself is not pinned."""
    cores = list(settings.affinity or ())
    need = settings.intra_op_threads - 1
    if len(cores) < need:
        log.warning("affinity %s has fewer cores than %d extra threads; not pinning", cores, need)
        return None
    return ";".join(str(c + 1) for c in cores[-need:])


def session_from_bytes(model: bytes, options):
    """A CPU session for the ONNX `model`, handed to onnxruntime as a file deleted at once:
    onnxruntime keeps model bytes it is given in memory for the session's life (tens of MB for
    a decoder), but not a file's contents."""
    import onnxruntime as ort

    handle, path = tempfile.mkstemp(suffix=".onnx", prefix="voiced-")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(model)
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    finally:
        os.unlink(path)


def create_session(path, settings: SessionSettings):
    """An onnxruntime CPU session for one model file; load failures become ModelError."""
    import onnxruntime as ort

    from voiced.errors import ModelError

    try:
        if str(path).endswith(".ort"):
            from voiced.asr.graphs.ort_format import as_onnx

            # as ONNX, so that onnxruntime optimises it (see ort_format)
            return session_from_bytes(as_onnx(path), make_session_options(settings))
        return ort.InferenceSession(str(path), make_session_options(settings), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        raise ModelError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from exc
