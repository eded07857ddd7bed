"""Per-intent MQTT actions: rendered from the match, typed payload values, clear failures."""
from __future__ import annotations

import json
import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiced.errors import GrammarError
from voiced.grammar import (
    ActionError,
    Matcher,
    MatchResult,
    SlotMatch,
    load_grammar,
    load_grammar_text,
    render_action,
)
from voiced.grammar.actions import check_action, parse_payload, placeholders
from voiced.grammar.loader import shipped_grammar_path
from voiced.grammar.model import Action

GRAMMAR = textwrap.dedent("""\
    lists:
      area: {values: [{in: "living room", out: living_room}, kitchen]}
      brightness: {range: {from: 0, to: 100}}
    intents:
      LightBrightness:
        data:
          - sentences: ["set [the] {area} light to {brightness} [percent]"]
            slots: {transition: 2}
        action:
          topic: "zigbee2mqtt/{area}_light/set"
          payload: {"state": "ON", "brightness_percent": "{brightness}", "note": "{area} at {brightness}%",
                    "transition": "{transition}", "literal": "{{x}}"}
          retain: true
      Say:
        data:
          - sentences: ["say hello"]
        action:
          topic: "voiced/say"
          payload: "{intent}: {text}"
    """)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_grammar_text(GRAMMAR))


def test_render_dict_payload_keeps_types(matcher):
    result = matcher.match("set the living room light to 40 percent")
    action = matcher.grammar.intents["LightBrightness"].action
    assert action.retain and action.qos == 0
    topic, payload = render_action(action, result)
    assert topic == "zigbee2mqtt/living_room_light/set"
    assert json.loads(payload) == {"state": "ON", "brightness_percent": 40, "note": "living_room at 40%",
                                   "transition": 2, "literal": "{x}"}


def test_render_string_payload(matcher):
    result = matcher.match("Say hello!")
    topic, payload = render_action(matcher.grammar.intents["Say"].action, result)
    assert (topic, payload) == ("voiced/say", "Say: Say hello!")


def test_missing_slot_is_an_action_error(matcher):
    result = matcher.match("say hello")
    with pytest.raises(ActionError, match=r"\{area\}"):
        render_action(Action("lights/{area}/set"), result)


def test_checks():
    assert placeholders(Action("a/{x}/b", {"k": ["{y}", "{x}"]})) == ["x", "y"]
    problems = check_action(Action("a/+/{x}", {"k": "{y} {"}), ["x"])
    assert [p[0] for p in problems] == ["topic", "payload", "payload"]
    assert "wildcard" in problems[0][1] and "bad placeholder" in problems[1][1] and "{y}" in problems[2][1]


def test_shipped_light_actions_are_zigbee2mqtt():
    matcher = Matcher(load_grammar([shipped_grammar_path()]))
    for text, topic, payload in [
        ("turn on the kitchen lights", "zigbee2mqtt/kitchen_light/set", {"state": "ON"}),
        ("turn off all of the lights in the office", "zigbee2mqtt/office_light/set", {"state": "OFF"}),
        ("turn on standing light", "zigbee2mqtt/standing_light/set", {"state": "ON"}),
        ("set bed light brightness to 50 percent", "zigbee2mqtt/bed_light/set", {"state": "ON", "brightness": 127}),
        ("set the office lights to 100 percent", "zigbee2mqtt/office_light/set", {"state": "ON", "brightness": 254}),
        ("set kitchen lights to green", "zigbee2mqtt/kitchen_light/set", {"state": "ON", "color": {"hex": "#00ff00"}}),
        ("make the desk lamp warm white", "zigbee2mqtt/desk_lamp/set", {"state": "ON", "color": {"hex": "#ffb46b"}}),
    ]:
        result = matcher.match(text)
        assert result.recognized, text
        got_topic, got_payload = render_action(matcher.grammar.intents[result.intent].action, result)
        assert (got_topic, json.loads(got_payload)) == (topic, payload), text


# --- topics: checked at load, and every filled-in value at render --------------------------

