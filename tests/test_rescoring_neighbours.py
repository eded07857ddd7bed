"""The sentence index: every grammar sentence by sound, nearest first."""
from __future__ import annotations

import itertools
import logging
import time
import tracemalloc

from voiced.config import RescoringConfig
from voiced.grammar import Matcher, load_grammar, load_grammar_text
from voiced.grammar.loader import shipped_grammar_path
from voiced.rescoring.candidates import build_readings, neighbour_readings
from voiced.rescoring.neighbours import SentenceIndex, count_sentences, plan_index

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


def test_each_choice_of_the_numbers_heard_is_a_sentence():
    """"set a timer" misheard as "7 times": the 7 was the only number offered, and the audio
    never got to choose "5 minutes"."""
    g = grammar()
    m = Matcher(g)
    found = SentenceIndex(g).nearest(m.tokens("set the bed 7 brightness to 40 percent"), 6)
    said = [(n.slots["area"].value, n.slots["brightness"].value) for n in found if n.intent == "LightBrightness"]
    assert ("bedroom", 7) in said and ("bedroom", 40) in said
    assert SentenceIndex(g).nearest(m.tokens("set the bedroom brightness to percent"), 5)[0].intent != "LightBrightness"


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


# One intent, six optional slots of 3-20 values in free order (the orders as alternatives):
# 135 million sentences. Building them all ran out of memory; the matcher never expands them.
ORDER_GRAMMAR = """
language: en
lists:
  size: {values: [small, medium, large]}
  temperature: {values: [hot, iced, warm, {in: extra hot, out: extra_hot}]}
  drink:
    values: [latte, cappuccino, espresso, americano, macchiato, mocha, {in: flat white, out: flat_white},
             cortado, chai, {in: hot chocolate, out: hot_chocolate}, tea, {in: green tea, out: green_tea},
             {in: iced tea, out: iced_tea}, lemonade, {in: orange juice, out: orange_juice}, smoothie,
             frappe, {in: cold brew, out: cold_brew}, {in: drip coffee, out: drip_coffee}, matcha]
  milk:
    values: [{in: oat milk, out: oat}, {in: soy milk, out: soy}, {in: almond milk, out: almond},
             {in: whole milk, out: whole}, {in: skim milk, out: skim}, {in: coconut milk, out: coconut},
             {in: rice milk, out: rice}, {in: lactose free milk, out: lactose_free}]
  syrup:
    values: [vanilla, caramel, hazelnut, cinnamon, peppermint, {in: pumpkin spice, out: pumpkin_spice},
             lavender, honey, maple, toffee, coconut, {in: white chocolate, out: white_chocolate}]
  shots:
    values: [{in: one shot, out: 1}, {in: single shot, out: 1}, {in: two shots, out: 2},
             {in: double shot, out: 2}, {in: three shots, out: 3}, {in: triple shot, out: 3}]
expansion_rules:
  want: "[i would like | i'd like | can i (get | have) | give me]"
  kind: "([{size}] [{temperature}] | [{temperature}] [{size}])"
  extras: "[with {milk} [and {syrup}] | with {syrup} [and {milk}]]"
intents:
  OrderDrink:
    data:
      - sentences:
          - "<want> [a | an] (<kind> [{drink}] <extras> [{shots}] | [{shots}] <kind> [{drink}] <extras>
            | [{drink}] <extras> <kind> [{shots}]) [please]"
  CancelOrder:
    data:
      - sentences: ["cancel [my] order"]
"""
ORDER_SENTENCES = 135_263_520


def grid_grammar_text() -> str:
    """One template with four slots of 100 values each: 10^8 sentences."""
    syllables = ["ka", "lo", "mi", "nu", "pe", "ri", "so", "tu", "va", "ze"]
    lists = ""
    for name in ("alpha", "beta", "gamma", "delta"):
        values = [name[0] + a + b for a, b in itertools.product(syllables, syllables)]
        lists += f"  {name}:\n    values: [{', '.join(values)}]\n"
    return (f"language: en\nlists:\n{lists}intents:\n"
            "  SetGrid:\n    data:\n      - sentences: [\"set {alpha} {beta} {gamma} {delta}\"]\n"
            "  LightOn:\n    data:\n      - sentences: [\"turn on [the] light\"]\n")


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_counting_matches_what_the_index_builds():
    g = grammar()
    counts = plan_index(g, None).counts
    assert counts == {("LightOn", 0): 20, ("LockLock", 0): 2, ("LightBrightness", 0): 10,
                      ("ShoppingListAdd", 0): 0, ("GarageClose", 0): 1}
    shipped = load_grammar([shipped_grammar_path()])
    plan = plan_index(shipped, RescoringConfig().max_index_sentences)
    assert not plan.left_out and plan.warning() is None
    assert plan.indexed == len(SentenceIndex(shipped, RescoringConfig().max_index_sentences))
    assert plan.indexed * 2 < RescoringConfig().max_index_sentences  # the default leaves room


