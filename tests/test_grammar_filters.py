"""Action filters and lists of actions: scaled and mapped values, every mistake found at load."""
from __future__ import annotations

import json
import textwrap

import pytest

from voiced.errors import GrammarError
from voiced.grammar import Matcher, load_grammar_text, render_action
from voiced.grammar.actions import action_list
from voiced.grammar.filters import FilterError, parse

GRAMMAR = textwrap.dedent("""\
    lists:
      area: {values: [{in: "living room", out: living_room}, kitchen]}
      brightness: {range: {from: 0, to: 100}}
      color: {values: [red, green, {in: "warm white", out: warm_white}]}
    intents:
      Dim:
        data:
          - sentences: ["dim [the] {area} light to {brightness} [percent]"]
        action:
          - topic: "zigbee2mqtt/{area}_light/set"
            payload: {"brightness": "{brightness * 2.54 | round}",
                      "scaled": "{brightness | scale(0, 100, 0, 254) | round | clamp(1, 254)}"}
          - topic: "log/{area}"
            payload: '{"tenths": {brightness / 10 | int}, "note": "{area} at {brightness + 0.5}"}'
            retain: true
      Color:
        data:
          - sentences: ["set [the] {area} light to {color}"]
        action:
          topic: "zigbee2mqtt/{area | map(rooms)}/set"
          payload: {"state": "ON", "color": "{color | map(colors)}", "text": "color {color | map(colors)}"}
          maps:
            rooms: {living_room: lounge_bulb, kitchen: kitchen_bulb}
            colors: {red: {hex: "#ff0000"}, green: {hex: "#00ff00"}, warm_white: {color_temp: 454}}
    """)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_grammar_text(GRAMMAR))


def rendered(matcher: Matcher, text: str):
    result = matcher.match(text)
    assert result.recognized, text
    return [(topic, json.loads(payload)) for topic, payload in
            (render_action(a, result) for a in action_list(matcher.grammar.intents[result.intent].action))]


def test_arithmetic_scale_round_and_clamp_give_device_numbers(matcher):
    assert rendered(matcher, "dim the living room light to 50 percent") == [
        ("zigbee2mqtt/living_room_light/set", {"brightness": 127, "scaled": 127}),
        ("log/living_room", {"tenths": 5, "note": "living_room at 50.5"}),
    ]
    first, _ = rendered(matcher, "dim the kitchen light to 0 percent")
    assert first[1] == {"brightness": 0, "scaled": 1}  # clamp keeps a dimmed light on
    first, _ = rendered(matcher, "dim the kitchen light to 100 percent")
    assert first[1] == {"brightness": 254, "scaled": 254}


def test_several_actions_are_read_in_order_with_their_own_settings(matcher):
    actions = action_list(matcher.grammar.intents["Dim"].action)
    assert [a.topic for a in actions] == ["zigbee2mqtt/{area}_light/set", "log/{area}"]
    assert [a.retain for a in actions] == [False, True]


def test_map_gives_a_value_of_any_type_in_the_payload_and_text_in_a_topic(matcher):
    assert rendered(matcher, "set the living room light to green") == [
        ("zigbee2mqtt/lounge_bulb/set",
         {"state": "ON", "color": {"hex": "#00ff00"}, "text": 'color {"hex": "#00ff00"}'})]
    assert rendered(matcher, "set the kitchen light to warm white")[0][1]["color"] == {"color_temp": 454}


@pytest.mark.parametrize("text, steps", [
    ("brightness", ()),
    (" brightness * 2.54 | round ", (("*", (2.54,)), ("round", ()))),
    ("b|scale(0,100,0,254)|int|clamp(1, 254)", (("scale", (0, 100, 0, 254)), ("int", ()), ("clamp", (1, 254)))),
    ("color | map(colors)", (("map", ("colors",)),)),
    ("t - -1.5", (("-", (-1.5,)),)),
])
def test_expressions_that_parse(text, steps):
    assert tuple((s.op, s.args) for s in parse(text).steps) == steps


