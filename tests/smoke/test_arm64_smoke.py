"""End-to-end smoke test on arm64: the package imports, and each stage runs on real inputs with
the aarch64 onnxruntime/numpy/tokenizers wheels. In-process only (qemu user mode cannot start
subprocesses). Under emulation timings mean nothing, so nothing here is timed."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = REPO / "tests" / "fixtures" / "models" / "moonshine-v2-tiny-test"
CLIP = "commands/stp_cancel_all_timers.wav"  # "cancel all timers", 2.6 s


def test_platform_is_arm64():
    assert platform.machine() in ("aarch64", "arm64")
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()


def test_board_detector_sees_the_emulated_cortex_a72():
    from voiced.runtime.board import detect_board
    from voiced.config import ModelConfig
    from voiced.runtime.threads import plan_threads

    board = detect_board()  # /proc/cpuinfo here is the Pi 4 capture placed in the qemu root
    assert board.arch == "aarch64"
    assert "Cortex-A72" in {c.name for c in board.cores}
    plan = plan_threads(board, ModelConfig())
    assert plan.asr.intra_op_threads >= 1 and plan.vad.intra_op_threads == 1


def test_vad_finds_speech_in_a_real_recording(speech_dir):
    from voiced.audio.wav import load_audio
    from voiced.vad.silero import SileroVad

    audio = load_audio(speech_dir / CLIP)
    probs = SileroVad().probabilities(audio)
    assert probs.max() > 0.8
    silence = SileroVad().probabilities(np.zeros(16000, dtype=np.float32))
    assert silence.max() < 0.3


def test_tiny_v2_model_runs_through_the_transcriber(speech_dir):
    from voiced.asr.models import load_model_dir
    from voiced.asr.sessions import SessionSettings
    from voiced.asr.transcriber import Transcriber
    from voiced.audio.wav import load_audio

    if not TINY_MODEL.is_dir():
        pytest.fail(f"{TINY_MODEL} is missing")
    files = load_model_dir(TINY_MODEL)
    transcriber = Transcriber(files, SessionSettings(intra_op_threads=2))
    audio = load_audio(speech_dir / CLIP)
    result = transcriber.transcribe(audio)
    # Random weights: the text means nothing, but the shapes and the budget must hold.
    states = transcriber.encoder_states()
    assert states.shape == (1, transcriber.geometry.frames_for(len(audio)), 64)
    assert np.isfinite(states).all()
    assert 1 <= len(result.tokens) <= transcriber.decoder.budget(len(audio) / 16000, 6.5)
    assert isinstance(result.text, str)


def test_grammar_matcher_matches_a_sentence():
    from voiced.grammar import Matcher, load_grammar
    from voiced.grammar.loader import shipped_grammar_path

    match = Matcher(load_grammar([shipped_grammar_path()])).match("turn on the kitchen lite")
    assert match.recognized and match.intent == "LightOn"
    assert match.slots["area"].value == "kitchen"