def load_problems(text: str, name: str = "g.yaml"):
    with pytest.raises(GrammarError) as info:
        load_grammar_text(textwrap.dedent(text), name)
    return info.value.problems


def test_text_in_a_topic_is_a_grammar_error_with_file_and_line():
    (problem,) = load_problems("""\
        intents:
          Notify:
            data:
              - sentences: ["tell everyone"]
            action:
              topic: "notify/{text}"
              payload: "{text}"
        """)
    assert (problem.file, problem.line, problem.key) == ("g.yaml", 6, "intents.Notify.action.topic")
    assert "{text}" in problem.message and "payload" in problem.hint


def test_a_list_value_that_is_not_one_topic_level_is_a_grammar_error_naming_it():
    problems = load_problems("""\
        lists:
          area:
            values:
              - in: living room
                out: "living_room/#"
              - kitchen
              - "hall+way"
              - in: loft
                out: "attic/loft"
        intents:
          LightOn:
            data:
              - sentences: ["turn on the {area} light"]
            action:
              topic: "zigbee2mqtt/{area}_light/set"
              payload: {"state": "ON"}
        """)
    assert [p.line for p in problems] == [15, 15, 15] and {p.file for p in problems} == {"g.yaml"}
    messages = " | ".join(p.message for p in problems)
    for value in ("living_room/#", "hall+way", "attic/loft"):
        assert repr(value) in messages, messages
    assert "kitchen" not in messages


def test_a_free_text_slot_in_a_topic_is_a_grammar_error():
    (problem,) = load_problems("""\
        lists:
          item: {wildcard: true}
        intents:
          Add:
            data:
              - sentences: ["add {item}"]
            action: {topic: "list/{item}"}
        """)
    assert problem.line == 7 and "{item}" in problem.message


def test_shipped_grammar_with_a_wildcard_out_value_does_not_load(tmp_path):
    text = shipped_grammar_path().read_text()
    poisoned = text.replace("out: living_room", 'out: "living_room/#"', 1)
    assert poisoned != text
    path = tmp_path / "commands.yaml"
    path.write_text(poisoned)
    with pytest.raises(GrammarError) as info:
        load_grammar([path])
    problems = info.value.problems
    assert problems and all(p.file == str(path) and p.line for p in problems)
    assert all("living_room/#" in p.message for p in problems)


