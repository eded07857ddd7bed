"""Per-intent MQTT actions: parse and validate them at load, render them from a match.

    action:
      topic: zigbee2mqtt/{area}_light/set
      payload: {"state": "ON", "brightness": "{brightness}"}

A payload is data, never text pasted into JSON: what was said could otherwise add keys or
break the JSON (`", "state": "OFF`). A mapping, a list, or a string that is JSON
(`'{"brightness": {brightness}}'`, also the older escaped form `'{{"state": "{state}"}}'`) is
parsed at load into a tree; values are filled into the tree and the result is JSON-encoded
(voiced.mqtt.payloads.to_json: NaN and Infinity from a slot value become null). A value that is
exactly one placeholder, in quotes or bare, keeps the slot's type (50 stays a number);
placeholders inside longer strings are replaced by text. Any other string payload (`ON`,
`{room} lamp`) is plain text. `{{` and `}}` are literal braces. Besides slot names, `{intent}`
and `{text}` (the utterance) are available. A placeholder may scale or map its value
(`{brightness | scale(0, 100, 0, 254) | round}`, `{color | map(colors)}`): voiced.grammar.filters.

A topic is checked twice (voiced.mqtt.topics): its static parts and the list values that can fill
it at load, and every filled-in value (one topic level) and the whole topic when rendered;
an action that fails is refused with ActionError and never reaches the broker. Speech
(`{text}`, wildcard slots) is never part of a topic.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from voiced.errors import VoicedError
from voiced.grammar import filters
from voiced.grammar.filters import Expression, FilterError
from voiced.grammar.model import Action, Grammar, Intent
from voiced.grammar.template import Node, references
from voiced.mqtt.payloads import clean_text, to_json
from voiced.mqtt.topics import level_problem, topic_problem
from voiced.yamlfile import MAX_DEPTH

NAME = filters.NAME
# One token of the template language, as in str.format: `{{`, a placeholder (a slot name and
# its filters, voiced.grammar.filters), `}}`.
_TOKEN_RE = re.compile(r"\{\{|\{([^{}]*)\}|\}\}")
_BARE_RE = re.compile(r"\{(\s*" + NAME + r"[^{}\"]*)\}")
RESERVED = ("intent", "text")
SPEECH_HINT = "speech is never a topic level: put it in the payload, e.g. {\"text\": \"{text}\"}"


class ActionError(VoicedError):
    """An action could not be rendered (a slot it needs was not filled, or its topic is unsendable)."""


@dataclass(frozen=True)
class _Placeholder:
    text: str
    """what is between the braces: `brightness | round`"""

    @property
    def expression(self) -> Expression:
        """Parsed expression; raises FilterError (reported at load, so only ever for a hand-made Action)."""
        return filters.parse(self.text)



Piece = Union[str, _Placeholder]


def _pieces(text: str) -> List[Piece]:
    """Literal text and placeholders; `{{`/`}}` become literal braces."""
    out: List[Piece] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        token = m.group(0)
        out.append(_Placeholder(m.group(1)) if m.group(1) is not None else token[0])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def action_list(action: Union[Action, List[Action], None]) -> List[Action]:
    """An intent's actions as a list: none, its one action, or its several."""
    if action is None:
        return []
    return list(action) if isinstance(action, list) else [action]


def placeholders(action: Action) -> List[str]:
    """Every slot name the topic and payload read, in order, without repeats (placeholders that
    do not parse are left out: check_action reports them)."""
    names = [e.name for _, e, _ in _expressions(action.topic, action.payload) if e is not None]
    return list(dict.fromkeys(names))


# --- load time ---------------------------------------------------------------------------

def parse_payload(text: str) -> Any:
    """A string payload as a tree when it is a JSON object or array (placeholders in JSON strings
    or bare), else the text itself. Strings in the tree are templates: `{name}` placeholders,
    `{{`/`}}` literal braces."""
    for decode in (_raw_json, _escaped_json):
        try:
            tree = json.loads(decode(text))
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the stack allows
            continue
        # The fillers recurse once per level, so JSON deeper than a YAML payload may be stays text.
        if isinstance(tree, (dict, list)) and _depth(tree) <= MAX_DEPTH:
            return tree
    return text


