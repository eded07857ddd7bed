"""The grammar file schema: walks composed YAML nodes into the Grammar model.

Every check reports through the collector and carries on, so one load lists every problem.
"""
from __future__ import annotations

import difflib
import json
import math
from typing import Any, Dict, List, Optional, Tuple

import yaml

from voiced import yamlfile
from voiced.grammar import actions
from voiced.grammar.model import (
    Action,
    Grammar,
    Intent,
    ListValue,
    NumberRange,
    SlotList,
    Template,
)
from voiced.grammar.normalize import tokenize
from voiced.grammar.template import Seq, TemplateError, parse_template
from voiced.grammar.walk import expand, references

TOP_KEYS = ("language", "intents", "lists", "expansion_rules", "skip_words")
INTENT_KEYS = ("data", "action")
DATA_KEYS = ("sentences", "slots")
LIST_KEYS = ("values", "range", "wildcard")
RANGE_KEYS = ("from", "to", "step")
VALUE_KEYS = ("in", "out")
ACTION_KEYS = ("topic", "payload", "qos", "retain")
MAX_SPOKEN_FORMS = 64  # a value's "in" template is expanded; more forms than this is a mistake
MAX_RANGE_NUMBER = 1e12  # nobody says a bigger number in a command
_MISSING = object()


def read_file(root: yaml.Node, grammar: Grammar, col: Any, origins: Dict[Tuple[str, str], Tuple[str, int]],
              rule_lines: Dict[str, Tuple[str, int]]) -> None:
    top = _mapping(root, col, "", TOP_KEYS)
    if "language" in top:
        lang = _scalar(top["language"], col, "language", str)
        if lang is not None and lang.lower() not in ("en", "en-us", "en-gb", "en_us", "en_gb"):
            col.add(f"language {lang!r} is not supported", top["language"], key="language",
                    hint="only English ('en') number words and contractions are built in")
    if "skip_words" in top:
        for item in _sequence(top["skip_words"], col, "skip_words"):
            word = _scalar(item, col, "skip_words", str)
            if word is not None and word.strip():
                grammar.skip_words.append(word)
    if "expansion_rules" in top:
        for key_node, value_node in _mapping(top["expansion_rules"], col, "expansion_rules", None, items=True):
            name = key_node.value
            if _duplicate(("rule", name), key_node, col, origins, f"expansion_rules.{name}", "rule"):
                continue
            text = _scalar(value_node, col, f"expansion_rules.{name}", str)
            tree = parse_template_at(text, value_node, col, f"expansion_rules.{name}") if text is not None else None
            if tree is not None:
                grammar.rules[name] = tree
                rule_lines[name] = (col.file, value_node.start_mark.line + 1)
    if "lists" in top:
        for key_node, value_node in _mapping(top["lists"], col, "lists", None, items=True):
            name = key_node.value
            if not _duplicate(("list", name), key_node, col, origins, f"lists.{name}", "list"):
                slot_list = _read_list(name, key_node, value_node, col)
                if slot_list is not None:
                    grammar.lists[name] = slot_list
    if "intents" in top:
        intents = []
        for key_node, value_node in _mapping(top["intents"], col, "intents", None, items=True):
            name = key_node.value
            if not _duplicate(("intent", name), key_node, col, origins, f"intents.{name}", "intent"):
                intent, action_node = _read_intent(name, key_node, value_node, col)
                grammar.intents[name] = intent
                intents.append((intent, action_node))
        # Actions are checked once all rules of this file are known (templates may use rules).
        for intent, action_node in intents:
            _check_intent_action(intent, action_node, grammar, col)


def _duplicate(kind_name: Tuple[str, str], key_node: yaml.Node, col: Any,
               origins: Dict[Tuple[str, str], Tuple[str, int]], key: str, what: str) -> bool:
    line = key_node.start_mark.line + 1
    if kind_name in origins:
        file, first = origins[kind_name]
        col.add(f"duplicate {what} name '{kind_name[1]}'", key_node, key=key,
                hint=f"first defined at {file}:{first}; rename or merge them")
        return True
    origins[kind_name] = (col.file, line)
    return False