def test_a_topic_value_from_a_list_in_a_later_file_is_refused_when_rendered(tmp_path):
    # Lists may come from a later file, after the intent was checked: rendering still refuses.
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""\
        intents:
          LightOn:
            data:
              - sentences: ["turn on the {area} light"]
            action: {topic: "zigbee2mqtt/{area}_light/set", payload: {"state": "ON"}}
        """))
    (tmp_path / "b.yaml").write_text('lists:\n  area: {values: [{in: living room, out: "living_room/#"}]}\n')
    matcher = Matcher(load_grammar([tmp_path / "a.yaml", tmp_path / "b.yaml"]))
    result = matcher.match("turn on the living room light")
    assert result.recognized
    with pytest.raises(ActionError, match=r"\{area\}.*living_room/#.*wildcard"):
        render_action(matcher.grammar.intents["LightOn"].action, result)


# --- payloads: rendered as data --------------------------------------------------------------

def strict_json(text: str):
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=reject)


def result_with(text: str, **slots):
    return MatchResult(text=text, recognized=True, intent="Say",
                       slots={k: SlotMatch(v, str(v), 1.0) for k, v in slots.items()})


STRING_PAYLOADS = [
    '{"state": "ON", "item": "{item}", "said": "{text}"}',     # JSON text, placeholders in strings
    '{"state": "ON", "item": {item}, "said": {text}}',         # JSON text, bare placeholders
    '{{"state": "ON", "item": "{item}", "said": "{text}"}}',   # the escaped form
    '{{"state": "ON", "item": {item}, "said": {text} }}',
]
CRAFTED = ['", "state": "OFF', '"}, "state": "OFF", "x": {"', "back\\slash\\", 'quote " and \\"', "a/b/#/+",
           "nul \x00 here", "lone \ud800 surrogate", "\udfff", "{{x}}", "{item}", "}", "new\nline", "😀",
           float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 50]


@pytest.mark.parametrize("template", STRING_PAYLOADS)
def test_json_string_payloads_are_parsed_at_load(template):
    grammar = load_grammar_text(textwrap.dedent(f"""\
        lists:
          item: {{wildcard: true}}
        intents:
          Say:
            data:
              - sentences: ["say {{item}}"]
            action:
              topic: "voiced/say"
              payload: '{template}'
        """))
    action = grammar.intents["Say"].action
    assert isinstance(action.payload, dict), action.payload
    for value in CRAFTED:
        topic, payload = render_action(action, result_with(str(value) if isinstance(value, float) else value,
                                                           item=value))
        assert topic == "voiced/say"
        data = strict_json(payload)
        assert set(data) == {"state", "item", "said"} and data["state"] == "ON", (value, payload)
        if isinstance(value, float) and not math.isfinite(value):
            assert data["item"] is None  # non-finite numbers are sent as null
        elif isinstance(value, str) and "\ud800" not in value and "\udfff" not in value:
            assert data["item"] == value


def test_dict_payloads_never_gain_keys_and_stay_valid_json():
    action = Action("zigbee2mqtt/{area}/set", {"state": "ON", "note": "{area} said {text}", "n": "{n}",
                                               "{area}": "x"})
    for value in CRAFTED:
        area = f"room{len(str(value))}"
        result = MatchResult(text=str(value), recognized=True, intent="I",
                             slots={"area": SlotMatch(area, area, 1.0), "n": SlotMatch(value, "", 1.0)})
        topic, payload = render_action(action, result)
        assert topic.count("/") == 2
        data = strict_json(payload)
        assert set(data) == {"state", "note", "n", area} and data["state"] == "ON"


def test_a_filled_in_key_cannot_replace_another():
    action = Action("a/b", {"state": "ON", "{attr}": 1})
    with pytest.raises(ActionError, match="state"):
        render_action(action, MatchResult(text="", recognized=True, intent="I",
                                          slots={"attr": SlotMatch("state", "state", 1.0)}))


@pytest.mark.parametrize("value, reason", [("a/b", "'/'"), ("x#", "'#'"), ("+", "'+'"), ("nul\x00", "NUL"),
                                           ("\ud800", "UTF-8"), ("", "empty")])
def test_a_filled_in_topic_value_must_be_one_level(value, reason):
    with pytest.raises(ActionError) as info:
        render_action(Action("notify/{area}/set", {"state": "ON"}), result_with("x", area=value))
    assert "{area}" in str(info.value) and reason in str(info.value)


def test_plain_text_payloads_stay_text_and_encodable():
    for template, expected in [("ON", "ON"), ("{item} lamp", '", "x lamp'), ("{{item}}", "{item}")]:
        action = Action("voiced/say", parse_payload(template))
        _, payload = render_action(action, result_with("hi", item='", "x'))
        assert payload == expected
    _, payload = render_action(Action("voiced/say", "{text}"), result_with("a \ud800 b"))
    assert payload == "a \ufffd b" and payload.encode("utf-8")


def test_static_nan_in_a_payload_is_a_grammar_error():
    (problem,) = load_problems("""\
        intents:
          A:
            data: [{sentences: [a]}]
            action: {topic: a/b, payload: {"x": .nan}}
        """)
    assert "JSON" in problem.message and problem.line == 4


TRICKY = st.sampled_from(['"', "\\", "/", "#", "+", "\x00", "\ud800", "\udfff", "{", "}", ",", ":"])


@given(st.text(alphabet=TRICKY | st.characters(blacklist_categories=()), max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_text_renders_to_valid_json_with_the_same_keys(text):
    action = Action("voiced/say", parse_payload('{"state": "ON", "said": "{text}", "item": {item}}'))
    topic, payload = render_action(action, result_with(text, item=text))
    data = strict_json(payload)
    assert topic == "voiced/say" and set(data) == {"state", "said", "item"} and data["state"] == "ON"
