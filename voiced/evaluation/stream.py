"""One continuous stream built from labelled clips, as the always-listening daemon hears them.

Per-clip evaluation starts every file with a fresh VAD and endpointer; the daemon never does.
A stream places the clips one after another in seeded random order with random gaps between
them, lays background noise over the whole length (gaps included), and puts noise bursts and
other non-command audio (e.g. read sentences) into some of the gaps. What was placed where is
kept as `Segment`s with exact sample spans, so results can be matched back by time.

Everything random comes from one numpy Generator seeded with `StreamSettings.seed`: the same
clips and settings always give the same samples.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.evaluation.labels import Label

log = logging.getLogger(__name__)

CLIP = "clip"  # a labelled clip (a command, or speech labelled null that must be rejected)
NEGATIVE = "negative"  # non-command audio put into a gap (from --negatives)
BURST = "burst"  # a short loud noise put into a gap

FRAME = 512  # 32 ms, the VAD's chunk: the unit of the speech-level estimate
NOISE_BLOCK_S = 10.0  # generated noise is made in blocks of this length, cross-faded
NOISE_FADE_S = 0.05
NEGATIVE_MAX_S = 12.0  # longer negative files contribute an excerpt of 4 s to this


@dataclass(frozen=True)
class StreamSettings:
    """How a stream is laid out. Levels are dB relative to the commands' speech level."""

    gap_s: Tuple[float, float] = (2.0, 6.0)
    """quiet between two placed items, drawn uniformly from this range (seconds)"""
    snr_db: Optional[float] = 30.0
    """background noise over the whole stream at this SNR; None: no added noise"""
    noise_color: str = "pink"
    """generated background noise: "pink" or "white" (ignored when noise clips are given)"""
    burst_every: int = 5
    """every Nth gap holds a noise burst (0: none)"""
    burst_snr_db: Tuple[float, float] = (0.0, 10.0)
    """burst loudness, SNR range against the speech level (dB)"""
    negative_every: int = 7
    """every Nth gap holds a piece of non-command audio, when some is given (0: none)"""
    repeat: int = 1
    """each clip is placed this many times"""
    seed: int = 0


@dataclass(frozen=True)
class Segment:
    """One placed item: `start`/`end` are sample indices in the stream (end exclusive)."""

    name: str
    kind: str
    start: int
    end: int
    label: Optional[Label] = None

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE

    @property
    def is_command(self) -> bool:
        return self.kind == CLIP and self.label is not None and self.label.in_grammar


@dataclass
class Stream:
    """16 kHz float32 mono audio and what was placed in it, in time order."""

    audio: np.ndarray
    segments: List[Segment]
    settings: StreamSettings = field(default_factory=StreamSettings)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def commands(self) -> List[Segment]:
        return [s for s in self.segments if s.is_command]

    def describe(self) -> Dict[str, Any]:
        """JSON-ready layout: settings and every segment with its span in samples and seconds."""
        return {"settings": asdict(self.settings), "duration_s": round(self.duration_s, 3),
                "segments": [{"name": s.name, "kind": s.kind, "start": s.start, "end": s.end,
                              "start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
                              "label": s.label.to_dict() if s.label else None} for s in self.segments]}

    def save(self, wav_path: Path) -> Path:
        """Write the stream as a 16-bit WAV and its layout next to it (same name, .json)."""
        from voiced.audio.wav import write_wav

        write_wav(wav_path, self.audio)
        layout = Path(wav_path).with_suffix(".json")
        layout.write_text(json.dumps(self.describe(), indent=1) + "\n", encoding="utf-8")
        return layout


