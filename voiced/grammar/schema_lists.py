"""Slot lists of a grammar file: spoken values, number ranges and wildcards.

A list is read the same way at the top of a file (shared by every intent) and inside one
intent's data block (hassil's local lists, seen only by that block's sentences). Keys that
only Home Assistant uses are accepted and reported once per file (voiced.grammar.hass).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import yaml

from voiced.grammar import hass
from voiced.grammar.model import ListValue, NumberRange, SlotList
from voiced.grammar.normalize import tokenize
from voiced.grammar.template import Seq
from voiced.grammar.walk import expand, references
from voiced.grammar.yamlnodes import finite, mapping, parse_template_at, scalar, sequence

LIST_KEYS = ("values", "range", "wildcard")
RANGE_KEYS = ("from", "to", "step", "fractions", "multiplier", "digits", "words", "words_language")
VALUE_KEYS = ("in", "out")
FRACTIONS = {"halves": (0.5,), "tenths": tuple(k / 10 for k in range(1, 10))}
"""hassil's `fractions`: the parts said after each whole number of a range (21.5, 21.1 ... 21.9)"""
MAX_SPOKEN_FORMS = 64  # a value's "in" template is expanded; more forms than this is a mistake
MAX_RANGE_NUMBER = 1e12  # nobody says a bigger number in a command
MAX_RANGE_VALUES = 100000


def read_list(name: str, key_node: yaml.Node, node: yaml.Node, col: Any, key: str) -> Optional[SlotList]:
    """The list defined at `node` (`key` is its path, for messages), or None (reported)."""
    fields = mapping(node, col, key, LIST_KEYS)
    kinds = [k for k in LIST_KEYS if k in fields]
    if len(kinds) != 1:
        if isinstance(node, yaml.MappingNode):
            col.add("a list needs exactly one of 'values', 'range' or 'wildcard'", key_node, key=key,
                    hint="e.g. values: [kitchen, bedroom] or range: {from: 0, to: 100}")
        return None
    if "wildcard" in fields:
        flag = scalar(fields["wildcard"], col, f"{key}.wildcard", bool)
        if flag is False:
            col.add("wildcard: false defines no values", fields["wildcard"], key=f"{key}.wildcard",
                    hint="use 'values' instead, or wildcard: true")
        return SlotList(name, wildcard=True) if flag else None
    if "range" in fields:
        rng = read_range(fields["range"], col, f"{key}.range")
        return SlotList(name, range=rng) if rng else None
    values: List[ListValue] = []
    items = sequence(fields["values"], col, f"{key}.values")
    if not items and isinstance(fields["values"], yaml.SequenceNode):
        col.add("empty list of values", fields["values"], key=f"{key}.values", hint="list at least one value")
    for item in items:
        values.extend(_read_value(item, col, f"{key}.values"))
    return SlotList(name, values=tuple(values)) if values else None


def _read_value(item: yaml.Node, col: Any, key: str) -> List[ListValue]:
    if isinstance(item, yaml.MappingNode):
        parts = mapping(item, col, key, VALUE_KEYS, ignored=hass.VALUE_KEYS)
        if "in" not in parts:
            col.add("value needs 'in' (the spoken words)", item, key=key, hint="write {in: lounge, out: living_room}")
            return []
        spoken = finite(scalar(parts["in"], col, f"{key}.in", (str, int, float)), parts["in"], col, f"{key}.in")
        out = finite(scalar(parts["out"], col, f"{key}.out", (str, int, float)), parts["out"], col,
                     f"{key}.out") if "out" in parts else spoken
        if spoken is None or out is None:
            return []
        forms = _spoken_forms(str(spoken), parts["in"], col, f"{key}.in")
        return [ListValue(form, out) for form in forms]
    value = finite(scalar(item, col, key, (str, int, float)), item, col, key)
    if value is None:
        return []
    forms = _spoken_forms(str(value), item, col, key)
    if len(forms) > 1:
        col.add(f"value {value!r} has several spoken forms but no canonical value", item, key=key,
                hint=f"write {{in: {json.dumps(value)}, out: name}}")
        return []
    return [ListValue(form, value) for form in forms]


def _spoken_forms(text: str, node: yaml.Node, col: Any, key: str) -> List[str]:
    """A value's spoken side may itself be a template ("(living | sitting) room"): expand it."""
    if not text.strip():
        col.add("empty value", node, key=key, hint="write the spoken words")
        return []
    forms = [text] if not any(c in text for c in "()[]{}<>|;") else _template_forms(text, node, col, key)
    if forms and not any(tokenize(f) for f in forms):
        # Only English letters and digits survive normalisation; the matcher could never hear it.
        shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
        col.add(f"value {shown} has no words the recogniser can write", node, key=key,
                hint="spell it with English letters or digits, as it is said")
        return []
    return forms


