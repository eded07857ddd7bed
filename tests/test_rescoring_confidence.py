"""Confidence from the acoustic gap and margin; which utterances the modes send to rescoring."""
from __future__ import annotations

import math

import pytest

from voiced.config import RescoringConfig, load_config
from voiced.grammar import MatchResult
from voiced.rescoring.rescorer import RescoredResult, confidence, should_rescore


def test_confidence_bounds_and_order():
    assert confidence(0.0, math.inf, 6.4) == 1.0
    assert confidence(6.4, 0.0, 6.4) == 0.0
    assert confidence(-1.0, math.inf, 6.4) == 1.0  # beating the free transcription is not "more than sure"
    # a closer fit and a larger lead both raise it
    assert confidence(1.0, 2.0, 6.4) > confidence(3.0, 2.0, 6.4)
    assert confidence(1.0, 3.0, 6.4) > confidence(1.0, 0.5, 6.4)
    for gap in (0.0, 2.0, 10.0):
        for margin in (0.0, 1.0, math.inf):
            assert 0.0 <= confidence(gap, margin, 6.4) <= 1.0


def test_modes_choose_what_is_rescored():
    def should(mode, match):
        return should_rescore(match, RescoringConfig(mode=mode, uncertain_below=0.8))

    sure = MatchResult(text="x", recognized=True, intent="A", confidence=0.95)
    unsure = MatchResult(text="x", recognized=True, intent="A", confidence=0.75)
    rejected = MatchResult(text="x", recognized=False, confidence=0.9)
    assert [should("off", m) for m in (sure, unsure, rejected)] == [False, False, False]
    assert [should("uncertain", m) for m in (sure, unsure, rejected)] == [False, True, True]
    assert [should("always", m) for m in (sure, unsure, rejected)] == [True, True, True]


def test_by_default_only_a_word_for_word_match_skips_rescoring():
    """A long order with one misheard word still matches at about 0.98: it is rescored too."""
    from voiced.grammar import Matcher, load_grammar_text
    from test_rescoring_neighbours import ORDER_GRAMMAR

    matcher = Matcher(load_grammar_text(ORDER_GRAMMAR))
    stretched = matcher.match("can i get a large iced latte with oat milk and vanilla two shots please and")
    exact = matcher.match("can i get a large iced latte with oat milk and vanilla two shots please")
    assert stretched.recognized and 0.9 < stretched.confidence < 0.99 and exact.confidence == 1.0
    defaults = RescoringConfig()
    assert should_rescore(stretched, defaults) and not should_rescore(exact, defaults)


def test_the_result_says_who_decided():
    result = RescoredResult(text="x", recognized=True, intent="A", decided_by="rescoring", rescoring={"gap": 0.25})
    data = result.to_dict()
    assert data["decided_by"] == "rescoring" and data["rescoring"]["gap"] == 0.25
    assert isinstance(result, MatchResult)


def test_config_section_validates():
    config = load_config(text="rescoring:\n  mode: always\n  max_candidates: 10\n  max_gap: 3.5\n")
    assert (config.rescoring.mode, config.rescoring.max_candidates, config.rescoring.max_gap) == ("always", 10, 3.5)
    with pytest.raises(Exception) as info:
        load_config(text="rescoring:\n  mode: sometimes\n")
    assert "mode" in str(info.value)
