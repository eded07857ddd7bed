"""Grammar loading and validation: every problem at once, with file, line and a hint."""
from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiced.cli import main
from voiced.errors import EXIT_CONFIG, GrammarError
from voiced.grammar import Matcher, load_grammar, load_grammar_text
from voiced.grammar.loader import shipped_grammar_path
from voiced.grammar.model import Action, NumberRange

GOOD = textwrap.dedent("""\
    language: en
    skip_words: [please, "could you"]
    expansion_rules:
      light: "(light | lights | lamp)"
    lists:
      area:
        values:
          - in: "(living room | lounge)"
            out: living_room
          - kitchen
      brightness:
        range: {from: 0, to: 100, step: 5}
      item:
        wildcard: true
    intents:
      LightOn:
        data:
          - sentences: ["turn on [the] {area} <light>"]
            slots: {domain: light}
        action:
          topic: "zigbee2mqtt/{area}_light/set"
          payload: {"state": "ON"}
          qos: 1
      Add:
        data:
          - sentences: ["add {item} to [my] shopping list"]
    """)


def problems_of(text: str, name: str = "g.yaml"):
    with pytest.raises(GrammarError) as info:
        load_grammar_text(text, name)
    return info.value.problems


def test_good_grammar_model():
    g = load_grammar_text(GOOD)
    assert g.intent_names() == ["LightOn", "Add"]
    assert g.skip_words == ["please", "could you"]
    assert [(v.spoken, v.value) for v in g.lists["area"].values] == [
        ("living room", "living_room"), ("lounge", "living_room"), ("kitchen", "kitchen")]
    assert g.lists["brightness"].range == NumberRange(0, 100, 5)
    assert g.lists["item"].wildcard
    light_on = g.intents["LightOn"]
    assert light_on.templates[0].fixed_slots == {"domain": "light"}
    assert light_on.templates[0].line == 18
    assert light_on.action == Action("zigbee2mqtt/{area}_light/set", {"state": "ON"}, qos=1, retain=False)


def test_the_templates_that_say_a_slot_count_rules_but_not_fixed_values():
    g = load_grammar_text(textwrap.dedent("""\
        lists: {area: {values: [kitchen]}}
        expansion_rules: {where: "in the {area}"}
        intents:
          LightOn:
            data:
              - sentences: ["lights on <where>", "all lights on"]
                slots: {domain: light}
          Stop: {data: [{sentences: ["stop [the] {area} [music]", "never mind"]}]}
        """))
    assert g.templates_saying_a_slot() == {("LightOn", 0), ("Stop", 0)}


BAD = textwrap.dedent("""\
    language: en
    lists:
      area:
        values: [kitchen]
      level:
        range: {from: 10, to: 0, step: 0}
      empty:
        values: []
      both:
        values: [a]
        range: {from: 0, to: 1}
    expansion_rules:
      loop: "a <loop>"
    intents:
      LightOn:
        data:
          - sentences:
              - "turn on (the | ) {aera}"
              - "turn on [the {area}"
              - "switch on <lite> {aera}"
              - 42
        action:
          topic: "lights/{room}/set"
          payload: {"level": "{level}"}
          qos: 3
      LightOn:
        data: []
      Off:
        dta: 1
        data:
          - sentence: ["off"]
    colour: red
    """)


def test_every_problem_at_once_with_lines_and_hints():
    problems = problems_of(BAD, "bad.yaml")
    text = "\n".join(str(p) for p in problems)
    expected = [
        (6, "step 0 must be greater than 0"), (6, "from 10 is greater than to 0"),
        (8, "empty list of values"), (9, "exactly one of 'values', 'range' or 'wildcard'"),
        (13, "refers to itself"), (18, "empty alternative"), (20, "unknown slot list '{aera}'"),
        (19, "'[' is never closed"), (20, "unknown rule '<lite>'"), (21, "expected text, got int"),
        (23, "placeholder {room} is not a slot"), (24, "placeholder {level} is not a slot"),
        (25, "qos 3 is not 0, 1 or 2"), (26, "duplicate key 'LightOn'"), (29, "unknown key"),
        (31, "unknown key"), (32, "unknown key"),
    ]
    for line, message in expected:
        assert any(p.line == line and message in p.message for p in problems), (line, message, text)
    assert all(p.file == "bad.yaml" and p.hint for p in problems), text
    assert any("did you mean 'area'" in p.hint for p in problems if "aera" in p.message)
    assert any("did you mean 'data'" in p.hint for p in problems if p.key == "intents.Off.dta")


