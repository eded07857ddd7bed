"""Labels file: what each WAV of an evaluation set says, checked against the grammar.

    {"turn_on_kitchen.wav": {"intent": "LightOn", "slots": {"area": "kitchen"},
                             "transcript": "turn on the kitchen light"},
     "weather_chat.wav": {"intent": null}}

Keys are WAV paths relative to the set's folder. `intent` null means the clip must not be
recognised (out-of-grammar speech). `slots` holds every slot the command fills, with the
grammar's canonical value ("living_room", 21, 20.5). `transcript` (optional) enables WER;
`tags` (optional, string to string) group results in the report, e.g. {"noise": "snr10"}.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from voiced.errors import ConfigError, Problem

Value = Union[str, int, float]
_KEYS = {"intent", "slots", "transcript", "tags"}


@dataclass(frozen=True)
class Label:
    """Expected outcome of one WAV."""

    intent: Optional[str]
    slots: Dict[str, Value] = field(default_factory=dict)
    transcript: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict)

    @property
    def in_grammar(self) -> bool:
        return self.intent is not None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"intent": self.intent}
        if self.slots:
            out["slots"] = dict(self.slots)
        if self.transcript is not None:
            out["transcript"] = self.transcript
        if self.tags:
            out["tags"] = dict(self.tags)
        return out


def load_labels(path: Union[str, Path]) -> Dict[str, Label]:
    """Read a labels file; raises ConfigError listing every malformed entry (file, line, key)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read labels: {exc.strerror}", file=name,
                                   hint="pass --labels with an existing JSON file")]) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError([Problem(f"not valid JSON: {getattr(exc, 'msg', exc)}", file=name, line=line,
                                   hint="check commas and quotes")]) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError([Problem("expected a non-empty JSON object mapping WAV names to labels",
                                   file=name, hint='e.g. {"a.wav": {"intent": "LightOn", "slots": {}}}')])
    problems: List[Problem] = []
    labels: Dict[str, Label] = {}
    for key, entry in data.items():
        label = _parse_entry(entry, _Where(name, text, key), problems)
        if label is not None:
            labels[key] = label
    if problems:
        raise ConfigError(problems)
    return labels


@dataclass(frozen=True)
class _Where:
    file: str
    text: str
    key: str

    def problem(self, message: str, sub: Optional[str] = None, hint: Optional[str] = None) -> Problem:
        return Problem(message, file=self.file, line=_line_of(self.text, self.key),
                       key=f"{self.key}.{sub}" if sub else self.key, hint=hint)


def _line_of(text: str, key: str) -> Optional[int]:
    """Line of `"key":` in the JSON text (json.loads keeps no positions)."""
    m = re.search(re.escape(json.dumps(key)) + r"\s*:", text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _parse_entry(entry: Any, where: _Where, problems: List[Problem]) -> Optional[Label]:
    start = len(problems)
    if not where.key.lower().endswith(".wav"):
        problems.append(where.problem("key is not a WAV file name", hint="use the file name, e.g. clip.wav"))
    if not isinstance(entry, dict):
        problems.append(where.problem("expected an object with 'intent' (and 'slots')",
                                      hint='e.g. {"intent": "TimeGet", "slots": {}}'))
        return None
    for extra in sorted(set(entry) - _KEYS):
        problems.append(where.problem(f"unknown key '{extra}'", hint=f"allowed: {', '.join(sorted(_KEYS))}"))
    if "intent" not in entry:
        problems.append(where.problem("missing 'intent'", hint="use null for speech that must be rejected"))
    intent = entry.get("intent")
    if intent is not None and not (isinstance(intent, str) and intent):
        problems.append(where.problem("intent must be an intent name or null", "intent"))
    slots = entry.get("slots", {})
    if not isinstance(slots, dict):
        problems.append(where.problem("slots must be an object of slot name to value", "slots"))
        slots = {}
    for slot, value in slots.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(where.problem("slot value must be a string or a number", f"slots.{slot}"))
    if intent is None and slots:
        problems.append(where.problem("an entry with intent null cannot have slots", "slots"))
    transcript = entry.get("transcript")
    if transcript is not None and not isinstance(transcript, str):
        problems.append(where.problem("transcript must be a string", "transcript"))
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        problems.append(where.problem("tags must be an object of string values", "tags"))
        tags = {}
    if len(problems) > start:
        return None
    return Label(intent, dict(slots), transcript, dict(tags))


def intent_slots(grammar: Any) -> Dict[str, Dict[str, Optional[str]]]:
    """Per intent: every slot name its templates can fill -> the list it comes from
    (None for a value fixed by the template)."""
    from voiced.grammar.template import references

    out: Dict[str, Dict[str, Optional[str]]] = {}
    for name, intent in grammar.intents.items():
        slots: Dict[str, Optional[str]] = {}
        for template in intent.templates:
            for fixed in template.fixed_slots:
                slots.setdefault(fixed, None)
            pending, seen = [template.tree], set()
            while pending:
                refs, rules = references(pending.pop())
                for ref in refs:
                    slots.setdefault(ref.slot_name, ref.list_name)
                for rule in rules:
                    if rule.name not in seen and rule.name in grammar.rules:
                        seen.add(rule.name)
                        pending.append(grammar.rules[rule.name])
        out[name] = slots
    return out


def validate_labels(labels: Dict[str, Label], grammar: Any, path: Union[str, Path]) -> None:
    """Every intent, slot name and slot value must exist in the grammar; raises ConfigError
    naming the labels file and the key of each bad entry."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        text = ""
    known = intent_slots(grammar)
    problems: List[Problem] = []
    for key, label in labels.items():
        where = _Where(name, text, key)
        if label.intent is None:
            continue
        if label.intent not in known:
            problems.append(where.problem(f"unknown intent '{label.intent}'", "intent",
                                          hint=_did_you_mean(label.intent, list(known))))
            continue
        slots = known[label.intent]
        for slot, value in label.slots.items():
            if slot not in slots:
                problems.append(where.problem(f"intent {label.intent} has no slot '{slot}'", f"slots.{slot}",
                                              hint=_did_you_mean(slot, list(slots))))
                continue
            problem = _value_problem(grammar, slots[slot], value)
            if problem:
                problems.append(where.problem(problem[0], f"slots.{slot}", hint=problem[1]))
    if problems:
        raise ConfigError(problems)


def _value_problem(grammar: Any, list_name: Optional[str], value: Value) -> Optional[tuple]:
    slot_list = grammar.lists.get(list_name) if list_name else None
    if slot_list is None or slot_list.wildcard:
        return None
    if slot_list.range is not None:
        if isinstance(value, str) or not slot_list.range.contains(value):
            r = slot_list.range
            return (f"{value!r} is not in {list_name} ({r.start} to {r.stop} step {r.step})",
                    "write the number, not words")
        return None
    canonical = [v.value for v in slot_list.values]
    if value in canonical:
        return None
    return (f"{value!r} is not a value of list '{list_name}'",
            _did_you_mean(str(value), [str(c) for c in dict.fromkeys(canonical)]))


def _did_you_mean(word: str, options: List[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {', '.join(options[:15])}" if options else "this intent has no slots"


def save_labels(labels: Dict[str, Label], path: Union[str, Path]) -> None:
    """Write a labels file, one entry per line so diffs stay readable."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v.to_dict(), ensure_ascii=False)}" for k, v in labels.items()]
    Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
