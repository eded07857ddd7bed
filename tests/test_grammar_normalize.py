"""Normalisation: numbers, contractions, punctuation and skip words, the same on both sides."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiced.grammar.normalize import (
    compile_skip_words,
    normalize,
    plain_words,
    remove_skip_words,
    tokenize,
    tokenize_spans,
)
from voiced.grammar.numbers import parse_number, to_words, words_to_digits


@pytest.mark.parametrize("text, expected", [
    ("twenty one", "21"), ("twenty-one", "21"), ("21", "21"), ("Twenty One!", "21"),
    ("one hundred and five", "105"), ("a hundred", "100"), ("two thousand and twenty", "2020"),
    ("three hours and ten minutes", "3 hours and 10 minutes"), ("one two three", "1 2 3"),
    ("twenty one point five degrees", "21.5 degrees"), ("50%", "50 percent"),
    ("What's the weather?", "what is the weather"), ("whats the date", "what is the date"),
    ("don't", "do not"), ("set a timer for 5min", "set a timer for 5 min"),
    ("Turn on the living-room light, please.", "turn on the living room light please"),
    ("today's date", "todays date"), ("0'a", "0 a"),
    ("twenty one and a half degrees", "21.5 degrees"), ("2 and a half", "2.5"), ("and a half", "and a half"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_known_words_repair_fused_and_misspelt_words():
    known = {"to", "ninety", "the", "outdoor", "start", "forty", "percent", "eight"}
    assert tokenize("set it toninety", known) == ["set", "it", "to", "90"]
    assert tokenize("theoutdoor humidity", known) == ["the", "outdoor", "humidity"]
    assert tokenize("twenrty sevan", known) == ["27"]
    # without a vocabulary nothing is guessed
    assert tokenize("toninety") == ["toninety"]


def test_unit_abbreviations_read_as_the_grammars_word():
    assert tokenize("a 12 oz latte", {"ounce", "latte"}) == ["a", "12", "ounce", "latte"]
    assert tokenize("a 12oz. latte", {"ounces"}) == ["a", "12", "ounces", "latte"]
    assert tokenize("for 5 mins", {"minute", "minutes"}) == ["for", "5", "minutes"]
    # a grammar that says the abbreviation itself keeps it; without a vocabulary nothing changes
    assert tokenize("12 oz", {"oz", "ounce"}) == ["12", "oz"]
    assert tokenize("12 oz") == ["12", "oz"]
    assert tokenize("12 oz", {"latte"}) == ["12", "oz"]


def test_plain_words_undo_only_the_number_repair():
    known = {"add", "to", "my", "list", "four", "twenty"}
    tokens, plain = tokenize("add flour to my list", known), tokenize("add flour to my list", known, numbers=False)
    assert tokens == ["add", "4", "to", "my", "list"] and plain[1] == "flour"
    words = plain_words(tokens, plain)
    assert words(1, 2) == "flour" and words(0, 3) == "add flour to"
    tokens = tokenize("add twenty flour to my list", known)
    words = plain_words(tokens, tokenize("add twenty flour to my list", known, numbers=False))
    assert tokens[1] == "24" and words(1, 2) == "20 flour"


def test_skip_words_longest_phrase_first():
    skip = compile_skip_words(["could you", "could you please", "please"])
    assert remove_skip_words(tokenize("could you please turn it on please"), skip) == ["turn", "it", "on"]


@given(st.integers(min_value=0, max_value=999999))
def test_spoken_numbers_round_trip(n):
    assert words_to_digits(to_words(n).split()) == [str(n)]
    assert tokenize(to_words(n).replace(" ", "-")) == [str(n)]


def test_large_numbers_are_spelled_with_scales():
    assert to_words(1_000_001) == "one million one"
    assert to_words(2_000_000_005) == "two billion five"
    assert to_words(1_000_000_000_000) == "one thousand billion"


@given(st.integers(min_value=0, max_value=999), st.integers(min_value=1, max_value=9))
def test_decimal_round_trip(whole, tenth):
    value = whole + tenth / 10
    assert parse_number(normalize(to_words(value))) == pytest.approx(value)


@given(st.text(max_size=80))
def test_normalize_never_fails(text):
    tokens = tokenize(text)
    assert all(t and t == t.lower() and " " not in t for t in tokens)
    assert normalize(" ".join(tokens)) == " ".join(tokens)  # idempotent


@pytest.mark.parametrize("text, expected", [
    ("Set the bed-light to twenty one.", [("set", "Set"), ("the", "the"), ("bed", "bed"), ("light", "light"),
                                          ("to", "to"), ("21", "twenty one")]),
    ("What's  50% of two and a half?", [("what", "What"), ("is", "What's"), ("50", "50"), ("percent", "50%"),
                                         ("of", "of"), ("2.5", "two and a half")]),
    ("set a timer for 5min", [("set", "set"), ("a", "a"), ("timer", "timer"), ("for", "for"), ("5", "5"),
                              ("min", "min")]),
])
def test_tokens_know_where_in_the_text_they_were_read(text, expected):
    assert [(token, text[a:b]) for token, (a, b) in tokenize_spans(text)] == expected


def test_repaired_tokens_keep_the_place_of_the_word_they_came_from():
    text = "set it toninety"
    assert [(t, text[a:b]) for t, (a, b) in tokenize_spans(text, {"to", "ninety"})] == \
        [("set", "set"), ("it", "it"), ("to", "toninety"), ("90", "toninety")]


@given(st.text(alphabet="abtwenyoi -'’%.,5&İΣ\u00a0\n", max_size=40))
def test_tokens_with_places_are_the_tokens(text):
    known = {"to", "ninety", "twenty", "one", "bet"}
    for numbers in (True, False):
        located = tokenize_spans(text, known, numbers)
        assert [t for t, _ in located] == tokenize(text, known, numbers)
        assert all(0 <= a <= b <= len(text) for _, (a, b) in located)