def test_duplicate_intent_across_files(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("intents:\n  Next:\n    data: [{sentences: [next]}]\n")
    (tmp_path / "b.yaml").write_text("lists: {}\nintents:\n\n  Next:\n    data: [{sentences: [skip]}]\n")
    with pytest.raises(GrammarError) as info:
        load_grammar([tmp_path])
    (p,) = info.value.problems
    assert p.file.endswith("b.yaml") and p.line == 4 and "duplicate intent name 'Next'" in p.message
    assert "a.yaml:2" in p.hint


def test_lists_and_rules_are_shared_across_files(tmp_path: Path):
    (tmp_path / "lists.yaml").write_text("lists:\n  area: {values: [kitchen]}\nexpansion_rules: {the: '[the]'}\n")
    (tmp_path / "intents.yaml").write_text("intents:\n  On:\n    data: [{sentences: ['on <the> {area}']}]\n")
    g = load_grammar([tmp_path / "intents.yaml", tmp_path / "lists.yaml"])
    assert "area" in g.lists and "the" in g.rules


def test_action_placeholder_missing_from_some_sentences():
    text = GOOD.replace('["turn on [the] {area} <light>"]', '["turn on [the] {area} <light>", "lights on"]')
    (p,) = problems_of(text)
    assert "missing from some sentences" in p.message and p.line == 21 and p.key.endswith("topic")


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("intents: [a, b]", "expected a mapping"),
    ("intents:\n  A:\n    data: [{sentences: [a]}]\n  B: {data: [{sentences: 'b'}]}", "expected a list"),
    ("language: de\nintents: {A: {data: [{sentences: [a]}]}}", "not supported"),
    ("intents: {A: {data: [{sentences: [a]}]}}\n  bad: [", "not valid YAML"),
    ("lists: {n: {range: {from: 0}}}\nintents: {A: {data: [{sentences: ['{n}']}]}}", "range needs 'to'"),
    ("lists: {}\n", "defines no intents"),
    ("lists: {c: {values: ['(a | b)']}}\nintents: {A: {data: [{sentences: ['{c}']}]}}", "no canonical value"),
    ("lists: {n: {range: {from: .nan, to: 5}}}\nintents: {A: {data: [{sentences: ['{n}']}]}}", "finite"),
    ("intents: {A: {data: [{sentences: [a]}], action: {payload: x}}}", "no 'topic'"),
    ("intents: {A: {data: [{sentences: [a]}], action: {topic: 'a/+/b'}}}", "wildcard"),
    ("lists: {c: {values: ['(a | {b})']}}\nintents: {A: {data: [{sentences: ['{c}']}]}}", "cannot be used inside"),
])
def test_single_problems(text, message):
    problems = problems_of(text)
    assert any(message in p.message for p in problems), [str(p) for p in problems]


def test_missing_file_and_empty_directory(tmp_path: Path):
    with pytest.raises(GrammarError) as info:
        load_grammar([tmp_path / "nope.yaml", tmp_path])
    messages = [p.message for p in info.value.problems]
    assert "grammar file not found" in messages and "no .yaml files in directory" in messages


def test_shipped_grammar_loads():
    g = load_grammar([shipped_grammar_path()])
    assert len(g.intents) > 30 and all(i.templates for i in g.intents.values())


# --- fuzzing: only GrammarError ever comes out -----------------------------------------------

