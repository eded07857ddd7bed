"""Scoring on constructed results: acceptance, missing and extra utterances, false accepts, breakdowns."""
from __future__ import annotations

import csv

import pytest

from voiced.evaluation.labels import Label
from voiced.evaluation.report import file_rows, format_summary, write_csv
from voiced.evaluation.scoring import (EXTRA_UTTERANCE, FALSE_ACCEPT, NO_SPEECH, NO_WORDS, REJECTED,
                                       WRONG_INTENT, WRONG_SLOT, FileResult, UtteranceResult, judge, same_value,
                                       summarize)


def utt(intent=None, slots=None, text="some words", latency=100.0, confidence=0.9):
    return UtteranceResult(text=text, recognized=intent is not None, intent=intent, slots=slots or {},
                           confidence=confidence if intent else 0.3, latency_ms=latency,
                           latency_parts={"asr": 0.9 * latency, "match": 0.1 * latency})


LIGHT = Label("LightOn", {"area": "kitchen"}, "turn on the kitchen light")
TIMER = Label("TimerStart", {"hours": 3, "minutes": 10})
REJECT = Label(None, {}, "the weather has been terrible")


def test_exact_match_is_accepted_and_numbers_compare_by_value():
    assert judge(FileResult("a", LIGHT, [utt("LightOn", {"area": "kitchen"})])).correct
    assert judge(FileResult("b", TIMER, [utt("TimerStart", {"hours": 3.0, "minutes": 10})])).correct
    assert same_value(20.5, 20.5) and not same_value(20, 20.5) and same_value("coffee beans", "Coffee beans")


@pytest.mark.parametrize("utterances, error", [
    ([], NO_SPEECH),
    ([utt(None, text="")], NO_WORDS),
    ([utt(None, text=""), utt(None, text=" ")], NO_WORDS),
    ([utt("LightOn", {"area": "kitchen"}), utt(None)], EXTRA_UTTERANCE),
    ([utt(None, text="turn on the kitchen lie")], REJECTED),
    ([utt("LightOff", {"area": "kitchen"})], WRONG_INTENT),
    ([utt("LightOn", {"area": "office"})], WRONG_SLOT),
    ([utt("LightOn", {})], WRONG_SLOT),
    ([utt("LightOn", {"area": "kitchen", "color": "red"})], WRONG_SLOT),
])
def test_every_kind_of_command_error(utterances, error):
    verdict = judge(FileResult("a", LIGHT, utterances))
    assert not verdict.correct and verdict.error == error


def test_an_utterance_without_words_is_not_an_extra_result():
    # The daemon publishes nothing for an empty transcript (a cough), so the command still counts.
    assert judge(FileResult("a", LIGHT, [utt(None, text=""), utt("LightOn", {"area": "kitchen"})])).correct


def test_an_utterance_the_gate_held_back_is_not_an_extra_result():
    # A breath before the command heard as "You" and held back by the hallucination gate: nothing
    # was published for it, so only the command is a result.
    held = utt(None, text="You")
    held.extra = {"published": False, "held_back": True}
    assert judge(FileResult("a", LIGHT, [held, utt("LightOn", {"area": "kitchen"})])).correct
    # held back alone, the command is lost: a rejection, not "no words"
    assert judge(FileResult("a", LIGHT, [held])).error == REJECTED
    # a rejection the daemon does publish (not recognised) still counts as a second result
    assert judge(FileResult("a", LIGHT, [utt(None, text="You"), utt("LightOn", {"area": "kitchen"})])).error \
        == EXTRA_UTTERANCE


def test_slot_errors_say_which_slot_and_how():
    assert judge(FileResult("a", LIGHT, [utt("LightOn", {"area": "office"})])).slot_errors == {"area": "wrong"}
    assert judge(FileResult("a", TIMER, [utt("TimerStart", {"hours": 3, "seconds": 10})])).slot_errors == \
        {"minutes": "missing", "seconds": "extra"}


