"""The loaded command grammar: intents, their templates, slot lists, rules and actions."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple, Union

from voiced.errors import Problem
from voiced.grammar.template import Seq, references
from voiced.grammar.walk import can_be_empty

Value = Union[str, int, float]


@dataclass(frozen=True)
class ListValue:
    """One spoken form of a list value and the canonical value it stands for."""

    spoken: str
    value: Value


@dataclass(frozen=True)
class NumberRange:
    """Numbers from `start` to `stop` (both said) every `step`, and hassil's `fractions` and
    `multiplier`. `stop` bounds the fractions too: to: 35 with halves says 35, not 35.5 (hassil
    also accepts 35.5)."""

    start: Union[int, float]
    stop: Union[int, float]
    step: Union[int, float] = 1
    fractions: Tuple[float, ...] = ()
    """parts said after each whole number: (0.5,) for halves, 0.1 to 0.9 for tenths"""
    multiplier: Optional[float] = None
    """the value is the number said times this (hassil's `multiplier`: -1 for "down by 10")"""

    def contains(self, number: Union[int, float]) -> bool:
        """Whether `number`, as heard (before the multiplier), is one of the range's."""
        if number < self.start or number > self.stop:
            return False
        for part in (0.0,) + self.fractions:
            k = (number - part - self.start) / self.step
            if number - part >= self.start and abs(k - round(k)) < 1e-6:
                return True
        return False

    def canonical(self, number: Union[int, float]) -> Value:
        """The slot value for a number heard: an int for whole-number ranges, else a float
        (a range with fractions gives 21.0 and 21.5 alike), times the multiplier."""
        integral = not self.fractions and all(float(x).is_integer() for x in (self.start, self.step))
        value: Union[int, float] = int(round(number)) if integral else float(number)
        if self.multiplier is not None:
            value = value * self.multiplier
            if integral and float(self.multiplier).is_integer():
                value = int(round(value))
        return value

    def numbers(self) -> List[Union[int, float]]:
        """Every number of the range as it is said, in order."""
        count = int(round((self.stop - self.start) / self.step)) + 1
        out: List[Union[int, float]] = []
        for i in range(count):
            base = self.start + i * self.step
            out.append(base)
            out.extend(round(base + part, 6) for part in self.fractions if base + part <= self.stop + 1e-9)
        return out

    def values(self) -> List[Value]:
        return [self.canonical(n) for n in self.numbers()]


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
    maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """lookup tables for the map(name) filter: name -> {value as text: replacement}"""


@dataclass(frozen=True)
class Scope:
    """The lists and rules one data block defines for its own sentences (hassil's local `lists`
    and `expansion_rules`): each is in the grammar under a name of its own, `key.lists.NAME`."""

    key: str
    """where the block is: intents.NAME.data[N]"""
    names: Dict[str, str] = field(default_factory=dict)
    """"{list}" or "<rule>" as the block's sentences write it -> its name in the grammar"""


@dataclass(frozen=True)
class Template:
    text: str
    tree: Seq
    fixed_slots: Dict[str, Value] = field(default_factory=dict)
    file: Optional[str] = None
    line: Optional[int] = None
    scope: Optional[Scope] = None


@dataclass
class Intent:
    name: str
    templates: List[Template] = field(default_factory=list)
    action: Union[Action, List[Action], None] = None
    """one action, or several (a list) published in order"""
    file: Optional[str] = None
    line: Optional[int] = None
    requires_address: bool = False
    """recognized only when the utterance opens with an address word (unlocking a door)"""


@dataclass
class Address:
    """The words that address the device ("computer"), said at the start of the utterance."""

    words: List[str] = field(default_factory=list)
    """as written, several files' words merged"""
    required: bool = False
    """every command must open with one of them; without, only intents with requires_address do"""


@dataclass
class Grammar:
    language: str = "en"
    intents: Dict[str, Intent] = field(default_factory=dict)
    lists: Dict[str, SlotList] = field(default_factory=dict)
    rules: Dict[str, Seq] = field(default_factory=dict)
    skip_words: List[str] = field(default_factory=list)
    address: Address = field(default_factory=Address)
    warnings: List[Problem] = field(default_factory=list)
    """what loaded but is worth a look: keys only Home Assistant uses, lists it fills at run time"""

    def intent_names(self) -> List[str]:
        return list(self.intents)

    def optional_only(self) -> FrozenSet[Tuple[str, str]]:
        """(intent, template text) of the templates whose every word is optional and which fix no
        slot: "[i'd like] [a] [{size}] [{drink}] [please]". Said without a slot value, such a
        sentence ("please", "a") says nothing the command needs."""
        return frozenset((name, t.text) for name, intent in self.intents.items() for t in intent.templates
                         if not t.fixed_slots and can_be_empty(t.tree, rules=self.rules))

    def templates_saying_a_slot(self) -> FrozenSet[Tuple[str, int]]:
        """(intent, number of the template in the intent) of the templates in which a slot value
        is said, not fixed by the template."""
        return frozenset((name, number) for name, intent in self.intents.items()
                         for number, t in enumerate(intent.templates) if self.said_slots(t))

    def said_slots(self, template: Template) -> FrozenSet[str]:
        """Slot names whose value is said in `template` (template_slots less its fixed ones)."""
        return frozenset(self.template_slots(template)) - set(template.fixed_slots)

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