def _mutations(text: str, rng: random.Random, count: int):
    pieces = ["{", "}", "[", "]", "(", ")", "|", ":", "- ", "\n", "  ", "'", '"', "&a ", "*a", "!!int ", "<x>",
              "-1", "0", "~", "null", "step: 0", "from: 5", "{aera}", "values:", "range:", "%", "\t", "? "]
    for _ in range(count):
        chars = list(text)
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(4)
            k = rng.randrange(len(chars) + 1)
            if op == 0 and chars:
                del chars[min(k, len(chars) - 1):min(k + rng.randint(1, 12), len(chars))]
            elif op == 1:
                chars[k:k] = list(rng.choice(pieces))
            elif op == 2 and chars:
                j = rng.randrange(len(chars))
                chars[k:k] = chars[j:j + rng.randint(1, 20)]
            else:
                lines = "".join(chars).split("\n")
                rng.shuffle(lines)
                chars = list("\n".join(lines))
        yield "".join(chars)


def _load_or_grammar_error(text: str) -> None:
    try:
        load_grammar_text(text, "fuzz.yaml")
    except GrammarError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" for p in exc.problems)


def test_fuzz_mutated_grammars():
    rng = random.Random(1234)
    shipped = shipped_grammar_path().read_text(encoding="utf-8")
    for source in (GOOD, BAD, shipped[:3000]):
        for text in _mutations(source, rng, 150):
            _load_or_grammar_error(text)


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["{area}", "(a | b)", "[x", "<r>", "on", "kitchen"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["intents", "lists", "data", "sentences", "slots", "values", "range", "from", "to", "step",
                         "in", "out", "action", "topic", "payload", "qos", "retain", "expansion_rules",
                         "skip_words", "language", "wildcard", "A", "area", "r"]) | st.text(max_size=5),
        inner, max_size=4),
    max_leaves=25)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(YAML_VALUES)
def test_fuzz_random_structures(value):
    try:
        text = yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return
    _load_or_grammar_error(text)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_fuzz_random_text(text):
    _load_or_grammar_error(text)


# --- broken grammars: one clear problem each, and accepted ones always build a matcher ---------

def _one_sentence(sentence: str) -> str:
    return f"intents:\n  w:\n    data:\n      - sentences: ['{sentence}']\n"


def _rule_chain(n: int, body: str) -> str:
    rules = "".join(f"  r{i}: '{body.format(next=f'<r{i + 1}>')}'\n" for i in range(n)) + f"  r{n}: 'a'\n"
    return "expansion_rules:\n" + rules + _one_sentence("go <r0>")


@pytest.mark.parametrize("text, line, key, message, hint", [
    (_one_sentence("(" * 500 + "a" + ")" * 500), 4, "intents.w.data[0].sentences",
     "brackets nested more than 32 levels deep (column 33)", "fewer nested brackets"),
    (_one_sentence("[" * 989 + "a" + "]" * 989), 4, "intents.w.data[0].sentences",
     "brackets nested more than 32 levels deep", "fewer nested brackets"),
    ("intents: {w: {data: []}}", 1, "intents.w.data", "intent w has no sentences", "at least one sentence"),
    ("intents: {w: {data: [{slots: {a: b}}]}}", 1, "intents.w.data[0]", "data block has no 'sentences'",
     "sentences"),
    ("intents: {w: {data: [{sentences: [null]}]}}", 1, "intents.w.data[0].sentences",
     "expected text, got nothing", "text"),
    ("intents: {w: {data: [{sentences: [[a]]}]}}", 1, "intents.w.data[0].sentences", "expected text, got a list",
     "text"),
    ("intents: {w: {data: {sentences: [a]}}}", 1, "intents.w.data", "expected a list, got a mapping", "- item"),
    ("intents: {w: [1]}", 1, "intents.w", "expected a mapping, got a list", "name: value"),
    ("intents: {w: {data: [{sentences: [a], slots: {x: .nan}}]}}", 1, "intents.w.data[0].slots.x",
     "nan is not a value a slot can have", "finite"),
    ("intents: !e {w: {data: [{sentences: [a]}]}}", 1, None, "unknown tag '!e' on a mapping", "remove the tag"),
    ("intents:\n  ? [w]\n  : {data: [{sentences: [a]}]}\n", 2, None, "a key must be a name, not a list",
     "name: value"),
    ("lists: {c: {values: ['!']}}\n" + _one_sentence("x {c}"), 1, "lists.c.values",
     "value '!' has no words the recogniser can write", "English letters"),
    ("lists: {c: {values: []}}\n" + _one_sentence("x {c}"), 1, "lists.c.values", "empty list of values",
     "at least one value"),
    ("lists: {n: {range: {from: 0, to: 1" + "0" * 400 + "}}}\n" + _one_sentence("{n}"), 1, "lists.n.range",
     "range bounds must be finite numbers of at most 1e+12", "plain numbers"),
    (_rule_chain(40, "({next})"), 46, None, "nests brackets and rules 81 levels deep (at most 32)", "fewer nested"),
    (_rule_chain(3000, "{next}"), 3006, None, "nests brackets and rules 3001 levels deep", "fewer nested"),
    (_rule_chain(24, "{next} {next}"), 30, None, "has 50331648 words and groups once its rules are inlined",
     "split it"),
])
def test_a_broken_grammar_gives_one_clear_problem(text, line, key, message, hint):
    (problem,) = problems_of(text)
    assert (problem.file, problem.line, problem.key) == ("g.yaml", line, key), problem
    assert message in problem.message and hint in problem.hint, problem


