"""Sentence template parser (hassil syntax).

    (turn | switch) on [the] {room} <lights>

`(a | b)` alternatives, `[a]` or `[a | b]` optional parts, `{list}` or `{list:slot}` slot
references, `<rule>` references to expansion rules. Parsing builds a small tree; nothing is
expanded, the matcher aligns the tree against an utterance.

Brackets nest at most MAX_NESTING levels: every reader of the tree (here, the loader, the
graph compiler) recurses once per level, and real templates use two or three.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_SPECIAL = set("()[]{}<>|;")
MAX_NESTING = 32  # levels of brackets, and of rules inlined into a sentence (checked by the loader)


class TemplateError(ValueError):
    """A template that cannot be parsed; `column` is 1-based within the template text."""

    def __init__(self, message: str, column: int, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.column = column
        self.hint = hint


@dataclass(frozen=True)
class Words:
    text: str


@dataclass(frozen=True)
class SlotRef:
    list_name: str
    slot_name: str
    column: int = 0


@dataclass(frozen=True)
class RuleRef:
    name: str
    column: int = 0


@dataclass(frozen=True)
class Seq:
    items: Tuple["Node", ...] = ()


@dataclass(frozen=True)
class Alt:
    options: Tuple[Seq, ...] = ()
    optional: bool = False


Node = Union[Words, SlotRef, RuleRef, Seq, Alt]


@dataclass
class _Cursor:
    text: str
    pos: int = 0


_CLOSERS = {"(": ")", "[": "]"}


def parse_template(text: str) -> Seq:
    """Parse one template. Raises TemplateError with a column and a hint."""
    if not isinstance(text, str):
        raise TemplateError("a template must be a string", 1, "quote the sentence")
    if not text.strip():
        raise TemplateError("empty template", 1, "write the words of a sentence")
    seq = _parse_alternatives(_Cursor(text), None, 0)
    if len(seq.options) > 1:
        # A top-level "a | b" is a common shorthand; treat it as one alternative group.
        return Seq((seq,))
    return seq.options[0]


def _parse_alternatives(cur: _Cursor, opener: Optional[Tuple[str, int]], depth: int) -> Alt:
    options: List[Seq] = []
    items: List[Node] = []
    close = _CLOSERS[opener[0]] if opener else None
    while True:
        if cur.pos >= len(cur.text):
            if opener:
                raise TemplateError(f"'{opener[0]}' is never closed", opener[1] + 1,
                                    f"add '{close}' or remove the '{opener[0]}'")
            break
        ch = cur.text[cur.pos]
        if ch == "|":
            options.append(_finish(items, cur.pos, opener))
            items = []
            cur.pos += 1
        elif ch in ")]":
            if ch != close:
                if opener:
                    raise TemplateError(f"'{opener[0]}' at column {opener[1] + 1} closed by '{ch}'", cur.pos + 1,
                                        f"close it with '{close}'")
                raise TemplateError(f"unbalanced '{ch}'", cur.pos + 1, "remove it or add the matching opener")
            options.append(_finish(items, cur.pos, opener))
            cur.pos += 1
            return Alt(tuple(options))
        elif ch in "([":
            if depth >= MAX_NESTING:
                raise TemplateError(f"brackets nested more than {MAX_NESTING} levels deep", cur.pos + 1,
                                    "use fewer nested brackets, or split the sentence in two")
            start = cur.pos
            cur.pos += 1
            group = _parse_alternatives(cur, (ch, start), depth + 1)
            items.append(Alt(group.options, optional=(ch == "[")))
        elif ch == "{":
            items.append(_parse_ref(cur, "{", "}"))
        elif ch == "<":
            items.append(_parse_ref(cur, "<", ">"))
        elif ch in "}>":
            raise TemplateError(f"unbalanced '{ch}'", cur.pos + 1, "remove it or add the matching opener")
        elif ch == ";":
            raise TemplateError("permutations '(a; b)' are not supported", cur.pos + 1,
                                "write the orders as alternatives: ((a) (b) | (b) (a))")
        else:
            start = cur.pos
            while cur.pos < len(cur.text) and cur.text[cur.pos] not in _SPECIAL:
                cur.pos += 1
            chunk = cur.text[start:cur.pos]
            if chunk.strip():
                items.append(Words(chunk))
    options.append(_finish(items, cur.pos, opener))
    return Alt(tuple(options))


def _finish(items: List[Node], pos: int, opener: Optional[Tuple[str, int]]) -> Seq:
    if not items:
        if opener and opener[0] == "[":
            raise TemplateError("empty alternative in '[...]'", pos + 1, "remove the extra '|'")
        raise TemplateError("empty alternative", pos + 1,
                            "remove the extra '|', or use [words] for an optional part")
    return Seq(tuple(items))


def _parse_ref(cur: _Cursor, open_ch: str, close_ch: str) -> Node:
    start = cur.pos
    end = cur.text.find(close_ch, start + 1)
    what = "slot" if open_ch == "{" else "rule"
    if end < 0:
        raise TemplateError(f"'{open_ch}' is never closed", start + 1, f"add '{close_ch}'")
    body = cur.text[start + 1:end].strip()
    cur.pos = end + 1
    if open_ch == "{":
        list_name, _, slot_name = body.partition(":")
        list_name, slot_name = list_name.strip(), (slot_name.strip() or list_name.strip())
        for name in (list_name, slot_name):
            if not _NAME_RE.match(name):
                raise TemplateError(f"bad slot reference '{{{body}}}'", start + 1,
                                    "write {list} or {list:slot} with letters, digits and _")
        return SlotRef(list_name, slot_name, start + 1)
    if not _NAME_RE.match(body):
        raise TemplateError(f"bad {what} reference '<{body}>'", start + 1, "write <rule_name>")
    return RuleRef(body, start + 1)


def references(node: Node) -> Tuple[List[SlotRef], List[RuleRef]]:
    """Every slot and rule reference in a parsed template, in order (rules not inlined)."""
    # The walk lives in voiced.grammar.walk, which imports the node types from here.
    from voiced.grammar.walk import references as walk_references

    return walk_references(node)
