"""Reading and writing WAV files: 8/16/24/32-bit PCM and 32/64-bit float, any channel count.

A small RIFF parser of our own, because the standard `wave` module rejects float and
WAVE_FORMAT_EXTENSIBLE files before Python 3.12, and both are common from USB recorders.
"""
from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.audio.resample import resample
from voiced.errors import AudioError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """Return (samples float32 [frames, channels] in -1..1, sample rate)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    fmt = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = _parse_fmt(path, body)
        elif cid == b"data":
            if fmt is None:
                raise AudioError(f"{path}: data chunk before fmt chunk")
            return _decode(path, body, *fmt)
        pos += 8 + size + (size & 1)
    raise AudioError(f"{path}: no audio data in file")


def _parse_fmt(path, body: bytes) -> Tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{path}: truncated fmt chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the subformat GUID
    if tag not in (_PCM, _FLOAT) or channels == 0 or rate == 0:
        raise AudioError(f"{path}: unsupported WAV encoding (format tag {tag}); use PCM or float")
    return tag, channels, rate, bits


def _decode(path, body: bytes, tag: int, channels: int, rate: int, bits: int) -> Tuple[np.ndarray, int]:
    width = bits // 8
    usable = len(body) - len(body) % (width * channels)
    raw = body[:usable]
    if tag == _FLOAT and bits in (32, 64):
        x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif tag == _PCM and bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    elif tag == _PCM and bits == 32:
        x = (np.frombuffer(raw, dtype="<i4") / float(1 << 31)).astype(np.float32)
    else:
        raise AudioError(f"{path}: unsupported sample format ({bits}-bit, tag {tag})")
    return x.reshape(-1, channels), rate


def to_mono(frames: np.ndarray, channel=None) -> np.ndarray:
    """Pick one channel, or average them all."""
    if frames.ndim == 1:
        return frames
    if channel is not None:
        return np.ascontiguousarray(frames[:, channel])
    return frames.mean(axis=1, dtype=np.float32)


def load_audio(path: Union[str, Path], rate: int = SAMPLE_RATE, channel=None) -> np.ndarray:
    """Read a WAV as float32 mono at `rate` Hz. Raises AudioError on unreadable or empty audio."""
    frames, src_rate = read_wav(path)
    if len(frames) == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    return resample(to_mono(frames, channel), src_rate, rate)


def write_wav(path: Union[str, Path], audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
