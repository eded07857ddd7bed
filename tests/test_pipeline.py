"""The processing stage on real speech: a rejected reading gets a second look."""
from __future__ import annotations

import dataclasses

from voiced.asr.transcriber import Transcript
from voiced.decision import Decision
from voiced.grammar.loader import load_grammar_text
from voiced.grammar.matcher import Matcher, MatchResult
from voiced.hallucination import GATE
from voiced.interpreter import Interpreter

APPLES = "stp_add_apples_to_my_shopping_list.wav"


def test_a_command_misread_at_one_place_on_the_grid_is_read_right_on_a_second_look(pipeline, eval_pipeline_for,
                                                                                   speech_dir):
    """384 samples into the VAD's grid base-en reads the clip as "and apples to buy choppin'
    lists", which the decision turns away; half an encoder frame later it reads the command."""
    clip = speech_dir / "commands" / APPLES
    looked, _ = pipeline.run_path(clip, lead=384)
    assert [(u.intent, u.slots) for u in looked] == [("ShoppingListAdd", {"item": "apples"})]
    assert looked[0].latency_parts["second_look"] > 0
    assert looked[0].confidence >= pipeline.processor.interpreter.second_look.threshold

    config = pipeline.config
    once = eval_pipeline_for(dataclasses.replace(config, decision=dataclasses.replace(
        config.decision, second_look=False)))
    first, _ = once.run_path(clip, lead=384)
    assert len(first) == 1 and not first[0].recognized
    assert "second_look" not in first[0].latency_parts


def test_a_command_read_right_the_first_time_gets_no_second_look(pipeline, speech_dir):
    results, _ = pipeline.run_path(speech_dir / "commands" / APPLES, lead=128)
    assert [(u.intent, u.slots) for u in results] == [("ShoppingListAdd", {"item": "apples"})]
    assert "second_look" not in results[0].latency_parts


def test_the_second_look_has_the_stricter_threshold_and_never_follows_the_gate(pipeline):
    interpreter = pipeline.processor.interpreter
    assert interpreter.second_look is not None
    assert interpreter.second_look.threshold > interpreter.decision.threshold
    heard = Transcript(text="and apples to buy chopping loose")
    rejected = MatchResult(text=heard.text, recognized=False)
    assert interpreter.looks_again(heard, rejected)
    assert not interpreter.looks_again(heard, dataclasses.replace(rejected, recognized=True, intent="ShoppingListAdd"))
    assert not interpreter.looks_again(heard, dataclasses.replace(rejected, decided_by=GATE))
    assert not interpreter.looks_again(Transcript(text=" "), rejected)
    matcher = Matcher(load_grammar_text("intents:\n  Stop:\n    data:\n      - sentences: [stop]\n"))
    assert not Interpreter(matcher, decision=Decision()).looks_again(heard, rejected)

