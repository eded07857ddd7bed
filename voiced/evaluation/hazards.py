"""Non-speech hazards: hours of silence, steady noise, clicks and music, to count false accepts.

With no wake word the daemon hears these all day, and a recogniser asked to transcribe them
still says something (Moonshine says "You" to near-silence). Whatever it says, nothing may be
published. This renders, with numpy alone, files of about `minutes` each for every kind:

  silence  digital zero, dither and a very low room floor (-96 to -60 dBFS), mains hum at
           50 or 60 Hz with harmonics
  noise    steady white, pink and brown noise from -50 dBFS up to a loud -10 dBFS, and a fan:
           band-limited noise with a blade tone and a slow swell
  clicks   single impulses, typing (key press and release click trains) and knocking
           (decaying low resonances) at random intervals and levels over a quiet floor
  music    melodies of harmonic tones with ADSR envelopes and vibrato, chords, drums (noise
           bursts, hats and low sine kicks) at tempi of 70-160 bpm, and the hardest case: a
           voice-like buzz through vowel formants, singing a melody alone or with the band

A file is a sequence of segments of 15-120 s, each of one variant at one level, the variants
dealt in a shuffled cycle so every file has each of them once it is long enough. Levels are
RMS dBFS (peak dBFS for clicks). Every draw comes from a numpy Generator seeded with
(seed, kind, file), so a seed always gives the same files; files.json lists every segment.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from voiced.audio import SAMPLE_RATE

SR = SAMPLE_RATE
KINDS = ("silence", "noise", "clicks", "music")
VARIANTS: Dict[str, Tuple[str, ...]] = {
    "silence": ("zero", "dither", "room", "hum"),
    "noise": ("white", "pink", "brown", "fan"),
    "clicks": ("impulses", "typing", "knocking"),
    "music": ("band", "melody", "chords", "drums", "sung", "sung_band"),
}
SEGMENT_S = {"silence": (20.0, 120.0), "noise": (20.0, 120.0), "clicks": (20.0, 90.0), "music": (15.0, 90.0)}
NOISE_LEVELS_DBFS = (-50.0, -40.0, -30.0, -20.0, -10.0)  # steady noise, RMS; -10 is loud
# Vowel formants (Hz, Peterson & Barney's adult male averages) for the sung buzz.
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
          "e": (530, 1840, 2480), "o": (570, 840, 2410), "er": (490, 1350, 1690)}
PENTATONIC = (0, 2, 4, 7, 9)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass
class Segment:
    variant: str
    start_s: float
    end_s: float
    rms_dbfs: Optional[float]  # None for digital zero
    peak_dbfs: Optional[float]
    detail: Dict[str, Any] = field(default_factory=dict)


@dataclass
class HazardFile:
    name: str
    kind: str
    duration_s: float = 0.0
    segments: List[Segment] = field(default_factory=list)


def dbfs(x: np.ndarray, peak: bool = False) -> Optional[float]:
    """RMS (or peak) level in dB relative to full scale; None for digital zero."""
    x = x.astype(np.float64)
    v = float(np.max(np.abs(x))) if peak else math.sqrt(float(np.mean(x ** 2))) if len(x) else 0.0
    return round(20.0 * math.log10(v), 2) if v > 0 else None


def _gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def _to_rms(x: np.ndarray, db: float) -> np.ndarray:
    rms = math.sqrt(float(np.mean(x.astype(np.float64) ** 2)))
    return (x * (_gain(db) / rms)).astype(np.float32) if rms > 0 else x.astype(np.float32)


def _shaped(n: int, rng: np.random.Generator, shape: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """White noise shaped in the spectrum by amplitude `shape(frequency in Hz)`, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= shape(np.fft.rfftfreq(n, 1.0 / SR))
    out = np.fft.irfft(spectrum, n)
    return (out / math.sqrt(float(np.mean(out ** 2)))).astype(np.float32)


