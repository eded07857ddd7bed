"""The calibrated decision: features, the fit, the calibration file, and the stage itself."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from voiced.asr.transcriber import Transcript
from voiced.config import load_config
from voiced.decision import (BUNDLED, BUNDLED_CONSTRAINED, Calibration, CurvePoint, Decision, features,
                            load_calibration, make_decision, make_second_look)
from voiced.decision.features import NAMES
from voiced.decision.fit import curve, fit_calibration, logistic
from voiced.errors import ConfigError
from voiced.grammar.matcher import FUZZY, RESCORING, MatchResult, SlotMatch


def _transcript(text: str, logprobs=(-0.2, -0.4, -0.1), seconds: float = 1.0) -> Transcript:
    return Transcript(text=text, tokens=list(range(len(logprobs))), audio_s=seconds, logprobs=list(logprobs))


def _rescored(recognized: bool, gap: float, margin: float = 4.0) -> MatchResult:
    slots = {"area": SlotMatch("kitchen", "kitchen", 1.0)}
    info = {"gap": gap, "margin": margin, "sentence": "turn on the kitchen light"}
    if recognized:
        return MatchResult("turn on the kitchen light", True, "LightOn", slots, 0.9, decided_by=RESCORING,
                           rescoring=info)
    return MatchResult("turn on the kitchen light", False, reason="rescoring: the transcription fits better",
                       alternatives=[("LightOn", 0.3, slots)], decided_by=RESCORING, rescoring=info)


def _gap_only(mode: str = "decide", threshold_curve=None) -> Calibration:
    """p = sigmoid(-(gap - 3)): readings closer than 3 to the free transcription pass 0.5."""
    weights = [0.0] * len(NAMES)
    weights[NAMES.index("gap")] = -1.0
    mean = [0.0] * len(NAMES)
    mean[NAMES.index("gap")] = 3.0
    return Calibration("v1:base-en", list(NAMES), mean, [1.0] * len(NAMES), weights, 0.0, mode=mode,
                       curve=threshold_curve or [])


def test_features_describe_the_reading_that_would_be_published():
    t = _transcript("turn on the kitchen light please", logprobs=(-0.1, -2.0, -0.3))
    f = features(_rescored(True, gap=1.5, margin=math.inf), t)
    assert f is not None and set(f) == set(NAMES)
    assert f["fuzzy"] == 0.0 and f["gap"] == 1.5 and f["margin"] == 10.0
    assert f["free_min"] == -2.0 and f["free_mean"] == pytest.approx(-0.8)
    assert f["extra_words"] == pytest.approx(math.log(7 / 6))  # six words heard, five in the sentence
    fuzzy = MatchResult("next", True, "MediaNext", {}, 1.0)
    f = features(fuzzy, _transcript("next"))
    assert f is not None and f["fuzzy"] == 1.0 and f["one_word"] == 1.0 and f["gap"] == 0.0
    # a rejection keeps its best reading's features; no reading, no features
    assert features(_rescored(False, gap=6.0), t)["gap"] == 6.0  # type: ignore[index]
    assert features(MatchResult("hello there", False, reason="nothing close"), t) is None


def test_the_decision_rejects_a_far_reading_and_accepts_a_close_rejected_one():
    decision = Decision(_gap_only("decide"), threshold=0.5)
    t = _transcript("turn on the kitchen light")
    far = decision.decide(_rescored(True, gap=5.0), t)
    assert not far.recognized and far.reason.startswith("decision:")
    assert far.alternatives[0][0] == "LightOn" and far.decision["p"] < 0.5
    close = decision.decide(_rescored(False, gap=2.0), t)
    assert close.recognized and close.intent == "LightOn" and close.slots["area"].value == "kitchen"
    assert close.confidence == pytest.approx(close.decision["p"]) and close.confidence > 0.5
    assert close.to_dict()["decision"]["threshold"] == 0.5
    # gate mode only rejects; nor is a rejection by the matcher's own rules ever overridden
    assert not Decision(_gap_only("gate"), 0.5).decide(_rescored(False, gap=2.0), t).recognized
    unsure = MatchResult("turn on the kitchen light", False, reason="slot area unsure",
                         alternatives=[("LightOn", 0.7, {})], decided_by=FUZZY)
    assert not decision.decide(unsure, t).recognized


def test_without_a_calibration_the_decision_only_adds_features():
    result = Decision().decide(_rescored(True, gap=9.0), _transcript("turn on the kitchen light"))
    assert result.recognized and result.confidence == 0.9
    assert set(result.decision) == {"features"}


def test_the_threshold_follows_the_false_accept_budget():
    points = [CurvePoint(0.1, 0.98, 6.0), CurvePoint(0.3, 0.95, 2.0), CurvePoint(0.6, 0.9, 0.4),
              CurvePoint(0.9, 0.7, 0.0)]
    cal = _gap_only(threshold_curve=points)
    assert [cal.threshold_for(b) for b in (10, 2.0, 1.0, 0.1, 0.0)] == [0.1, 0.3, 0.6, 0.9, 0.9]
    assert cal.point_at(0.65) == points[2]
    config = load_config(text="decision: {max_false_accepts_per_hour: 0.5}")
    assert config.decision.max_false_accepts_per_hour == 0.5


def test_the_fit_separates_and_its_curve_falls_with_the_threshold():
    rng = np.random.default_rng(0)
    rows = []
    for k in range(400):
        right = k % 2 == 0
        gap = rng.normal(1.0 if right else 6.0, 1.5)
        feats = {n: float(rng.normal()) for n in NAMES}
        feats["gap"] = gap
        rows.append({"set": "cmds" if right or k % 4 == 1 else "neg", "file": f"f{k}.wav", "y": int(right), "recognized": gap < 5.5,
                     "decided_by": "rescoring", "clip_intent": "LightOn" if right or k % 4 == 1 else None,
                     "features": feats})
    sets = [{"name": "cmds", "kind": "commands", "commands": 300}, {"name": "neg", "kind": "negatives", "hours": 2.0}]
    cal = fit_calibration({"model": "v1:base-en", "rows": rows, "sets": sets})
    assert cal.weights[NAMES.index("gap")] < -1.0  # the informative feature dominates
    assert max(abs(w) for n, w in zip(NAMES, cal.weights) if n != "gap") < abs(cal.weights[NAMES.index("gap")]) / 3
    per_hour = [p.per_hour for p in cal.curve]
    assert per_hour == sorted(per_hour, reverse=True) and per_hour[0] > per_hour[-1]
    assert cal.curve[0].acceptance >= cal.curve[-1].acceptance
    assert cal.fitted_on["readings"] == 400 and cal.fitted_on["sets"][1]["hours"] == 2.0
    # gate mode can never publish more than the gaps did
    probs = np.array([cal.probability(r["features"]) for r in rows])
    gate, decide = curve(rows, probs, sets, "gate"), curve(rows, probs, sets, "decide")
    assert all(g.acceptance <= d.acceptance for g, d in zip(gate, decide))


def test_logistic_matches_a_known_solution():
    x = np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
    y = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    w = logistic(x, y, np.ones(6), l2=0.0)
    p = 1 / (1 + np.exp(-(x[:, 0] * w[0] + w[1])))
    assert np.allclose(x[:, 0] @ (p - y), 0, atol=1e-6) and abs(np.sum(p - y)) < 1e-6  # the score equations


def test_a_calibration_round_trips_and_a_broken_one_is_one_clear_error(tmp_path: Path):
    cal = _gap_only(threshold_curve=[CurvePoint(0.5, 0.9, 0.1)])
    path = tmp_path / "cal.json"
    path.write_text(cal.to_json())
    assert load_calibration(path) == cal
    broken = json.loads(cal.to_json())
    broken["names"][0] = "loudness"
    path.write_text(json.dumps(broken))
    with pytest.raises(ConfigError) as err:
        load_calibration(path)
    assert "loudness" in str(err.value) and str(path) in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_calibration(tmp_path / "missing.json")


def test_the_bundled_calibration_loads_and_says_what_it_was_fitted_on():
    cal = load_calibration(BUNDLED)
    assert cal.model == "v1:base-en" and cal.curve
    assert cal.fitted_on["sets"] and cal.fitted_on["command"].startswith("voiced calibrate fit")
    strict, loose = cal.threshold_for(0.0), cal.threshold_for(5.0)
    assert strict >= loose
    assert cal.point_at(strict).per_hour <= cal.point_at(loose).per_hour  # type: ignore[union-attr]


class _Recogniser:
    def __init__(self, layout: str, name: str):
        self.files = type("Files", (), {"layout": layout, "name": name})()


def test_a_calibration_for_another_model_is_not_used(caplog):
    config = load_config(text="decision: {mode: calibrated}")
    with caplog.at_level(logging.INFO):
        decision = make_decision(config, _Recogniser("v2", "moonshine-v2-small"))
    assert decision.calibration is None
    assert "fitted for v1:base-en" in caplog.text
    decision = make_decision(config, _Recogniser("v1", "base-en"))
    assert decision.calibration is not None
    stricter = make_decision(dataclasses.replace(config, decision=dataclasses.replace(
        config.decision, max_false_accepts_per_hour=0.0)), _Recogniser("v1", "base-en"))
    assert stricter.threshold >= decision.threshold
    assert make_decision(load_config(text="decision: {mode: 'off'}"), _Recogniser("v1", "base-en")).calibration is None


def test_the_second_look_is_judged_where_the_tuning_negatives_gave_no_false_accept():
    base_en = _Recogniser("v1", "base-en")
    config = load_config(text="decision: {max_false_accepts_per_hour: 0.2}")
    first = make_decision(config, base_en)
    second = make_second_look(config, first)
    assert second is not None and second.calibration is first.calibration
    assert second.threshold == first.calibration.threshold_for(0.0) > first.threshold  # type: ignore[union-attr]
    assert first.calibration.point_at(second.threshold).per_hour == 0.0  # type: ignore[union-attr]
    assert make_second_look(load_config(text="decision: {second_look: false}"), first) is None
    assert make_second_look(config, Decision()) is None  # no calibration: nothing bounds a second chance
    other = _Recogniser("v2", "moonshine-v2-small")
    assert make_second_look(config, make_decision(config, other)) is None


def test_with_the_grammar_search_on_the_calibration_fitted_with_it_is_used(tmp_path: Path):
    base_en = _Recogniser("v1", "base-en")
    plain = make_decision(load_config(text=""), base_en)
    searched = make_decision(load_config(text="rescoring: {constrained: fallback}"), base_en)
    assert plain.calibration == load_calibration(BUNDLED)
    assert searched.calibration == load_calibration(BUNDLED_CONSTRAINED) != plain.calibration
    about = searched.calibration.fitted_on["about"]  # type: ignore[union-attr]
    assert "searches the templates that say a slot" in about
    # whether auto searches depends on the grammar (what says a slot, what the index cannot hold): the
    # rescorer says
    auto = load_config(text="rescoring: {constrained: auto}")
    assert make_decision(auto, base_en).calibration == plain.calibration
    assert make_decision(auto, base_en, searches=True).calibration == searched.calibration
    # a calibration named in the config wins either way
    own = tmp_path / "own.json"
    own.write_text(BUNDLED.read_text(encoding="utf-8"), encoding="utf-8")
    config = load_config(text=f"rescoring: {{constrained: always}}\ndecision: {{calibration: '{own}'}}")
    assert make_decision(config, base_en).calibration == plain.calibration


# --- on real speech, through the daemon's path -------------------------------------------

GARBLED = {  # base-en mishears each; the calibrated decision must still publish the right reading
    "stp_set_kitchen_lights_to_green.wav": ("LightColor", {"area": "kitchen", "color": "green"},
                                            "set kitchen lights to green"),
    "stp_cancel_all_timers.wav": ("TimerCancelAll", {}, "cancel all timers"),
    "stp_whats_the_weather.wav": ("WeatherGet", {}, "what's the weather"),
}


def _bench(folder: Path, capsys, *extra: str) -> dict:
    from voiced.cli import main

    assert main(["bench", "false-accepts", str(folder), "--threads", "2", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_real_negative_that_the_gaps_let_through_gives_nothing(base_en_model, speech_dir, tmp_path, capsys,
                                                                 monkeypatch, unsearched_config):
    """40 s of real LibriSpeech in which base-en hears "What to thee?". Without the grammar search
    the rescoring gaps take it for a date question; the decision publishes nothing. With the
    search of the default (`auto`), the gaps already turn it away."""
    from voiced.audio import SAMPLE_RATE
    from voiced.audio.wav import load_audio, write_wav

    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))  # resolve to the development base-en
    speech = load_audio(speech_dir / "negatives" / "librispeech_excerpts_000.wav")
    folder = tmp_path / "negative"
    folder.mkdir()
    write_wav(folder / "excerpt.wav", speech[200 * SAMPLE_RATE:240 * SAMPLE_RATE])
    gaps = _bench(folder, capsys, "--decision", "off", "--config", unsearched_config)
    assert [row["intent"] for row in gaps["false_accept_list"]] == ["DateGet"], gaps["false_accept_list"]
    decided = _bench(folder, capsys, "--config", unsearched_config)
    assert decided["decision"] == "calibrated" and decided["false_accepts"] == 0, decided["false_accept_list"]
    assert decided["utterances"] == gaps["utterances"]
    searched = _bench(folder, capsys, "--decision", "off")
    assert searched["false_accepts"] == 0 and searched["utterances"] == gaps["utterances"], searched


def test_real_commands_whose_transcript_is_wrong_are_decided_right(base_en_model, speech_dir, tmp_path, capsys,
                                                                   monkeypatch):
    from voiced.cli import main

    monkeypatch.setenv("VOICED_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "commands"
    folder.mkdir()
    for name in GARBLED:
        (folder / name).symlink_to(speech_dir / "commands" / name)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({n: {"intent": i, "slots": s, "transcript": t}
                                  for n, (i, s, t) in GARBLED.items()}))
    assert main(["eval", str(folder), "--labels", str(labels), "--threads", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "calibrated"
    assert out["summary"]["accepted"] == len(GARBLED), out["files"]
    for row in out["files"]:
        assert row["correct"] and row["decided_by"] == "rescoring", row
        assert row["transcript"].lower().rstrip(".?!") != row["reference"], row  # the transcript alone is wrong


def test_a_reading_the_decision_accepts_still_needs_its_address_word():
    """decide mode may accept a reading the gaps rejected; an intent that requires the address
    word must still not go out without it."""
    from voiced.grammar import Matcher, load_grammar_text
    from voiced.interpreter import Interpreter

    grammar = load_grammar_text(
        "address: {words: [computer]}\nlists: {door: {values: [front door]}}\nintents:\n"
        "  LockUnlock: {requires_address: true, data: [{sentences: ['unlock [the] {door}']}]}\n"
        "  LockLock: {data: [{sentences: ['lock [the] {door}']}]}\n")
    slots = {"door": SlotMatch("front door", "front door", 1.0)}

    class GapRejection:
        def decide(self, match, transcript, states):
            intent = "LockUnlock" if "unlock" in transcript.text.lower() else "LockLock"
            return MatchResult(transcript.text, False, reason="rescoring: the transcription fits better",
                               alternatives=[(intent, 0.4, slots)], decided_by=RESCORING,
                               rescoring={"gap": 2.0, "margin": 4.0}, addressed=match.addressed)

    class States:
        def encoder_states(self):
            return None

    interpreter = Interpreter(Matcher(grammar), GapRejection(), decision=Decision(_gap_only("decide"), 0.5))
    locked, _ = interpreter.interpret(_transcript("Lock the front door."), States())  # type: ignore[arg-type]
    assert locked.recognized and locked.intent == "LockLock"  # the decision overrides the gap here
    unlocked, _ = interpreter.interpret(_transcript("Unlock the front door."), States())  # type: ignore[arg-type]
    assert not unlocked.recognized and unlocked.reason.startswith("not addressed"), unlocked.to_dict()
    said, _ = interpreter.interpret(_transcript("Computer, unlock the front door."), States())  # type: ignore[arg-type]
    assert said.recognized and said.intent == "LockUnlock"
