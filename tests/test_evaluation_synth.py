"""The synthetic set: deterministic for a seed, disjoint splits, labels that fit the grammar, the stated SNR."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from voiced.audio.wav import load_audio
from voiced.evaluation.labels import load_labels, validate_labels
from voiced.evaluation.sentences import CommandSampler
from voiced.evaluation.synth import SPLIT_VOICES, build_eval_set, load_specs, make_noise, render_speech
from voiced.grammar.loader import load_grammar

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "commands.yaml"

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def grammar():
    return load_grammar([SHIPPED])


@pytest.fixture(scope="module")
def built(tmp_path_factory, grammar):
    root = tmp_path_factory.mktemp("evalset")
    build_eval_set(root / "a", grammar, seed=7, per_split=12)
    build_eval_set(root / "b", grammar, seed=7, per_split=12)
    build_eval_set(root / "c", grammar, seed=8, per_split=12)
    return root


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_set(built):
    a, b, c = (_files(built / x) for x in "abc")
    assert len([n for n in a if n.endswith(".wav")]) == 24
    assert a == b
    assert a["tune/labels.json"] != c["tune/labels.json"]


def test_splits_have_disjoint_voices_and_sentences_and_valid_labels(built, grammar):
    texts, voices = {}, {}
    for split in SPLIT_VOICES:
        folder = built / "a" / split
        labels = load_labels(folder / "labels.json")
        validate_labels(labels, grammar, folder / "labels.json")
        assert sorted(labels) == sorted(p.name for p in folder.glob("*.wav"))
        assert any(label.intent is None for label in labels.values())
        assert sum(label.intent is not None for label in labels.values()) >= 8
        texts[split] = {label.transcript for label in labels.values()}
        voices[split] = {label.tags["voice"] for label in labels.values()}
        assert {label.tags["noise"] for label in labels.values()} == {"clean", "20 dB", "10 dB", "5 dB"}
    assert not texts["tune"] & texts["heldout"]
    assert not voices["tune"] & voices["heldout"]


def test_noise_is_mixed_at_the_stated_snr_on_the_speech_part(built):
    folder = built / "a" / "heldout"
    checked = 0
    for spec in load_specs(folder):
        if spec.snr_db is None:
            continue
        clean, speech = render_speech(spec)
        noisy = load_audio(folder / spec.name).astype(np.float64)
        assert len(noisy) == len(clean)
        # A mix that would clip is scaled as a whole; undo that gain before separating the noise.
        gain = float(np.dot(noisy, clean) / np.dot(clean, clean))
        noise = noisy / gain - clean
        snr = 10 * np.log10(np.mean(clean[speech] ** 2) / np.mean(noise[speech] ** 2))
        assert snr == pytest.approx(spec.snr_db, abs=0.5), spec.name
        assert np.max(np.abs(noise[:speech.start])) > 0  # the noise runs through the padding too
        checked += 1
    assert checked >= 6


def test_clean_clip_is_padded_speech(built):
    spec = next(s for s in load_specs(built / "a" / "tune") if s.snr_db is None)
    clean, speech = render_speech(spec)
    wav = load_audio(built / "a" / "tune" / spec.name)
    assert np.max(np.abs(wav[:speech.start])) == 0 and np.max(np.abs(wav[speech.stop:])) == 0
    assert np.max(np.abs(wav[speech])) == pytest.approx(spec.level, abs=1e-3)
    assert speech.start == int(spec.lead_s * 16000)


def test_pink_noise_has_less_power_at_high_frequencies():
    noise = make_noise(1 << 16, "pink", np.random.default_rng(0))
    power = np.abs(np.fft.rfft(noise)) ** 2
    low, high = power[100:1000].mean(), power[10000:20000].mean()
    assert np.mean(noise ** 2) == pytest.approx(1.0)
    assert low / high > 8  # 1/f: ~15x between these bands
    white = np.abs(np.fft.rfft(make_noise(1 << 16, "white", np.random.default_rng(0)))) ** 2
    assert 0.7 < white[100:1000].mean() / white[10000:20000].mean() < 1.4


def test_sampled_commands_carry_canonical_values(grammar):
    sampler = CommandSampler(grammar)
    rng = np.random.default_rng(3)
    seen = 0
    for _ in range(200):
        text, intent, slots = sampler.sample(rng, "LightBrightness")
        assert intent == "LightBrightness" and set(slots) == {"area", "brightness"}
        assert isinstance(slots["brightness"], int) and 0 <= slots["brightness"] <= 100
        if slots["area"] == "living_room":
            assert any(w in text for w in ("living room", "lounge", "sitting room", "front room"))
            seen += 1
    assert seen > 0
    assert json.dumps(slots)  # JSON-ready values
