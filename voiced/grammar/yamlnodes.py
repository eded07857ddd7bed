"""Reading composed YAML nodes: typed values, mappings with known keys, templates at a node.

Every reader reports through the collector (voiced.grammar.loader) and carries on, so one load
lists every problem, each with the file, line and key it is about.
"""
from __future__ import annotations

import difflib
import math
from typing import Any, Dict, List, Optional, Tuple

import yaml

from voiced import yamlfile
from voiced.grammar.template import Seq, TemplateError, parse_template

MISSING = object()  # a node whose value could not be read (reported)


def parse_template_at(text: Any, node: yaml.Node, col: Any, key: str) -> Optional[Seq]:
    """Parse a template found at a YAML node, reporting syntax errors with file and line."""
    try:
        return parse_template(text)
    except TemplateError as exc:
        shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
        col.add(f"{exc.message} (column {exc.column}) in {shown}", node, key=key, hint=exc.hint)
    return None


def mapping(node: yaml.Node, col: Any, key: Optional[str], allowed: Optional[Tuple[str, ...]],
            items: bool = False, ignored: Tuple[str, ...] = ()) -> Any:
    """Keys of a mapping node -> value nodes (or (key node, value node) pairs when `items`).

    Keys in `ignored` (Home Assistant's own, see voiced.grammar.hass) are told to the collector,
    which warns about them once per file, and left out."""
    if not isinstance(node, yaml.MappingNode):
        if key is not None:
            col.add(f"expected a mapping, got {kind(node)}", node, key=key or None,
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
        if k.value in ignored:
            col.ignore(k.value, k)
            continue
        if allowed is not None and k.value not in allowed:
            close = difflib.get_close_matches(k.value, allowed, n=1, cutoff=0.6)
            col.add("unknown key", k, key=path,
                    hint=f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(allowed)}")
            continue
        pairs.append((k, v))
    return pairs if items else {k.value: v for k, v in pairs}


def sequence(node: yaml.Node, col: Any, key: str) -> List[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    col.add(f"expected a list, got {kind(node)}", node, key=key, hint="write '- item' lines or [a, b]")
    return []


def scalar(node: yaml.Node, col: Any, key: str, types: Any) -> Any:
    value = plain(node, col, key)
    if value is MISSING:
        return None
    types = types if isinstance(types, tuple) else (types,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(t.__name__.replace("str", "text").replace("float", "number") for t in types)
        col.add(f"expected {names}, got {kind(node, value)}", node, key=key, hint=f"write a {names}")
        return None
    return value


def plain(node: yaml.Node, col: Any, key: str) -> Any:
    """The Python value of a node via the safe constructor; MISSING (reported) when it has none."""
    try:
        return yamlfile.construct(node)
    except yamlfile.BadValue as exc:
        col.add(f"cannot read value: {exc}", node, key=key, hint="quote the text")
        return MISSING


def finite(value: Any, node: yaml.Node, col: Any, key: str) -> Any:
    """A slot value of .nan or .inf would be published as invalid JSON: report it and drop it."""
    if isinstance(value, float) and not math.isfinite(value):
        col.add(f"{value} is not a value a slot can have", node, key=key, hint="write a finite number or text")
        return None
    return value


def kind(node: yaml.Node, value: Any = MISSING) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if value is None or (value is MISSING and node.value in ("", "~", "null")):
        return "nothing"
    return f"{type(value).__name__ if value is not MISSING else 'text'} {node.value!r}"
