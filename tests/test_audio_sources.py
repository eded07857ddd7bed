"""File and stdin sources, the PCM converter and open_source."""
from __future__ import annotations

import io
import logging
import threading

import numpy as np
import pytest

from voiced.audio.pcm import FloatGuard, PcmConverter
from voiced.audio.sources import FileSource, StdinSource, open_source
from voiced.audio.wav import load_audio, write_wav
from voiced.config import AudioConfig
from voiced.errors import AudioError

CLIP = "commands/stp_cancel_timer.wav"


def test_file_source_fast_yields_the_whole_file_in_blocks(speech_dir):
    source = FileSource(speech_dir / CLIP, realtime=False, chunk_ms=32)
    blocks = list(source.chunks())
    assert all(len(b) == 512 for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(speech_dir / CLIP))
    assert source.samples == sum(len(b) for b in blocks)


def test_file_source_realtime_gives_the_same_audio_and_stops(speech_dir):
    source = FileSource(speech_dir / CLIP, realtime=True, chunk_ms=100)
    threading.Timer(0.5, source.stop).start()
    blocks = list(source.chunks())  # stopped early: a 2.4 s clip cannot finish in 0.5 s
    whole = load_audio(speech_dir / CLIP)
    got = np.concatenate(blocks)
    assert 0 < len(got) < len(whole)
    np.testing.assert_array_equal(got, whole[:len(got)])


def test_file_source_resamples_any_wav(tmp_path, speech_dir):
    from scipy.signal import resample_poly

    x = load_audio(speech_dir / CLIP)
    path = tmp_path / "44k.wav"
    write_wav(path, resample_poly(x, 441, 160), rate=44100)
    got = np.concatenate(list(FileSource(path, realtime=False).chunks()))
    assert abs(len(got) - len(x)) <= 1
    n = min(len(got), len(x))
    assert np.sqrt(np.mean((got[:n] - x[:n]) ** 2)) < 0.02 * np.sqrt(np.mean(x ** 2))


@pytest.mark.parametrize("fmt, dtype, scale", [("s16le", "<i2", 32767), ("s32le", "<i4", 2 ** 31 - 1),
                                               ("f32le", "<f4", 1.0)])
def test_stdin_formats(speech_dir, fmt, dtype, scale):
    x = load_audio(speech_dir / CLIP)
    raw = (x * scale).astype(dtype).tobytes()
    source = StdinSource(io.BytesIO(raw), sample_format=fmt)
    got = np.concatenate(list(source.chunks()))
    np.testing.assert_allclose(got, x, atol=1.0 / 32768)


class _Dribble(io.RawIOBase):
    """A pipe that hands out odd-sized pieces, splitting frames between reads."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def readable(self):
        return True

    def read1(self, n=-1):
        step = min(n, 777)
        out = self.data[self.pos:self.pos + step]
        self.pos += len(out)
        return out


def test_stdin_48k_stereo_with_partial_frames(speech_dir):
    from scipy.signal import resample_poly

    x = load_audio(speech_dir / CLIP)
    hi = resample_poly(x, 3, 1)
    raw = (np.stack([hi, hi], axis=1) * 32767).astype("<i2").tobytes()
    got = np.concatenate(list(StdinSource(_Dribble(raw), rate=48000, channels=2).chunks()))
    assert len(got) == len(x)
    assert np.sqrt(np.mean((got - x) ** 2)) < 0.01 * np.sqrt(np.mean(x ** 2)) + 1e-4


def test_converter_rejects_bad_settings():
    with pytest.raises(ValueError, match="channel 2"):
        PcmConverter(16000, 2, channel=2)
    with pytest.raises(AudioError, match="stdin: unknown sample format"):
        StdinSource(io.BytesIO(b""), sample_format="mp3")


def test_open_source_dispatch(speech_dir, tmp_path):
    src = open_source(AudioConfig(source="file", file=str(speech_dir / CLIP), realtime=False))
    assert isinstance(src, FileSource)
    rel = open_source(AudioConfig(source="file", file=CLIP, realtime=False), base_dir=speech_dir)
    assert isinstance(rel, FileSource)
    std = open_source(AudioConfig(source="stdin", sample_rate=48000, channels=2), stdin=io.BytesIO(b""))
    assert isinstance(std, StdinSource) and std.converter.rate == 48000
    with pytest.raises(AudioError, match="audio.file"):
        open_source(AudioConfig(source="file"))
    with pytest.raises(AudioError, match="cannot read"):
        open_source(AudioConfig(source="file", file=str(tmp_path / "missing.wav")))


def test_stdin_float_nan_and_inf_become_silence_not_a_smear(speech_dir, caplog):
    x = load_audio(speech_dir / CLIP)
    bad = x.copy()
    spots = [700, 9000, 9001, 30000]
    bad[spots] = [np.nan, np.inf, -np.inf, np.nan]
    clean = x.copy()
    clean[spots] = 0.0
    with caplog.at_level(logging.WARNING, logger="voiced.audio"):
        got = np.concatenate(list(StdinSource(_Dribble(bad.astype("<f4").tobytes()), sample_format="f32le").chunks()))
    np.testing.assert_array_equal(got, clean)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # the first occurrence at once; the rest summed up (here at the end of the stream)
    assert 1 <= len(warnings) <= 2 and all(w.startswith("stdin: ") for w in warnings)
    assert "replaced 1 non-finite" in warnings[0]
    assert "4 replaced" in warnings[-1]


def test_stdin_float_48k_stereo_nan_is_replaced_before_resampling():
    rng = np.random.default_rng(1)
    stereo = rng.normal(0, 0.1, (4800, 2)).astype("<f4")
    stereo[100, 1] = np.nan
    out = np.concatenate(list(StdinSource(io.BytesIO(stereo.tobytes()), rate=48000, channels=2,
                                          sample_format="f32le").chunks()))
    assert len(out) == 1600 and np.isfinite(out).all()


def test_float_guard_warns_once_then_a_summary_at_most_every_minute(caplog):
    now = [0.0]
    guard = FloatGuard("test", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="voiced.audio"):
        for second in range(150):  # one bad sample in every 32 ms block for 150 s
            for _ in range(31):
                block = np.zeros(512, np.float32)
                block[3] = np.nan
                guard(block)
                assert block[3] == 0.0
            now[0] = float(second + 1)
        guard.flush()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 4  # t=0, t=60, t=120 and the flush
    assert "replaced 1 non-finite" in warnings[0]
    assert f"{150 * 31} replaced" in warnings[-1]
    assert guard.replaced == 150 * 31 and guard.clipped == 0


def test_integer_formats_need_no_guard_and_out_of_range_settings_are_refused():
    assert PcmConverter(16000, 1, sample_format="s16le")._guard is None
    with pytest.raises(AudioError, match="stdin: sample rate 1 Hz is outside 8000-384000 Hz"):
        StdinSource(io.BytesIO(b""), rate=1)
    with pytest.raises(ValueError, match="33 channels"):
        PcmConverter(16000, 33)
