"""Silero VAD (v5/v6, 16 kHz) run directly by onnxruntime: speech probability per 32 ms chunk.

The model takes 512 new samples preceded by the last 64 samples of the previous chunk, plus
a recurrent state [2, 1, 128] that it returns updated. Both must be carried between chunks:
without the 64-sample context the model silently returns near-zero probabilities.

The bundled model is upstream's silero_vad_16k_op15.onnx (silero-vad 6.2.3 on PyPI, MIT): on
our speech corpus it gives bit-identical probabilities to silero_vad.onnx at the same speed,
but it is 1.3 MB instead of 2.3 MB (no 8 kHz branch), loads about 3x faster and needs only
ONNX opset 15, which older onnxruntime builds on Pi distributions accept.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from itertools import islice
from typing import TYPE_CHECKING, Deque, Optional, Union

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.config import VAD_PHASES
from voiced.errors import ModelError

if TYPE_CHECKING:
    from voiced.config import Config

CHUNK = 512  # samples per VAD step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk the model sees in front of each chunk
STATE_SHAPE = (2, 1, 128)
WAKE = 0.1  # the readings between grid points run while the grid reading is at least this ...
SLEEP_CHUNKS = 32  # ... or was within this many chunks (1 s)
WARM_CHUNKS = 16  # a restarted grid reading first hears the last 0.5 s, so an onset never meets a cold state
WAKE_WARM_CHUNKS = 48  # a woken reading between grid points first hears the last 1.5 s: its onset comes next
BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "data" / "silero_vad_16k_op15.onnx"


class SileroVad:
    """Streaming speech probability for one audio stream; call `reset()` between streams."""

    def __init__(self, model_path: Optional[Union[str, Path]] = None, threads: int = 1, phases: int = 1):
        from voiced.asr.sessions import SessionSettings, make_session_options

        path = Path(model_path) if model_path else BUNDLED_MODEL
        if not path.is_file():
            raise ModelError(f"{path}: Silero VAD model not found (leave vad.model empty for the bundled one)")
        if phases not in VAD_PHASES:
            raise ValueError(f"VAD phases must be one of {', '.join(map(str, VAD_PHASES))}, got {phases}")
        import onnxruntime as ort

        opts = make_session_options(SessionSettings(intra_op_threads=threads, inter_op_threads=1))
        try:
            session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"{path}: cannot load Silero VAD model: {exc}") from None
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise ModelError(f"{path}: not a Silero VAD v5/v6 model (inputs {sorted(names)}, "
                             "expected input, state, sr)")
        self.model_path = path
        self.phases = phases
        self._grid = _Reader(session)
        # the last chunks heard, oldest first: what a restarted or woken reading warms up on
        self._recent: Deque[np.ndarray] = deque(maxlen=WAKE_WARM_CHUNKS if phases > 1 else WARM_CHUNKS)
        # on the same session, each with a context and state of its own
        self._between = (_SubSteps([_Reader(session) for _ in range(phases - 1)], phases, self._recent)
                         if phases > 1 else None)

    @classmethod
    def for_config(cls, config: "Config", threads: int = 1) -> "SileroVad":
        """The VAD the `vad` section asks for, its model path resolved against the config file."""
        model = config.resolve(config.vad.model)
        return cls(model, threads=threads, phases=config.vad.phases)

    @property
    def steps(self) -> int:
        """Model runs so far, every reading: what listening costs."""
        return self._grid.steps + (self._between.steps if self._between else 0)

    def reset(self) -> None:
        """Forget context, recurrent state and the chunks heard (start of a new stream)."""
        self._grid.reset()
        self._recent.clear()
        if self._between:
            self._between.reset()

    def restart(self) -> None:
        """Undo the model's drift over long quiet: zero the grid reading's recurrent state and warm
        it up again on the last WARM_CHUNKS heard, keeping its 64-sample context, so the next chunk
        still sees the audio just before it. The readings between grid points go to sleep and warm
        up on the audio itself when they wake. A replay through `probability` would also feed them
        the replayed chunks as if they came again, and they would wake on stuttered audio."""
        self._grid.forget_state()
        for chunk in islice(self._recent, max(len(self._recent) - WARM_CHUNKS, 0), None):
            self._grid.read(chunk)
        if self._between:
            self._between.sleep()

    def probability(self, chunk: np.ndarray) -> float:
        """Speech probability (0-1) of the next 512 samples of 16 kHz float audio.

        With more phases it is the largest of the chunk's reading and the readings of the 512
        samples ending 1/phases, 2/phases ... of the way through it. Silero's reading of a short
        word swings with where the word falls on the 32 ms grid ("pause" peaks anywhere from 0.24
        to 0.93 as it moves by 64 samples), so one grid alone drops short commands as blips."""
        if chunk.shape != (CHUNK,):
            raise ValueError(f"VAD chunk must be {CHUNK} samples at 16 kHz, got shape {chunk.shape}")
        p = self._grid.read(chunk)
        if self._between:
            p = max(p, self._between.read(chunk, p))
        self._recent.append(chunk.copy())  # after the readings between: they warm up on what came before
        return p

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities of consecutive whole chunks of `audio` (a trailing partial chunk is dropped)."""
        n = len(audio) // CHUNK
        out = np.empty(n, dtype=np.float32)
        for i in range(n):
            out[i] = self.probability(audio[i * CHUNK:(i + 1) * CHUNK])
        return out


