"""The address word in the second stage: candidate sentences keep it, the grammar automaton
says it as an optional opener, and the requirement holds after rescoring. The automaton tests
use only Moonshine's tokenizer; the rest base-en on real commands with "Computer," said before
them by espeak-ng."""
from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from voiced.asr.constrained import compile_grammar
from voiced.asr.constrained.search import meaning
from voiced.asr.scoring.steps import SequenceScore
from voiced.asr.tokenizer import Tokenizer
from voiced.config import RescoringConfig
from voiced.grammar import Matcher, load_grammar_text
from voiced.rescoring.candidates import Restyler, build_readings

SHIPPED = (Path(__file__).resolve().parent.parent / "config" / "commands.yaml").read_text()
# Whatever the shipped set says about the address, these tests set it themselves.
SHIPPED = "\n".join(line for line in SHIPPED.splitlines()
                    if not line.startswith("address:") and "requires_address:" not in line)
OPTIONAL = SHIPPED + "\naddress: {words: [computer], required: false}\n"
REQUIRED = SHIPPED + "\naddress: {words: [computer], required: true}\n"


@pytest.fixture(scope="module")
def tokenizer(base_en_model) -> Tokenizer:
    return Tokenizer(base_en_model.tokenizer)


@pytest.fixture(scope="module")
def optional(tokenizer):
    matcher = Matcher(load_grammar_text(OPTIONAL))
    return matcher, compile_grammar(matcher.grammar, tokenizer)


def _sentence(compiled, tokenizer: Tokenizer, text: str):
    """What the automaton makes of `text` (None when it cannot say it)."""
    a = compiled.automaton
    cursor, tokens = a.start(), tokenizer.encode(text)
    for token in tokens:
        cursor = a.advance(cursor, token)
        if not cursor.places and cursor.accept is None:
            return None
    if cursor.accept is None:
        return None
    return meaning(compiled, tokens, SequenceScore(0.0, len(tokens) + 1), cursor.accept[0])


@pytest.mark.parametrize("text, intent, addressed", [
    ("Computer, lock the front door", "LockLock", True),
    ("Computer. Lock the front door", "LockLock", True),   # how base-en writes a pause after it
    ("Hey computer, please turn off the lights in the office", "LightOff", True),
    ("OK, Computer, next", "MediaNext", True),
    ("Lock the front door", "LockLock", False),
])
def test_the_automaton_says_the_address_as_an_optional_opener(optional, tokenizer, text, intent, addressed):
    sentence = _sentence(optional[1], tokenizer, text)
    assert sentence is not None and sentence.intent == intent and sentence.addressed is addressed


@pytest.mark.parametrize("text", ["Lock the front door computer", "Computer computer next", "Computer"])
def test_the_address_opens_a_sentence_and_nothing_else(optional, tokenizer, text):
    assert _sentence(optional[1], tokenizer, text) is None


def test_no_address_no_opener(tokenizer):
    compiled = compile_grammar(Matcher(load_grammar_text(SHIPPED)).grammar, tokenizer)
    assert _sentence(compiled, tokenizer, "Computer, lock the front door") is None
    assert _sentence(compiled, tokenizer, "Lock the front door").addressed is False


def test_random_addressed_sentences_parse_back(optional, tokenizer):
    """Sentences walked at random through the automaton, with the address forced first: the
    matcher reads the same intent, slots and address off the decoded text."""
    matcher, compiled = optional
    a = compiled.automaton
    rng = random.Random(3)
    opener = tokenizer.encode("Computer,")
    for _ in range(60):
        cursor, tokens = a.start(), []
        for token in opener:
            cursor = a.advance(cursor, token)
            tokens.append(token)
        while True:
            allowed = a.tokens(cursor)
            if cursor.accept is not None and (not len(allowed) or rng.random() < 0.3):
                break
            token = int(rng.choice(list(allowed)))
            tokens.append(token)
            cursor = a.advance(cursor, token)
        sentence = meaning(compiled, tokens, SequenceScore(0.0, len(tokens) + 1), cursor.accept[0])
        text = tokenizer.decode(tokens)
        result = matcher.match(text)
        assert sentence.addressed and result.addressed, text
        assert result.recognized and result.intent == sentence.intent, (text, result.to_dict())


def test_candidates_keep_the_address_as_the_recogniser_wrote_it(optional):
    matcher = optional[0]
    restyle = Restyler("Computer, please lock the front door.", matcher.skip, matcher.address)
    assert restyle("lock the back door") == "Computer, please lock the back door"
    restyle = Restyler("Computer. Lock the frunt door.", matcher.skip, matcher.address)
    assert restyle("lock the front door") == "Computer. Lock the front door"
    assert Restyler("Lock the front door.", matcher.skip, matcher.address)("lock the front door") == \
        "Lock the front door"
    readings = build_readings(matcher, "Computer, lock the frunt door", 8)
    assert readings and all(r.addressed for r in readings)
    assert all(not r.sentence.startswith("computer") for r in readings)
    assert not any(r.addressed for r in build_readings(matcher, "lock the frunt door", 8))


# --- on real speech with base-en --------------------------------------------------------------

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _addressed_audio(path: Path) -> np.ndarray:
    """A real command with "Computer," said before it (espeak-ng, at the command's level)."""
    from voiced.audio.wav import load_audio
    from voiced.evaluation.synth import espeak, trim

    command = load_audio(path)
    name = trim(espeak("Computer,", "en-us+m3", 150))
    gap = np.zeros(4000, dtype=np.float32)  # 0.25 s
    return np.concatenate([gap, name / np.abs(name).max() * np.abs(command).max(), gap, command]).astype(np.float32)


