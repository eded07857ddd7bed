"""The template walker: every node type has a handler in every visitor, and the derived
operations (references, expand, count, render) agree with each other."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import random
from dataclasses import dataclass
from typing import Optional, Sequence, get_args

import numpy as np
import pytest

import voiced.grammar
from voiced.grammar import load_grammar_text
from voiced.grammar.sample import SPOKEN, WRITTEN, Draws, Sampler
from voiced.grammar.template import Alt, Node, Seq, SlotRef, Words, parse_template
from voiced.grammar.walk import HANDLERS, Chooser, UnhandledNode, Visitor, can_be_empty, count, expand, references, render

# Modules outside voiced.grammar that walk templates (voiced.grammar is imported whole below).
WALKING_MODULES = ("voiced.evaluation.sentences", "voiced.rescoring.carriers", "voiced.rescoring.neighbours")


def _all_subclasses(cls: type) -> set:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _import_walkers() -> None:
    for module in pkgutil.iter_modules(voiced.grammar.__path__, "voiced.grammar."):
        importlib.import_module(module.name)
    for name in WALKING_MODULES:
        importlib.import_module(name)


def test_every_node_type_has_a_handler():
    """Adding a node type to template.Node fails here until HANDLERS and Visitor handle it."""
    assert set(HANDLERS) == set(get_args(Node))
    assert set(HANDLERS.values()) == set(Visitor.__abstractmethods__)


def test_every_visitor_and_chooser_handles_every_node_type():
    _import_walkers()
    visitors = [c for c in _all_subclasses(Visitor) if c.__module__.startswith("voiced.")]
    assert len(visitors) >= 6  # references, expand, count, render, the graph's two, the loader's
    for cls in visitors + [c for c in _all_subclasses(Chooser) if c.__module__.startswith("voiced.")]:
        assert not inspect.isabstract(cls), f"{cls.__module__}.{cls.__name__} misses {cls.__abstractmethods__}"


def test_a_visitor_missing_a_handler_cannot_be_made():
    class NoAlt(Visitor[int]):
        def words(self, node):
            return 0

        def slot(self, node):
            return 0

        def rule(self, node):
            return 0

        def seq(self, node):
            return 0

    with pytest.raises(TypeError, match="alt"):
        NoAlt()


def test_an_unknown_node_type_fails_loudly():
    @dataclass(frozen=True)
    class Perm:
        options: tuple = ()

    with pytest.raises(UnhandledNode, match="Perm"):
        references(Seq((Words("a"), Perm())))


def test_references_in_order_without_inlining_rules():
    slots, rules = references(parse_template("set {area} [to {level:brightness}] <please> (now | <later>)"))
    assert [(s.list_name, s.slot_name) for s in slots] == [("area", "area"), ("level", "brightness")]
    assert [r.name for r in rules] == ["please", "later"]


def _texts(ways) -> list:
    return [" ".join(p if isinstance(p, str) else "{" + p.slot_name + "}" for p in way) for way in ways]


def test_expand_every_way_with_rules_inlined():
    rules = {"on": parse_template("(turn | switch) on")}
    tree = parse_template("<on> [the] {area} (light | lights)")
    assert _texts(expand(tree, 100, rules=rules, words=str.split)) == [
        "turn on {area} light", "turn on {area} lights", "turn on the {area} light", "turn on the {area} lights",
        "switch on {area} light", "switch on {area} lights", "switch on the {area} light",
        "switch on the {area} lights"]


def test_expand_caps_repeats_and_rule_depth():
    tree = parse_template("(a | a | b) (c | d)")
    assert len(expand(tree, 100)) == 6
    assert len(expand(tree, 100, words=str.split, distinct=True)) == 4
    assert len(expand(tree, 3)) == 3
    rules = {"r1": parse_template("x <r2>"), "r2": parse_template("y")}
    assert _texts(expand(parse_template("<r1>"), 10, rules=rules, words=str.split)) == ["x y"]
    assert _texts(expand(parse_template("<r1>"), 10, rules=rules, max_depth=1, words=str.split)) == ["x"]
    assert _texts(expand(parse_template("<missing> z"), 10, words=str.split)) == ["z"]


def test_count_agrees_with_expand():
    rules = {"on": parse_template("(turn | switch) on")}
    tree = parse_template("<on> [the] {area} (light | lights) [please | now]")
    forms = {"area": 4}
    ways = expand(tree, 10_000, rules=rules)
    expected = sum(np.prod([forms[p.slot_name] for p in way if isinstance(p, SlotRef)] or [1]) for way in ways)
    assert count(tree, lambda s: forms[s.slot_name], rules=rules) == expected == 2 * 2 * 4 * 2 * 3


def test_permutations_expand_in_hassils_order_and_count_agrees():
    tree = parse_template("(pause; [in] {area}; now)")
    texts = _texts(expand(tree, 100, words=str.split))
    assert texts[:4] == ["pause {area} now", "pause in {area} now", "pause now {area}", "pause now in {area}"]
    assert len(texts) == 6 * 2 and len(set(texts)) == 12
    assert count(tree, lambda s: 3) == 6 * 2 * 3
    slots, _ = references(tree)
    assert [s.slot_name for s in slots] == ["area"]


def test_sampled_permutations_say_every_item_once_in_some_order():
    grammar = load_grammar_text("""
