"""Synthetic negatives: hours of everyday talk spoken by espeak-ng, to count false accepts per hour.

30 minutes of real read speech can only show whether false accepts are rare (one is already
2 per hour); a rate needs hours. The text comes from `config/eval/chatter.yaml`, everyday talk
written for this project (topics, near misses that mention lights, timers and doors), walked
by the command sampler; a sentence the command grammar itself accepts is dropped, so anything
published on these files is a recognition error. Each file is about `minutes` long:
paragraphs of one to four sentences, each in a random voice, speed and level, separated by
pauses of 0.3-6 s, then left clean or mixed with white or pink noise at 30, 20 or 10 dB SNR.

The `tune` and `heldout` splits share no voice and no sentence template (topics are dealt
alternately), so thresholds calibrated on one can be checked on the other. Every draw comes
from numpy Generators seeded with (seed, split, file): the same seed gives the same files.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.paths import CONFIG_DIR

log = logging.getLogger(__name__)

CHATTER = CONFIG_DIR / "eval" / "chatter.yaml"
# Base voices differ between the splits; each base is used plain and with espeak variants.
NEGATIVE_VOICES = {
    "tune": ("en-us", "en-us+m3", "en-us+f2", "en-gb-x-rp", "en-gb-x-rp+f2", "en-gb-x-gbcwmd",
             "en-gb-x-gbcwmd+m2", "en-029", "en-029+f1"),
    "heldout": ("en-us-nyc", "en-us-nyc+f3", "en", "en+f4", "en+m4", "en-gb-x-gbclan",
                "en-gb-x-gbclan+f1", "en-gb-scotland", "en-gb-scotland+m4"),
}
SPEEDS_WPM = (120, 140, 160, 180, 200)
CONDITIONS: Tuple[Optional[float], ...] = (None, 30.0, 20.0, 10.0)  # per file, in turn; None is clean


@dataclass(frozen=True)
class Paragraph:
    text: str
    voice: str
    speed: int
    level: float  # peak amplitude (0-1)
    start_s: float
    end_s: float


@dataclass
class NegativeFile:
    """One rendered file and everything needed to trace a false accept back to its text."""

    name: str
    split: str
    snr_db: Optional[float]
    color: str
    paragraphs: List[Paragraph] = field(default_factory=list)
    duration_s: float = 0.0


class ChatterText:
    """Sentences of one split's topics that the command grammar does not accept as text."""

    def __init__(self, chatter: Any, commands_matcher: Any, split: str):
        from voiced.evaluation.sentences import CommandSampler

        self.sampler = CommandSampler(chatter)
        topics = self.sampler.intents  # sorted
        index = list(NEGATIVE_VOICES).index(split)
        self.topics = topics[index::len(NEGATIVE_VOICES)]
        self.matcher = commands_matcher
        self._verdicts: Dict[str, bool] = {}
        self.dropped = 0

    def sentence(self, rng: np.random.Generator) -> str:
        for _ in range(100):
            topic = self.topics[int(rng.integers(len(self.topics)))]
            text, _, _ = self.sampler.sample(rng, topic)
            if text not in self._verdicts:
                self._verdicts[text] = not self.matcher.match(text).recognized
                self.dropped += not self._verdicts[text]
            if self._verdicts[text]:
                return text[0].upper() + text[1:]
        raise RuntimeError("the command grammar accepts almost every chatter sentence")


def render_file(name: str, split: str, index: int, text: ChatterText, seed: int, minutes: float) -> \
        Tuple[np.ndarray, NegativeFile]:
    """About `minutes` of talk with pauses, in this file's noise condition."""
    from voiced.evaluation.stream import speech_power
    from voiced.evaluation.synth import espeak, make_noise, trim

    rng = np.random.default_rng([seed, list(NEGATIVE_VOICES).index(split), index])
    snr = CONDITIONS[index % len(CONDITIONS)]
    info = NegativeFile(name, split, snr, ("white", "pink")[int(rng.integers(2))])
    voices = NEGATIVE_VOICES[split]
    pieces: List[np.ndarray] = [np.zeros(int(rng.uniform(0.5, 3.0) * SAMPLE_RATE), np.float32)]
    pos, target, speech = len(pieces[0]), int(minutes * 60 * SAMPLE_RATE), []
    while pos < target:
        words = ". ".join(text.sentence(rng) for _ in range(int(rng.integers(1, 5)))) + "."
        voice, speed = voices[int(rng.integers(len(voices)))], int(SPEEDS_WPM[int(rng.integers(len(SPEEDS_WPM)))])
        level = round(float(rng.uniform(0.1, 0.7)), 3)
        audio = trim(espeak(words, voice, speed))
        audio = (audio * (level / float(np.max(np.abs(audio))))).astype(np.float32)
        info.paragraphs.append(Paragraph(words, voice, speed, level, round(pos / SAMPLE_RATE, 3),
                                         round((pos + len(audio)) / SAMPLE_RATE, 3)))
        pause = np.zeros(int(rng.uniform(0.3, 6.0) * SAMPLE_RATE), np.float32)
        pieces += [audio, pause]
        speech.append(audio)
        pos += len(audio) + len(pause)
    out = np.concatenate(pieces)
    if snr is not None:
        noise = make_noise(len(out), info.color, rng)
        out = out + (noise * math.sqrt(speech_power(np.concatenate(speech)) / 10.0 ** (snr / 10.0))).astype(np.float32)
        peak = float(np.max(np.abs(out)))
        if peak > 0.99:
            out *= np.float32(0.99 / peak)
    info.duration_s = round(len(out) / SAMPLE_RATE, 3)
    return out.astype(np.float32), info


def build_negatives(out_dir: Path, commands_grammar: Any, hours: float, seed: int = 1,
                    splits: Sequence[str] = ("tune", "heldout"), minutes: float = 10.0,
                    chatter_path: Path = CHATTER,
                    progress: Optional[Callable[[int, int, str], None]] = None) -> Dict[str, Tuple[int, float]]:
    """Write OUT/<split>/neg_<split>_NNN.wav (about `hours` per split) and OUT/<split>/files.json.
    Returns {split: (files, hours)}."""
    from voiced.audio.wav import write_wav
    from voiced.grammar.loader import load_grammar
    from voiced.grammar.matcher import Matcher

    chatter, matcher = load_grammar([chatter_path]), Matcher(commands_grammar)
    per_split = max(1, int(math.ceil(hours * 60.0 / minutes)))
    total, done, counts = per_split * len(splits), 0, {}
    for split in splits:
        folder = Path(out_dir) / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("neg_*.wav"):
            old.unlink()
        text, infos = ChatterText(chatter, matcher, split), []
        for k in range(per_split):
            name = f"neg_{split}_{k:03d}.wav"
            if progress is not None:
                progress(done, total, name)
            audio, info = render_file(name, split, k, text, seed, minutes)
            write_wav(folder / name, audio)
            infos.append(info)
            done += 1
        (folder / "files.json").write_text(json.dumps([asdict(i) for i in infos], indent=1) + "\n", encoding="utf-8")
        if text.dropped:
            log.info("%s: %d sampled sentences dropped (the command grammar accepts them)", split, text.dropped)
        counts[split] = (per_split, sum(i.duration_s for i in infos) / 3600.0)
    if progress is not None:
        progress(total, total, "")
    return counts