@pytest.fixture(scope="module")
def required(base_en_transcriber):
    from voiced.rescoring import Rescorer

    matcher = Matcher(load_grammar_text(REQUIRED))
    config = replace(RescoringConfig(), mode="always")
    rescorers = {mode: Rescorer(base_en_transcriber, matcher, replace(config, constrained=mode))
                 for mode in ("off", "always")}
    return base_en_transcriber, matcher, rescorers


def _decide(stack, audio: np.ndarray, mode: str):
    transcriber, matcher, rescorers = stack
    transcript = transcriber.transcribe(audio)
    match = matcher.match(transcript.text)
    return transcript, match, rescorers[mode].decide(match, transcript, transcriber.encoder_states())


@needs_espeak
@pytest.mark.parametrize("mode", ["off", "always"])
@pytest.mark.parametrize("name, intent", [("stp_lock_the_front_door.wav", "LockLock"),
                                          ("stp_activate_mood_lighting.wav", "SceneActivate")])
def test_addressed_speech_is_recognized_after_rescoring(required, speech_dir, mode, name, intent):
    """ "Computer, activate Mood Lighting" is heard as "Computer activating rules lighting": only
    rescoring recovers it, with the address kept in the sentences it scores."""
    transcript, match, result = _decide(required, _addressed_audio(speech_dir / "commands" / name), mode)
    assert transcript.text.lower().startswith("computer") and match.addressed, transcript.text
    assert result.recognized and result.addressed and result.intent == intent, result.to_dict()
    assert result.rescoring["sentence"].lower().startswith("computer"), result.rescoring


@pytest.mark.parametrize("mode", ["off", "always"])
@pytest.mark.parametrize("name, reason", [("stp_lock_the_front_door.wav", "not addressed: say 'computer' first"),
                                          ("stp_activate_mood_lighting.wav", "nothing close")])
def test_required_address_is_not_rescored_away(required, speech_dir, mode, name, reason):
    """The same commands without it: not recognized, and not rescored (nothing rescoring finds
    counts as addressed when the recogniser heard no address); the matcher's reason stands."""
    from voiced.audio.wav import load_audio

    _, match, result = _decide(required, load_audio(speech_dir / "commands" / name), mode)
    assert not match.addressed and not result.addressed and not result.recognized, result.to_dict()
    assert result.decided_by == "fuzzy" and not result.rescoring and result.reason == reason


@pytest.mark.parametrize("mode", ["off", "always"])
def test_an_intent_that_needs_the_address_is_refused_after_rescoring(base_en_transcriber, speech_dir, mode):
    """Rescoring chooses LockLock for "Lock the front door." said without the address; as that
    intent needs it here, the chosen reading is not recognized, and kept as the first guess."""
    from voiced.audio.wav import load_audio
    from voiced.rescoring import Rescorer

    text = OPTIONAL.replace("  LockLock:\n", "  LockLock:\n    requires_address: true\n")
    matcher = Matcher(load_grammar_text(text))
    rescorer = Rescorer(base_en_transcriber, matcher, replace(RescoringConfig(), mode="always", constrained=mode))
    transcript = base_en_transcriber.transcribe(load_audio(speech_dir / "commands" / "stp_lock_the_front_door.wav"))
    result = rescorer.decide(matcher.match(transcript.text), transcript, base_en_transcriber.encoder_states())
    assert result.decided_by == "rescoring" and not result.recognized and not result.addressed, result.to_dict()
    assert result.reason == "not addressed: LockLock needs 'computer' first"
    assert result.alternatives[0][0] == "LockLock"


@needs_espeak
def test_the_grammar_search_finds_the_address_in_the_audio(required, speech_dir):
    from voiced.asr.constrained import search

    transcriber, matcher, rescorers = required
    transcriber.transcribe(_addressed_audio(speech_dir / "commands" / "stp_lock_the_front_door.wav"))
    rescorer = rescorers["always"]
    found = search(rescorer._automaton, rescorer.scorer.growth(transcriber.encoder_states()), rescorer.scorer.end_ids)
    best = found[0]
    assert best.intent == "LockLock" and best.addressed, best
    assert transcriber.tokenizer.decode(best.tokens).lower().startswith("computer")


def test_an_intent_that_needs_the_address_is_said_only_with_it(tokenizer):
    """The automaton says what the grammar accepts: the search never offers "Unlock the front
    door" said without the address, and with `required: true` nothing without it."""
    text = OPTIONAL.replace("  LockUnlock:\n", "  LockUnlock:\n    requires_address: true\n")
    shipped = compile_grammar(Matcher(load_grammar_text(text)).grammar, tokenizer)
    assert _sentence(shipped, tokenizer, "Unlock the front door") is None
    assert _sentence(shipped, tokenizer, "Computer, unlock the front door").intent == "LockUnlock"
    assert _sentence(shipped, tokenizer, "Lock the front door").intent == "LockLock"
    required = compile_grammar(Matcher(load_grammar_text(REQUIRED)).grammar, tokenizer)
    assert _sentence(required, tokenizer, "Lock the front door") is None
    assert _sentence(required, tokenizer, "Computer, lock the front door").addressed
