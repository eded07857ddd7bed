"""Template parser: hassil syntax, precise errors, and nothing but TemplateError on bad input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiced.grammar.template import (
    MAX_NESTING,
    Alt,
    RuleRef,
    Seq,
    SlotRef,
    TemplateError,
    Words,
    parse_template,
    references,
)


def test_structure():
    tree = parse_template("(turn | switch) on [the] {area} <light>")
    alt, on, opt, slot, rule = tree.items
    assert isinstance(alt, Alt) and not alt.optional and len(alt.options) == 2
    assert on == Words(" on ")
    assert isinstance(opt, Alt) and opt.optional
    assert isinstance(slot, SlotRef) and (slot.list_name, slot.slot_name) == ("area", "area")
    assert isinstance(rule, RuleRef) and rule.name == "light"


def test_slot_with_its_own_name_and_top_level_alternatives():
    slots, _ = references(parse_template("from {city:origin} to {city:destination}"))
    assert [(s.list_name, s.slot_name) for s in slots] == [("city", "origin"), ("city", "destination")]
    tree = parse_template("next | skip")
    assert isinstance(tree, Seq) and isinstance(tree.items[0], Alt) and len(tree.items[0].options) == 2


@pytest.mark.parametrize("text, message, column", [
    ("turn (on | off", "never closed", 6),
    ("turn on)", "unbalanced ')'", 8),
    ("turn [on)", "closed by ')'", 9),
    ("turn (on | ) light", "empty alternative", 12),
    ("( | on)", "empty alternative", 3),
    ("turn on []", "empty alternative", 10),
    ("turn on {}", "bad slot reference", 9),
    ("turn on {room", "never closed", 9),
    ("turn on <>", "bad rule reference", 9),
    ("(a; b)", "permutations", 3),
    ("   ", "empty template", 1),
])
def test_errors_name_the_column(text, message, column):
    with pytest.raises(TemplateError) as info:
        parse_template(text)
    assert message in info.value.message
    assert info.value.column == column
    assert info.value.hint


ALPHABET = st.sampled_from(list("ab |()[]{}<>;:_ ") + ["on", "{x}", "<r>", "(a|b)", "[c]"])


@settings(max_examples=400)
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_fuzz_only_template_errors(text):
    try:
        tree = parse_template(text)
    except TemplateError as exc:
        assert exc.column >= 1
        return
    assert isinstance(tree, Seq)
    references(tree)


@pytest.mark.parametrize("opener, closer", [("(", ")"), ("[", "]")])
def test_nesting_is_limited_at_parse_time(opener, closer):
    assert isinstance(parse_template(opener * MAX_NESTING + "a" + closer * MAX_NESTING), Seq)
    for depth in (MAX_NESTING + 1, 500, 989, 5000):
        with pytest.raises(TemplateError) as info:
            parse_template(opener * depth + "a" + closer * depth)
        assert info.value.message == f"brackets nested more than {MAX_NESTING} levels deep"
        assert info.value.column == MAX_NESTING + 1 and info.value.hint
