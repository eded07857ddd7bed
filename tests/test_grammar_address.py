"""The address word: loading and validation, matching with and without it, `required` and
per-intent `requires_address`, and the address in rescoring candidates."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from voiced.errors import GrammarError
from voiced.grammar import Matcher, load_grammar, load_grammar_text
from voiced.grammar.address import AddressWords

GRAMMAR = textwrap.dedent("""\
    skip_words: [please, "could you"]
    address: {words: [computer], required: false}
    lists:
      door:
        values:
          - in: front door
            out: front
          - in: back door
            out: back
      area: {values: [kitchen, office, living room]}
      brightness: {range: {from: 0, to: 100}}
    intents:
      LockUnlock:
        requires_address: true
        data: [{sentences: ["unlock [the] {door}"]}]
      LockLock:
        data: [{sentences: ["lock [the] {door}"]}]
      LightOn:
        data: [{sentences: ["turn on [the] {area} light"]}]
      LightBrightness:
        data: [{sentences: ["set [the] {area} light to {brightness} [percent]"]}]
      MediaNext:
        data: [{sentences: ["next"]}]
    """)


@pytest.fixture(scope="module")
def matcher():
    return Matcher(load_grammar_text(GRAMMAR))


def problems_of(text: str, name: str = "g.yaml"):
    with pytest.raises(GrammarError) as info:
        load_grammar_text(text, name)
    return info.value.problems


# --- loading ---------------------------------------------------------------------------------

def test_address_and_requires_address_load():
    g = load_grammar_text(GRAMMAR)
    assert g.address.words == ["computer"] and g.address.required is False
    assert g.intents["LockUnlock"].requires_address and not g.intents["LockLock"].requires_address


def test_without_address_nothing_is_addressed():
    g = load_grammar_text("intents: {Next: {data: [{sentences: [next]}]}}")
    assert g.address.words == [] and not g.address.required
    result = Matcher(g).match("computer next")
    assert not result.addressed and result.to_dict()["addressed"] is False


def test_address_words_merge_across_files(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("address: {words: [computer], required: true}\n"
                                     "intents: {Next: {data: [{sentences: [next]}]}}\n")
    (tmp_path / "b.yaml").write_text("address: {words: [jarvis, computer]}\n"
                                     "intents: {Pause: {data: [{sentences: [pause]}]}}\n")
    g = load_grammar([tmp_path])
    assert g.address.words == ["computer", "jarvis"] and g.address.required


def test_conflicting_required_names_both_files(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("address: {words: [computer], required: true}\n"
                                     "intents: {Next: {data: [{sentences: [next]}]}}\n")
    (tmp_path / "b.yaml").write_text("intents: {Pause: {data: [{sentences: [pause]}]}}\n"
                                     "address:\n  words: [computer]\n  required: false\n")
    with pytest.raises(GrammarError) as info:
        load_grammar([tmp_path])
    (p,) = info.value.problems
    assert p.file.endswith("b.yaml") and p.line == 4 and p.key == "address.required", str(p)
    assert "a.yaml:1" in p.message and p.hint


def test_requires_address_without_address_words():
    text = "intents:\n  Unlock:\n    requires_address: true\n    data: [{sentences: [unlock]}]\n"
    (p,) = problems_of(text)
    assert (p.file, p.line, p.key) == ("g.yaml", 3, "intents.Unlock.requires_address"), str(p)
    assert "address" in p.message and "words: [computer]" in p.hint


def test_requires_address_finds_words_in_another_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("intents: {Unlock: {requires_address: true, data: [{sentences: [unlock]}]}}\n")
    (tmp_path / "b.yaml").write_text("address: {words: [computer]}\n")
    assert load_grammar([tmp_path]).intents["Unlock"].requires_address


@pytest.mark.parametrize("text, line, key, message", [
    ("address: {required: true}\nintents: {A: {data: [{sentences: [a]}]}}", 1, "address.required",
     "no address words"),
    ("address: {words: [computer], requierd: true}\nintents: {A: {data: [{sentences: [a]}]}}", 1,
     "address.requierd", "unknown key"),
    ("address: {words: [computer], required: maybe}\nintents: {A: {data: [{sentences: [a]}]}}", 1,
     "address.required", "expected bool"),
    ("address: {words: ['!!']}\nintents: {A: {data: [{sentences: [a]}]}}", 1, "address.words", "no letters"),
    ("address: [computer]\nintents: {A: {data: [{sentences: [a]}]}}", 1, "address", "expected a mapping"),
    ("address: {words: [c]}\nintents:\n  A:\n    requires_address: yes please\n    data: [{sentences: [a]}]", 4,
     "intents.A.requires_address", "expected bool"),
])
def test_address_problems(text, line, key, message):
    problems = problems_of(text)
    assert any(p.line == line and p.key == key and message in p.message and p.hint for p in problems), \
        [str(p) for p in problems]


# --- matching --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, intent, slots", [
    ("Computer, unlock the front door.", "LockUnlock", {"door": "front"}),
    ("computer unlock the back door", "LockUnlock", {"door": "back"}),
    ("Hey computer, lock the front door.", "LockLock", {"door": "front"}),
    ("OK computer, please turn on the kitchen light", "LightOn", {"area": "kitchen"}),
    ("Computer, could you set the living room light to 40 percent?", "LightBrightness",
     {"area": "living room", "brightness": 40}),
    ("Computers, unlock the front door", "LockUnlock", {"door": "front"}),  # heard a little off
    ("computer next", "MediaNext", {}),
])
def test_addressed_commands(matcher, text, intent, slots):
    result = matcher.match(text)
    assert result.recognized and result.addressed, result.to_dict()
    assert result.intent == intent and {k: s.value for k, s in result.slots.items()} == slots


def test_the_address_word_costs_no_confidence(matcher):
    for text in ("set the office light to 40 percent", "lock the front door", "next"):
        plain, addressed = matcher.match(text), matcher.match("Computer, " + text)
        assert addressed.addressed and not plain.addressed
        assert addressed.confidence == pytest.approx(plain.confidence)
        assert {k: (s.value, s.raw) for k, s in addressed.slots.items()} == \
            {k: (s.value, s.raw) for k, s in plain.slots.items()}


def test_unaddressed_commands_still_match_when_not_required(matcher):
    result = matcher.match("lock the front door")
    assert result.recognized and not result.addressed and result.intent == "LockLock"


def test_an_intent_that_requires_the_address(matcher):
    result = matcher.match("unlock the front door")
    assert not result.recognized and not result.addressed and result.intent is None
    assert "LockUnlock" in result.reason and "computer" in result.reason
    assert result.alternatives[0][0] == "LockUnlock"  # still the best guess
    assert result.to_dict()["reason"] == result.reason


@pytest.mark.parametrize("text", [
    "unlock the front door computer",   # said at the end: not an address
    "the computer unlocked the front door",
    "come here unlock the front door",
])
def test_address_only_counts_at_the_start(matcher, text):
    result = matcher.match(text)
    assert not result.addressed and not (result.recognized and result.intent == "LockUnlock"), result.to_dict()


def test_required_address():
    m = Matcher(load_grammar_text(GRAMMAR.replace("required: false", "required: true")))
    result = m.match("turn on the kitchen light")
    assert not result.recognized and "not addressed" in result.reason and "computer" in result.reason
    assert result.alternatives[0][0] == "LightOn"
    ok = m.match("computer, turn on the kitchen light")
    assert ok.recognized and ok.addressed and ok.intent == "LightOn"


def test_address_word_alone_is_not_a_command(matcher):
    result = matcher.match("Computer.")
    assert not result.recognized and result.addressed


def test_address_words_split():
    address = AddressWords(["computer", "hey jarvis"])
    assert address.split(["computer", "next"]) == (1, True)
    assert address.split(["hey", "jarvis", "next"]) == (2, True)
    assert address.split(["ok", "computer", "next"]) == (2, True)
    assert address.split(["ok", "next"]) == (0, False)
    assert address.split(["next", "computer"]) == (0, False)
    assert address.split(["computer", "computer", "next"]) == (2, True)
    assert address.head(["computer", "please", "next"]) == 1  # "please" is no skip word here
    assert AddressWords(["computer"], [("please",)]).head(["computer", "please", "next"]) == 2
    assert AddressWords(["computer"], [("please",)]).head(["please", "next"]) == 0
    with_skip = AddressWords(["hey jarvis"], [("hey",)])  # the matcher has dropped "hey" already
    assert with_skip.split(["jarvis", "next"]) == (1, True)
    assert with_skip.head(["hey", "jarvis", "next"]) == 2


def test_match_cli_shows_the_address(tmp_path: Path, capsys):
    import json

    from voiced.cli import main

    path = tmp_path / "g.yaml"
    path.write_text(GRAMMAR)
    assert main(["match", "--grammar", str(path), "computer unlock the front door"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recognized"] and out["addressed"] and out["intent"] == "LockUnlock"


def test_shipped_set_unlocks_only_when_addressed():
    from voiced.grammar.loader import shipped_grammar_path

    m = Matcher(load_grammar([shipped_grammar_path()]))
    assert not m.grammar.address.required and m.grammar.intents["LockUnlock"].requires_address
    refused = m.match("Unlock the back door.")
    assert not refused.recognized and "LockUnlock" in refused.reason
    assert m.match("Computer, unlock the back door.").intent == "LockUnlock"
    assert m.match("Lock the back door.").intent == "LockLock"  # everything else as before


def test_sampled_commands_say_the_address_when_their_intent_needs_it():
    import random

    from voiced.grammar.sample import Sampler

    m = Matcher(load_grammar_text(GRAMMAR))
    sampler = Sampler(m.grammar)
    unlock = sampler.sample(random.Random(1), "LockUnlock")
    assert unlock.text.startswith("computer ") and m.match(unlock.text).recognized
    assert not sampler.sample(random.Random(1), "LockLock").text.startswith("computer")
    required = Sampler(load_grammar_text(GRAMMAR.replace("required: false", "required: true")))
    assert required.sample(random.Random(1), "LightOn").text.startswith("computer ")


def test_check_config_names_the_address(tmp_path: Path, capsys):
    from voiced.cli import main

    path = tmp_path / "g.yaml"
    path.write_text(GRAMMAR)
    assert main(["check-config", "--grammar", str(path)]) == 0
    assert "address 'computer' (not required; needed by LockUnlock)" in capsys.readouterr().out
    path.write_text(GRAMMAR.replace("required: false", "required: true"))
    assert main(["check-config", "--grammar", str(path)]) == 0
    assert "address 'computer' (required)" in capsys.readouterr().out


def test_slot_places_in_the_text_skip_the_address_word():
    """Hermes slot ranges are character spans of the text as heard, address word and all."""
    matcher = Matcher(load_grammar([Path(__file__).resolve().parent.parent / "config" / "commands.yaml"]))
    text = "Computer, set the bed light to five."
    result = matcher.match(text)
    assert result.recognized and result.addressed
    assert {k: text[s.span[0]:s.span[1]] for k, s in result.slots.items() if s.span} == {
        "device": "bed light", "brightness": "five"}