def _read_intent(name: str, key_node: yaml.Node, node: yaml.Node, col: Any) -> Tuple[Intent, Optional[yaml.Node]]:
    reported = len(col.problems)
    fields = _mapping(node, col, f"intents.{name}", INTENT_KEYS)
    intent = Intent(name=name, file=col.file, line=key_node.start_mark.line + 1)
    if "data" not in fields:
        if len(col.problems) == reported:  # not when the intent is no mapping at all (reported)
            col.add("intent has no 'data'", node, key=f"intents.{name}", hint="add data: [{sentences: [...]}]")
        return intent, None
    _read_data(intent, fields["data"], col)
    if not intent.templates and len(col.problems) == reported:
        # Nothing else explains it (e.g. data: []); an intent without sentences can never match.
        col.add(f"intent {name} has no sentences", fields["data"], key=f"intents.{name}.data",
                hint="add data: [{sentences: [...]}] with at least one sentence")
    if "action" in fields:
        intent.action = _read_action(fields["action"], col, f"intents.{name}.action")
    return intent, fields.get("action")


def _read_data(intent: Intent, node: yaml.Node, col: Any) -> None:
    name = intent.name
    for i, block in enumerate(_sequence(node, col, f"intents.{name}.data")):
        key = f"intents.{name}.data[{i}]"
        parts = _mapping(block, col, key, DATA_KEYS)
        fixed: Dict[str, Any] = {}
        if "slots" in parts:
            for k_node, v_node in _mapping(parts["slots"], col, f"{key}.slots", None, items=True):
                value = _finite(_scalar(v_node, col, f"{key}.slots.{k_node.value}", (str, int, float)),
                                v_node, col, f"{key}.slots.{k_node.value}")
                if value is not None:
                    fixed[k_node.value] = value
        if "sentences" not in parts:
            if isinstance(block, yaml.MappingNode):
                col.add("data block has no 'sentences'", block, key=key, hint="add sentences: [...]")
            continue
        sentences = _sequence(parts["sentences"], col, f"{key}.sentences")
        if not sentences and isinstance(parts["sentences"], yaml.SequenceNode):
            col.add("no sentences", parts["sentences"], key=f"{key}.sentences", hint="list at least one sentence")
        for s_node in sentences:
            text = _scalar(s_node, col, f"{key}.sentences", str)
            tree = parse_template_at(text, s_node, col, f"{key}.sentences") if text is not None else None
            if tree is not None:
                intent.templates.append(Template(text, tree, dict(fixed), col.file, s_node.start_mark.line + 1))


def _check_intent_action(intent: Intent, node: yaml.Node, grammar: Grammar, col: Any) -> None:
    if intent.action is None or not intent.templates or node is None:
        return
    # Point at the topic or payload line; the action was read (and its keys checked) already.
    parts = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)} \
        if isinstance(node, yaml.MappingNode) else {}
    per_template = [set(grammar.template_slots(t)) for t in intent.templates]
    everywhere = set.intersection(*per_template)
    anywhere = set.union(*per_template)
    key = f"intents.{intent.name}.action"
    values = actions.slot_values(grammar, intent)
    for where, problem, hint in actions.check_action(intent.action, sorted(anywhere), values):
        col.add(problem, parts.get(where, node), key=f"{key}.{where}", hint=hint)
    for name in actions.placeholders(intent.action):
        if name in anywhere and name not in everywhere:
            where = "topic" if f"{{{name}}}" in intent.action.topic else "payload"
            col.add(f"placeholder {{{name}}} is missing from some sentences of this intent", parts.get(where, node),
                    key=f"{key}.{where}",
                    hint=f"add {{{name}}} to every sentence, or give it a fixed value under 'slots:'")