def _depth(tree: Any) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _raw_json(text: str) -> str:
    """JSON with bare placeholders quoted; strings are left as they are (already templates)."""
    out: List[str] = []
    in_string = escaped = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_string:
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char == "{":
            bare = _BARE_RE.match(text, i)
            if bare:
                out.append(f'"{bare.group(0)}"')
                i = bare.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _escaped_json(text: str) -> str:
    """JSON written with the template's literal braces (`{{"state": "{state}"}}`)."""
    out: List[str] = []
    in_string = escaped = False
    for piece in _pieces(text):
        if isinstance(piece, _Placeholder):
            out.append(f"{{{piece.text}}}" if in_string else f'"{{{piece.text}}}"')
            continue
        for char in piece:
            if in_string:
                in_string = escaped or char != '"'
                escaped = not escaped and char == "\\"
                out.append({"{": "{{", "}": "}}"}.get(char, char))  # stays literal in the tree
            else:
                in_string = char == '"'
                out.append(char)
    return "".join(out)


def payload_problem(payload: Any) -> Optional[str]:
    """Why a payload cannot be published as JSON, or None."""
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def slot_values(grammar: Grammar, intent: Intent) -> Dict[str, Optional[List[Any]]]:
    """What each slot of the intent can be filled with: list and fixed values, None for free speech
    (a wildcard). Lists not loaded yet (another file) and number ranges are left out."""
    out: Dict[str, Optional[List[Any]]] = {}

    def add(name: str, values: Optional[List[Any]]) -> None:
        known = out.setdefault(name, [])
        if known is not None:
            out[name] = None if values is None else known + values

    for template in intent.templates:
        for name, value in template.fixed_slots.items():
            add(name, [value])
        for ref in _slot_refs(grammar, template.tree):
            slot_list = grammar.lists.get(ref.list_name)
            if slot_list is not None and slot_list.wildcard:
                add(ref.slot_name, None)
            elif slot_list is not None and slot_list.values:
                add(ref.slot_name, [v.value for v in slot_list.values])
    return out


def _slot_refs(grammar: Grammar, tree: Node) -> Iterator[Any]:
    seen: set = set()
    pending = [tree]
    while pending:
        slots, rules = references(pending.pop())
        yield from slots
        for rule in rules:
            if rule.name not in seen and rule.name in grammar.rules:
                seen.add(rule.name)
                pending.append(grammar.rules[rule.name])


def check_action(action: Action, slot_names: Sequence[str],
                 values: Optional[Mapping[str, Optional[List[Any]]]] = None) -> List[Tuple[str, str, str]]:
    """(field, problem, hint) triples for an action whose intent fills `slot_names`; field is topic
    or payload. `values` (from slot_values) lets the topic be checked against every list value."""
    problems: List[Tuple[str, str, str]] = []
    static = "".join(p if isinstance(p, str) else "x" for p in _pieces(action.topic))
    problem = topic_problem(static)
    if problem:
        problems.append(("topic", problem.replace("the topic", "the topic template", 1),
                         "write a concrete topic such as zigbee2mqtt/kitchen_light/set (no + or #)"))
    for where, obj in (("topic", action.topic), ("payload", action.payload)):
        for text in _strings(obj):
            stray = _TOKEN_RE.sub("", text)
            if "{" in stray or "}" in stray:
                problems.append((where, f"bad placeholder in {text!r}",
                                 "write {slot_name}; use {{ and }} for literal braces"))
        for name in placeholders(Action(obj) if where == "topic" else Action("", obj)):
            if name not in slot_names and name not in RESERVED:
                known = ", ".join(list(slot_names) + list(RESERVED))
                problems.append((where, f"placeholder {{{name}}} is not a slot of this intent", f"known: {known}"))
        problems.extend((where, problem, hint) for problem, hint in _expression_problems(obj, action, values or {}))
    problems.extend(_topic_value_problems(action, values or {}))
    return problems


def _expressions(*objs: Any) -> Iterator[Tuple[str, Optional[Expression], Optional[FilterError]]]:
    """(text, parsed expression or None, parse error or None) for each placeholder in objs."""
    for text in _strings(*objs):
        for piece in _pieces(text):
            if isinstance(piece, _Placeholder):
                try:
                    yield piece.text, piece.expression, None
                except FilterError as exc:
                    yield piece.text, None, exc


def _expression_problems(obj: Any, action: Action, values: Mapping[str, Optional[List[Any]]]) -> List[Tuple[str, str]]:
    """Filters that do not parse, maps that do not exist, and list values a filter cannot take."""
    problems: List[Tuple[str, str]] = []
    for text, expression, error in _expressions(obj):
        if expression is None:
            assert error is not None
            problems.append((error.problem, error.hint))
            continue
        missing = [m for m in expression.maps() if m not in action.maps]
        for name in missing:
            known = ", ".join(action.maps) or "none"
            problems.append((f"{{{text}}} uses map({name}), which the action does not define",
                             f"add maps: {{{name}: {{value: replacement}}}} to the action (maps defined: {known})"))
        if missing or not expression.steps:
            continue
        for value in values.get(expression.name) or []:
            try:
                expression.apply(value, action.maps)
            except FilterError as exc:
                problems.append((f"{{{text}}} cannot take the value {value!r}: {exc.problem}", exc.hint))
                break  # one value is enough to show the mistake
    return problems