def speech_power(audio: np.ndarray) -> float:
    """Active speech level: mean power of the louder half of the 32 ms frames (the quiet
    lead-in and tail of a recording would otherwise dilute it)."""
    n = len(audio) // FRAME
    if n == 0:
        return float(np.mean(np.asarray(audio, np.float64) ** 2)) if len(audio) else 0.0
    frames = np.asarray(audio[:n * FRAME], np.float64).reshape(n, FRAME)
    power = np.sort(np.mean(frames ** 2, axis=1))
    return float(np.mean(power[n // 2:]))


def generated_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise of any length: FFT-shaped blocks joined by equal-power cross-fades
    (one FFT over hours of samples would need gigabytes)."""
    from voiced.evaluation.synth import make_noise

    block, fade = int(NOISE_BLOCK_S * SAMPLE_RATE), int(NOISE_FADE_S * SAMPLE_RATE)
    if n <= block:
        return make_noise(max(n, 2), color, rng)[:n].astype(np.float32)
    out = np.empty(n, np.float32)
    ramp = np.linspace(0.0, np.pi / 2, fade, dtype=np.float64)
    fade_in, fade_out = np.sin(ramp), np.cos(ramp)
    pos, prev_tail = 0, None
    while pos < n:
        piece = make_noise(block + fade, color, rng)
        if prev_tail is not None:
            piece[:fade] = piece[:fade] * fade_in + prev_tail * fade_out
        take = min(block, n - pos)
        out[pos:pos + take] = piece[:take]
        prev_tail = piece[block:block + fade]
        pos += take
    return out


def clip_noise(n: int, clips: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise made of the given recordings, taken in random order until `n` samples."""
    usable = [c for c in clips if len(c) and speech_power(c) > 0]
    if not usable:
        raise ValueError("the noise clips are empty or silent")
    parts, total = [], 0
    while total < n:
        clip = usable[int(rng.integers(len(usable)))]
        clip = clip / np.sqrt(np.mean(np.asarray(clip, np.float64) ** 2))
        parts.append(clip.astype(np.float32))
        total += len(clip)
    return np.concatenate(parts)[:n]


def burst(rng: np.random.Generator) -> np.ndarray:
    """A knock, clatter or door: 0.1-0.6 s of noise with a 5 ms attack and an exponential decay."""
    n = int(rng.uniform(0.1, 0.6) * SAMPLE_RATE)
    noise = generated_noise(n, ("white", "pink")[int(rng.integers(2))], rng)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-t / rng.uniform(0.04, 0.2))
    return (noise * envelope / np.sqrt(np.mean(envelope ** 2))).astype(np.float32)


def excerpt(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A negative as it is, or a random 4-12 s excerpt of a long file."""
    limit = int(NEGATIVE_MAX_S * SAMPLE_RATE)
    if len(audio) <= limit:
        return audio
    n = int(rng.uniform(4.0, NEGATIVE_MAX_S) * SAMPLE_RATE)
    start = int(rng.integers(len(audio) - n + 1))
    return audio[start:start + n]


def build_stream(clips: Sequence[Tuple[str, np.ndarray, Label]], settings: StreamSettings = StreamSettings(),
                 negatives: Sequence[Tuple[str, np.ndarray]] = (),
                 noise_clips: Sequence[np.ndarray] = ()) -> Stream:
    """Lay `clips` (name, 16 kHz audio, label), each `settings.repeat` times, into one stream.

    Order, gaps, bursts and excerpts are drawn from one Generator seeded with `settings.seed`.
    The noise level is set against the median speech level of the clips; clips keep their
    own recorded level. Segments never overlap: every item is followed by a gap.
    """
    if not clips:
        raise ValueError("no clips to place")
    lo, hi = settings.gap_s
    if not 0.0 <= lo <= hi:
        raise ValueError(f"gap range must satisfy 0 <= min <= max, got {lo}, {hi}")
    rng = np.random.default_rng(settings.seed)
    order = [clips[i] for i in rng.permutation(len(clips) * max(1, settings.repeat)) % len(clips)]
    reference = float(np.median([speech_power(audio) for _, audio, _ in clips])) or 1e-4

    pieces: List[np.ndarray] = []
    segments: List[Segment] = []
    pos = 0

    def place(name: str, kind: str, audio: np.ndarray, label: Optional[Label] = None) -> None:
        nonlocal pos
        pieces.append(np.asarray(audio, np.float32))
        segments.append(Segment(name, kind, pos, pos + len(audio), label))
        pos += len(audio)

    def gap() -> None:
        nonlocal pos
        n = int(round(rng.uniform(lo, hi) * SAMPLE_RATE))
        pieces.append(np.zeros(n, np.float32))
        pos += n

    gap()
    for k, (name, audio, label) in enumerate(order, start=1):
        place(name, CLIP, audio, label)
        gap()
        if settings.burst_every and k % settings.burst_every == 0:
            snr = rng.uniform(*settings.burst_snr_db)
            place(f"burst@{k}", BURST, burst(rng) * np.sqrt(reference / 10.0 ** (snr / 10.0)))
            gap()
        if negatives and settings.negative_every and k % settings.negative_every == 0:
            neg_name, neg_audio = negatives[int(rng.integers(len(negatives)))]
            place(neg_name, NEGATIVE, excerpt(neg_audio, rng))
            gap()
    audio = np.concatenate(pieces)
    if settings.snr_db is not None:
        noise = clip_noise(len(audio), noise_clips, rng) if noise_clips else \
            generated_noise(len(audio), settings.noise_color, rng)
        audio = audio + noise * np.float32(np.sqrt(reference / 10.0 ** (settings.snr_db / 10.0)))
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:  # scale the whole stream down rather than clip: keeps every SNR
        log.info("stream peak %.2f: scaled by %.3f", peak, 0.99 / peak)
        audio = audio * np.float32(0.99 / peak)
    return Stream(audio.astype(np.float32), segments, settings)
