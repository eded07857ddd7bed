"""The synthetic evaluation set: grammar commands and out-of-grammar sentences spoken by espeak-ng.

Each split (`tune`, `heldout`) has its own voices and its own sentences, so the held-out
figures say how tuning carries over to voices and wordings it never saw. Every clip is
speech trimmed of espeak's own silence, set to a random level, padded with silence, then
left clean or mixed with white or pink noise at 20, 10 or 5 dB SNR. The SNR is measured on
the speech only (the padded silence does not dilute it). Everything is drawn from numpy
Generators seeded from (seed, split, clip), so a seed always gives the same files.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from voiced.audio import SAMPLE_RATE
from voiced.errors import VoicedError
from voiced.evaluation.labels import Label, save_labels
from voiced.paths import CONFIG_DIR

log = logging.getLogger(__name__)

# espeak-ng voice+variant per split, two female variants in each; the splits share no base voice.
# Chosen from 22 candidates by base-en WER on seven clean commands (0.19-0.40 here; variants such as
# en-us+f4 or en-gb-scotland+f3 made base-en return empty transcripts too often to be useful).
SPLIT_VOICES = {
    "tune": ("en-us+f2", "en-gb-x-rp+f2", "en-gb-x-gbcwmd", "en-029+m3"),
    "heldout": ("en-us-nyc", "en+f4", "en-gb-x-gbclan+f1", "en-gb-scotland+m4"),
}
SPEEDS_WPM = (130, 150, 170, 190)
CONDITIONS = ("clean", 20.0, 10.0, 5.0)  # SNR in dB
REJECT_SHARE = 0.2  # out-of-grammar share of each split
DEFAULT_REJECT_FILE = CONFIG_DIR / "eval" / "out_of_grammar.txt"


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip again."""

    name: str
    text: str
    voice: str
    speed: int
    level: float  # peak amplitude of the speech (0-1)
    lead_s: float  # silence before the speech
    tail_s: float  # silence after it
    snr_db: Optional[float]  # None: clean
    color: str  # "white" or "pink" (ignored when clean)
    noise_seed: int


