"""Reading and writing WAV files: 8/16/24/32-bit PCM and 32/64-bit float, any channel count.

A small RIFF parser of our own, because the standard `wave` module rejects float and
WAVE_FORMAT_EXTENSIBLE files before Python 3.12, and both are common from USB recorders.
The header is checked against sane bounds before anything is allocated: a header is
written by whatever made the file, and trusting it cost 22 GB for one that claimed 1 Hz.
Only the data chunk is read, so memory is bounded by the audio the file really holds.
Files from recorders killed mid-write (a data size beyond the end of the file) and RF64
files (sizes in a `ds64` chunk) are read as far as they go.
"""
from __future__ import annotations

import logging
import os
import shlex
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional, Tuple, Union

import numpy as np

from voiced.audio import CONVERT_HINT, MAX_CHANNELS, MAX_RATE, MIN_RATE, SAMPLE_RATE
from voiced.audio.pcm import FloatGuard
from voiced.audio.resample import resample
from voiced.errors import AudioError

log = logging.getLogger(__name__)

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_BITS = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64)}
# The last 14 bytes of KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT; the first two are the format tag.
_SUBTYPE_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_UNKNOWN_SIZE = 0xFFFFFFFF  # RF64: the real size is in the ds64 chunk
_MAX_FMT_BYTES = 1024  # a fmt chunk is 16-40 bytes; more is read only as far as needed


@dataclass(frozen=True)
class WavFormat:
    tag: int
    channels: int
    rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def bad_wav(path: Union[str, Path], problem: str) -> AudioError:
    """An AudioError naming the file, what is wrong, and how to get a file voiced reads."""
    hint = CONVERT_HINT.replace("in.wav", shlex.quote(str(path)), 1)
    return AudioError(f"{path}: {problem} (hint: {hint})")


def read_wav(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """Return (samples float32 [frames, channels] in -1..1, sample rate). Float samples that are
    not finite become 0 and those beyond ±1 are clipped, with one warning."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            fmt, offset, length = _locate(path, f, size)
            f.seek(offset)
            raw = f.read(length - length % fmt.frame_bytes)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror}") from None
    return _decode(path, raw, fmt), fmt.rate


def _locate(path, f: BinaryIO, size: int) -> Tuple[WavFormat, int, int]:
    """(format, offset, length) of the audio, walking the chunks without reading their bodies."""
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    fmt: Optional[WavFormat] = None
    ds64_data: Optional[int] = None
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        cid, length = struct.unpack("<4sI", f.read(8))
        if not _is_chunk_id(cid):
            raise bad_wav(path, f"corrupt WAV: unreadable chunk header at byte {pos}")
        body = pos + 8
        if cid == b"ds64" and head[:4] == b"RF64" and length >= 28:
            ds64_data = struct.unpack("<Q", f.read(16)[8:16])[0]
        elif cid == b"fmt ":
            fmt = _parse_fmt(path, f.read(min(length, _MAX_FMT_BYTES)))
        elif cid == b"data":
            if fmt is None:
                raise bad_wav(path, "data chunk before fmt chunk")
            if length == _UNKNOWN_SIZE and ds64_data is not None:
                length = ds64_data
            if length > size - body:
                log.info("%s: the data chunk claims %d bytes but the file ends after %d; reading those",
                         path, length, size - body)
                length = size - body
            return fmt, body, length
        if body + length > size:
            raise bad_wav(path, f"chunk {cid.decode('ascii')!r} at byte {pos} claims {length} bytes, beyond "
                                f"the end of the file ({size} bytes), and no audio came before it")
        pos = _next_chunk(f, body + length, length, size)
    raise bad_wav(path, "no audio data in file" if fmt else "no fmt chunk and no audio data in file")


def _next_chunk(f: BinaryIO, end: int, length: int, size: int) -> int:
    """Where the next chunk starts: after the pad byte of an odd-sized chunk, unless the
    writer left the pad out (the bytes after it are not a chunk id, the bytes at `end` are)."""
    if not length & 1 or end + 9 > size:
        return end + (length & 1)
    f.seek(end)
    ahead = f.read(5)
    return end if _is_chunk_id(ahead[:4]) and not _is_chunk_id(ahead[1:5]) else end + 1


def _is_chunk_id(cid: bytes) -> bool:
    return len(cid) == 4 and all(0x20 <= b <= 0x7E for b in cid)


def _parse_fmt(path, body: bytes) -> WavFormat:
    if len(body) < 16:
        raise bad_wav(path, "truncated fmt chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the subformat GUID
        if len(body) >= 40 and body[26:40] != _SUBTYPE_TAIL:
            raise bad_wav(path, "unsupported WAV encoding (an extensible subformat that is not PCM or float)")
    if tag not in _BITS:
        raise bad_wav(path, f"unsupported WAV encoding (format tag 0x{tag:04x}); use PCM or float")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise bad_wav(path, f"the header claims a sample rate of {rate} Hz; voiced reads {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise bad_wav(path, f"the header claims {channels} channels; voiced reads 1-{MAX_CHANNELS}")
    if bits not in _BITS[tag]:
        kind = "PCM" if tag == _PCM else "float"
        raise bad_wav(path, f"the header claims {bits}-bit {kind} samples; voiced reads "
                            f"{'/'.join(map(str, _BITS[tag]))}-bit {kind}")
    fmt = WavFormat(tag, channels, rate, bits)
    if block_align != fmt.frame_bytes:
        raise bad_wav(path, f"inconsistent header: block align {block_align} bytes, but {channels} channel(s) "
                            f"of {bits}-bit samples take {fmt.frame_bytes}")
    return fmt


def _decode(path, raw: bytes, fmt: WavFormat) -> np.ndarray:
    tag, bits = fmt.tag, fmt.bits
    if tag == _FLOAT:
        with np.errstate(over="ignore"):  # a 64-bit value beyond float32 becomes Inf: the guard counts it
            x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
        FloatGuard(str(path))(x)
    elif bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    else:
        x = (np.frombuffer(raw, dtype="<i4") / float(1 << 31)).astype(np.float32)
    return x.reshape(-1, fmt.channels)


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
    if channel is not None and not 0 <= channel < frames.shape[1]:
        raise AudioError(f"{path}: has {frames.shape[1]} channel(s), so channel {channel} does not exist "
                         "(hint: audio.channel counts from 0; leave it empty to mix all channels)")
    return resample(to_mono(frames, channel), src_rate, rate)


def write_wav(path: Union[str, Path], audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
