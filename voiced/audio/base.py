"""The interface every audio source offers (voiced.audio.sources, voiced.audio.mic).

On its own so that the microphone module and the factory in voiced.audio.sources, which picks
the microphone, do not import each other.
"""
from __future__ import annotations

import threading
from typing import Iterator

import numpy as np

from voiced.audio import SAMPLE_RATE


class AudioSource:
    """Base class: stop/close handling, context manager, counters."""

    rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.overflows = 0
        self.dropped = 0
        self.reopens = 0
        self.samples = 0

    def chunks(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def stop(self) -> None:
        """Make `chunks()` return soon; safe from another thread or a signal handler."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self.stop()

    def stats(self) -> dict:
        return {"overflows": self.overflows, "dropped": self.dropped, "reopens": self.reopens,
                "seconds": round(self.samples / SAMPLE_RATE, 3)}

    def __enter__(self) -> "AudioSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