class SynthError(VoicedError):
    """espeak-ng is missing or failed."""


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    """Speak `text` with espeak-ng; float32 mono at 16 kHz."""
    from voiced.audio.resample import resample
    from voiced.audio.wav import read_wav, to_mono

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthError("espeak-ng is not installed (apt install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        run = subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), text],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0 or not out.exists():
            raise SynthError(f"espeak-ng -v {voice} failed: {run.stderr.strip() or run.returncode}")
        frames, rate = read_wav(out)
    audio = to_mono(frames).astype(np.float32)
    return resample(audio, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else audio


def trim(audio: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """Cut leading and trailing samples below `floor` x peak (espeak pads its output)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    loud = np.flatnonzero(np.abs(audio) > floor * peak) if peak > 0 else np.zeros(0, dtype=int)
    if not len(loud):
        raise SynthError("espeak-ng produced silence")
    return audio[loud[0]:loud[-1] + 1]


def render_speech(spec: ClipSpec) -> Tuple[np.ndarray, slice]:
    """The clean padded clip and where the speech is in it."""
    speech = trim(espeak(spec.text, spec.voice, spec.speed))
    speech = speech * (spec.level / float(np.max(np.abs(speech))))
    lead, tail = int(spec.lead_s * SAMPLE_RATE), int(spec.tail_s * SAMPLE_RATE)
    clip = np.concatenate([np.zeros(lead, np.float32), speech.astype(np.float32), np.zeros(tail, np.float32)])
    return clip, slice(lead, lead + len(speech))


def make_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power white noise, or pink noise (power falling 3 dB per octave) shaped in the spectrum."""
    white = rng.standard_normal(n)
    if color == "pink":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0  # no infinite DC gain
        white = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif color != "white":
        raise ValueError(f"unknown noise colour {color!r}")
    return white / np.sqrt(np.mean(white ** 2))


def add_noise(clip: np.ndarray, speech: slice, snr_db: float, color: str, rng: np.random.Generator) -> np.ndarray:
    """Mix noise into the whole clip at `snr_db`: speech power over noise power, both measured
    over the speech part (pink noise wanders, so its power there is not its average). The mix
    is scaled down as a whole if it would clip, which keeps the SNR."""
    power = float(np.mean(clip[speech].astype(np.float64) ** 2))
    noise = make_noise(len(clip), color, rng)
    noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0) / float(np.mean(noise[speech] ** 2)))
    mixed = clip.astype(np.float64) + noise
    peak = float(np.max(np.abs(mixed)))
    if peak > 0.99:
        mixed *= 0.99 / peak
    return mixed.astype(np.float32)


def render(spec: ClipSpec) -> np.ndarray:
    clip, speech = render_speech(spec)
    if spec.snr_db is None:
        return clip
    return add_noise(clip, speech, spec.snr_db, spec.color, np.random.default_rng(spec.noise_seed))


def read_reject_sentences(path: Path = DEFAULT_REJECT_FILE) -> List[str]:
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def plan_split(split: str, index: int, grammar: Any, seed: int, n: int, rejects: Sequence[str],
               taken: Set[str]) -> List[Tuple[ClipSpec, Label]]:
    """Specs and labels for one split. `taken` holds texts used by the other split (kept disjoint)."""
    from voiced.evaluation.scoring import slot_errors
    from voiced.evaluation.sentences import CommandSampler
    from voiced.grammar.matcher import Matcher

    rng = np.random.default_rng([seed, index])
    sampler, matcher = CommandSampler(grammar), Matcher(grammar)
    n_reject = min(len(rejects), int(round(n * REJECT_SHARE)))
    texts: List[Tuple[str, Label]] = []
    skipped = 0
    for attempt in range(50 * n):
        if len(texts) >= n - n_reject:
            break
        # Round-robin over intents so each split covers the whole grammar.
        intent = sampler.intents[attempt % len(sampler.intents)]
        text, intent, slots = sampler.sample(rng, intent)
        if text in taken:
            continue
        # Keep only sentences whose label the matcher confirms on the text itself: a sentence two
        # intents can produce would otherwise carry a label no recogniser could be sure of.
        got = matcher.match(text)
        if not got.recognized or got.intent != intent or slot_errors(slots, {k: s.value for k, s in got.slots.items()}):
            skipped += 1
            continue
        taken.add(text)
        texts.append((text, Label(intent, slots, text)))
    if skipped:
        log.info("%s: %d sampled sentences skipped (the matcher read them differently)", split, skipped)
    texts += [(t, Label(None, {}, t)) for t in rejects[:n_reject]]
    order = rng.permutation(len(texts))
    voices = SPLIT_VOICES[split]
    out = []
    for k, j in enumerate(order.tolist()):
        text, label = texts[j]
        clip_rng = np.random.default_rng([seed, index, k])
        condition = CONDITIONS[k % len(CONDITIONS)]
        voice = voices[int(clip_rng.integers(len(voices)))]
        snr = None if condition == "clean" else float(condition)
        color = ("white", "pink")[int(clip_rng.integers(2))]
        noise = "clean" if snr is None else f"{color} {snr:.0f} dB"
        spec = ClipSpec(
            name=f"{split}_{k:04d}.wav", text=text, voice=voice,
            speed=int(SPEEDS_WPM[int(clip_rng.integers(len(SPEEDS_WPM)))]),
            level=round(float(clip_rng.uniform(0.15, 0.7)), 3),
            lead_s=round(float(clip_rng.uniform(0.3, 0.9)), 3), tail_s=round(float(clip_rng.uniform(0.9, 1.4)), 3),
            snr_db=snr, color=color, noise_seed=int(clip_rng.integers(2 ** 31)))
        tags = {"voice": voice, "noise": "clean" if snr is None else f"{snr:.0f} dB", "noise_kind": noise}
        out.append((spec, Label(label.intent, label.slots, label.transcript, tags)))
    return out


def build_eval_set(out_dir: Path, grammar: Any, seed: int = 1, per_split: int = 150,
                   reject_file: Path = DEFAULT_REJECT_FILE,
                   progress: Optional[Callable[[int, int, str], None]] = None) -> Dict[str, Tuple[int, int]]:
    """Write OUT/tune and OUT/heldout (WAVs, labels.json, clips.json with each clip's spec).
    Returns {split: (commands, out-of-grammar clips)}."""
    from voiced.audio.wav import write_wav

    rejects = read_reject_sentences(reject_file)
    # Out-of-grammar sentences: alternate lines to each split, so the splits share none.
    reject_parts = {"tune": rejects[0::2], "heldout": rejects[1::2]}
    taken: Set[str] = set()
    plans = {split: plan_split(split, i, grammar, seed, per_split, reject_parts[split], taken)
             for i, split in enumerate(SPLIT_VOICES)}
    total, done = sum(len(p) for p in plans.values()), 0
    counts = {}
    for split, plan in plans.items():
        folder = Path(out_dir) / split
        if folder.exists():
            for old in folder.glob("*.wav"):
                old.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        labels: Dict[str, Label] = {}
        for spec, label in plan:
            if progress is not None:
                progress(done, total, spec.name)
            write_wav(folder / spec.name, render(spec))
            labels[spec.name] = label
            done += 1
        save_labels(labels, folder / "labels.json")
        (folder / "clips.json").write_text(json.dumps([asdict(s) for s, _ in plan], indent=1) + "\n",
                                           encoding="utf-8")
        counts[split] = (sum(l.in_grammar for _, l in plan), sum(not l.in_grammar for _, l in plan))
    if progress is not None:
        progress(total, total, "")
    return counts


def load_specs(folder: Path) -> List[ClipSpec]:
    """The specs `build_eval_set` wrote for one split (to re-render or check a clip)."""
    data = json.loads((Path(folder) / "clips.json").read_text(encoding="utf-8"))
    return [ClipSpec(**d) for d in data]
