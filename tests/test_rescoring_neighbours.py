"""The sentence index: every grammar sentence by sound, nearest first."""
from __future__ import annotations

from voiced.grammar import Matcher, load_grammar_text
from voiced.rescoring.candidates import build_readings, neighbour_readings
from voiced.rescoring.neighbours import SentenceIndex

GRAMMAR = """
language: en
lists:
  area:
    values: [kitchen, office, bedroom, garage, {in: living room, out: living_room}]
  door:
    values: [{in: front door, out: front_door}, {in: back door, out: back_door}]
  brightness:
    range: {from: 0, to: 100}
  item:
    wildcard: true
intents:
  LightOn:
    data:
      - sentences: ["turn on [the] {area} (light | lights)"]
  LockLock:
    data:
      - sentences: ["lock the {door}"]
  LightBrightness:
    data:
      - sentences: ["set [the] {area} brightness to {brightness} percent"]
  ShoppingListAdd:
    data:
      - sentences: ["add {item} to [my] shopping list"]
  GarageClose:
    data:
      - sentences: ["close the garage"]
        slots: {device: garage_door}
"""


def grammar():
    return load_grammar_text(GRAMMAR)


def test_every_way_of_saying_every_list_template_is_indexed():
    index = SentenceIndex(grammar())
    # LightOn 5 areas x 2 optional x 2 alternatives, LockLock 2, brightness 5 areas x 2 (numbers
    # are one placeholder), GarageClose 1; the free-text template is left to the matcher
    assert len(index) == 20 + 2 + 10 + 1


def test_a_sentence_garbled_past_word_matching_is_found_by_sound():
    g = grammar()
    m = Matcher(g)
    tokens = m.tokens("Look the frown door")
    found = SentenceIndex(g).nearest(tokens, 3)
    assert found[0].intent == "LockLock" and found[0].slots["door"].value == "front_door"
    assert found[0].sentence == "lock the front door"
    assert 0 < found[0].similarity < 1
    assert len({n.sentence for n in found}) == len(found)


def test_numbers_heard_fill_number_slots_and_must_fit_the_range():
    g = grammar()
    m = Matcher(g)
    index = SentenceIndex(g)
    found = index.nearest(m.tokens("set the bedroom brightness to 40 per cent"), 2)
    assert found[0].intent == "LightBrightness"
    assert {k: s.value for k, s in found[0].slots.items()} == {"area": "bedroom", "brightness": 40}
    assert found[0].sentence == "set the bedroom brightness to 40 percent"
    out_of_range = index.nearest(m.tokens("set the bedroom brightness to 400 percent"), 5)
    assert all(n.intent != "LightBrightness" for n in out_of_range)


def test_fixed_slots_come_with_the_template():
    g = grammar()
    found = SentenceIndex(g).nearest(Matcher(g).tokens("clothes the garish"), 1)
    assert found[0].intent == "GarageClose"
    assert found[0].slots["device"].value == "garage_door"


def test_neighbour_readings_skip_sentences_already_in_the_list():
    g = grammar()
    m = Matcher(g)
    text = "turn on the kitchen lights"
    listed = build_readings(m, text, limit=4)
    more = neighbour_readings(m, SentenceIndex(g), text, 6, listed)
    assert len(more) == 6
    assert not {r.sentence for r in more} & {r.sentence for r in listed}
    assert all(r.source == "sentence" for r in more)
    for r in more:  # each a sentence the grammar says, with the slots it claims
        parsed = m.match(r.sentence)
        assert parsed.recognized and parsed.intent == r.intent
        assert {k: s.value for k, s in parsed.slots.items()} == {k: s.value for k, s in r.slots.items()}