class _SubSteps:
    """The readings between grid points (phases - 1 of them, evenly spaced), run only around sound.

    In quiet (the grid reading below WAKE for SLEEP_CHUNKS) they sleep, which keeps listening at
    one model run per chunk for most of the day. They wake on the first chunk the grid reading
    reaches WAKE, from a zeroed state fed the last WAKE_WARM_CHUNKS of audio, so they are warm
    for the onset they woke for: with half a second, a "pause" after quiet read 0.45 where a
    reading that never slept read 0.76."""

    def __init__(self, readers: "list[_Reader]", phases: int, recent: Deque[np.ndarray]) -> None:
        self.readers = readers
        self.shifts = [CHUNK * j // phases for j in range(1, phases)]  # where each window ends in a chunk
        self._recent = recent  # the owner's record of the chunks before this one: what to warm up on
        self._silence = np.zeros(CHUNK, dtype=np.float32)  # before the first chunk
        self._awake = 0  # chunks left before sleeping

    @property
    def steps(self) -> int:
        return sum(r.steps for r in self.readers)

    def reset(self) -> None:
        for reader in self.readers:
            reader.reset()
        self._awake = 0

    def sleep(self) -> None:
        """Stop reading until the grid reading next reaches WAKE (then warm up afresh)."""
        self._awake = 0

    def read(self, chunk: np.ndarray, grid: float) -> float:
        """This chunk's largest reading between grid points (0 while asleep), given the grid's."""
        q = 0.0
        if self._awake or grid >= WAKE:
            if not self._awake:
                self._wake()
            last = self._recent[-1] if self._recent else self._silence
            q = max(r.read(last[s:], chunk[:s]) for r, s in zip(self.readers, self.shifts))
            self._awake = SLEEP_CHUNKS if max(grid, q) >= WAKE else self._awake - 1
        return q

    def _wake(self) -> None:
        for reader, shift in zip(self.readers, self.shifts):
            reader.reset()
            previous = self._silence
            for chunk in self._recent:
                reader.read(previous[shift:], chunk[:shift])
                previous = chunk


class _Reader:
    """One stream of readings on a shared session: the 64-sample context and the recurrent state.

    This runs about 31 times a second all day, so every buffer is allocated and bound once: IO
    binding skips the per-call conversion and allocation of session.run (~20 % less time)."""

    def __init__(self, session) -> None:
        self._session = session
        self._input = np.zeros((1, CONTEXT + CHUNK), dtype=np.float32)  # [context | chunk]
        self._prob = np.zeros((1, 1), dtype=np.float32)
        self._states = [np.zeros(STATE_SHAPE, dtype=np.float32) for _ in range(2)]  # read one, write the other
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._bindings = [self._bind(k) for k in range(2)]
        self._turn = 0
        self.steps = 0

    def _bind(self, k: int):
        b = self._session.io_binding()
        for name, arr in (("input", self._input), ("sr", self._sr), ("state", self._states[k])):
            b.bind_input(name, "cpu", 0, arr.dtype, list(arr.shape), arr.ctypes.data)
        b.bind_output("output", "cpu", 0, np.float32, list(self._prob.shape), self._prob.ctypes.data)
        out_state = self._states[1 - k]
        b.bind_output("stateN", "cpu", 0, np.float32, list(out_state.shape), out_state.ctypes.data)
        return b

    def reset(self) -> None:
        self._input[:] = 0.0
        self.forget_state()
        self._turn = 0

    def forget_state(self) -> None:
        for state in self._states:
            state[:] = 0.0

    def read(self, head: np.ndarray, tail: Optional[np.ndarray] = None) -> float:
        """The probability of the next 512 samples, given as one array or as two halves."""
        buf = self._input
        if tail is None:
            buf[0, CONTEXT:] = head
        else:
            buf[0, CONTEXT:CONTEXT + len(head)] = head
            buf[0, CONTEXT + len(head):] = tail
        self._session.run_with_iobinding(self._bindings[self._turn])
        self._turn ^= 1
        self.steps += 1
        buf[0, :CONTEXT] = buf[0, CHUNK:]  # the last 64 samples are the next reading's context
        return float(self._prob[0, 0])