def coloured(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white, pink (-3 dB/octave) or brown (-6 dB/octave) noise, flat below 20 Hz."""
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
    return _shaped(n, rng, lambda f: np.maximum(f, 20.0) ** -exponent)


def _floor(n: int, rng: np.random.Generator, db: float) -> np.ndarray:
    return coloured(n, "pink", rng) * np.float32(_gain(db))


# --- silence and steady noise ------------------------------------------------------------

def _silence(variant: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, Any]]:
    if variant == "zero":
        return np.zeros(n, np.float32), {}
    if variant == "dither":  # +-1 LSB triangular dither, as a 16-bit converter's idle output
        lsb = 1.0 / 32768.0
        return ((rng.random(n) - rng.random(n)) * lsb).astype(np.float32), {"lsb": 1}
    if variant == "room":
        db = float(rng.uniform(-80.0, -60.0))
        return _floor(n, rng, db), {"dbfs": round(db, 1)}
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / SR
    phase = rng.uniform(0, 2 * np.pi, 4)
    amps = (1.0, float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.0, 0.2)))
    hum = sum(a * np.sin(2 * np.pi * mains * (k + 1) * t + p) for k, (a, p) in enumerate(zip(amps, phase)))
    db = float(rng.uniform(-60.0, -35.0))
    return _to_rms(np.asarray(hum), db) + _floor(n, rng, db - 25.0), {"mains_hz": mains, "dbfs": round(db, 1)}


def _noise(variant: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, Any]]:
    db = float(rng.choice(NOISE_LEVELS_DBFS)) + float(rng.uniform(-3.0, 3.0))
    if variant != "fan":
        return _to_rms(coloured(n, variant, rng), db), {"dbfs": round(db, 1)}
    low, high = float(rng.uniform(60.0, 200.0)), float(rng.uniform(800.0, 3000.0))
    band = _shaped(n, rng, lambda f: 1.0 / (1.0 + (low / np.maximum(f, 1.0)) ** 4) / (1.0 + (f / high) ** 4))
    blade = float(rng.uniform(25.0, 90.0))  # blade-pass frequency
    t = np.arange(n) / SR
    tone = sum(np.sin(2 * np.pi * blade * k * t) / k for k in (1, 2, 3))
    swell = 1.0 + 0.15 * np.sin(2 * np.pi * float(rng.uniform(0.05, 0.3)) * t)
    fan = (band + 0.3 * np.asarray(tone)) * swell
    return _to_rms(fan, db), {"dbfs": round(db, 1), "band_hz": [round(low), round(high)], "blade_hz": round(blade, 1)}


# --- clicks ------------------------------------------------------------------------------

def _add(out: np.ndarray, at: int, x: np.ndarray) -> None:
    if 0 <= at < len(out):
        end = min(len(out), at + len(x))
        out[at:end] += x[:end - at]


def _click(rng: np.random.Generator) -> np.ndarray:
    """A key's click: 2-8 ms of decaying high-passed noise with a ring at 2-5 kHz."""
    n = int(rng.uniform(0.002, 0.008) * SR)
    t = np.arange(n) / SR
    decay = np.exp(-t / rng.uniform(0.0008, 0.003))
    burst = np.diff(rng.standard_normal(n + 1)) + np.sin(2 * np.pi * rng.uniform(2000, 5000) * t)
    x = burst * decay
    return (x / np.max(np.abs(x))).astype(np.float32)


def _knock(rng: np.random.Generator) -> np.ndarray:
    """A knock on wood: low resonances decaying over 15-60 ms after a short noise transient."""
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * rng.uniform(lo, hi) * t) * np.exp(-t / rng.uniform(0.015, 0.06))
            for lo, hi in ((80, 250), (250, 600), (600, 1200)))
    x = np.asarray(x) + rng.standard_normal(n) * np.exp(-t / 0.002)
    return (x / np.max(np.abs(x))).astype(np.float32)


