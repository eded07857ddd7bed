"""A stand-in for the PyAudio module that behaves like PortAudio in callback mode.

Only the microphone hardware is faked: MicSource runs its real code against it. Each
`FakeDevice` plays a fixed int16 signal (frames x channels) from a thread, block by block,
into the stream callback, like PortAudio's audio thread. Scripted troubles:
  overflow_blocks - callback status carries paInputOverflow on these block numbers
  vanish_after    - after this many blocks the device is unplugged: the stream goes inactive
                    and the device leaves the device list for `absent_s` seconds
  stall_after     - after this many blocks the stream stays "active" but delivers nothing
`native_noise` is written straight to file descriptor 2 at initialisation and at every format
probe, as ALSA and JACK do from C.
The signal position belongs to the device, so audio continues where it was after a reopen.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

paInt16 = 8
paContinue = 0
paInputOverflow = 2


@dataclass
class FakeDevice:
    name: str
    signal: np.ndarray  # int16 [frames, channels] at `rate`
    rate: int
    formats: Set[Tuple[int, int]]  # supported (rate, channels)
    max_channels: int = 2
    overflow_blocks: Set[int] = field(default_factory=set)
    vanish_after: Optional[int] = None
    absent_s: float = 0.3
    stall_after: Optional[int] = None
    # runtime
    pos: int = 0
    blocks: int = 0
    gone_until: float = 0.0
    stalled: bool = False

    @property
    def present(self) -> bool:
        return time.monotonic() >= self.gone_until


class FakeStream:
    def __init__(self, module: "FakePyAudioModule", device: FakeDevice, rate: int, channels: int,
                 frames_per_buffer: int, callback):
        self.device, self.rate, self.channels = device, rate, channels
        self.frames, self.callback = frames_per_buffer, callback
        self.module = module
        self._active = True
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        dev = self.device
        while self._active and not self._closed:
            time.sleep(self.module.block_sleep_s)
            if dev.vanish_after is not None and dev.blocks >= dev.vanish_after:
                dev.vanish_after = None
                dev.gone_until = time.monotonic() + dev.absent_s
                self._active = False  # PortAudio stops the stream when the device goes away
                return
            if dev.stall_after is not None and dev.blocks >= dev.stall_after:
                dev.stall_after = None
                dev.stalled = True
            if dev.stalled:
                continue  # active, but no callbacks: a wedged driver
            if dev.pos >= len(dev.signal):
                continue  # end of the recording: silence of the grave (tests stop before)
            block = dev.signal[dev.pos:dev.pos + self.frames, :self.channels]
            dev.pos += len(block)
            status = paInputOverflow if dev.blocks in dev.overflow_blocks else 0
            dev.blocks += 1
            self.callback(block.astype("<i2").tobytes(), len(block), {}, status)

    def is_active(self) -> bool:
        if self._closed:
            raise OSError(-9988, "Stream closed")
        return self._active

    def stop_stream(self) -> None:
        self._active = False

    def close(self) -> None:
        self._active = False
        self._closed = True
        self._thread.join(timeout=2)
        self.device.stalled = False  # a fresh open un-wedges the driver


class FakePortAudio:
    def __init__(self, module: "FakePyAudioModule"):
        self.module = module
        module.environ_at_init.append(dict(os.environ))
        if module.native_noise:  # what ALSA and JACK print from C while PortAudio initialises
            os.write(2, module.native_noise)
        # Like PortAudio, the device list is fixed when the library is initialised.
        self._devices: List[FakeDevice] = [d for d in module.devices if d.present]
        self.terminated = False

    def get_device_count(self) -> int:
        return len(self._devices) + 1  # plus an output-only device

    def get_device_info_by_index(self, i: int) -> Dict:
        if i == len(self._devices):
            return {"index": i, "name": "Speakers", "maxInputChannels": 0, "defaultSampleRate": 48000.0}
        d = self._devices[i]
        return {"index": i, "name": d.name, "maxInputChannels": d.max_channels, "defaultSampleRate": float(d.rate)}

    def get_default_input_device_info(self) -> Dict:
        if not self._devices:
            raise OSError(-9996, "No Default Input Device Available")
        return self.get_device_info_by_index(0)

    def is_format_supported(self, rate, input_device=None, input_channels=None, input_format=None, **_):
        if self.module.native_noise:  # and again for every configuration probed
            os.write(2, self.module.native_noise)
        d = self._devices[input_device]
        if (int(rate), int(input_channels)) in d.formats and input_format == paInt16:
            return True
        raise ValueError("Invalid sample rate", -9997)

    def open(self, format, channels, rate, input, input_device_index, frames_per_buffer, stream_callback):
        d = self._devices[input_device_index]
        if not d.present:
            raise OSError(-9996, "Invalid input device (no default output device)")
        self.module.opened.append((d.name, rate, channels))
        return FakeStream(self.module, d, rate, channels, frames_per_buffer, stream_callback)

    def terminate(self) -> None:
        self.terminated = True


class FakePyAudioModule:
    """Pass as MicSource(config, pyaudio_module=...)."""

    paInt16 = paInt16
    paContinue = paContinue
    paInputOverflow = paInputOverflow

    def __init__(self, devices: Sequence[FakeDevice], block_sleep_s: float = 0.002, native_noise: bytes = b""):
        self.devices = list(devices)
        self.block_sleep_s = block_sleep_s
        self.native_noise = native_noise
        self.opened: List[Tuple[str, int, int]] = []
        self.environ_at_init: List[Dict[str, str]] = []

    def PyAudio(self) -> FakePortAudio:  # noqa: N802 - PyAudio's own name
        return FakePortAudio(self)
