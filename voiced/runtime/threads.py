"""How many onnxruntime threads the recogniser and the VAD get, and where they run.

Rule: the recogniser gets the big cores. On a board with four or more identical cores it
leaves one free, so the audio callback and the VAD never wait behind a decoder step; on a
big.LITTLE board the little cluster already does that job. Inter-op parallelism is 1 (the
graphs are sequential) and spinning is off, because a spinning pool burns a Pi core between
utterances. Workers are pinned to the big cores where onnxruntime supports it. The VAD runs
single-threaded. Every value can be overridden in the `model:` section of the config.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from voiced.asr.sessions import SessionSettings
from voiced.runtime.board import Board, detect_board, format_cpu_list, version_tuple
from voiced.config import ModelConfig
from voiced.errors import ConfigError, Problem

log = logging.getLogger(__name__)

# session.intra_op_thread_affinities exists since onnxruntime 1.14 (OrtApi SetGlobalIntraOpThreadAffinity
# and the session config key arrived together); pinning is implemented for Linux and Windows only.
AFFINITY_MIN_ORT = (1, 14)


@dataclass(frozen=True)
class ThreadPlan:
    asr: SessionSettings
    vad: SessionSettings
    reason: str

    def describe(self) -> str:
        asr = self.asr
        pin = f", workers pinned to CPUs {format_cpu_list(asr.affinity)}" if asr.affinity else ""
        return (f"recogniser {asr.intra_op_threads} intra-op thread(s), inter-op {asr.inter_op_threads}"
                f"{pin}, spinning {'on' if asr.spinning else 'off'}; VAD {self.vad.intra_op_threads} thread(s)")


def affinity_supported(ort_version: Optional[str] = None, platform: str = sys.platform) -> bool:
    if not platform.startswith(("linux", "win")):
        return False
    if ort_version is None:
        try:
            import onnxruntime
        except ImportError:
            return False
        ort_version = onnxruntime.__version__
    return version_tuple(ort_version) >= AFFINITY_MIN_ORT


def plan_threads(board: Board, model: ModelConfig, ort_version: Optional[str] = None) -> ThreadPlan:
    """The plan for this board; config values in `model` win over the planned ones."""
    big = board.big or tuple(c.id for c in board.cores) or (0,)
    planned = len(big) - 1 if len(big) >= 4 and not board.little_is_spare else len(big)
    planned = max(1, planned)
    why = [_why_threads(board, big, planned)]
    threads = model.intra_op_threads or planned
    if model.intra_op_threads:
        why.append(f"intra_op_threads={threads} from the config")
    affinity = _affinity(board, big, threads, model, ort_version, why)
    asr = SessionSettings(intra_op_threads=threads, inter_op_threads=model.inter_op_threads,
                          affinity=affinity, spinning=model.spinning)
    vad = SessionSettings(intra_op_threads=model.vad_threads, inter_op_threads=1, affinity=None, spinning=False)
    return ThreadPlan(asr=asr, vad=vad, reason="; ".join(why))


def plan_for_config(model: ModelConfig, root: Path = Path("/")) -> Tuple[Board, ThreadPlan]:
    """Detect the board, plan, and log the plan (called once at start)."""
    board = detect_board(root)
    plan = plan_threads(board, model)
    log.info("board: %s, %s; plan: %s (%s)", board.name, board.core_summary(), plan.describe(), plan.reason)
    return board, plan


def _why_threads(board: Board, big: Tuple[int, ...], planned: int) -> str:
    kind = "physical cores" if not board.is_arm else "big cores"
    text = f"{len(big)} {kind} ({format_cpu_list(big)})"
    if planned < len(big):
        return text + ", one left for audio and VAD"
    if board.little_is_spare:
        return text + f", little cores {format_cpu_list(board.little)} take audio and VAD"
    return text


def _affinity(board: Board, big: Tuple[int, ...], threads: int, model: ModelConfig,
              ort_version: Optional[str], why: list) -> Optional[Tuple[int, ...]]:
    if model.affinity:
        known = {c.id for c in board.cores}
        unknown = [c for c in model.affinity if c not in known]
        if unknown:
            raise ConfigError([Problem(f"CPU {', '.join(map(str, unknown))} does not exist on this board",
                                       key="model.affinity",
                                       hint=f"use CPUs from {format_cpu_list(known)}, or leave it empty")])
        why.append(f"affinity {format_cpu_list(model.affinity)} from the config")
        return tuple(model.affinity)
    if threads < 2:
        return None
    if not board.is_arm:
        why.append("not pinned: on x86 the OS scheduler places threads well")
        return None
    if not affinity_supported(ort_version):
        why.append("not pinned: this onnxruntime cannot set thread affinity")
        return None
    workers = threads - 1
    if workers > len(big):
        why.append(f"not pinned: {threads} threads do not fit on {len(big)} big cores")
        return None
    # onnxruntime pins threads-1 workers and leaves the calling thread to the OS; take the
    # workers from the end of the big cluster, so CPU 0, where most IRQs land, stays free.
    why.append("the calling thread itself is not pinned")
    return tuple(big[-workers:])
