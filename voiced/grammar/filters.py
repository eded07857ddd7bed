"""Placeholder expressions of actions: a slot value, scaled or mapped, never evaluated as code.

Devices rarely take the numbers people say: zigbee2mqtt's `brightness` is 0-254 while people
say percent, and its `color` wants `{"hex": "#00ff00"}`, not "green". So a placeholder may
carry a small, fixed pipeline:

    {brightness * 2.54 | round}            arithmetic with one constant (* / + -), first
    {brightness | scale(0, 100, 0, 254) | round | clamp(1, 254)}
    {color | map(colors)}                  a lookup in the action's `maps: {colors: {...}}`

Filters: `round` (to the nearest whole number, halves up), `int` (drops the fraction),
`clamp(lo, hi)`, `scale(from_lo, from_hi, to_lo, to_hi)` and `map(name)`. Nothing else: no
names other than the slot, no calls, no general expressions. Everything is parsed at load
(FilterError names what is wrong and how to write it), and applied to data at render time.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
NUMBER = r"-?\d+(?:\.\d+)?"
_HEAD_RE = re.compile(r"\s*(" + NAME + r")\s*(?:([*/+\-])\s*(" + NUMBER + r")\s*)?$")
_FILTER_RE = re.compile(r"\s*([a-z_]+)\s*(?:\(([^()]*)\))?\s*$")
# filter name -> number of arguments
ARITY = {"round": 0, "int": 0, "clamp": 2, "scale": 4, "map": 1}
_ARITHMETIC = {"*": operator.mul, "/": operator.truediv, "+": operator.add, "-": operator.sub}
HINT = ("write {slot}, {slot * 2.54}, {slot | round}, {slot | scale(0, 100, 0, 254) | round}, "
        "{slot | clamp(1, 254)} or {slot | map(name)}")


class FilterError(ValueError):
    """A placeholder expression that cannot be parsed, or a value a filter cannot take."""

    def __init__(self, problem: str, hint: str = HINT):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


@dataclass(frozen=True)
class Step:
    op: str
    """*, /, +, - (args: the constant) or a filter name"""
    args: Tuple[Any, ...] = ()


@dataclass(frozen=True)
class Expression:
    """`{name ...}`: the slot it reads and the steps applied to its value, in order."""

    name: str
    steps: Tuple[Step, ...] = ()

    def maps(self) -> List[str]:
        """Names of the maps the expression looks values up in."""
        return [s.args[0] for s in self.steps if s.op == "map"]

    def apply(self, value: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
        """The value after every step. Raises FilterError for a value a step cannot take
        (text where a number is needed, a key the map does not have)."""
        for step in self.steps:
            value = _apply(step, value, maps)
        return value


def parse(text: str) -> Expression:
    """The expression between a placeholder's braces. Raises FilterError."""
    head, *filters = text.split("|")
    m = _HEAD_RE.match(head)
    if not m:
        raise FilterError(f"{{{text}}} is not a slot name with an optional * / + - constant")
    steps: List[Step] = []
    if m.group(2):
        constant = _number(m.group(3))
        if m.group(2) == "/" and constant == 0:
            raise FilterError(f"{{{text}}} divides by zero", "divide by a number other than 0")
        steps.append(Step(m.group(2), (constant,)))
    for piece in filters:
        steps.append(_parse_filter(piece.strip(), text))
    return Expression(m.group(1), tuple(steps))


def _parse_filter(piece: str, text: str) -> Step:
    m = _FILTER_RE.match(piece)
    if not m or m.group(1) not in ARITY:
        known = ", ".join(ARITY)
        raise FilterError(f"unknown filter {piece!r} in {{{text}}}", f"filters are {known}; {HINT}")
    name, raw = m.group(1), m.group(2)
    args = [a.strip() for a in raw.split(",")] if raw is not None and raw.strip() else []
    if len(args) != ARITY[name]:
        usage = {"round": "round", "int": "int", "clamp": "clamp(lo, hi)",
                 "scale": "scale(from_lo, from_hi, to_lo, to_hi)", "map": "map(name)"}[name]
        raise FilterError(f"filter {name} takes {ARITY[name]} argument(s), got {len(args)} in {{{text}}}",
                          f"write {usage}")
    if name == "map":
        if not re.fullmatch(NAME, args[0]):
            raise FilterError(f"map({args[0]}) needs the name of a map in {{{text}}}",
                              "write map(colors) with maps: {colors: {green: ...}} in the action")
        return Step(name, (args[0],))
    numbers = tuple(_number(a) for a in args)
    if name == "clamp" and numbers[0] > numbers[1]:
        raise FilterError(f"clamp({args[0]}, {args[1]}) has lo above hi in {{{text}}}", "write clamp(lo, hi)")
    if name == "scale" and numbers[0] == numbers[1]:
        raise FilterError(f"scale from {args[0]} to {args[1]} is an empty range in {{{text}}}",
                          "write scale(0, 100, 0, 254): the spoken range, then the device's")
    return Step(name, numbers)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FilterError(f"{text!r} is not a number", "write a number such as 2.54 or -10") from None
    if not math.isfinite(value):
        raise FilterError(f"{text!r} is not a finite number", "write a number such as 2.54")
    return int(value) if value.is_integer() else value


def _apply(step: Step, value: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
    if step.op == "map":
        table = maps.get(step.args[0])
        if table is None:
            raise FilterError(f"no map named {step.args[0]!r}", "add maps: {NAME: {value: replacement}} to the action")
        key = _key(value)
        if key not in table:
            raise FilterError(f"map {step.args[0]} has no entry for {key!r}", f"add {key}: ... to the map")
        return table[key]
    number = _numeric(value, step)
    if step.op in _ARITHMETIC:
        return _ARITHMETIC[step.op](number, step.args[0])
    if step.op == "round":
        return int(math.floor(number + 0.5)) if math.isfinite(number) else number
    if step.op == "int":
        return int(number) if math.isfinite(number) else number
    if step.op == "clamp":
        return min(max(number, step.args[0]), step.args[1])
    lo, hi, to_lo, to_hi = step.args  # scale
    return to_lo + (number - lo) * (to_hi - to_lo) / (hi - lo)


def _numeric(value: Any, step: Step) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = f"'{step.op} {step.args[0]}'" if step.op in _ARITHMETIC else step.op
        raise FilterError(f"{what} needs a number, got {value!r}",
                          "use arithmetic and number filters on number slots (a range); map(...) for words")
    return value


def _key(value: Any) -> str:
    """Map keys are text: 1 and "1" (and 1.0 said as "one point zero") find the same entry."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def map_problem(name: str, table: Any) -> Optional[str]:
    """Why an action's `maps.<name>` is not a usable table, or None."""
    if not isinstance(table, dict) or not table:
        return f"maps.{name} must be a non-empty mapping of values to replacements"
    return None
