"""Candidate sentences: bounded, grammar-consistent, and written the way the recogniser writes."""
from __future__ import annotations

from voiced.grammar import Matcher, load_grammar_text
from voiced.grammar.normalize import compile_skip_words
from voiced.rescoring.candidates import Restyler, build_readings

GRAMMAR = """
language: en
skip_words: [please, "would you"]
lists:
  area:
    values: [kitchen, office, bedroom, garage, basement, attic, porch, hallway]
  color:
    values: [red, green, blue, yellow, purple, white, cyan, teal]
intents:
  LightColor:
    data:
      - sentences: ["set [the] {area} lights to {color}"]
  LightOn:
    data:
      - sentences: ["turn on [the] {area} light"]
"""


def matcher() -> Matcher:
    return Matcher(load_grammar_text(GRAMMAR))


def test_a_misheard_slot_gets_its_sound_alikes():
    m = matcher()
    readings = build_readings(m, "set the kitchen lights to grain", limit=32, values_per_slot=4)
    colors = [r.slots["color"].value for r in readings if r.intent == "LightColor"]
    assert "green" in colors
    assert readings[0].source == "parse"
    assert len({r.sentence for r in readings}) == len(readings)  # no duplicates


def test_an_unrelated_word_still_yields_the_closest_values():
    """'porch' heard as 'torch' is below no floor here: the alternatives include it."""
    m = matcher()
    readings = build_readings(m, "turn on the torch light", limit=32, values_per_slot=4)
    assert any(r.slots.get("area") and r.slots["area"].value == "porch" for r in readings)


def test_the_list_is_bounded():
    m = matcher()
    for limit in (1, 3, 5):
        assert 1 <= len(build_readings(m, "set the kitchen lights to grain", limit=limit)) <= limit


def test_out_of_grammar_text_has_few_or_no_readings():
    assert build_readings(matcher(), "the horizon seems extremely distant", limit=32) == []


def test_restyle_follows_the_transcript():
    skip = compile_skip_words(["please", "would you"])
    assert Restyler("What's the temperature on the Inkovi?")("what is the temperature of the ecobee") == \
        "What's the temperature of the ecobee"
    assert Restyler("Would you please turn on the living room lamp?", skip)("turn on the living room lamp") == \
        "Would you please turn on the living room lamp"
    assert Restyler("Set a time for three hours")("set a timer for 3 hours") == "Set a timer for three hours"
    assert Restyler("Weather in New York?")("weather in new york") == "Weather in New York"


def test_carrier_alternatives_say_the_reading_with_other_templates():
    grammar = GRAMMAR + """
  LightOff:
    data:
      - sentences: ["turn off [the] {area} light", "switch [the] {area} light off"]
"""
    m = Matcher(load_grammar_text(grammar))
    readings = build_readings(m, "switch the kitchen light of", limit=32)
    said = {(r.intent, r.sentence) for r in readings}
    assert ("LightOff", "switch the kitchen light off") in said
    assert ("LightOff", "turn off the kitchen light") in said
    assert any(r.source == "carrier" for r in readings)
    for r in readings:  # every sentence is one the grammar can say, with the reading's slots
        assert m.match(r.sentence).recognized


def test_a_template_with_an_optional_slot_more_is_a_carrier_too():
    """The parse used "timer for {minutes} minutes"; the usual wording's template also takes
    "[and {seconds} seconds]", and it is rendered without it. A template that requires a slot
    the reading does not say is not."""
    grammar = GRAMMAR + """
  TimerStart:
    data:
      - sentences:
          - "(set | start) [a] timer for {minutes} minutes [and {seconds} seconds]"
          - "timer for {minutes} minutes"
          - "set a timer for {minutes} minutes and {seconds} seconds exactly"
lists:
  minutes: {range: {from: 1, to: 100}}
  seconds: {range: {from: 1, to: 59}}
"""
    grammar = grammar.replace("lists:\n  area:", "lists:\n  minutes: {range: {from: 1, to: 100}}\n"
                              "  seconds: {range: {from: 1, to: 59}}\n  area:").rsplit("lists:\n  minutes", 1)[0]
    m = Matcher(load_grammar_text(grammar))
    readings = build_readings(m, "7 times for 5 minutes", limit=32)
    carriers = [r for r in readings if r.source == "carrier" and r.intent == "TimerStart"]
    assert any(r.sentence == "set timer for 5 minutes" for r in carriers)
    assert all("seconds" not in r.sentence and "exactly" not in r.sentence for r in readings)
    for r in readings:
        parsed = m.match(r.sentence)
        assert parsed.recognized and {k: s.value for k, s in parsed.slots.items()} == {"minutes": 5}