def test_a_grammar_file_that_is_not_utf8(tmp_path: Path):
    path = tmp_path / "commands.yaml"
    path.write_bytes(b"intents:\n  # caf\xe9\n  w: {data: [{sentences: [a]}]}\n")
    with pytest.raises(GrammarError) as info:
        load_grammar([path])
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.hint) == (str(path), 2, "save the file as UTF-8")


def test_check_config_reports_a_broken_grammar_in_one_line_and_exits_78(tmp_path: Path, capsys):
    path = tmp_path / "commands.yaml"
    path.write_text(_one_sentence("(" * 500 + "a" + ")" * 500))
    assert main(["check-config", "--grammar", str(path)]) == EXIT_CONFIG
    head, problem = capsys.readouterr().err.splitlines()
    assert head == "voiced: 1 grammar error:"
    assert problem.startswith(f"  {path}:4: intents.w.data[0].sentences: brackets nested more than 32")


@pytest.mark.parametrize("text", [
    "lists: {area: {values: [kitchen]}}\nintents: {A: {data: [{sentences: ['{area}']}]}}",  # no carrier words
    "lists: {w: {wildcard: true}}\nintents: {A: {data: [{sentences: ['{w}']}]}}",
    "skip_words: [please]\nintents: {A: {data: [{sentences: [please]}]}}",  # only a skip word
    "intents: {A: {data: [{sentences: ['日本']}]}}",  # nothing the normaliser keeps
    "lists: {n: {range: {from: 0, to: 100000}}}\nintents: {A: {data: [{sentences: ['{n}']}]}}",
    "expansion_rules: {r: '[a]'}\nintents: {A: {data: [{sentences: ['<r>']}]}}",
    _rule_chain(8, "{next} [{next}]"),
    _one_sentence("(" * 32 + "a" + ")" * 32),
])
def test_every_accepted_grammar_builds_a_matcher_that_matches(text):
    matcher = Matcher(load_grammar_text(text))
    for sentence in ("a", "kitchen", "please", "go a a", "turn on the light", ""):
        assert isinstance(matcher.match(sentence).recognized, bool)
        matcher.candidates(sentence)


@pytest.mark.parametrize("depth, parsed", [(2, True), (50, True), (51, False), (900, False), (2000, False)])
def test_a_json_payload_nested_deeper_than_yaml_may_be_stays_text(depth, parsed):
    payload = "[" * depth + "]" * depth
    g = load_grammar_text("intents:\n  A:\n    data: [{sentences: [turn on]}]\n"
                          f"    action: {{topic: a/b, payload: '{payload}'}}\n")
    assert isinstance(g.intents["A"].action.payload, list if parsed else str)
