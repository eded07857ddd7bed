"""Non-speech hazards: the renderer is seeded and renders what it says, and silence, noise, clicks,
music and a real negative clip played through the daemon's path publish no intent."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from voiced.asr.transcriber import Transcript
from voiced.audio import SAMPLE_RATE
from voiced.audio.wav import load_audio, write_wav
from voiced.cli import main
from voiced.evaluation.hazards import (
    KINDS,
    NOISE_LEVELS_DBFS,
    VARIANTS,
    build_hazards,
    dbfs,
    render_file,
    render_segment,
)
from voiced.grammar.matcher import MatchResult
from voiced.hallucination import GATE, NO_GATE, HallucinationGate

SR = SAMPLE_RATE
# A sung passage (a formant-filtered buzz singing vowels, seed 1, music file 5, 300-330 s) that
# base-en hears as "The i" and rescoring, without the gate, turns into TimeGet.
SUNG = ("music", 5, 300.0, 330.0)


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        counts = build_hazards(tmp_path / name, hours=0.01, seed=seed, minutes=0.25)
        assert counts == {kind: (3, pytest.approx(0.75 / 60)) for kind in KINDS}
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in sorted((tmp_path / "a").rglob("*.*"))}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in sorted((tmp_path / "b").rglob("*.*"))}
    assert a == b and len([p for p in a if p.suffix == ".wav"]) == 12
    for kind in ("noise", "music"):
        assert (tmp_path / "c" / kind / f"{kind}_000.wav").read_bytes() != a[Path(kind) / f"{kind}_000.wav"]
    for kind in KINDS:  # files.json: every file 15 s, its segments end to end, levels as measured
        files = json.loads((tmp_path / "a" / kind / "files.json").read_text())
        assert [f["name"] for f in files] == [f"{kind}_{k:03d}.wav" for k in range(3)]
        for f in files:
            audio = load_audio(tmp_path / "a" / kind / f["name"])
            assert len(audio) == 15 * SR and f["duration_s"] == 15.0 and f["kind"] == kind
            assert f["segments"][0]["start_s"] == 0.0 and f["segments"][-1]["end_s"] == 15.0
            for seg in f["segments"]:
                assert seg["variant"] in VARIANTS[kind]
                part = audio[round(seg["start_s"] * SR):round(seg["end_s"] * SR)]
                if seg["rms_dbfs"] is not None and seg["rms_dbfs"] > -85:  # above 16-bit rounding
                    assert abs(dbfs(part) - seg["rms_dbfs"]) < 0.5, (kind, seg)


def test_a_file_deals_every_variant_before_repeating_one():
    _, info = render_file("silence", 0, 1, 4.0)  # 20-120 s segments: at least two
    variants = [s.variant for s in info.segments]
    assert len(variants) >= 2 and len(set(variants[:4])) == min(4, len(variants))
    assert info.duration_s == 240.0 and info.segments[-1].end_s == 240.0


def _band_db(audio: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    f = np.fft.rfftfreq(len(audio), 1.0 / SR)
    return 10 * math.log10(float(np.mean(spectrum[(f >= lo) & (f < hi)])))


def test_each_kind_has_its_levels_and_spectra():
    rng = np.random.default_rng(7)
    zero, _ = render_segment("silence", "zero", 3.0, rng)
    assert not zero.any() and len(zero) == 3 * SR
    dither, _ = render_segment("silence", "dither", 3.0, rng)
    assert float(np.max(np.abs(dither))) <= 2.0 / 32768 and dbfs(dither) < -95
    room, detail = render_segment("silence", "room", 3.0, rng)
    assert -81 < dbfs(room) < -59 and abs(dbfs(room) - detail["dbfs"]) < 0.5
    hum, detail = render_segment("silence", "hum", 3.0, rng)
    mains = detail["mains_hz"]
    assert mains in (50.0, 60.0) and -61 < dbfs(hum) < -34
    assert _band_db(hum, mains - 1, mains + 1) > _band_db(hum, 300, 4000) + 40  # a hum, not a hiss
    slopes = {}
    for colour in ("white", "pink", "brown"):
        noise, detail = render_segment("noise", colour, 4.0, rng)
        assert min(abs(detail["dbfs"] - level) for level in NOISE_LEVELS_DBFS) <= 3.0
        assert abs(dbfs(noise) - detail["dbfs"]) < 0.5 or detail["dbfs"] > -14  # loud noise clips a little
        slopes[colour] = _band_db(noise, 200, 400) - _band_db(noise, 3200, 6400)  # 4 octaves apart
    assert abs(slopes["white"]) < 1.5 and abs(slopes["pink"] - 12) < 2 and abs(slopes["brown"] - 24) < 2.5
    fan, detail = render_segment("noise", "fan", 4.0, rng)
    assert _band_db(fan, 300, 600) > _band_db(fan, 6000, 7500) + 20  # band-limited
    for variant in VARIANTS["clicks"]:  # events well above a quiet floor, which is most of the time
        clicks, detail = render_segment("clicks", variant, 20.0, rng)
        assert detail["events"] >= 2 and dbfs(clicks, peak=True) > detail["floor_dbfs"] + 30
        assert float(np.median(np.abs(clicks))) < 10 ** ((detail["floor_dbfs"] + 6) / 20)
    for variant in VARIANTS["music"]:
        music, detail = render_segment("music", variant, 10.0, rng)
        assert -41 < dbfs(music) < -11 and 70 <= detail["bpm"] <= 160
        assert float(np.max(np.abs(music))) < 0.991  # never clipped
        if "sung" in variant:
            assert len(detail["vowels"]) >= 5  # a new vowel on every note


def _transcript(text: str, p_end_first: float, logprobs=(-0.5, -0.1)) -> Transcript:
    return Transcript(text=text, logprobs=list(logprobs), end_logprobs=[math.log(p_end_first), -3.0])


def _command(best: Optional[float] = None) -> MatchResult:
    info = {} if best is None else {"best": best, "free": -4.2, "scored": True}
    return MatchResult("what is today", recognized=True, intent="DateGet", confidence=0.59,
                       decided_by="rescoring" if info else "fuzzy", rescoring=info)


def test_the_gate_holds_back_a_command_the_recogniser_would_rather_not_have_said():
    gate = HallucinationGate(max_gap=5.5, length_alpha=0.5)
    # "He is a." on sung vowels: saying nothing (p 0.81, -0.21) beats DateGet's -8.57 by 8.4
    held = gate.apply(_transcript("He is a.", 0.81), _command(best=-8.57))
    assert not held.recognized and held.intent is None and held.decided_by == GATE
    assert "said nothing" in held.reason and held.alternatives[0][0] == "DateGet"
    # a clipped real "stop" the recogniser nearly did not transcribe: 4.5 behind, published
    assert gate.apply(_transcript("Oh.", 0.95), _command(best=-4.5)).recognized
    # a clear command: the end is unlikely at the first step, whatever the score
    assert gate.check(_transcript("What is today?", 0.01), _command(best=-3.0)) is None
    # decided by the matcher alone: the transcript's own score, -0.6/sqrt(2), is what counts
    assert gate.check(_transcript("What is today?", 0.9), _command()) is None
    assert gate.check(_transcript("What is today?", 0.99, (-9.0, -9.0)), _command()) is not None
    rejected = MatchResult("you", reason="no intent matched")
    assert gate.apply(_transcript("You", 0.99), rejected) is rejected  # only commands are held back
    assert gate.check(Transcript(text="what is today"), _command()) is None  # no step figures
    assert NO_GATE.check(_transcript("He is a.", 0.81), _command(best=-8.57)) is None


# --- through the daemon's path with the real base-en ----------------------------------------

@pytest.fixture(scope="module")
def hazard_dir(tmp_path_factory) -> Path:
    """A short clip of each kind: each variant of silence, noise and clicks for 6 s (knocking,
    which base-en hears as "You", for 30 s), and the sung passage."""
    folder = tmp_path_factory.mktemp("hazards")
    rng = np.random.default_rng(11)
    for kind in ("silence", "noise", "clicks"):
        parts = [render_segment(kind, v, 30.0 if v == "knocking" else 6.0, rng)[0] for v in VARIANTS[kind]]
        write_wav(folder / f"{kind}.wav", np.concatenate(parts))
    kind, index, start, end = SUNG
    audio, _ = render_file(kind, index, 1, 10.0)
    write_wav(folder / "music.wav", audio[int(start * SR):int(end * SR)])
    return folder


def _bench(folder: Path, capsys, *extra: str) -> dict:
    assert main(["bench", "false-accepts", str(folder), "--threads", "2", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_silence_noise_clicks_and_music_publish_no_intent(hazard_dir, base_en_model, tmp_path, capsys, monkeypatch,
                                                          unsearched_config):
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))  # resolve to the development base-en
    out = _bench(hazard_dir, capsys)
    assert out["files"] == 4 and out["false_accepts"] == 0, out["false_accept_list"]
    # The recogniser did hear words in it (the VAD let the singing in): what follows, not the VAD, held.
    assert out["utterances"] >= 1 and any(text for text, _ in out["transcripts"]), out["transcripts"]
    # Without the grammar search, the sung passage reaches the gate as a command, and the gate holds it.
    unsearched = _bench(hazard_dir, capsys, "--config", unsearched_config)
    assert unsearched["false_accepts"] == 0, unsearched["false_accept_list"]
    held = unsearched["held_back_list"]
    assert held and held[0]["file"].endswith("music.wav") and "said nothing" in held[0]["reason"], held


def test_without_the_gate_the_sung_passage_is_published(hazard_dir, base_en_model, tmp_path, capsys, monkeypatch,
                                                        unsearched_config):
    """The clip above is a real hazard: with the gate open, the calibrated decision off and no
    grammar search, it becomes a command."""
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(HallucinationGate, "check", lambda self, transcript, result: None)
    folder = tmp_path / "sung"
    folder.mkdir()
    (folder / "music.wav").write_bytes((hazard_dir / "music.wav").read_bytes())
    out = _bench(folder, capsys, "--decision", "off", "--config", unsearched_config)
    assert out["false_accepts"] >= 1 and out["false_accept_list"][0]["decided_by"] == "rescoring"
    assert out["held_back"] == 0


def test_a_real_negative_clip_publishes_no_intent(speech_dir, base_en_model, tmp_path, capsys, monkeypatch):
    """20 s of real read speech (LibriSpeech) that is not a command."""
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "negative"
    folder.mkdir()
    speech = load_audio(speech_dir / "negatives" / "librispeech_excerpts_000.wav")[:20 * SR]
    write_wav(folder / "read.wav", speech)
    out = _bench(folder, capsys)
    assert out["utterances"] >= 1 and out["false_accepts"] == 0, out["false_accept_list"]
