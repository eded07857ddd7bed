"""Where audio comes from: one small interface, three implementations.

Every source yields float32 16 kHz mono blocks from `chunks()` until its input ends or
`stop()` is called (from any thread). Counters for logging live on the source:
`overflows` (blocks the sound card dropped), `dropped` (blocks we had no room for),
`reopens` (microphone recoveries) and `samples` (16 kHz samples delivered).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.audio.base import AudioSource
from voiced.audio.pcm import FORMATS, PcmConverter
from voiced.config import AudioConfig
from voiced.errors import AudioError

log = logging.getLogger(__name__)


class FileSource(AudioSource):
    """A WAV file, at real-time speed (demos, end-to-end tests) or as fast as possible."""

    def __init__(self, path: Union[str, Path], realtime: bool = True, chunk_ms: int = 32,
                 channel: Optional[int] = None):
        super().__init__()
        from voiced.audio.wav import load_audio

        self.path = Path(path)
        self.audio = load_audio(self.path, SAMPLE_RATE, channel)
        self.realtime = realtime
        self.block = max(1, SAMPLE_RATE * chunk_ms // 1000)

    def chunks(self) -> Iterator[np.ndarray]:
        started = time.monotonic()
        for pos in range(0, len(self.audio), self.block):
            if self._stop.is_set():
                return
            if self.realtime:
                # Pace against the start time, so sleep jitter does not accumulate.
                due = started + pos / SAMPLE_RATE
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            block = self.audio[pos:pos + self.block]
            self.samples += len(block)
            yield block


class StdinSource(AudioSource):
    """Raw interleaved PCM from a pipe, e.g. `arecord -f S16_LE -r 16000 -c 1 -t raw`."""

    def __init__(self, stream: Optional[BinaryIO] = None, rate: int = SAMPLE_RATE, channels: int = 1,
                 channel: Optional[int] = None, sample_format: str = "s16le", chunk_ms: int = 32):
        super().__init__()
        if stream is None:
            import sys

            stream = sys.stdin.buffer
        self.stream = stream
        try:
            self.converter = PcmConverter(rate, channels, channel, sample_format, name="stdin")
        except ValueError as exc:
            raise AudioError(f"stdin: {exc}") from None
        self.read_bytes = max(1, rate * chunk_ms // 1000) * self.converter.frame_bytes

    def chunks(self) -> Iterator[np.ndarray]:
        # read1 returns what the pipe has (up to n) instead of waiting for a full block.
        read = getattr(self.stream, "read1", self.stream.read)
        while not self._stop.is_set():
            data = read(self.read_bytes)
            if not data:
                break
            block = self.converter.convert(data)
            if len(block):
                self.samples += len(block)
                yield block
        tail = self.converter.flush()
        if len(tail) and not self._stop.is_set():
            self.samples += len(tail)
            yield tail


def open_source(config: AudioConfig, *, stdin: Optional[BinaryIO] = None, pyaudio_module=None,
                base_dir: Optional[Path] = None) -> AudioSource:
    """Build the source `config.source` names. `base_dir` resolves a relative `config.file`;
    `pyaudio_module` replaces the real PyAudio (tests)."""
    if config.source == "file":
        if not config.file:
            raise AudioError("audio.source is 'file' but audio.file is empty; set audio.file to a WAV path")
        path = Path(config.file).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return FileSource(path, realtime=config.realtime, chunk_ms=config.chunk_ms, channel=config.channel)
    if config.source == "stdin":
        return StdinSource(stdin, rate=config.sample_rate or SAMPLE_RATE, channels=config.channels or 1,
                           channel=config.channel, sample_format=config.stdin_format,
                           chunk_ms=config.chunk_ms)
    if config.source == "mic":
        from voiced.audio.mic import MicSource  # only a microphone run loads the capture code

        return MicSource(config, pyaudio_module=pyaudio_module)
    raise AudioError(f"unknown audio source {config.source!r}; use mic, file or stdin")


__all__ = ["AudioSource", "FileSource", "StdinSource", "open_source", "FORMATS"]
