"""Template parser: hassil syntax, precise errors, and nothing but TemplateError on bad input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiced.grammar.template import (
    MAX_NESTING,
    Alt,
    Perm,
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
    ("(a; b | c)", "mixes '|' and ';'", 7),
    ("(a; ) b", "empty item in a permutation", 5),
    ("(a; b; c; d; e; f)", "more than 5 items", 3),
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


def test_permutations_in_brackets_optional_and_at_the_top():
    tree = parse_template("(pause; [in] the {area}) now")
    perm, now = tree.items
    assert isinstance(perm, Perm) and len(perm.items) == 2 and now == Words(" now")
    opt = parse_template("play [loud; now]").items[1]
    assert isinstance(opt, Alt) and opt.optional and isinstance(opt.options[0].items[0], Perm)
    assert isinstance(parse_template("a; b").items[0], Perm)
    assert [o.items for o in Perm((Seq((Words("a"),)), Seq((Words("b"),)))).orders().options] == [
        (Seq((Words("a"),)), Seq((Words("b"),))), (Seq((Words("b"),)), Seq((Words("a"),)))]


def _forms(node) -> list:
    assert isinstance(node, Alt)
    return [" ".join(o.items[0].text.split()) for o in node.options]


@pytest.mark.parametrize("text, forms, optional", [
    ("blind[s]", ["blind", "blinds"], False),
    ("auto[matic]", ["auto", "automatic"], False),
    ("day[ ]light", ["daylight", "day light"], False),
    ("(lock|garage door)[s]", ["lock", "locks", "garage door", "garage doors"], False),
    ("[[of ](the|my)]", ["the", "my", "of the", "of my"], True),
])
def test_glued_groups_are_spelt_out_like_hassil_reads_them(text, forms, optional):
    """hassil matches characters: a group written against a word belongs to that word."""
    node = parse_template(text).items[-1]
    if isinstance(node, Alt) and len(node.options) == 1 and isinstance(node.options[0].items[0], Alt):
        node = Alt(node.options[0].items[0].options, optional=node.optional)
    assert _forms(node) == forms and node.optional == optional


def test_slots_and_spacing_groups_stay_words():
    tree = parse_template("{hours}( |-)hour[s] timer")
    slot, unit, rest = tree.items
    assert isinstance(slot, SlotRef) and _forms(unit) == ["hour", "hours"] and rest == Words(" timer")
    # A group of spaces or punctuation alone is a spacing choice, not an empty alternative.
    assert parse_template("turn [ ] on").items[1] == Alt((Seq((Words(" "),)),), optional=True)
    assert len(parse_template("on ( |-) off").items[1].options) == 2
    # Nothing glued: the tree is the one the words were written as.
    assert parse_template("turn on [the] light").items[0] == Words("turn on ")