def _clicks(variant: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, Any]]:
    floor_db = float(rng.uniform(-80.0, -60.0))
    out = _floor(n, rng, floor_db)
    pos, events = int(rng.uniform(0.1, 2.0) * SR), 0
    while pos < n:
        peak = _gain(float(rng.uniform(-40.0, -1.0)))
        if variant == "impulses":  # a pop: one to three samples
            width = int(rng.integers(1, 4))
            _add(out, pos, (rng.choice([-1.0, 1.0]) * peak * np.ones(width)).astype(np.float32))
            pos += int(rng.uniform(0.05, 3.0) * SR)
        elif variant == "typing":  # a burst of keystrokes, each a press and a release
            for _ in range(int(rng.integers(3, 30))):
                level = peak * float(rng.uniform(0.5, 1.0))
                _add(out, pos, _click(rng) * np.float32(level))
                _add(out, pos + int(rng.uniform(0.05, 0.12) * SR), _click(rng) * np.float32(0.6 * level))
                pos += int(rng.uniform(0.08, 0.35) * SR)
            pos += int(rng.uniform(0.5, 4.0) * SR)
        else:  # knocking: 2-5 knocks in a group
            for _ in range(int(rng.integers(2, 6))):
                _add(out, pos, _knock(rng) * np.float32(peak * rng.uniform(0.7, 1.0)))
                pos += int(rng.uniform(0.12, 0.3) * SR)
            pos += int(rng.uniform(2.0, 10.0) * SR)
        events += 1
    return out, {"floor_dbfs": round(floor_db, 1), "events": events}


# --- music -------------------------------------------------------------------------------

def _adsr(n: int, rng: np.random.Generator, attack: Tuple[float, float] = (0.005, 0.08)) -> np.ndarray:
    a = max(1, int(rng.uniform(*attack) * SR))
    d = max(1, int(rng.uniform(0.05, 0.2) * SR))
    r = max(1, int(rng.uniform(0.05, 0.3) * SR))
    s = float(rng.uniform(0.4, 0.8))
    env = np.full(n, s, np.float32)
    a, d = min(a, n), min(d, max(0, n - a))
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    env[a:a + d] = np.linspace(1.0, s, d, endpoint=False)
    r = min(r, n)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def _tone(f0: float, n: int, amps: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
          vibrato: float = 0.0) -> np.ndarray:
    """Harmonics k*f0 below 7.5 kHz with amplitudes amps(k*f0), vibrato `vibrato` (fraction of
    f0) at 4.5-6.5 Hz fading in over the first 0.3 s."""
    t = np.arange(n) / SR
    f = np.full(n, f0)
    if vibrato:
        f *= 1.0 + vibrato * np.minimum(t / 0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
    phase = np.mod(2 * np.pi * np.cumsum(f) / SR + rng.uniform(0, 2 * np.pi), 2 * np.pi).astype(np.float32)
    ks = np.arange(1, max(2, int(7500.0 / f0)) + 1)
    weights = amps(ks * f0)
    out = np.zeros(n, np.float32)
    for k, w in zip(ks, weights):
        if w > 1e-3:
            out += np.float32(w) * np.sin(np.float32(k) * phase)
    return out


def _instrument(rng: np.random.Generator) -> Callable[[float], Callable[[np.ndarray], np.ndarray]]:
    """A timbre: 3-10 harmonics falling off as k^-rolloff."""
    count, rolloff = int(rng.integers(3, 11)), float(rng.uniform(1.0, 2.0))

    def timbre(f0: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda f: np.where(f / f0 <= count + 0.5, (f / f0) ** -rolloff, 0.0)
    return timbre


def _formants(vowel: str, scale: float) -> Callable[[np.ndarray], np.ndarray]:
    """Glottal buzz (-12 dB/octave) through three formant resonances of a vowel."""
    peaks = [(f * scale, bw) for f, bw in zip(VOWELS[vowel], (80.0, 100.0, 150.0))]

    def amps(f: np.ndarray) -> np.ndarray:
        envelope = sum(g / (1.0 + ((f - fc) / (bw / 2.0)) ** 2) for (fc, bw), g in zip(peaks, (1.0, 0.7, 0.35)))
        return np.asarray(envelope) * (f / f[0]) ** -1.0
    return amps


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _melody_notes(rng: np.random.Generator, n: int, beat: float, low: int, high: int,
                  scale: Sequence[int], root: int) -> List[Tuple[int, int, float]]:
    """(start sample, length, midi note): a random walk over the scale, 1/2 to 2 beats a note."""
    pitches = [p for p in range(low, high + 1) if (p - root) % 12 in scale]
    i, pos, notes = len(pitches) // 2, 0, []
    while pos < n:
        length = int(float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0])) * beat * SR)
        i = int(np.clip(i + int(rng.integers(-2, 3)), 0, len(pitches) - 1))
        if rng.random() > 0.1:  # a rest now and then
            notes.append((pos, min(length, n - pos), float(pitches[i])))
        pos += length
    return notes