def _read_action(node: yaml.Node, col: Any, key: str) -> Optional[Action]:
    fields = _mapping(node, col, key, ACTION_KEYS)
    if not fields:
        return None
    if "topic" not in fields:
        col.add("action has no 'topic'", node, key=key, hint="add topic: zigbee2mqtt/kitchen_light/set")
        return None
    topic = _scalar(fields["topic"], col, f"{key}.topic", str)
    payload: Any = ""
    if "payload" in fields:
        payload = _plain(fields["payload"], col, f"{key}.payload")
        if payload is _MISSING or payload is None:
            payload = ""
        elif isinstance(payload, (int, float, bool)):
            payload = json.dumps(payload)  # a bare number or boolean is sent as its JSON text
        elif isinstance(payload, str):
            payload = actions.parse_payload(payload)  # JSON text becomes a tree, filled in as data
        problem = actions.payload_problem(payload)
        if problem:
            col.add(f"payload cannot be sent as JSON: {problem}", fields["payload"], key=f"{key}.payload",
                    hint="use strings, numbers, lists and mappings only")
    qos = _scalar(fields["qos"], col, f"{key}.qos", int) if "qos" in fields else 0
    if qos is not None and qos not in (0, 1, 2):
        col.add(f"qos {qos} is not 0, 1 or 2", fields["qos"], key=f"{key}.qos", hint="use 0, 1 or 2")
        qos = 0
    retain = _scalar(fields["retain"], col, f"{key}.retain", bool) if "retain" in fields else False
    if topic is None:
        return None
    return Action(topic=topic, payload=payload, qos=qos or 0, retain=bool(retain))


def _read_list(name: str, key_node: yaml.Node, node: yaml.Node, col: Any) -> Optional[SlotList]:
    key = f"lists.{name}"
    fields = _mapping(node, col, key, LIST_KEYS)
    kinds = [k for k in LIST_KEYS if k in fields]
    if len(kinds) != 1:
        if isinstance(node, yaml.MappingNode):
            col.add("a list needs exactly one of 'values', 'range' or 'wildcard'", key_node, key=key,
                    hint="e.g. values: [kitchen, bedroom] or range: {from: 0, to: 100}")
        return None
    if "wildcard" in fields:
        flag = _scalar(fields["wildcard"], col, f"{key}.wildcard", bool)
        if flag is False:
            col.add("wildcard: false defines no values", fields["wildcard"], key=f"{key}.wildcard",
                    hint="use 'values' instead, or wildcard: true")
        return SlotList(name, wildcard=True) if flag else None
    if "range" in fields:
        rng = _read_range(fields["range"], col, f"{key}.range")
        return SlotList(name, range=rng) if rng else None
    values: List[ListValue] = []
    items = _sequence(fields["values"], col, f"{key}.values")
    if not items and isinstance(fields["values"], yaml.SequenceNode):
        col.add("empty list of values", fields["values"], key=f"{key}.values", hint="list at least one value")
    for item in items:
        values.extend(_read_value(item, col, f"{key}.values"))
    return SlotList(name, values=tuple(values)) if values else None


def _read_value(item: yaml.Node, col: Any, key: str) -> List[ListValue]:
    if isinstance(item, yaml.MappingNode):
        parts = _mapping(item, col, key, VALUE_KEYS)
        if "in" not in parts:
            col.add("value needs 'in' (the spoken words)", item, key=key, hint="write {in: lounge, out: living_room}")
            return []
        spoken = _finite(_scalar(parts["in"], col, f"{key}.in", (str, int, float)), parts["in"], col, f"{key}.in")
        out = _finite(_scalar(parts["out"], col, f"{key}.out", (str, int, float)), parts["out"], col,
                      f"{key}.out") if "out" in parts else spoken
        if spoken is None or out is None:
            return []
        forms = _spoken_forms(str(spoken), parts["in"], col, f"{key}.in")
        return [ListValue(form, out) for form in forms]
    value = _finite(_scalar(item, col, key, (str, int, float)), item, col, key)
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