def _topic_value_problems(action: Action, values: Mapping[str, Optional[List[Any]]]) -> List[Tuple[str, str, str]]:
    problems = []
    for text, expression, _ in _expressions(action.topic):
        name = expression.name if expression is not None else text
        if name == "text" or (name in values and values[name] is None):
            what = "what was said" if name == "text" else "free speech (a wildcard list)"
            problems.append(("topic", f"{{{name}}} is {what} and cannot be part of a topic", SPEECH_HINT))
            continue
        filled = []
        for v in values.get(name) or []:
            try:
                filled.append(str(expression.apply(v, action.maps) if expression is not None else v))
            except FilterError:
                continue  # reported with the expression
        for value in dict.fromkeys(filled):
            problem = level_problem(value)
            if problem:
                hint = f"give the value an out: without / + # (e.g. living_room), or move {{{name}}} into the payload"
                problems.append(("topic", f"value {value!r} of {{{name}}} cannot be part of a topic: {problem}", hint))
    return problems


# --- render time -------------------------------------------------------------------------

def render_action(action: Action, result: Any) -> Tuple[str, str]:
    """(topic, payload text) for a recognized MatchResult. Raises ActionError when a slot is
    missing or the topic cannot be published; the payload is always valid text or JSON."""
    values: Dict[str, Any] = {name: s.value for name, s in result.slots.items()}
    values.setdefault("intent", result.intent)
    values.setdefault("text", result.text)
    topic = _render_topic(action.topic, values, action.maps)
    payload = action.payload
    if isinstance(payload, str):
        return topic, clean_text(_fill(payload, values, action.maps))
    return topic, to_json(_fill_tree(payload, values, action.maps), separators=None)


Maps = Mapping[str, Mapping[str, Any]]


def _render_topic(template: str, values: Mapping[str, Any], maps: Maps) -> str:
    parts = []
    for piece in _pieces(template):
        if isinstance(piece, str):
            parts.append(piece)
            continue
        text = str(_lookup(piece, values, maps))
        problem = level_problem(text)
        if problem:
            raise ActionError(f"{{{piece.text}}} = {text!r} cannot be filled into the topic: {problem}")
        parts.append(text)
    topic = "".join(parts)
    problem = topic_problem(topic)
    if problem:
        raise ActionError(f"topic {topic!r} cannot be published: {problem}")
    return topic


def _fill_tree(obj: Any, values: Mapping[str, Any], maps: Maps) -> Any:
    if isinstance(obj, dict):
        out: Dict[str, Any] = {}
        for k, v in obj.items():
            key = _fill(str(k), values, maps)
            if key in out:  # a filled-in key must not replace another (e.g. "state")
                raise ActionError(f"payload key {k!r} became {key!r}, which the payload already has")
            out[key] = _fill_tree(v, values, maps)
        return out
    if isinstance(obj, list):
        return [_fill_tree(v, values, maps) for v in obj]
    if isinstance(obj, str):
        pieces = _pieces(obj)
        if len(pieces) == 1 and isinstance(pieces[0], _Placeholder):
            return _lookup(pieces[0], values, maps)  # keeps its type: a number, or a map's mapping
        return _fill(obj, values, maps)
    return obj


def _fill(text: str, values: Mapping[str, Any], maps: Maps) -> str:
    return "".join(p if isinstance(p, str) else _text(_lookup(p, values, maps)) for p in _pieces(text))


def _text(value: Any) -> str:
    """A value inside longer text: a map's mapping or list as JSON, anything else as str()."""
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _lookup(piece: _Placeholder, values: Mapping[str, Any], maps: Maps) -> Any:
    try:
        expression = piece.expression
        if expression.name not in values:
            raise ActionError(f"action needs slot {{{expression.name}}}, which the match did not fill")
        return expression.apply(values[expression.name], maps)
    except FilterError as exc:
        raise ActionError(f"{{{piece.text}}}: {exc.problem}") from None


def _strings(*objs: Any) -> Iterator[str]:
    for obj in objs:
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from _strings(str(k), v)
        elif isinstance(obj, list):
            yield from _strings(*obj)