def _music(variant: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, Any]]:
    bpm = float(rng.uniform(70.0, 160.0))
    beat = 60.0 / bpm
    root = int(rng.integers(48, 60))
    scale = PENTATONIC if rng.random() < 0.5 else MINOR
    parts = {"band": ("melody", "chords", "drums"), "sung_band": ("sung", "chords", "drums")}.get(variant, (variant,))
    out = np.zeros(n, np.float32)
    detail: Dict[str, Any] = {"bpm": round(bpm, 1), "root_midi": root, "parts": list(parts)}
    if "melody" in parts:
        timbre, vib = _instrument(rng), float(rng.uniform(0.0, 0.015))
        for at, length, note in _melody_notes(rng, n, beat, root + 12, root + 31, scale, root):
            f0 = _midi_hz(note)
            _add(out, at, _tone(f0, length, timbre(f0), rng, vib) * _adsr(length, rng))
    if "sung" in parts:
        scale_f = float(rng.uniform(1.0, 1.25))  # larger for a higher, smaller voice
        low = root if scale_f < 1.1 else root + 7
        vib = float(rng.uniform(0.01, 0.03))
        sung = []
        for at, length, note in _melody_notes(rng, n, beat, low, low + 17, scale, root):
            vowel = str(rng.choice(list(VOWELS)))
            sung.append(vowel)
            _add(out, at, _tone(_midi_hz(note), length, _formants(vowel, scale_f), rng, vib)
                 * _adsr(length, rng, (0.03, 0.12)))
        detail["vowels"] = "".join(v[0] for v in sung[:40])
    lead = math.sqrt(float(np.mean(out.astype(np.float64) ** 2)))
    backing = np.zeros(n, np.float32)
    if "chords" in parts:
        timbre, bar = _instrument(rng), int(4 * beat * SR)
        for at in range(0, n, bar):
            degree = int(rng.integers(0, len(scale)))
            for step in (0, 2, 4):  # a triad of scale steps
                s = degree + step
                note = root + 12 * (s // len(scale)) + scale[s % len(scale)]
                length = min(bar, n - at)
                f0 = _midi_hz(note)
                _add(backing, at, _tone(f0, length, timbre(f0), rng) * _adsr(length, rng, (0.05, 0.3)) / 3)
    if "drums" in parts:
        eighth = int(beat * SR / 2)
        kick_t = np.arange(int(0.3 * SR)) / SR
        kick = np.sin(2 * np.pi * np.cumsum(50.0 + 70.0 * np.exp(-kick_t / 0.04)) / SR) * np.exp(-kick_t / 0.12)
        for k, at in enumerate(range(0, n, eighth)):
            if k % 8 in (0, 4) or (k % 8 == 5 and rng.random() < 0.3):
                _add(backing, at, kick.astype(np.float32))
            if k % 8 in (2, 6):
                m = int(0.2 * SR)
                snare = rng.standard_normal(m) * np.exp(-np.arange(m) / SR / 0.06) * 0.5
                _add(backing, at, snare.astype(np.float32))
            hat = np.diff(rng.standard_normal(int(0.04 * SR) + 1)) * np.exp(-np.arange(int(0.04 * SR)) / SR / 0.01)
            _add(backing, at, (0.15 * hat).astype(np.float32))
    if lead > 0 and backing.any():  # the band 6-12 dB under the lead
        back = math.sqrt(float(np.mean(backing.astype(np.float64) ** 2)))
        out += backing * np.float32(lead / back * _gain(-float(rng.uniform(6.0, 12.0))))
    else:
        out += backing
    db = float(rng.uniform(-40.0, -12.0))
    out = _to_rms(out, db)
    peak = float(np.max(np.abs(out)))
    if peak > 0.99:
        out *= np.float32(0.99 / peak)
    detail["dbfs"] = round(db, 1)
    return out, detail


RENDERERS = {"silence": _silence, "noise": _noise, "clicks": _clicks, "music": _music}


def render_segment(kind: str, variant: str, seconds: float, rng: np.random.Generator) -> \
        Tuple[np.ndarray, Dict[str, Any]]:
    """`seconds` of one variant of one kind, float32 in [-1, 1], and what was drawn for it."""
    if variant not in VARIANTS[kind]:
        raise ValueError(f"{kind} has no variant {variant!r} (has {', '.join(VARIANTS[kind])})")
    audio, detail = RENDERERS[kind](variant, int(round(seconds * SR)), rng)  # int: numpy 1.x rounds to a float
    return np.clip(audio, -0.99, 0.99, out=audio), detail  # loud noise's peaks clip, as in a real converter


def render_file(kind: str, index: int, seed: int, minutes: float) -> Tuple[np.ndarray, HazardFile]:
    """Exactly `minutes` of one kind: segments of its variants, dealt in shuffled cycles."""
    rng = np.random.default_rng([seed, KINDS.index(kind), index])
    info = HazardFile(f"{kind}_{index:03d}.wav", kind)
    target = int(round(minutes * 60.0 * SR))
    pieces: List[np.ndarray] = []
    deck: List[str] = []
    pos = 0
    lo, hi = SEGMENT_S[kind]
    while pos < target:
        if not deck:
            deck = list(rng.permutation(list(VARIANTS[kind])))
        variant = str(deck.pop())
        length = min(target - pos, int(rng.uniform(lo, hi) * SR))
        audio, detail = render_segment(kind, variant, length / SR, rng)
        info.segments.append(Segment(variant, round(pos / SR, 3), round((pos + length) / SR, 3),
                                     dbfs(audio), dbfs(audio, peak=True), detail))
        pieces.append(audio)
        pos += length
        if kind == "music" and pos < target:  # a quiet pause between pieces
            gap = min(target - pos, int(rng.uniform(0.5, 3.0) * SR))
            pieces.append(_floor(gap, rng, -75.0))
            pos += gap
    info.duration_s = round(target / SR, 3)
    return np.concatenate(pieces).astype(np.float32), info


def build_hazards(out_dir: Path, hours: float, seed: int = 1, kinds: Sequence[str] = KINDS,
                  minutes: float = 10.0,
                  progress: Optional[Callable[[int, int, str], None]] = None) -> Dict[str, Tuple[int, float]]:
    """Write OUT/<kind>/<kind>_NNN.wav (about `hours` per kind) and OUT/<kind>/files.json.
    Returns {kind: (files, hours)}."""
    from voiced.audio.wav import write_wav

    per_kind = max(1, int(math.ceil(hours * 60.0 / minutes - 1e-9)))
    total, done, counts = per_kind * len(kinds), 0, {}
    for kind in kinds:
        folder = Path(out_dir) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{kind}_*.wav"):
            old.unlink()
        infos = []
        for k in range(per_kind):
            if progress is not None:
                progress(done, total, f"{kind}_{k:03d}.wav")
            audio, info = render_file(kind, k, seed, minutes)
            write_wav(folder / info.name, audio)
            infos.append(info)
            done += 1
        (folder / "files.json").write_text(json.dumps([asdict(i) for i in infos], indent=1) + "\n", encoding="utf-8")
        counts[kind] = (per_kind, sum(i.duration_s for i in infos) / 3600.0)
    if progress is not None:
        progress(total, total, "")
    return counts
