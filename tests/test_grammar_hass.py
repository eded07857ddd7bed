"""Home Assistant's intent files: its own excerpt and hassil-format files load, with one warning
per file for the keys only Home Assistant uses and one per list it fills at run time, and
match what hassil matches."""
from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from voiced.errors import GrammarError
from voiced.grammar import Matcher, NumberRange, load_grammar, load_grammar_text
from voiced.grammar.sample import Sampler
from voiced.paths import SHIPPED_GRAMMAR

FIXTURES = Path(__file__).parent / "fixtures" / "ha_intents"
HA_EN = FIXTURES / "homeassistant_en.yaml"  # an excerpt of Home Assistant's own (Apache-2.0)
LOCAL = FIXTURES / "local_lists.yaml"
RUNTIME = """
lists:
  name: {values: [{in: "desk lamp", out: light.desk_lamp}]}
  area: {values: [kitchen, {in: "living room", out: living_room}]}
  floor: {values: [upstairs]}
"""


@pytest.fixture(scope="module")
def ha_en():
    return load_grammar([HA_EN])


@pytest.fixture(scope="module")
def ha_matcher(ha_en):
    return Matcher(ha_en)


def test_home_assistant_files_load_with_one_warning_per_file_and_per_runtime_list(ha_en, caplog):
    ignored, *runtime = ha_en.warnings
    assert ignored.file == str(HA_EN) and ignored.line and ignored.hint
    assert ignored.message == ("ignored keys that only Home Assistant uses: responses, type (3), metadata (33), "
                               "response (33), requires_context (13)")
    assert [w.key for w in runtime] == ["lists.area", "lists.floor", "lists.name"]
    for w in runtime:
        assert "needs values" in w.message and "left out" in w.message and w.file == str(HA_EN) and w.hint
    # Sentences that need a runtime list are left out, intents left without sentences too.
    assert "HassMediaPause" in ha_en.intents and "HassNevermind" in ha_en.intents
    assert all("{name}" not in t.text for i in ha_en.intents.values() for t in i.templates)
    with caplog.at_level(logging.WARNING, logger="voiced.grammar.loader"):
        load_grammar([HA_EN])
    assert len([r for r in caplog.records if r.name == "voiced.grammar.loader"]) == 4


def test_runtime_lists_given_values_bring_their_sentences_back(tmp_path, ha_en):
    (tmp_path / "runtime.yaml").write_text(RUNTIME)
    grammar = load_grammar([HA_EN, tmp_path / "runtime.yaml"])
    assert [w.message.split(":")[0] for w in grammar.warnings] == ["ignored keys that only Home Assistant uses"]
    count = sum(len(i.templates) for i in grammar.intents.values())
    assert count > sum(len(i.templates) for i in ha_en.intents.values())
    result = Matcher(grammar).match("pause the desk lamp")
    assert result.intent == "HassMediaPause" and result.slots["name"].value == "light.desk_lamp"


def test_a_misspelt_list_is_still_an_error_not_a_runtime_list():
    with pytest.raises(GrammarError, match=r"unknown slot list '\{aera\}'"):
        load_grammar_text("intents: {A: {data: [{sentences: ['lights in {aera}']}]}}\n", "x.yaml")


@pytest.mark.parametrize("text, intent, slots", [
    ("set the brightness to 50%", "HassLightSet", {"brightness": 50}),
    ("brightness in here to 40 percent", "HassLightSet", {"brightness": 40}),         # permutation, one order
    ("set the brightness to 40 percent in here", "HassLightSet", {"brightness": 40}),  # ... and the other
    ("set the brightness to maximum", "HassLightSet", {"brightness": 100}),
    ("set the color temperature to 2700 kelvin", "HassLightSet", {"temperature": 2700}),
    ("set the temperature to 21.5 degrees", "HassClimateSetTemperature", {"temperature": 21.5}),
    ("set the temperature to twenty one and a half degrees", "HassClimateSetTemperature", {"temperature": 21.5}),
    ("add flour to my shopping list", "HassShoppingListAddItem", {"item": "flour"}),
    ("check off eggs from my list", "HassShoppingListCompleteItem", {"item": "eggs"}),
    ("check eggs off my list", "HassShoppingListCompleteItem", {"item": "eggs"}),
    ("turn the volume down to 20 percent", "HassSetVolume", {"volume_level": 20}),
    ("turn down the volume to 20 percent", "HassSetVolume", {"volume_level": 20}),
    ("what time is it", "HassGetCurrentTime", {}),
    ("never mind", "HassNevermind", {}),
    ("in 2 hours take out the pizza", "HassStartTimer", {"hours": 2, "conversation_command": "take out the pizza"}),
    ("open the blinds", "HassTurnOn", {"device_class": "blind"}),                      # blind[s]
])
def test_home_assistant_sentences_match(ha_matcher, text, intent, slots):
    result = ha_matcher.match(text)
    assert result.recognized and result.intent == intent, result.to_dict()
    assert {k: v.value for k, v in result.slots.items() if k in slots} == slots