def _read_range(node: yaml.Node, col: Any, key: str) -> Optional[NumberRange]:
    fields = _mapping(node, col, key, RANGE_KEYS)
    nums: Dict[str, Any] = {}
    for name in RANGE_KEYS:
        if name in fields:
            nums[name] = _scalar(fields[name], col, f"{key}.{name}", (int, float))
    if not isinstance(node, yaml.MappingNode):
        return None
    for name in ("from", "to"):
        if name not in fields:
            col.add(f"range needs '{name}'", node, key=key, hint="write range: {from: 0, to: 100, step: 1}")
    start, stop, step = nums.get("from"), nums.get("to"), nums.get("step", 1)
    if start is None or stop is None or step is None:
        return None
    # abs() first: math.isfinite of an int beyond a float's range raises OverflowError
    if not all(abs(x) <= MAX_RANGE_NUMBER for x in (start, stop, step)):
        col.add(f"range bounds must be finite numbers of at most {MAX_RANGE_NUMBER:g}", node, key=key,
                hint="write plain numbers")
        return None
    ok = True
    if step <= 0:
        col.add(f"step {step} must be greater than 0", fields.get("step", node), key=f"{key}.step",
                hint="use a positive step such as 1 or 0.5")
        ok = False
    if start > stop:
        col.add(f"from {start} is greater than to {stop}", node, key=key, hint="swap 'from' and 'to'")
        ok = False
    if start < 0:
        col.add("negative numbers are not supported", fields["from"], key=f"{key}.from", hint="start at 0 or more")
        ok = False
    if ok and (stop - start) / step > 100000:
        col.add("range has more than 100000 values", node, key=key, hint="use a larger step")
        ok = False
    return NumberRange(start, stop, step) if ok else None


def parse_template_at(text: Any, node: yaml.Node, col: Any, key: str) -> Optional[Seq]:
    """Parse a template found at a YAML node, reporting syntax errors with file and line."""
    try:
        return parse_template(text)
    except TemplateError as exc:
        shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
        col.add(f"{exc.message} (column {exc.column}) in {shown}", node, key=key, hint=exc.hint)
    return None


# --- YAML node access --------------------------------------------------------------------

def _mapping(node: yaml.Node, col: Any, key: Optional[str], allowed: Optional[Tuple[str, ...]],
             items: bool = False) -> Any:
    """Keys of a mapping node -> value nodes (or (key node, value node) pairs when `items`)."""
    if not isinstance(node, yaml.MappingNode):
        if key is not None:
            col.add(f"expected a mapping, got {_kind(node)}", node, key=key or None,
                    hint="write 'name: value' lines indented under the key")
        return [] if items else {}
    pairs = []
    seen: Dict[str, int] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode) or not k.value.strip():
            col.add("keys must be plain names", k, key=key or None, hint="write name: value")
            continue
        path = f"{key}.{k.value}" if key else k.value
        if k.value in seen:
            col.add(f"duplicate key '{k.value}'", k, key=path, hint=f"first at line {seen[k.value]}; keep one")
            continue
        seen[k.value] = k.start_mark.line + 1
        if allowed is not None and k.value not in allowed:
            close = difflib.get_close_matches(k.value, allowed, n=1, cutoff=0.6)
            col.add("unknown key", k, key=path,
                    hint=f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(allowed)}")
            continue
        pairs.append((k, v))
    return pairs if items else {k.value: v for k, v in pairs}


def _sequence(node: yaml.Node, col: Any, key: str) -> List[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    col.add(f"expected a list, got {_kind(node)}", node, key=key, hint="write '- item' lines or [a, b]")
    return []


def _scalar(node: yaml.Node, col: Any, key: str, types: Any) -> Any:
    value = _plain(node, col, key)
    if value is _MISSING:
        return None
    types = types if isinstance(types, tuple) else (types,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__.replace("str", "text").replace("float", "number") for t in types)
        col.add(f"expected {names}, got {_kind(node, value)}", node, key=key, hint=f"write a {names}")
        return None
    return value


def _plain(node: yaml.Node, col: Any, key: str) -> Any:
    """The Python value of a node via the safe constructor; _MISSING (reported) when it has none."""
    try:
        return yamlfile.construct(node)
    except yamlfile.BadValue as exc:
        col.add(f"cannot read value: {exc}", node, key=key, hint="quote the text")
        return _MISSING


def _finite(value: Any, node: yaml.Node, col: Any, key: str) -> Any:
    """A slot value of .nan or .inf would be published as invalid JSON: report it and drop it."""
    if isinstance(value, float) and not math.isfinite(value):
        col.add(f"{value} is not a value a slot can have", node, key=key, hint="write a finite number or text")
        return None
    return value


def _kind(node: yaml.Node, value: Any = _MISSING) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if value is None or (value is _MISSING and node.value in ("", "~", "null")):
        return "nothing"
    return f"{type(value).__name__ if value is not _MISSING else 'text'} {node.value!r}"