def _template_forms(text: str, node: yaml.Node, col: Any, key: str) -> List[str]:
    tree = parse_template_at(text, node, col, key)
    if tree is None:
        return []
    forms = _expand(tree, MAX_SPOKEN_FORMS + 1)
    if forms is None:
        col.add("slots and rules cannot be used inside a list value", node, key=key,
                hint="use only words, (a | b) and [optional]")
        return []
    if len(forms) > MAX_SPOKEN_FORMS:
        col.add(f"value expands to more than {MAX_SPOKEN_FORMS} spoken forms", node, key=key,
                hint="split it into several values")
        return []
    return [f for f in dict.fromkeys(" ".join(f.split()) for f in forms) if f]


def _expand(node: Seq, limit: int) -> Optional[List[str]]:
    """The ways of saying a list value's template (at most `limit`); None when it uses slots or rules."""
    slots, rules = references(node)
    if slots or rules:
        return None
    return [" ".join(str(piece) for piece in way) for way in expand(node, limit)]


def read_range(node: yaml.Node, col: Any, key: str) -> Optional[NumberRange]:
    fields = mapping(node, col, key, RANGE_KEYS, ignored=hass.RANGE_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    nums: Dict[str, Any] = {}
    for name in ("from", "to", "step", "multiplier"):
        if name in fields:
            nums[name] = scalar(fields[name], col, f"{key}.{name}", (int, float))
    for name in ("from", "to"):
        if name not in fields:
            col.add(f"range needs '{name}'", node, key=key, hint="write range: {from: 0, to: 100, step: 1}")
    fractions = _fractions(fields, col, key)
    ok = _number_forms(fields, col, key)
    start, stop, step = nums.get("from"), nums.get("to"), nums.get("step", 1)
    multiplier = nums.get("multiplier")
    if start is None or stop is None or step is None or fractions is None or ("multiplier" in fields and
                                                                              multiplier is None):
        return None
    # abs() first: math.isfinite of an int beyond a float's range raises OverflowError
    if not all(abs(x) <= MAX_RANGE_NUMBER for x in (start, stop, step, multiplier or 0)):
        col.add(f"range bounds must be finite numbers of at most {MAX_RANGE_NUMBER:g}", node, key=key,
                hint="write plain numbers")
        return None
    if step <= 0:
        col.add(f"step {step} must be greater than 0", fields.get("step", node), key=f"{key}.step",
                hint="use a positive step such as 1 or 5, and fractions: halves for 0.5")
        ok = False
    if start > stop:
        col.add(f"from {start} is greater than to {stop}", node, key=key, hint="swap 'from' and 'to'")
        ok = False
    if start < 0:
        col.add("negative numbers are not supported", fields["from"], key=f"{key}.from",
                hint="start at 0 or more (multiplier: -1 makes the values negative)")
        ok = False
    if fractions and not all(float(x).is_integer() for x in (start, stop, step)):
        col.add("fractions need whole numbers for from, to and step", fields["fractions"], key=f"{key}.fractions",
                hint="write whole numbers (fractions: halves adds the .5 between them)")
        ok = False
    if ok and (stop - start) / step * (1 + len(fractions)) > MAX_RANGE_VALUES:
        col.add(f"range has more than {MAX_RANGE_VALUES} values", node, key=key, hint="use a larger step")
        ok = False
    return NumberRange(start, stop, step, fractions, multiplier) if ok else None


def _fractions(fields: Dict[str, yaml.Node], col: Any, key: str) -> Optional[tuple]:
    """The fractional parts `fractions:` adds (() without it); None when it is wrong (reported)."""
    if "fractions" not in fields:
        return ()
    kind = scalar(fields["fractions"], col, f"{key}.fractions", str)
    if kind is None:
        return None
    if kind not in FRACTIONS:
        col.add(f"unknown fractions {kind!r}", fields["fractions"], key=f"{key}.fractions",
                hint=f"use one of: {', '.join(FRACTIONS)}")
        return None
    return FRACTIONS[kind]


def _number_forms(fields: Dict[str, yaml.Node], col: Any, key: str) -> bool:
    """hassil's `digits`, `words` and `words_language`: which ways of writing the number match.

    voiced turns number words into digits before matching, so both always match; the keys are
    checked so that a file hassil would refuse is refused here too."""
    flags = {name: scalar(fields[name], col, f"{key}.{name}", bool) for name in ("digits", "words")
             if name in fields}
    if flags.get("digits") is False and flags.get("words") is False:
        col.add("a range with digits: false and words: false matches no number", fields["words"],
                key=f"{key}.words", hint="leave out one of them")
        return False
    if "words_language" in fields:
        lang = scalar(fields["words_language"], col, f"{key}.words_language", str)
        if lang is not None and lang.lower().replace("_", "-").split("-")[0] != "en":
            col.add(f"number words in {lang!r} are not supported", fields["words_language"],
                    key=f"{key}.words_language", hint="only English number words are built in: use en")
            return False
    return True