def test_out_of_grammar_clip_is_right_when_nothing_is_recognised():
    assert judge(FileResult("r", REJECT, [])).correct
    assert judge(FileResult("r", REJECT, [utt(None), utt(None)])).correct
    verdict = judge(FileResult("r", REJECT, [utt(None), utt("WeatherGet")]))
    assert not verdict.correct and verdict.error == FALSE_ACCEPT and verdict.got == "WeatherGet"


def test_summary_rates_breakdowns_wer_and_latency():
    results = [
        FileResult("1", LIGHT, [utt("LightOn", {"area": "kitchen"}, "turn on the kitchen light", 100)]),
        FileResult("2", LIGHT, [utt("LightOn", {"area": "office"}, "turn on the office light", 200)]),
        FileResult("3", TIMER, []),
        FileResult("4", TIMER, [utt("TimerStart", {"hours": 3, "minutes": 10}, latency=300)]),
        FileResult("5", REJECT, [utt(None, text="the weather has been terrible", latency=400)]),
        FileResult("6", REJECT, [utt("WeatherGet", text="the weather is terrible", latency=500)]),
    ]
    s = summarize(results)
    assert (s["in_grammar"], s["accepted"], s["acceptance"]) == (4, 2, 0.5)
    assert (s["out_of_grammar"], s["false_accepts"], s["false_accept_rate"]) == (2, 1, 0.5)
    assert s["errors"] == {NO_SPEECH: 1, WRONG_SLOT: 1, FALSE_ACCEPT: 1}
    assert s["per_intent"]["LightOn"] == {"n": 2, "errors": 1, WRONG_SLOT: 1}
    assert s["per_intent"]["TimerStart"] == {"n": 2, "errors": 1, NO_SPEECH: 1}
    assert s["per_slot"]["area"] == {"n": 2, "wrong": 1, "missing": 0, "extra": 0}
    assert {"expected": "LightOn", "got": "LightOn [area wrong]", "count": 1} in s["confusion"]
    assert {"expected": "(reject)", "got": "WeatherGet", "count": 1} in s["confusion"]
    # WER over files with transcripts: 1 error (kitchen -> office) in 5 words x2, 1 error (has been -> is) ...
    assert s["wer_words"] == 5 + 5 + 5 + 5
    assert s["wer"] == pytest.approx((0 + 1 + 0 + 2) / 20)
    assert s["latency_p50_ms"] == pytest.approx(300) and s["latency_p95_ms"] == pytest.approx(480)
    assert s["latency_parts_ms"]["asr"]["p50"] == pytest.approx(270)
    assert s["latency_parts_ms"]["match"]["p95"] == pytest.approx(48)
    text = format_summary(s)
    assert "50.0%  (2/4)" in text and "50.0%  (1/2)" in text


def test_by_tag_groups_acceptance_and_false_accepts():
    clean = Label("LightOn", {"area": "kitchen"}, tags={"noise": "clean"})
    noisy = Label("LightOn", {"area": "kitchen"}, tags={"noise": "5 dB"})
    s = summarize([FileResult("a", clean, [utt("LightOn", {"area": "kitchen"})]),
                   FileResult("b", noisy, [utt(None)]),
                   FileResult("c", Label(None, tags={"noise": "5 dB"}), [utt("TimeGet")])])
    assert s["by_tag"]["noise"]["clean"]["acceptance"] == 1.0
    assert s["by_tag"]["noise"]["5 dB"]["acceptance"] == 0.0
    assert s["by_tag"]["noise"]["5 dB"]["false_accept_rate"] == 1.0


def test_csv_has_a_row_per_file_with_expected_and_got(tmp_path):
    results = [FileResult("a.wav", LIGHT, [utt("LightOn", {"area": "office"}, "turn on the office light", 123.4)]),
               FileResult("b.wav", REJECT, [])]
    write_csv(results, tmp_path / "out.csv")
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert [r["file"] for r in rows] == ["a.wav", "b.wav"]
    assert rows[0]["error"] == WRONG_SLOT and rows[0]["got_slots"] == '{"area": "office"}'
    assert rows[0]["expected_slots"] == '{"area": "kitchen"}' and rows[0]["latency_ms"] == "123.4"
    assert rows[1]["correct"] == "True" and rows[1]["utterances"] == "0"
    assert file_rows(results)[0]["transcript"] == "turn on the office light"
