"""The loaded command grammar: intents, their templates, slot lists, rules and actions."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from voiced.grammar.template import Seq, references

Value = Union[str, int, float]


@dataclass(frozen=True)
class ListValue:
    """One spoken form of a list value and the canonical value it stands for."""

    spoken: str
    value: Value


@dataclass(frozen=True)
class NumberRange:
    start: Union[int, float]
    stop: Union[int, float]
    step: Union[int, float] = 1

    def contains(self, number: Union[int, float]) -> bool:
        if number < self.start or number > self.stop:
            return False
        k = (number - self.start) / self.step
        return abs(k - round(k)) < 1e-6

    def canonical(self, number: Union[int, float]) -> Value:
        integral = all(float(x).is_integer() for x in (self.start, self.step))
        return int(round(number)) if integral else float(number)

    def values(self) -> List[Value]:
        count = int(round((self.stop - self.start) / self.step)) + 1
        return [self.canonical(self.start + i * self.step) for i in range(count)]


@dataclass(frozen=True)
class SlotList:
    """Values a slot can take: spoken values, a number range, or any words (wildcard)."""

    name: str
    values: Tuple[ListValue, ...] = ()
    range: Optional[NumberRange] = None
    wildcard: bool = False


@dataclass(frozen=True)
class Action:
    """MQTT message to publish for an intent; {slot} placeholders are filled from the match."""

    topic: str
    payload: Any = ""
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class Template:
    text: str
    tree: Seq
    fixed_slots: Dict[str, Value] = field(default_factory=dict)
    file: Optional[str] = None
    line: Optional[int] = None


@dataclass
class Intent:
    name: str
    templates: List[Template] = field(default_factory=list)
    action: Optional[Action] = None
    file: Optional[str] = None
    line: Optional[int] = None


@dataclass
class Grammar:
    language: str = "en"
    intents: Dict[str, Intent] = field(default_factory=dict)
    lists: Dict[str, SlotList] = field(default_factory=dict)
    rules: Dict[str, Seq] = field(default_factory=dict)
    skip_words: List[str] = field(default_factory=list)

    def intent_names(self) -> List[str]:
        return list(self.intents)

    def template_slots(self, template: Template) -> List[str]:
        """Slot names a template can fill, including those inside the rules it uses."""
        names: List[str] = list(template.fixed_slots)
        seen_rules: set = set()
        pending = [template.tree]
        while pending:
            slots, rules = references(pending.pop())
            names.extend(s.slot_name for s in slots)
            for rule in rules:
                if rule.name not in seen_rules and rule.name in self.rules:
                    seen_rules.add(rule.name)
                    pending.append(self.rules[rule.name])
        return list(dict.fromkeys(names))
