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


def _judged(pipeline, audio, continued: bool):
    """The result of one utterance of `audio`, through a processor on the pipeline's own stages."""
    from voiced.pipeline import UtteranceProcessor
    from voiced.vad.endpoint import AUDIO, SPEECH_END, SPEECH_START, Event

    results = []
    processor = UtteranceProcessor(pipeline.processor.transcriber, pipeline.processor.interpreter.matcher,
                                   lambda utterance, result: results.append(result))
    processor.use(pipeline.processor.interpreter)
    end = len(audio) / 16000
    for event in (Event(SPEECH_START, 0.0, 1, start_s=0.0, continued=continued), Event(AUDIO, 0.0, 1, audio=audio),
                  Event(SPEECH_END, end, 1, start_s=0.0, end_s=end)):
        processor.handle(event)
    assert len(results) == 1
    return results[0]


def test_an_utterance_that_began_mid_speech_is_judged_at_the_second_looks_threshold(pipeline, speech_dir):
    """Speech a forced split carried over is the tail of a long stretch of talk: a command
    read there must be as sure as a second look's."""
    from voiced.audio.wav import load_audio

    audio = load_audio(speech_dir / "commands" / "stp_cancel_all_timers.wav")
    after_a_pause = _judged(pipeline, audio, continued=False)
    assert after_a_pause.recognized and after_a_pause.intent == "TimerCancelAll"
    strict = pipeline.processor.interpreter.second_look.threshold
    assert after_a_pause.confidence < strict
    mid_speech = _judged(pipeline, audio, continued=True)
    assert not mid_speech.recognized
    assert mid_speech.reason == f"decision: p {after_a_pause.confidence:.2f} below the threshold {strict:.2f}"
