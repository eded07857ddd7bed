"""One setting of the config schema: its dataclass field, and whether a value read from YAML fits it.

A field's `metadata` holds its documentation (`doc`) and what a value must be: `min`, `max`,
`choices`; `allow_inf` lets a number be .inf (NaN never is: it compares false with every bound);
`topic` "level" (site_id) or "prefix" (topic prefixes), checked with voiced.mqtt.topics so a value
the broker would refuse is a config error rather than a silent disconnect at run time;
`nonempty` for text that may be left out but not given blank; `live` False for a setting that a
reload (SIGHUP) cannot apply, so it needs a restart (a section's `live` covers its fields; the
default is live).
"""
from __future__ import annotations

import math
import typing
from dataclasses import field
from typing import Any, Dict, List, Optional, Tuple, Union

from voiced.mqtt.topics import level_problem, prefix_problem


def setting(default: Any, doc: str, **bounds: Any) -> Any:
    """A dataclass field with documentation and validation bounds."""
    meta = {"doc": doc, **bounds}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def check_value(value: Any, ftype: Any, meta: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """Return (problem, hint) when `value` does not fit the field, else None."""
    allowed = _types(ftype)
    if value is None:
        return None if type(None) in allowed else ("must not be empty", f"give a {_type_names(allowed)}")
    if not any(_fits(value, t) for t in allowed):
        return (f"expected {_type_names(allowed)}, got {type(value).__name__} {_short(value)}",
                f"write a {_type_names(allowed)}")
    if "choices" in meta and value not in meta["choices"]:
        return f"{value!r} is not one of {meta['choices']}", f"use one of: {', '.join(map(str, meta['choices']))}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _check_number(value, meta)
    if isinstance(value, str):
        return _check_text(value, meta)
    return None


def _check_number(value: Union[int, float], meta: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    lo, hi = meta.get("min"), meta.get("max")
    span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}" if lo is not None else "that is finite"
    if isinstance(value, float) and math.isnan(value):
        return "nan is not a number", f"use a value {span}"
    if isinstance(value, float) and math.isinf(value):
        if meta.get("allow_inf") and value > 0:
            return None  # "no limit": above any max
        return f"{value} is not allowed here", f"use a value {span}"
    too_big = isinstance(value, int) and abs(value) > 10 ** 300  # float() of it would overflow
    if too_big or (lo is not None and value < lo) or (hi is not None and value > hi):
        return f"{_short(value)} is out of range", f"use a value {span}"
    return None


def _check_text(value: str, meta: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    if meta.get("nonempty") and not value.strip():
        return "must not be empty text", "leave the setting out to use the default"
    if meta.get("topic") == "level":
        problem = level_problem(value)
        return (problem, "use one word, such as 'kitchen', without '/', '+' or '#'") if problem else None
    if meta.get("topic") == "prefix":
        problem = prefix_problem(value)
        return (problem, "use topic levels separated by '/', such as 'home/voiced'") if problem else None
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _types(ftype: Any) -> Tuple[Any, ...]:
    if typing.get_origin(ftype) is Union:
        return tuple(t for arg in typing.get_args(ftype) for t in _types(arg))
    return (ftype,)


def _fits(value: Any, t: Any) -> bool:
    origin = typing.get_origin(t)
    if origin in (list, List):
        (item,) = typing.get_args(t) or (Any,)
        return isinstance(value, list) and all(item is Any or _fits(v, item) for v in value)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is type(None):
        return value is None
    return isinstance(value, t)


def coerce(value: Any, ftype: Any) -> Any:
    if isinstance(value, int) and float in _types(ftype) and int not in _types(ftype):
        return float(value)
    return value


def _type_names(types: Tuple[Any, ...]) -> str:
    names = []
    for t in types:
        if t is type(None):
            continue
        origin = typing.get_origin(t)
        names.append("list" if origin in (list, List) else getattr(t, "__name__", str(t)))
    return " or ".join(names)