def test_local_lists_and_rules_are_scoped_to_their_data_block():
    grammar = load_grammar([LOCAL])
    (warning,) = grammar.warnings
    assert warning.message.startswith("ignored keys that only Home Assistant uses: settings, metadata (2), type")
    for key in ("required_keywords", "context", "excludes_context", "requires_context", "response"):
        assert key in warning.message
    matcher = Matcher(grammar)
    cases = [
        ("set the heater to 2.5", "DeviceSet", {"device": "heater", "level": 2.5}),   # local list in a shared rule
        ("make the fan to seven point three", "DeviceSet", {"device": "fan", "level": 7.3}),
        ("turn the fan down by 5%", "DeviceDown", {"device": "fan", "step": -5}),     # multiplier: -1
        ("good morning everyone ben", "Greet", {"person": "ben"}),                  # local rules, local list
        ("good everyone morning", "Greet", {}),
    ]
    for text, intent, slots in cases:
        result = matcher.match(text)
        assert result.recognized and result.intent == intent, (text, result.to_dict())
        assert {k: v.value for k, v in result.slots.items()} == slots, text
    # Another block of the same intent does not see the local list: "heater" is no fan.
    assert matcher.match("set the heater to 3").slots["device"].value == "heater"
    assert "intents.DeviceSet.data[0].lists.device" in grammar.lists and "heater" not in {
        v.value for v in grammar.lists["device"].values}


@pytest.mark.parametrize("yaml_text, message", [
    ("lists: {t: {range: {from: 5, to: 35, fractions: thirds}}}", "unknown fractions 'thirds'"),
    ("lists: {t: {range: {from: 5, to: 35, step: 0.5, fractions: halves}}}", "fractions need whole numbers"),
    ("lists: {t: {range: {from: 0, to: 9, digits: false, words: false}}}", "matches no number"),
    ("lists: {t: {range: {from: 0, to: 9, words_language: de}}}", "number words in 'de'"),
    ("lists: {t: {range: {from: 0, to: 9, multiplier: x}}}", "expected int or number"),
    ("expansion_rules: {r: '{t}'}\nlists: {u: {values: [a]}}\n"
     "intents: {B: {data: [{sentences: ['b <r>'], lists: {t: {values: [x]}}}, {sentences: ['c <r>']}]}}",
     "rule <r> uses list '{t}', which this sentence's data block does not define"),
])
def test_range_and_scope_mistakes_are_errors_with_line_key_and_hint(yaml_text, message):
    text = yaml_text if "intents" in yaml_text else yaml_text + "\nintents: {A: {data: [{sentences: ['a {t}']}]}}"
    with pytest.raises(GrammarError) as info:
        load_grammar_text(text, "x.yaml")
    problem = next(p for p in info.value.problems if message in p.message)
    assert problem.file == "x.yaml" and problem.line and problem.hint


def test_fractions_and_multiplier():
    halves = NumberRange(5, 35, 1, (0.5,))
    assert halves.numbers()[:3] == [5, 5.5, 6] and halves.numbers()[-1] == 35
    assert halves.contains(21.5) and halves.contains(35) and not halves.contains(35.5) and not halves.contains(4.5)
    assert halves.canonical(21) == 21.0 and isinstance(halves.canonical(21), float)
    tenths = NumberRange(0, 1, 1, tuple(k / 10 for k in range(1, 10)))
    assert tenths.numbers() == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] and tenths.contains(0.3)
    down = NumberRange(0, 100, 5, multiplier=-1)
    assert down.contains(10) and down.canonical(10) == -10 and down.values()[:3] == [0, -5, -10]


# --- against hassil itself -------------------------------------------------------------------


def test_the_shipped_command_set_loads_in_hassil():
    hassil = pytest.importorskip("hassil")
    with open(SHIPPED_GRAMMAR, encoding="utf-8") as f:
        intents = hassil.Intents.from_yaml(f)
    assert set(intents.intents) == set(load_grammar([SHIPPED_GRAMMAR]).intents)
    result = hassil.recognize("set the temperature to 21.5 degrees", intents)
    assert result.intent.name == "ClimateSetTemperature" and result.entities["temperature"].value == 21.5


@pytest.mark.parametrize("path, seed", [(HA_EN, 1), (LOCAL, 2)])
def test_sampled_sentences_match_as_in_hassil(tmp_path, path, seed):
    """Every sentence sampled from the file, matched by voiced, is a reading hassil also finds.
    Sentences naming an entity are left out: hassil then also checks the entity's domain
    against `requires_context`, which voiced ignores on purpose."""
    hassil = pytest.importorskip("hassil")
    from hassil.intents import TextSlotList

    with open(path, encoding="utf-8") as f:
        theirs = hassil.Intents.from_yaml(f)
    lists = {"name": TextSlotList.from_tuples([("desk lamp", "light.desk_lamp")]),
             "area": TextSlotList.from_tuples([("kitchen", "kitchen"), ("living room", "living_room")]),
             "floor": TextSlotList.from_tuples([("upstairs", "upstairs")])}
    (tmp_path / "runtime.yaml").write_text(RUNTIME)
    grammar = load_grammar([path, tmp_path / "runtime.yaml"])
    matcher, sampler, rng = Matcher(grammar), Sampler(grammar), random.Random(seed)
    checked = 0
    while checked < 120:
        sample = sampler.sample(rng)
        if "name" in sample.slots:
            continue
        checked += 1
        ours = matcher.match(sample.text)
        assert ours.recognized, sample
        mine = (ours.intent, {k: _plain(v.value) for k, v in ours.slots.items() if v.raw})
        readings = [(r.intent.name, {k: _plain(e.value) for k, e in r.entities.items() if e.text})
                    for r in hassil.recognize_all(sample.text, theirs, slot_lists=lists,
                                                  intent_context={"area": "kitchen"})]
        assert mine in readings, (sample.text, mine, readings[:3])


def _plain(value):
    return float(value) if isinstance(value, (int, float)) else str(value).strip()
