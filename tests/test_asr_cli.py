"""`voiced transcribe` and `voiced bench asr` through the real command line entry point."""
from __future__ import annotations

import struct
import wave

import numpy as np
import pytest
from scipy.signal import resample_poly

from voiced.asr.wer import normalize
from voiced.audio.wav import load_audio
from voiced.cli import main


def write_wav_any(path, frames: np.ndarray, rate: int, kind: str) -> None:
    """frames [n, channels] float in [-1, 1] as 'float32', 'int32' or 'int16' PCM."""
    channels = frames.shape[1]
    if kind == "float32":
        data, tag, bits = frames.astype("<f4").tobytes(), 3, 32
    elif kind == "int32":
        data, tag, bits = (np.clip(frames, -1, 1) * (2**31 - 1)).astype("<i4").tobytes(), 1, 32
    else:
        data, tag, bits = (np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes(), 1, 16
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("rate, up, down, kind", [(44100, 441, 160, "float32"), (22050, 441, 320, "int32")])
def test_transcribe_any_rate_channels_and_depth(speech_dir, tmp_path, capsys, rate, up, down, kind):
    audio = load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav")
    resampled = resample_poly(audio, up, down)
    stereo = np.stack([resampled * 0.9, resampled * 0.7], axis=1)  # both channels carry the speech
    path = tmp_path / f"what_time_{rate}_{kind}.wav"
    write_wav_any(path, stereo, rate, kind)
    assert main(["transcribe", str(path), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [normalize(line) for line in lines] == ["what time is it"]


def test_transcribe_trims_silence_like_the_daemon(speech_dir, tmp_path, capsys):
    """Two commands with long silences around them: one line per utterance found by the VAD."""
    a = load_audio(speech_dir / "commands" / "stp_lock_the_front_door.wav")
    b = load_audio(speech_dir / "commands" / "stp_what_time_is_it.wav")
    rng = np.random.default_rng(0)
    quiet = lambda s: (rng.standard_normal(int(s * 16000)) * 1e-3).astype(np.float32)  # noqa: E731
    path = tmp_path / "two.wav"
    write_wav_any(path, np.concatenate([quiet(3), a, quiet(2.5), b, quiet(3)])[:, None], 16000, "int16")
    assert main(["transcribe", str(path), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [normalize(line) for line in lines] == ["lock the front door", "what time is it"]


def test_unreadable_and_empty_audio_are_one_line_errors(tmp_path, capsys):
    missing = tmp_path / "missing.wav"
    assert main(["transcribe", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.wav" in err and "Traceback" not in err
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    assert main(["transcribe", str(empty)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "empty.wav" in err and "no audio" in err


def test_bad_model_directory_is_a_one_line_error(speech_dir, tmp_path, capsys):
    wav = speech_dir / "commands" / "stp_what_time_is_it.wav"
    assert main(["transcribe", str(wav), "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "encoder_model_int8.onnx" in err and "voiced models pull" in err


def test_bench_asr_prints_every_figure(tiny_twin_model, speech_dir, capsys):
    wav = speech_dir / "sentences" / "moonshine_beckett.wav"
    assert main(["bench", "asr", "--model", str(tiny_twin_model.directory), "--threads", "1",
                 "--repeats", "1", "--audio", str(wav)]) == 0
    out = capsys.readouterr().out
    for label in ("encode 3 s of speech", "encode 6 s of speech", "decoder first step", "decoder per token",
                  "real-time factor", "peak RSS", "lookahead", "incremental encode every"):
        assert label in out
    figures = {line.split("  ")[0]: line for line in out.splitlines()}
    assert float(figures["encode 6 s of speech"].split()[-2]) > 0