@pytest.mark.parametrize("text, message", [
    ("", "not a slot name"),
    ("__import__('os').system('x')", "not a slot name"),
    ("a * b", "not a slot name"),
    ("a * 2 * 3", "not a slot name"),   # one constant only
    ("a | upper", "unknown filter"),
    ("a | round(2)", "takes 0 argument"),
    ("a | clamp(5, 1)", "lo above hi"),
    ("a | scale(1, 1, 0, 9)", "empty range"),
    ("a | map(x.y z)", "needs the name of a map"),
    ("a / 0", "divides by zero"),
    ("a | clamp(1, nan)", "not a finite number"),
])
def test_expressions_that_are_refused(text, message):
    with pytest.raises(FilterError, match=message):
        parse(text)


def test_round_is_halves_up_and_text_is_no_number():
    assert parse("x | round").apply(126.5, {}) == 127 and parse("x | round").apply(-0.5, {}) == 0
    with pytest.raises(FilterError, match="needs a number"):
        parse("x * 2").apply("kitchen", {})


def test_every_filter_mistake_is_reported_at_load_with_line_and_hint():
    with pytest.raises(GrammarError) as info:
        load_grammar_text(textwrap.dedent("""\
            lists:
              area: {values: [kitchen, hall]}
              color: {values: [red, blue]}
            intents:
              A:
                data:
                  - sentences: ["a {area} {color}"]
                action:
                  - topic: "x/{area | map(nope)}"
                    payload: {"a": "{area * 2}", "b": "{color | rnd}"}
                  - topic: "y"
                    payload: {"c": "{color | map(colors)}"}
                    maps: {colors: {red: {hex: "#ff0000"}}, empty: {}}
            """), "g.yaml")
    got = [(p.line, p.key, p.message, p.hint) for p in info.value.problems]
    assert [(line, key) for line, key, _, _ in got] == [
        (9, "intents.A.action[0].topic"), (10, "intents.A.action[0].payload"),
        (10, "intents.A.action[0].payload"), (12, "intents.A.action[1].payload"),
        (13, "intents.A.action[1].maps.empty")]
    messages = " / ".join(m for _, _, m, _ in got)
    assert "map(nope), which the action does not define" in messages
    assert "cannot take the value 'kitchen'" in messages and "unknown filter 'rnd'" in messages
    assert "map colors has no entry for 'blue'" in messages
    assert all(hint for _, _, _, hint in got)


def test_a_broken_action_in_a_list_is_reported_and_the_list_is_dropped():
    with pytest.raises(GrammarError) as info:
        load_grammar_text(textwrap.dedent("""\
            intents:
              A:
                data:
                  - sentences: ["a"]
                action:
                  - {topic: x, payload: "1"}
                  - {payload: "2"}
            """), "g.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.key, problem.message) == (7, "intents.A.action[1]", "action has no 'topic'")


def test_the_publisher_sends_every_action_of_an_intent_in_order(matcher):
    from voiced.config import Config
    from voiced.mqtt.payloads import Utterance
    from voiced.mqtt.publisher import Publisher, StdoutLink, topics_for

    class Recording(StdoutLink):
        def __init__(self) -> None:
            super().__init__()
            self.sent = []

        def publish_many(self, messages):
            self.sent.extend(messages)
            return len(messages)

    config = Config()
    link = Recording()
    publisher = Publisher(link, topics_for(config), config.mqtt, config.site_id)
    result = matcher.match("dim the kitchen light to 40 percent")
    topics = publisher.publish(Utterance(id="u1", text=result.text, start_s=0.0, end_s=1.0), result,
                               matcher.grammar)
    assert topics[-2:] == ["zigbee2mqtt/kitchen_light/set", "log/kitchen"]
    (_, first, first_retain, first_qos), (_, second, second_retain, _) = link.sent[-2:]
    assert first_qos == 0  # an action's own QoS (0 unless the grammar says otherwise)
    assert json.loads(first) == {"brightness": 102, "scaled": 102} and not first_retain
    assert json.loads(second) == {"tenths": 4, "note": "kitchen at 40.5"} and second_retain
