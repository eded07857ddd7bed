"""WAV reading: every supported encoding of real speech, and headers that lie.

A header is checked before anything is allocated: these files are built byte by byte, the
way a broken recorder or a hostile upload would write them.
"""
from __future__ import annotations

import logging
import struct
import tracemalloc

import numpy as np
import pytest

from voiced.audio.sources import open_source
from voiced.audio.wav import load_audio, read_wav
from voiced.config import AudioConfig
from voiced.errors import AudioError

CLIP = "commands/stp_cancel_timer.wav"
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE


def chunk(cid: bytes, body: bytes, pad: bool = True, size=None) -> bytes:
    out = cid + struct.pack("<I", len(body) if size is None else size) + body
    return out + (b"\0" if pad and len(body) % 2 else b"")


def fmt_body(tag=PCM, channels=1, rate=16000, bits=16, block_align=None) -> bytes:
    align = channels * bits // 8 if block_align is None else block_align
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def wav(*chunks: bytes, magic=b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def write(tmp_path, data: bytes, name="x.wav"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def encode(x: np.ndarray, tag: int, bits: int) -> bytes:
    if tag == FLOAT:
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    if bits == 24:
        v = np.round(x * (2 ** 23 - 1)).astype("<i4").view(np.uint8).reshape(-1, 4)
        return v[:, :3].tobytes()
    return np.round(x * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()


@pytest.fixture(scope="module")
def speech(speech_dir):
    return load_audio(speech_dir / CLIP)


@pytest.mark.parametrize("tag, bits, tol", [(PCM, 8, 1 / 100), (PCM, 16, 1 / 30000), (PCM, 24, 1e-6),
                                            (PCM, 32, 1e-6), (FLOAT, 32, 0), (FLOAT, 64, 0)])
def test_every_encoding_of_real_speech_reads_back(tmp_path, speech, tag, bits, tol):
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body(tag, bits=bits)), chunk(b"data", encode(speech, tag, bits))))
    frames, rate = read_wav(path)
    assert rate == 16000 and frames.shape == (len(speech), 1)
    np.testing.assert_allclose(frames[:, 0], speech, atol=tol + 1e-7)


def test_extensible_stereo_24_bit_at_48k(tmp_path, speech):
    from scipy.signal import resample_poly

    hi = resample_poly(speech, 3, 1).astype(np.float32) * 0.5
    body = fmt_body(EXTENSIBLE, 2, 48000, 24) + struct.pack("<HHI", 22, 24, 3)
    body += struct.pack("<H", PCM) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    data = encode(np.stack([hi, hi], axis=1).reshape(-1), PCM, 24)
    got = load_audio(write(tmp_path, wav(chunk(b"fmt ", body), chunk(b"data", data))))
    assert abs(len(got) - len(speech)) <= 1
    n = min(len(got), len(speech))
    assert np.sqrt(np.mean((got[:n] - 0.5 * speech[:n]) ** 2)) < 0.01 * np.sqrt(np.mean(speech ** 2))


BAD_HEADERS = [
    (fmt_body(rate=1), "sample rate of 1 Hz"),
    (fmt_body(rate=7999), "sample rate of 7999 Hz"),
    (fmt_body(rate=384001), "sample rate of 384001 Hz"),
    (fmt_body(bits=0, block_align=0), "0-bit PCM"),
    (fmt_body(bits=12, block_align=2), "12-bit PCM"),
    (fmt_body(FLOAT, bits=16), "16-bit float"),
    (fmt_body(channels=0, block_align=0), "0 channels"),
    (fmt_body(channels=33), "33 channels"),
    (fmt_body(channels=2, block_align=3), "block align 3"),
    (fmt_body(tag=7), "format tag 0x0007"),
    (fmt_body()[:12], "truncated fmt chunk"),
]


@pytest.mark.parametrize("fmt, says", BAD_HEADERS, ids=[says for _, says in BAD_HEADERS])
def test_a_header_out_of_bounds_is_one_clear_error_before_any_allocation(tmp_path, fmt, says):
    # 32 KB claiming 1 Hz once grew to 22 GB when resampled to 16 kHz
    path = write(tmp_path, wav(chunk(b"fmt ", fmt), chunk(b"data", bytes(32000))), "bad header.wav")
    tracemalloc.start()
    try:
        with pytest.raises(AudioError) as caught:
            load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert says in message and str(path) in message and "\n" not in message
    assert "sox 'bad header.wav'" in message.replace(str(tmp_path) + "/", "") and "-r 16000 -c 1 -b 16" in message
    assert peak < 200_000


@pytest.mark.parametrize("rate", [8000, 384000])
def test_the_rate_bounds_themselves_are_read(tmp_path, rate):
    x = np.zeros(rate // 10, np.float32)
    x[::7] = 0.25
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body(rate=rate)), chunk(b"data", encode(x, PCM, 16))))
    assert abs(len(load_audio(path)) - 1600) <= 1


