"""`voiced segments` and `voiced devices` through the real CLI entry point."""
from __future__ import annotations

import builtins
import os

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


def _one_hz_wav(path):
    """32 KB of audio whose header claims 1 Hz: resampled to 16 kHz it once grew to 22 GB."""
    import struct

    data = bytes(32000)
    fmt = struct.pack("<HHIIHH", 1, 1, 1, 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_transcribe_and_segments_on_a_lying_header_are_one_line(tmp_path, capsys):
    path = _one_hz_wav(tmp_path / "one_hz.wav")
    for command in (["segments", str(path)], ["transcribe", str(path)]):
        assert main(command) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert str(path) in err[0] and "1 Hz" in err[0] and "sox" in err[0]


def test_the_daemon_on_a_lying_header_stops_with_one_line(tmp_path):
    import subprocess
    import sys

    from voiced.grammar.loader import shipped_grammar_path

    path = _one_hz_wav(tmp_path / "one_hz.wav")
    config = tmp_path / "voiced.yaml"
    config.write_text(f"grammar:\n  paths: [{shipped_grammar_path()}]\nmqtt:\n  enabled: false\n"
                      "rescoring:\n  mode: \"off\"\n")
    done = subprocess.run([sys.executable, "-m", "voiced", "run", "--config", str(config), "--file", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("voiced: ")]
    assert len(errors) == 1 and str(path) in errors[0] and "sample rate of 1 Hz" in errors[0]


NOISE = (b"ALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\n"
         b"Cannot connect to server socket err = No such file or directory\n")


def _fake_pyaudio(monkeypatch):
    import sys

    from fake_portaudio import FakeDevice, FakePyAudioModule

    mic = FakeDevice("USB PnP Sound Device", np.zeros((16, 1), np.int16), 48000, {(48000, 1), (16000, 1)},
                     max_channels=1)
    fake = FakePyAudioModule([mic], native_noise=NOISE)
    monkeypatch.setitem(sys.modules, "pyaudio", fake)
    # Unset for the test and restored afterwards, whatever the command sets.
    monkeypatch.setenv("JACK_NO_START_SERVER", "")
    monkeypatch.delenv("JACK_NO_START_SERVER")
    return fake


def test_devices_keeps_alsa_and_jack_noise_off_the_terminal(monkeypatch, capfd):
    fake = _fake_pyaudio(monkeypatch)
    assert main(["devices"]) == 0
    out, err = capfd.readouterr()
    assert "USB PnP Sound Device" in out and "16000,48000" in out
    assert err == ""
    assert fake.environ_at_init[-1].get("JACK_NO_START_SERVER") == "1"  # no jackd started to list devices
    os.write(2, b"after\n")  # the terminal's stderr is back after the listing
    assert capfd.readouterr().err == "after\n"


def test_devices_shows_the_noise_when_verbose(monkeypatch, capfd):
    _fake_pyaudio(monkeypatch)
    assert main(["devices", "-vv"]) == 0
    out, err = capfd.readouterr()
    assert "USB PnP Sound Device" in out and "ALSA lib pcm.c" in err and "Cannot connect to server" in err


def test_devices_with_none_found_says_so_without_the_noise(monkeypatch, capfd):
    fake = _fake_pyaudio(monkeypatch)
    fake.devices.clear()
    assert main(["devices"]) == 1
    out, err = capfd.readouterr()
    assert out == "no audio input devices found\n" and "ALSA" not in err