def test_a_slot_the_parse_dropped_is_offered_back():
    """'in the bathtub' cannot be placed, so the best parse is the template without {area};
    the readings still offer the template with the slot, filled from the words left unused."""
    grammar = GRAMMAR + """
  GetTemperature:
    data:
      - sentences: ["what is the temperature", "what is the temperature in the {area}"]
"""
    m = Matcher(load_grammar_text(grammar))
    readings = build_readings(m, "what is the temperature in the bathtub", limit=32, values_per_slot=4)
    assert readings[0].source == "parse" and "area" not in readings[0].slots
    offered = [r for r in readings if r.intent == "GetTemperature" and "area" in r.slots]
    assert 1 <= len(offered) <= 4
    for r in offered:  # each one a sentence the grammar says, with the slot it claims
        parsed = m.match(r.sentence)
        assert parsed.recognized and parsed.slots["area"].value == r.slots["area"].value


def test_the_matcher_answers_which_list_fills_a_slot_and_which_values_are_close():
    """What candidates ask the matcher instead of reading its compiled lists."""
    m = matcher()
    assert m.slot_lists() == {("LightColor", "area"): "area", ("LightColor", "color"): "color",
                              ("LightOn", "area"): "area"}
    close = m.closest_values("color", ["grain"], 3)
    assert [c.value for c in close][0] == "green" and len(close) == 3
    assert close[0].spoken == "green" and 0 < close[0].similarity < 1
    assert [c.similarity for c in close] == sorted((c.similarity for c in close), reverse=True)
    # the closest to any of several phrases; words are compared without spaces
    assert m.closest_values("area", ["the", "porch"], 1)[0].value == "porch"
    assert m.closest_values("area", ["hall way"], 1)[0].similarity == 1.0
    assert m.closest_values("nothing", ["grain"], 3) == [] and m.closest_values("color", [], 3) == []


def test_closest_values_can_give_each_value_once():
    m = Matcher(load_grammar_text("""
language: en
lists:
  area:
    values:
      - in: "(living room | lounge | sitting room)"
        out: living_room
      - kitchen
      - bedroom
intents:
  LightOn:
    data:
      - sentences: ["turn on the {area} light"]
"""))
    forms = m.closest_values("area", ["living room"], 3)
    assert [c.value for c in forms][:1] == ["living_room"] and len(forms) == 3
    values = m.closest_values("area", ["living room"], 3, distinct=True)
    assert sorted(c.value for c in values) == ["bedroom", "kitchen", "living_room"]
    assert values[0].spoken == "living room" and values[0].similarity == 1.0


ORDER = """
lists:
  size: {values: [small, large]}
  drink: {values: [latte, mocha, tea]}
intents:
  OrderDrink:
    data:
      - sentences: ["[i'd like | can i get] [a] [{size}] [{drink}] [please]"]
"""


def test_a_reading_of_only_optional_words_is_no_candidate():
    """"i'd like a" is a parse of the order with no slot value: no command, so no candidate; the
    template said with a value the parse left out is ("mocker": the audio chooses mocha)."""
    m = Matcher(load_grammar_text(ORDER))
    assert m.candidates("i'd like a mocker")
    offered = build_readings(m, "i'd like a mocker", limit=32)
    assert all(r.slots for r in offered) and "i would like a mocha" in {r.sentence for r in offered}
    readings = build_readings(m, "i'd like a large mocker", limit=32, values_per_slot=4)
    assert readings and all(r.slots for r in readings)
