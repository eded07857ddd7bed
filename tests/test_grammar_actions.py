"""Per-intent MQTT actions: rendered from the match, typed payload values, clear failures."""
from __future__ import annotations

import json
import textwrap

import pytest

from voiced.grammar import (
    ActionError,
    Matcher,
    load_grammar,
    load_grammar_text,
    render_action,
)
from voiced.grammar.actions import check_action, placeholders
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
        ("set bed light brightness to 50 percent", "zigbee2mqtt/bed_light/set",
         {"state": "ON", "brightness_percent": 50}),
        ("set kitchen lights to green", "zigbee2mqtt/kitchen_light/set", {"state": "ON", "color_name": "green"}),
    ]:
        result = matcher.match(text)
        assert result.recognized, text
        got_topic, got_payload = render_action(matcher.grammar.intents[result.intent].action, result)
        assert (got_topic, json.loads(got_payload)) == (topic, payload), text
