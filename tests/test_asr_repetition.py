"""A looping decode is read as its first turn, with the recogniser's own scores up to there."""
import pytest

from voiced.asr.repetition import first_turn, turn_length, words
from voiced.asr.scoring import transcript_score
from voiced.asr.tokenizer import Tokenizer
from voiced.asr.transcriber import Transcript


@pytest.fixture(scope="module")
def tokenizer(base_en_model) -> Tokenizer:
    return Tokenizer(base_en_model.tokenizer)


def _decoded(tokenizer: Tokenizer, text: str) -> Transcript:
    """A transcript as the decoder leaves it: a log-probability per token (distinct, so a test sees
    which were kept) and a probability of ending after every prefix."""
    ids = tokenizer.encode(text)
    return Transcript(text=text, tokens=ids, logprobs=[-0.01 * (k + 1) for k in range(len(ids))],
                      end_logprobs=[-1.0 - k for k in range(len(ids) + 1)])


@pytest.mark.parametrize("said, period", [
    ("next next next next next", 1),
    ("run party run party run party run", 2),
    ("never learn never learn", 2),
    ("turn on the light", None),
    ("next", None),
    ("turn off the light turn off", None),  # once and a half is not a loop
    ("pants of all tigers pants of all tig", 4),  # the token budget ended mid-word
    ("next nex", 1),
    ("nex next", None),
    ("next text", None),
    ("", None),
])
def test_the_turn_is_the_shortest_phrase_repeated_twice_in_full(said, period):
    assert turn_length(said.split()) == period


@pytest.mark.parametrize("text, turn", [
    ("Never learn. Never learn.", "Never learn."),
    ("Next. Next. Next. Next. Next", "Next."),
    ("Run party run party run party run", "Run party"),
    ("Pants of all tigers pants of all tigers", "Pants of all tigers"),
    ("Pants of all tigers pants of all tig", "Pants of all tigers"),
    ("yes, yes", "yes"),
])
def test_a_loop_is_read_as_its_first_turn(tokenizer, text, turn):
    looped = _decoded(tokenizer, text)
    heard = first_turn(looped, tokenizer)
    n = len(heard.tokens)
    assert heard.text == turn
    assert heard.tokens == looped.tokens[:n]
    # the recogniser's own scores up to the turn's end, then the probability that it ended there
    assert heard.logprobs == looped.logprobs[:n] + [looped.end_logprobs[n]]
    assert heard.end_logprobs == looped.end_logprobs[:n + 1]


def test_the_first_turn_scores_as_its_own_reading(tokenizer):
    """Rescoring reads the free transcription's score off the decode: for the turn it is the
    turn's tokens and the probability of ending after its last word."""
    looped = _decoded(tokenizer, "Never learn. Never learn.")
    heard = first_turn(looped, tokenizer)
    score = transcript_score(tokenizer.encode("Never learn"), heard)
    assert score is not None and score.count == 3
    assert score.total == pytest.approx(sum(looped.logprobs[:2]) + looped.end_logprobs[2])


@pytest.mark.parametrize("text", ["Turn on the kitchen light.", "Next", "Set a timer for five, five minutes."])
def test_a_transcript_that_does_not_loop_is_left_as_it_is(tokenizer, text):
    said = _decoded(tokenizer, text)
    assert first_turn(said, tokenizer) is said


def test_words_ignore_case_and_punctuation():
    assert words("Next. next, NEXT!") == ["next", "next", "next"]