def test_a_data_size_beyond_the_end_reads_what_is_there(tmp_path, speech):
    # a recorder killed before it wrote the sizes: 0xFFFFFFFF, or a size from a longer take
    data = encode(speech, PCM, 16)
    for size in (0xFFFFFFFF, len(data) + 12345):
        path = write(tmp_path, wav(chunk(b"fmt ", fmt_body()), chunk(b"data", data + b"\x01", size=size, pad=False)))
        frames, _ = read_wav(path)
        np.testing.assert_allclose(frames[:, 0], speech, atol=1 / 30000)


def test_a_chunk_running_past_the_end_before_the_audio_names_it(tmp_path):
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body()), chunk(b"LIST", b"abcd", size=10 ** 9)))
    with pytest.raises(AudioError, match="'LIST' at byte 36 claims 1000000000 bytes"):
        read_wav(path)


def test_odd_chunks_with_and_without_their_pad_byte(tmp_path, speech):
    data = encode(speech[:1000], PCM, 16)
    for pad in (True, False):
        path = write(tmp_path, wav(chunk(b"fmt ", fmt_body()), chunk(b"LIST", b"odd", pad=pad), chunk(b"data", data)))
        frames, _ = read_wav(path)
        assert len(frames) == 1000


def test_garbage_instead_of_a_chunk_header(tmp_path):
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body()), b"\x00\xff\x13\x07" + bytes(40)))
    with pytest.raises(AudioError, match="corrupt WAV: unreadable chunk header at byte 36"):
        read_wav(path)
    no_fmt = write(tmp_path, wav(chunk(b"data", bytes(64))), "no_fmt.wav")
    with pytest.raises(AudioError, match="data chunk before fmt chunk"):
        read_wav(no_fmt)


def test_rf64_takes_the_data_size_from_ds64(tmp_path, speech):
    data = encode(speech, PCM, 16)
    ds64 = struct.pack("<QQQI", 0, len(data), len(speech), 0)
    path = write(tmp_path, wav(chunk(b"ds64", ds64), chunk(b"fmt ", fmt_body()),
                               chunk(b"data", data, size=0xFFFFFFFF) + chunk(b"LIST", b"tail"), magic=b"RF64"))
    frames, _ = read_wav(path)
    np.testing.assert_allclose(frames[:, 0], speech, atol=1 / 30000)


def test_an_extensible_subformat_that_is_not_pcm_is_refused(tmp_path):
    body = fmt_body(EXTENSIBLE) + struct.pack("<HHI", 22, 16, 4) + struct.pack("<H", PCM) + bytes(14)
    with pytest.raises(AudioError, match="extensible subformat"):
        read_wav(write(tmp_path, wav(chunk(b"fmt ", body), chunk(b"data", bytes(64)))))


def test_non_finite_float_samples_become_zero_with_one_warning(tmp_path, speech, caplog):
    x = speech.copy()
    x[[100, 5000, 9000]] = [np.nan, np.inf, -np.inf]
    x[20000] = 1e30
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body(FLOAT, bits=32)), chunk(b"data", encode(x, FLOAT, 32))))
    with caplog.at_level(logging.WARNING, logger="voiced.audio"):
        got = load_audio(path)
    assert np.isfinite(got).all() and np.abs(got).max() <= 1.0
    assert got[100] == 0.0 and got[5000] == 0.0 and got[9000] == 0.0 and got[20000] == 1.0
    keep = np.ones(len(x), bool)
    keep[[100, 5000, 9000, 20000]] = False
    np.testing.assert_array_equal(got[keep], speech[keep])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "replaced 3 non-finite" in warnings[0] and "clipped 1 sample" in warnings[0]


def test_a_missing_channel_is_an_audio_error(tmp_path, speech):
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body()), chunk(b"data", encode(speech, PCM, 16))))
    with pytest.raises(AudioError, match="has 1 channel.*channel 1 does not exist"):
        load_audio(path, channel=1)


def test_the_file_source_reports_a_bad_wav_as_an_audio_error(tmp_path):
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body(rate=1)), chunk(b"data", bytes(32000))))
    with pytest.raises(AudioError, match="sample rate of 1 Hz"):
        open_source(AudioConfig(source="file", file=str(path), realtime=False))


def test_a_64_bit_float_beyond_float32_is_counted_without_a_numpy_warning(tmp_path, caplog):
    import warnings

    x = np.array([0.25, 1e300, -0.5, np.nan], dtype="<f8")
    path = write(tmp_path, wav(chunk(b"fmt ", fmt_body(FLOAT, bits=64)), chunk(b"data", x.tobytes())))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow RuntimeWarning would be a stray stderr line
        frames, _ = read_wav(path)
    np.testing.assert_array_equal(frames[:, 0], [0.25, 0.0, -0.5, 0.0])
    assert "replaced 2 non-finite" in caplog.text
