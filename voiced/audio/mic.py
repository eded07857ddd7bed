"""Microphone capture with PyAudio (PortAudio), supervised: it survives overflows, stalls and
an unplugged device.

Capture runs in PortAudio's callback mode. PyAudio's blocking `read` cannot both keep going
and tell us about an overflow: with exception_on_overflow=False the overflow flag is
discarded, and with True the stream is torn down (PyAudio stream_io.c). The callback's
status flags report every overflow, and a bounded queue between PortAudio's thread and
ours means a slow consumer drops (and counts) blocks instead of growing memory.

PortAudio reads its device list once at initialisation, so every reopen terminates and
re-initialises PyAudio: that is how a re-plugged USB microphone is found again.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from voiced.audio import MAX_CHANNELS, MAX_RATE, MIN_RATE
from voiced.audio.pcm import PcmConverter
from voiced.audio.base import AudioSource
from voiced.config import AudioConfig
from voiced.errors import AudioError

log = logging.getLogger(__name__)

# Tried in this order: 16 kHz needs no resampling; 48/44.1 kHz are what most USB mics and
# HATs actually run at.
PREFERRED_RATES = (16000, 48000, 44100, 32000, 22050, 96000, 8000)
INSTALL_HINT = ("PyAudio is not installed; for a microphone run "
                "`sudo apt install portaudio19-dev` then `pip install 'voiced[mic]'` "
                "(or use audio.source: stdin / file)")
_POLL_S = 0.25  # how often a waiting reader checks stop() and the stream's health
_OVERFLOW_LOG_S = 60.0  # at most one overflow warning per minute


def load_pyaudio():
    try:
        import pyaudio
    except ImportError:
        raise AudioError(INSTALL_HINT) from None
    return pyaudio


@contextmanager
def native_stderr_muted(muted: bool = True) -> Iterator[None]:
    """Send what C code writes to file descriptor 2 to /dev/null inside the block.

    PortAudio's initialisation and device probing make ALSA print "ALSA lib pcm.c:...: Unknown
    PCM cards.pcm.rear" and JACK "Cannot connect to server socket" for every configuration they
    try; that goes straight to fd 2, past Python. Python's own writes to stderr inside the block
    are lost as well, so keep the block to the PortAudio calls and let exceptions leave it before
    they are reported. Single-threaded callers only: the descriptor is the whole process's.
    """
    if not muted:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to protect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: int
    rates: Tuple[int, ...]  # of PREFERRED_RATES, those the device accepts as 16-bit input


def _supported(pa, pyaudio, index: int, rate: int, channels: int) -> bool:
    try:
        return bool(pa.is_format_supported(rate, input_device=index, input_channels=channels,
                                           input_format=pyaudio.paInt16))
    except (ValueError, OSError):  # PyAudio raises ValueError for "not supported"
        return False


def list_input_devices(pa, pyaudio) -> List[InputDevice]:
    """Every device with input channels, with the preferred rates it supports."""
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        ch = int(info.get("maxInputChannels", 0))
        if ch <= 0:
            continue
        counts = sorted({1, min(2, ch), ch})
        rates = tuple(r for r in PREFERRED_RATES if any(_supported(pa, pyaudio, i, r, c) for c in counts))
        devices.append(InputDevice(i, str(info.get("name", "")), ch, _default_rate(info), rates))
    return devices


def _default_rate(info: Dict[str, Any]) -> int:
    """The device's default rate in Hz, 0 when the driver reports none or nonsense."""
    try:
        return int(info.get("defaultSampleRate", 0) or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def find_device(pa, pyaudio, spec: Optional[Union[int, str]]) -> Dict[str, Any]:
    """PortAudio device info for an index, a case-insensitive name substring, or None (default)."""
    if spec is None:
        try:
            return pa.get_default_input_device_info()
        except (OSError, IOError):
            raise AudioError("no default input device; set audio.device (see `voiced devices`)") from None
    devices = list_devices_brief(pa)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for info in devices:
            if int(info["index"]) == index:
                return info
        raise AudioError(f"no input device with index {index}; present: {_names(devices)}")
    wanted = str(spec).lower()
    matches = [info for info in devices if wanted in str(info.get("name", "")).lower()]
    if not matches:
        raise AudioError(f"no input device whose name contains {spec!r}; present: {_names(devices)}")
    if len(matches) > 1:
        log.info("device %r matches %s; using the first", spec, _names(matches))
    return matches[0]


def list_devices_brief(pa) -> List[Dict[str, Any]]:
    out = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if int(info.get("maxInputChannels", 0)) > 0:
            out.append(dict(info, index=i))
    return out


def _names(devices: Sequence[Dict[str, Any]]) -> str:
    return ", ".join(f"{d['index']}: {d.get('name', '')}" for d in devices) or "none"


def choose_format(pa, pyaudio, info: Dict[str, Any], rate: Optional[int] = None,
                  channels: Optional[int] = None, channel: Optional[int] = None) -> Tuple[int, int]:
    """(rate, channels) to open: the configured values, else the first supported of
    PREFERRED_RATES (then the device's default) with mono preferred over stereo."""
    index, max_ch = int(info["index"]), min(int(info.get("maxInputChannels", 1)), MAX_CHANNELS)
    rates = [rate] if rate else list(PREFERRED_RATES) + [_default_rate(info)]
    # A driver's default rate is whatever it reports (0, 1e6 ...): only rates we can resample.
    rates = [r for r in rates if MIN_RATE <= r <= MAX_RATE]
    need = (channel or 0) + 1
    counts = [channels] if channels else sorted({c for c in (1, 2, max_ch) if c <= max_ch})
    counts = [c for c in counts if c >= need]
    for r in rates:
        for c in counts:
            if _supported(pa, pyaudio, index, r, c):
                return r, c
    raise AudioError(f"input device {info.get('name')!r} supports none of rates {rates} with "
                     f"{counts or [need]} channels; set audio.sample_rate / audio.channels (see `voiced devices`)")


class MicSource(AudioSource):
    """A PortAudio input device, reopened with exponential back-off when it fails or stalls."""

    def __init__(self, config: AudioConfig, pyaudio_module=None, backoff_initial_s: float = 0.5):
        super().__init__()
        self.config = config
        self._pyaudio = pyaudio_module if pyaudio_module is not None else load_pyaudio()
        self._backoff_initial = backoff_initial_s
        self._queue: "queue.Queue[bytes]" = queue.Queue(maxsize=max(4, 2000 // config.chunk_ms))
        self._pa = None
        self._stream = None
        self.converter: Optional[PcmConverter] = None
        self.device_name: Optional[str] = None
        self.capture_rate: Optional[int] = None
        self.capture_channels: Optional[int] = None
        self._logged_overflows = 0
        self._overflow_logged_at = float("-inf")

    # --- PortAudio side (runs on PortAudio's thread) ---

    def _callback(self, in_data, frame_count, time_info, status):
        if status & self._pyaudio.paInputOverflow:
            self.overflows += 1
        try:
            self._queue.put_nowait(in_data)
        except queue.Full:
            self.dropped += 1
        return (None, self._pyaudio.paContinue)

    # --- open / close ---

    def open(self) -> None:
        """Open the configured device; raises AudioError (the caller retries with back-off)."""
        pyaudio, cfg = self._pyaudio, self.config
        pa = pyaudio.PyAudio()
        try:
            info = find_device(pa, pyaudio, cfg.device)
            rate, channels = choose_format(pa, pyaudio, info, cfg.sample_rate, cfg.channels, cfg.channel)
            self._drain()
            stream = pa.open(format=pyaudio.paInt16, channels=channels, rate=rate, input=True,
                             input_device_index=int(info["index"]),
                             frames_per_buffer=max(1, rate * cfg.chunk_ms // 1000),
                             stream_callback=self._callback)
        except AudioError:
            pa.terminate()
            raise
        except (OSError, ValueError) as exc:  # PortAudio errors arrive as IOError/OSError
            pa.terminate()
            raise AudioError(f"cannot open input device {cfg.device!r}: {exc}") from None
        self._pa, self._stream = pa, stream
        self.converter = PcmConverter(rate, channels, cfg.channel)
        self.device_name, self.capture_rate, self.capture_channels = str(info.get("name")), rate, channels
        log.info("microphone %r open: %d Hz, %d channel(s)%s", self.device_name, rate, channels,
                 "" if rate == 16000 else ", resampled to 16 kHz")

    def _close_stream(self) -> None:
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        for action in (getattr(stream, "stop_stream", None), getattr(stream, "close", None),
                       getattr(pa, "terminate", None)):
            if action is None:
                continue
            try:
                action()
            except Exception as exc:  # a vanished device may fail to close; we are done with it
                log.debug("ignoring error while closing the microphone: %s", exc)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def close(self) -> None:
        self.stop()
        self._close_stream()

    # --- reading ---

    def chunks(self) -> Iterator[np.ndarray]:
        backoff = self._backoff_initial
        try:
            while not self._stop.is_set():
                if self._stream is None:
                    try:
                        self.open()
                    except AudioError as exc:
                        log.warning("microphone unavailable: %s; retrying in %.1f s", exc, backoff)
                        if self._stop.wait(backoff):
                            break
                        backoff = min(backoff * 2, self.config.reopen_backoff_max_s)
                        continue
                data = self._next_block()
                if data is None:
                    continue
                backoff = self._backoff_initial  # audio flows again
                self._log_overflows()
                block = self.converter.convert(data)
                if len(block):
                    self.samples += len(block)
                    yield block
        finally:
            self._close_stream()

    def _next_block(self) -> Optional[bytes]:
        """The next captured block; None after stop() or after a failure caused a reopen."""
        waited = 0.0
        poll = min(_POLL_S, self.config.stall_timeout_s)
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=poll)
            except queue.Empty:
                waited += poll
            reason = self._health(waited)
            if reason:
                self._recover(reason)
                return None
        return None

    def _health(self, waited: float) -> Optional[str]:
        try:
            if not self._stream.is_active():
                return "capture stream stopped (device gone?)"
        except (OSError, ValueError) as exc:
            return f"capture stream failed: {exc}"
        if waited >= self.config.stall_timeout_s:
            return f"no audio for {waited:.1f} s"
        return None

    def _recover(self, reason: str) -> None:
        self.reopens += 1
        log.warning("microphone %r: %s; reopening (reopen #%d)", self.device_name, reason, self.reopens)
        self._close_stream()

    def _log_overflows(self) -> None:
        if self.overflows == self._logged_overflows:
            return
        now = time.monotonic()
        if now - self._overflow_logged_at >= _OVERFLOW_LOG_S:
            log.warning("microphone input overflowed %d time(s) (%d total): the reader fell behind",
                        self.overflows - self._logged_overflows, self.overflows)
            self._logged_overflows = self.overflows
            self._overflow_logged_at = now