def test_templates_beyond_the_limit_are_left_out_smallest_kept_first(caplog):
    g = grammar()
    with caplog.at_level(logging.WARNING, logger="voiced.rescoring"):
        index = SentenceIndex(g, max_sentences=13)  # LightOn's 20 do not fit; 10 + 2 + 1 do
    assert len(index) == 13
    assert index.plan.left_out == {("LightOn", 0)}
    [warning] = warnings_of(caplog)
    assert "LightOn" in warning and "20 sentences" in warning and "rescoring.neighbours: 0" in warning
    assert all(n.intent != "LightOn" for n in index.nearest(Matcher(g).tokens("turn on the kitchen light"), 5))


def test_with_the_search_an_intent_is_indexed_whole_or_searched_whole():
    g = load_grammar_text(ORDER_GRAMMAR.replace(
        '      - sentences: ["cancel [my] order"]',
        '      - sentences: ["cancel [my] order"]\n'
        '  Repeat:\n    data:\n      - sentences: ["[the] same again", "[a] {drink} again"]').replace(
        "[please]\"\n", "[please]\"\n          - \"[a] {drink} please\"\n"))
    assert len(g.intents["OrderDrink"].templates) == 2
    alone = plan_index(g, 1000)
    assert alone.left_out == {("OrderDrink", 0)}  # by size: the short order still fits
    searched = plan_index(g, 1000, whole_intents=True)
    assert searched.left_out == {("OrderDrink", 0), ("OrderDrink", 1)}
    assert searched.indexed == alone.counts[("CancelOrder", 0)] + alone.counts[("Repeat", 0)] + alone.counts[("Repeat", 1)]
    index = SentenceIndex(g, 1000, searched=True)
    assert {n.intent for n in index.nearest(Matcher(g).tokens("a latte please"), 5)} <= {"CancelOrder", "Repeat"}


def test_four_slots_of_a_hundred_values_leave_one_template_out_fast(caplog):
    g = load_grammar_text(grid_grammar_text())
    assert count_sentences(g, g.intents["SetGrid"].templates[0]) == 100 ** 4
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING, logger="voiced.rescoring"):
            index = SentenceIndex(g, RescoringConfig().max_index_sentences)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # building all 10^8 took 117 s and 3.5 GB before it failed
    assert elapsed < 5 and peak < 20e6
    assert len(index) == 2
    [warning] = warnings_of(caplog)
    assert "SetGrid" in warning and "100,000,000 sentences" in warning
    assert "max_index_sentences" in warning


def test_the_order_grammar_gets_a_rescorer_and_matcher_candidates(caplog, tiny_twin_model):
    from voiced.asr.transcriber import Transcriber
    from voiced.rescoring import make_rescorer

    g = load_grammar_text(ORDER_GRAMMAR)
    assert plan_index(g, None).counts[("OrderDrink", 0)] == ORDER_SENTENCES
    matcher = Matcher(g)
    transcriber = Transcriber(tiny_twin_model, warm=False)
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="voiced.rescoring"):
        rescorer = make_rescorer(RescoringConfig(constrained="off"), transcriber, matcher)
    assert time.perf_counter() - start < 10
    [warning] = warnings_of(caplog)
    assert "intent(s) OrderDrink left out" in warning and f"{ORDER_SENTENCES:,} sentences" in warning
    text = "can i get a large iced latte with oat milk and vanilla please"
    match = matcher.match(text)
    assert match.recognized and {k: s.value for k, s in match.slots.items()} == {
        "size": "large", "temperature": "iced", "drink": "latte", "milk": "oat", "syrup": "vanilla"}
    readings = build_readings(matcher, "can i get a large iced lotte with oak milk and vanilla", limit=8)
    assert readings and all(r.intent == "OrderDrink" for r in readings)
    assert rescorer is not None and len(rescorer._index) == 2  # CancelOrder only
