"""Text normalisation and word error rate."""
from __future__ import annotations

import pytest

from voiced.asr.wer import corpus_wer, edit_distance, normalize, number_words, word_errors


@pytest.mark.parametrize("text, expected", [
    ("Ever tried. Ever failed. No matter.", "ever tried ever failed no matter"),
    ("set a timer for 3 hours and 10 minutes", "set a timer for three hours and ten minutes"),
    ("Set bed light brightness to 50%", "set bed light brightness to fifty percent"),
    ("Would you please turn on the living-room lamp?", "would you please turn on the living room lamp"),
    ("What's the weather like in New York?", "what's the weather like in new york"),
    ("'quoted' words", "quoted words"),
    ("HE HAD 1,000 MEN", "he had one thousand men"),
    ("S..", "s"),
    ("", ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (13, "thirteen"), (40, "forty"), (42, "forty two"), (100, "one hundred"),
    (310, "three hundred ten"), (2024, "two thousand twenty four"), (1_000_001, "one million one"),
])
def test_number_words(n, words):
    assert number_words(n) == words


def test_edit_distance_counts_each_kind_of_error():
    ref = "turn on the kitchen light".split()
    assert edit_distance(ref, ref) == 0
    assert edit_distance(ref, "turn off the kitchen light".split()) == 1  # substitution
    assert edit_distance(ref, "turn on kitchen light".split()) == 1  # deletion
    assert edit_distance(ref, "please turn on the kitchen light now".split()) == 2  # insertions
    assert edit_distance([], ["a", "b"]) == 2 and edit_distance(["a"], []) == 1


def test_word_errors_and_corpus_wer():
    one = word_errors("Set a timer for 5 minutes.", "set a timer for five minutes")
    assert (one.errors, one.words, one.wer) == (0, 6, 0.0)
    total = corpus_wer([("what time is it", "what time is it"), ("lock the front door", "lock the door")])
    assert (total.errors, total.words) == (1, 8)
    assert total.wer == pytest.approx(1 / 8)
    assert word_errors("", "noise").wer == 0.0  # no reference words: nothing to divide by
