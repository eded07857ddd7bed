"""Per-intent MQTT actions: parse and validate them, and render them from a match.

    action:
      topic: zigbee2mqtt/{room}_light/set
      payload: {"state": "ON", "brightness": "{brightness}"}

A payload value that is exactly one placeholder keeps the slot's type (50 stays a number in
the JSON); placeholders inside longer strings are replaced by text. `{{` and `}}` are literal
braces. Besides slot names, `{intent}` and `{text}` (the utterance) are available.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from voiced.errors import VoicedError
from voiced.grammar.model import Action

PLACEHOLDER_RE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_.\-]*)\}(?!\})")
RESERVED = ("intent", "text")


class ActionError(VoicedError):
    """An action could not be rendered (a slot it needs was not in the match)."""


def placeholders(action: Action) -> List[str]:
    """Every placeholder name used in the topic and payload, in order, without repeats."""
    names = [m.group(1) for text in _strings(action.topic, action.payload) for m in PLACEHOLDER_RE.finditer(text)]
    return list(dict.fromkeys(names))


def check_action(action: Action, slot_names: List[str]) -> List[Tuple[str, str, str]]:
    """(field, problem, hint) triples for an action whose intent fills `slot_names`; field is topic or payload."""
    problems: List[Tuple[str, str, str]] = []
    if not action.topic.strip():
        problems.append(("topic", "empty topic", "write a topic such as zigbee2mqtt/kitchen_light/set"))
    if any(c in action.topic for c in "+#"):
        problems.append(("topic", "topic contains an MQTT wildcard (+ or #)", "publish topics must be concrete"))
    for where, obj in (("topic", action.topic), ("payload", action.payload)):
        for text in _strings(obj):
            stray = PLACEHOLDER_RE.sub("", text.replace("{{", "").replace("}}", ""))
            if "{" in stray or "}" in stray:
                problems.append((where, f"bad placeholder in {text!r}",
                                 "write {slot_name}; use {{ and }} for literal braces"))
        for name in placeholders(Action(obj) if where == "topic" else Action("", obj)):
            if name not in slot_names and name not in RESERVED:
                known = ", ".join(list(slot_names) + list(RESERVED))
                problems.append((where, f"placeholder {{{name}}} is not a slot of this intent", f"known: {known}"))
    return problems


def render_action(action: Action, result: Any) -> Tuple[str, str]:
    """(topic, payload text) for a recognized MatchResult. Raises ActionError on a missing slot."""
    values: Dict[str, Any] = {name: s.value for name, s in result.slots.items()}
    values.setdefault("intent", result.intent)
    values.setdefault("text", result.text)
    topic = _fill(action.topic, values)
    payload = action.payload
    if isinstance(payload, str):
        return topic, _fill(payload, values)
    return topic, json.dumps(_fill_tree(payload, values), ensure_ascii=False)


def _fill_tree(obj: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(obj, dict):
        return {_fill(str(k), values): _fill_tree(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill_tree(v, values) for v in obj]
    if isinstance(obj, str):
        whole = PLACEHOLDER_RE.fullmatch(obj)
        if whole:
            return _lookup(whole.group(1), values)
        return _fill(obj, values)
    return obj


def _fill(text: str, values: Mapping[str, Any]) -> str:
    out = PLACEHOLDER_RE.sub(lambda m: str(_lookup(m.group(1), values)), text)
    return out.replace("{{", "{").replace("}}", "}")


def _lookup(name: str, values: Mapping[str, Any]) -> Any:
    if name not in values:
        raise ActionError(f"action needs slot {{{name}}}, which the match did not fill")
    return values[name]


def _strings(*objs: Any) -> Iterator[str]:
    for obj in objs:
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from _strings(str(k), v)
        elif isinstance(obj, list):
            yield from _strings(*obj)


def payload_problem(payload: Any) -> Optional[str]:
    """Why a payload cannot be published as JSON, or None."""
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None