language: en
lists: {area: {values: [kitchen]}}
intents:
  Pause: {data: [{sentences: ["(pause; [in] [the] {area}; now)"]}]}
""", "<test>")
    sampler, rng = Sampler(grammar), random.Random(3)
    seen = set()
    for _ in range(60):
        words = sampler.sample(rng, "Pause").text.split()
        assert {"pause", "kitchen", "now"} <= set(words)
        seen.add(tuple(w for w in words if w in ("pause", "kitchen", "now")))
    assert len(seen) == 6


class _First(Chooser):
    """Always the first option, every optional part, slots by name."""

    def words(self, node: Words) -> Sequence[str]:
        return node.text.split()

    def slot(self, node: SlotRef) -> str:
        return node.slot_name.upper()

    def option(self, node: Alt, depth: int) -> Optional[Seq]:
        return node.options[0]


def test_render_follows_the_chooser_and_inlines_rules():
    rules = {"on": parse_template("(turn | switch) on")}
    tree = parse_template("<on> [the] {area} (light | lights)")
    assert render(tree, _First(), rules=rules) == ["turn", "on", "the", "AREA", "light"]
    assert render(tree, _First(), rules=rules, max_depth=0) == ["the", "AREA", "light"]


GRAMMAR = """
language: en
intents:
  Dim:
    data:
      - sentences: ["dim [the] {area} to {level} percent", "(set | put) {area} at {level}"]
  Shop:
    data:
      - sentences: ["add {item} to the list"]
lists:
  area: {values: [kitchen, {in: "(living room | lounge)", out: living_room}]}
  level: {range: {from: 0, to: 100}}
  item: {wildcard: true}
"""


def test_draws_match_the_stdlib_and_numpy_choices():
    items = list(range(37))
    a, b = random.Random(4), random.Random(4)
    assert [Draws(a).pick(items) for _ in range(50)] == [b.choice(items) for _ in range(50)]
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    assert [Draws(a).pick(items) for _ in range(50)] == [items[int(b.integers(len(items)))] for _ in range(50)]


def test_one_sampler_for_written_and_spoken_numbers():
    grammar = load_grammar_text(GRAMMAR, "<test>")
    written, spoken = Sampler(grammar, WRITTEN), Sampler(grammar, SPOKEN)
    assert spoken.intents == ["Dim", "Shop"]
    rng = random.Random(1)
    texts = [written.sample(rng, "Dim").text for _ in range(100)]
    assert any(any(c.isdigit() for c in t) for t in texts)
    gen = np.random.default_rng(1)
    for _ in range(100):
        s = spoken.sample(gen)
        assert not any(c.isdigit() for c in s.text)
        if s.intent == "Shop":
            assert s.slots["item"] in s.text
        else:
            assert set(s.slots) == {"area", "level"} and s.slots["area"] in ("kitchen", "living_room")


@pytest.mark.parametrize("template, empty", [
    ("[i'd like] [a | an] [{drink}] [please]", True),
    ("<want> [{drink}]", True),      # the rule's words are all optional too
    ("(a | [an]) [{drink}]", True),  # an optional option
    ("pause [the] [music]", False),
    ("[please] {drink}", False),     # a slot must be said
    ("(<want>; [{drink}])", True),   # a permutation of optional items
    ("(<want>; please)", False),
])
def test_a_template_can_be_empty_only_when_every_word_is_optional(template, empty):
    rules = {"want": parse_template("[i would like | can i get]")}
    assert can_be_empty(parse_template(template), rules=rules) is empty
