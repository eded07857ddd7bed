"""`voiced bench false-accepts`: a command planted in real negative speech is counted exactly once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from voiced.audio import SAMPLE_RATE
from voiced.audio.wav import load_audio, write_wav
from voiced.cli import main
from voiced.errors import EXIT_CONFIG
from voiced.evaluation.false_accepts import det, split_sets
from voiced.evaluation.labels import Label

REPO = Path(__file__).resolve().parent.parent
PLANTED = "stp_set_a_timer_for_3_hours_and_10_minutes.wav"
COMMAND_SET = ["stp_lock_the_front_door.wav", "stp_cancel_all_timers.wav"]


@pytest.fixture
def negatives(speech_dir, tmp_path) -> Path:
    """One file: 40 s of real LibriSpeech negatives with a real command planted in the middle,
    4 s of the file's own quiet on either side of it."""
    speech = load_audio(speech_dir / "negatives" / "librispeech_excerpts_000.wav")[: 40 * SAMPLE_RATE]
    command = load_audio(speech_dir / "commands" / PLANTED)
    quiet = np.zeros(4 * SAMPLE_RATE, np.float32)
    folder = tmp_path / "negatives"
    folder.mkdir()
    write_wav(folder / "planted.wav", np.concatenate([speech[:20 * SAMPLE_RATE], quiet, command, quiet,
                                                      speech[20 * SAMPLE_RATE:]]))
    return folder


def test_planted_command_is_one_false_accept(negatives, base_en_model, tmp_path, capsys, monkeypatch, speech_dir):
    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))  # resolve to the development base-en
    commands = tmp_path / "commands"
    commands.mkdir()
    all_labels = json.loads((REPO / "config" / "eval" / "commands.labels.json").read_text())
    for name in COMMAND_SET:
        shutil.copy(speech_dir / "commands" / name, commands / name)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({n: all_labels[n] for n in COMMAND_SET}))

    assert main(["bench", "false-accepts", str(negatives), str(commands), "--labels", str(labels),
                 "--threads", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "base-en"
    assert out["files"] == 1 and abs(out["hours"] - (48 * SAMPLE_RATE + len(load_audio(speech_dir / "commands" / PLANTED)))
                                     / SAMPLE_RATE / 3600) < 1e-3
    assert out["false_accepts"] == 1, out["false_accept_list"]
    row = out["false_accept_list"][0]
    assert row["intent"] == "TimerStart" and row["slots"] == {"hours": 3, "minutes": 10}
    assert 23.0 < row["start_s"] < 25.0 and row["file"].endswith("planted.wav")
    assert row["decided_by"] in ("fuzzy", "rescoring") and row["text"]
    assert out["per_hour"] == pytest.approx(1 / out["hours"], rel=1e-3)
    assert out["commands"]["accepted"] == 2
    shipped = out["det"][0]
    assert shipped["threshold"] == 0.0 and shipped["acceptance"] == 1.0 and shipped["false_accepts"] == 1
    assert out["det"][-1]["threshold"] == 1.0


def test_det_sweeps_both_axes_down():
    table = det([(True, 0.9), (True, 0.75), (False, 0.0)], [0.8, 0.95], hours=2.0)
    by_t = {row["threshold"]: row for row in table}
    assert by_t[0.0]["acceptance"] == pytest.approx(2 / 3) and by_t[0.0]["per_hour"] == 1.0
    assert by_t[0.8]["acceptance"] == pytest.approx(1 / 3) and by_t[0.8]["per_hour"] == 1.0
    assert by_t[0.95]["acceptance"] == 0.0 and by_t[0.95]["per_hour"] == 0.5
    assert by_t[1.0]["per_hour"] == 0.0


def test_a_folder_mixing_labelled_and_unlabelled_files_is_refused(tmp_path, capsys):
    for name in ("a.wav", "b.wav"):
        write_wav(tmp_path / name, np.zeros(1600, np.float32))
    labels = {"a.wav": Label("TimeGet")}
    with pytest.raises(Exception) as err:
        split_sets([tmp_path], labels)
    assert "1 of 2 WAVs have no label" in str(err.value)
    assert split_sets([tmp_path], {}) == (sorted(tmp_path.glob("*.wav")), [])
    path = tmp_path / "l.json"
    path.write_text(json.dumps({"a.wav": {"intent": "TimeGet"}}))
    assert main(["bench", "false-accepts", str(tmp_path), "--labels", str(path)]) == EXIT_CONFIG
    assert "no label, e.g. b.wav" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synthetic_negatives_are_deterministic_and_the_splits_share_no_voice_or_sentence(tmp_path):
    from voiced.evaluation.negatives import build_negatives
    from voiced.grammar.loader import load_grammar
    from voiced.grammar.matcher import Matcher

    grammar = load_grammar([REPO / "config" / "commands.yaml"])
    for name in ("a", "b"):
        build_negatives(tmp_path / name, grammar, hours=0.02, seed=4, minutes=0.6)
    build_negatives(tmp_path / "c", grammar, hours=0.02, seed=5, minutes=0.6, splits=("heldout",))
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in sorted((tmp_path / "a").rglob("*.*"))}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in sorted((tmp_path / "b").rglob("*.*"))}
    assert a == b and len([p for p in a if p.suffix == ".wav"]) == 4
    assert (tmp_path / "c" / "heldout" / "neg_heldout_000.wav").read_bytes() != \
        (tmp_path / "a" / "heldout" / "neg_heldout_000.wav").read_bytes()
    files = {split: json.loads((tmp_path / "a" / split / "files.json").read_text()) for split in ("tune", "heldout")}
    paragraphs = {split: [p for f in fs for p in f["paragraphs"]] for split, fs in files.items()}
    voices = {split: {p["voice"].split("+")[0] for p in ps} for split, ps in paragraphs.items()}
    assert voices["tune"] and voices["heldout"] and not voices["tune"] & voices["heldout"]
    sentences = {split: {s for p in ps for s in p["text"].split(". ")} for split, ps in paragraphs.items()}
    assert not sentences["tune"] & sentences["heldout"]
    matcher = Matcher(grammar)
    assert not [s for ps in sentences.values() for s in ps if matcher.match(s).recognized]
    for split, fs in files.items():  # the stated spans are where the audio is
        audio = load_audio(tmp_path / "a" / split / fs[0]["name"])
        p = fs[0]["paragraphs"][0]
        inside = audio[int(p["start_s"] * SAMPLE_RATE):int(p["end_s"] * SAMPLE_RATE)]
        assert abs(float(np.max(np.abs(inside))) - p["level"]) < 0.05 or fs[0]["snr_db"] is not None
