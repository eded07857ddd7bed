"""`voiced segments` and `voiced devices` through the real CLI entry point."""
from __future__ import annotations

import builtins

import numpy as np

from voiced.audio.wav import load_audio, write_wav
from voiced.cli import main


def test_segments_prints_one_line_per_utterance(tmp_path, speech_dir, capsys):
    a = load_audio(speech_dir / "commands" / "stp_cancel_timer.wav")
    b = load_audio(speech_dir / "commands" / "v2j_launch_firefox.wav")
    gap = np.zeros(32000, np.float32)
    path = tmp_path / "two.wav"
    write_wav(path, np.concatenate([gap, a, gap, gap, b, gap]))
    assert main(["segments", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        start, end, dur = map(float, line.split())
        assert end > start and abs(dur - (end - start)) < 0.011
    assert float(lines[0].split()[0]) < 2.0 + len(a) / 16000 < float(lines[1].split()[0])


def test_segments_prints_nothing_without_speech(tmp_path, capsys):
    path = tmp_path / "quiet.wav"
    write_wav(path, np.random.default_rng(0).normal(0, 0.003, 5 * 16000).astype(np.float32))
    assert main(["segments", str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_segments_on_a_bad_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "x.wav"
    path.write_text("hello")
    assert main(["segments", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a WAV file" in err[0]


def test_devices_without_pyaudio_prints_how_to_install(capsys, monkeypatch):
    real_import = builtins.__import__

    def no_pyaudio(name, *args, **kwargs):
        if name == "pyaudio":
            raise ImportError("No module named 'pyaudio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyaudio)
    assert main(["devices"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'voiced[mic]'" in err[0] and "portaudio19-dev" in err[0]
