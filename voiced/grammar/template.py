"""Sentence template parser (hassil syntax).

    (turn | switch) on [the] {room} <lights>

`(a | b)` alternatives, `[a]` or `[a | b]` optional parts, `(a; b)` permutations (every item
once, in any order), `{list}` or `{list:slot}` slot references, `<rule>` references to
expansion rules. Parsing builds a small tree; nothing is expanded, the matcher aligns the tree
against an utterance.

hassil matches characters, so a group written against a word is part of that word:
"blind[s]" is "blind" or "blinds", "day[ ]light" "daylight" or "day light",
"{hours}( |-)hour[s]" a number then "hour" or "hours". voiced matches words, so such a glued
run is spelt out into its few forms when the template is parsed (see `_glue`); a group that
only holds spaces or punctuation ("[ ]", "( |-)") is allowed for that purpose.

Brackets nest at most MAX_NESTING levels: every reader of the tree (here, the loader, the
graph compiler) recurses once per level, and real templates use two or three.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from voiced.grammar.normalize import tokenize

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_SPECIAL = set("()[]{}<>|;")
_SPACES_RE = re.compile(r"(\s+)")
MAX_NESTING = 32  # levels of brackets, and of rules inlined into a sentence (checked by the loader)
# Every order of a permutation becomes a branch of the matcher's graph: 5 items are 120 orders.
# Home Assistant's sentences use 2 or 3.
MAX_PERMUTATION_ITEMS = 5
MAX_GLUED_FORMS = 64  # forms a glued run ("(lock|door|garage door)[s]") may spell out to


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


@dataclass(frozen=True)
class Perm:
    """hassil's `(a; b; c)`: every item said once, in any order."""

    items: Tuple[Seq, ...] = ()

    def orders(self) -> Alt:
        """The permutation as alternatives, one per order, in itertools.permutations order (as
        hassil expands it)."""
        return Alt(tuple(Seq(order) for order in itertools.permutations(self.items)))


Node = Union[Words, SlotRef, RuleRef, Seq, Alt, Perm]


@dataclass
class _Cursor:
    text: str
    pos: int = 0


@dataclass
class _Option:
    """One option of a group while it is parsed: its items, and before each item whether
    whitespace separates it from the previous one (no whitespace: the two are glued)."""

    start: int
    items: List[Node] = field(default_factory=list)
    spaced: List[bool] = field(default_factory=list)
    space_pending: bool = False

    def add(self, node: Node) -> None:
        self.items.append(node)
        self.spaced.append(self.space_pending)
        self.space_pending = False


_CLOSERS = {"(": ")", "[": "]"}
_BLANK = Seq((Words(" "),))  # a whitespace-only option of a group that says no words ("( |-)")


def parse_template(text: str) -> Seq:
    """Parse one template. Raises TemplateError with a column and a hint."""
    if not isinstance(text, str):
        raise TemplateError("a template must be a string", 1, "quote the sentence")
    if not text.strip():
        raise TemplateError("empty template", 1, "write the words of a sentence")
    group = _parse_group(_Cursor(text), None, 0)
    if isinstance(group, Perm) or len(group.options) > 1:
        # A top-level "a | b" is a common shorthand; treat it as one group (hassil does).
        return Seq((group,))
    return group.options[0]


def _parse_group(cur: _Cursor, opener: Optional[Tuple[str, int]], depth: int) -> Union[Alt, Perm]:
    """The options of one bracket group (or the whole template), up to its closer."""
    options: List[Tuple[_Option, int]] = []  # each option with the position that ended it
    separator: Optional[Tuple[str, int]] = None
    option = _Option(cur.pos)
    close = _CLOSERS[opener[0]] if opener else None
    while True:
        if cur.pos >= len(cur.text):
            if opener:
                raise TemplateError(f"'{opener[0]}' is never closed", opener[1] + 1,
                                    f"add '{close}' or remove the '{opener[0]}'")
            options.append((option, cur.pos))
            return _group(cur.text, options, separator, opener)
        ch = cur.text[cur.pos]
        if ch in "|;":
            if separator and separator[0] != ch:
                raise TemplateError(f"a group mixes '|' and ';' (first '{separator[0]}' at column "
                                    f"{separator[1] + 1})", cur.pos + 1,
                                    "bracket the inner group: (a; (b | c)) or ((a; b) | c)")
            separator = separator or (ch, cur.pos)
            options.append((option, cur.pos))
            cur.pos += 1
            option = _Option(cur.pos)
        elif ch in ")]":
            if ch != close:
                if opener:
                    raise TemplateError(f"'{opener[0]}' at column {opener[1] + 1} closed by '{ch}'", cur.pos + 1,
                                        f"close it with '{close}'")
                raise TemplateError(f"unbalanced '{ch}'", cur.pos + 1, "remove it or add the matching opener")
            options.append((option, cur.pos))
            cur.pos += 1
            return _group(cur.text, options, separator, opener)
        elif ch in "([":
            if depth >= MAX_NESTING:
                raise TemplateError(f"brackets nested more than {MAX_NESTING} levels deep", cur.pos + 1,
                                    "use fewer nested brackets, or split the sentence in two")
            start = cur.pos
            cur.pos += 1
            group = _parse_group(cur, (ch, start), depth + 1)
            if ch == "[":
                group = Alt(group.options, optional=True) if isinstance(group, Alt) \
                    else Alt((Seq((group,)),), optional=True)
            option.add(group)
        elif ch in "{<":
            option.add(_parse_ref(cur, ch, "}" if ch == "{" else ">"))
        elif ch in "}>":
            raise TemplateError(f"unbalanced '{ch}'", cur.pos + 1, "remove it or add the matching opener")
        else:
            start = cur.pos
            while cur.pos < len(cur.text) and cur.text[cur.pos] not in _SPECIAL:
                cur.pos += 1
            chunk = cur.text[start:cur.pos]
            if chunk.strip():
                option.add(Words(chunk))  # its own spaces stay in its text
            else:
                option.space_pending = True


def _group(text: str, options: List[Tuple[_Option, int]], separator: Optional[Tuple[str, int]],
           opener: Optional[Tuple[str, int]]) -> Union[Alt, Perm]:
    """The finished group: options checked for emptiness, glued runs spelt out."""
    seqs: List[Optional[Seq]] = []
    blank_at: Optional[int] = None
    for option, end in options:
        if option.items:
            seqs.append(Seq(tuple(_glue(option.items, option.spaced))))
            continue
        if separator and separator[0] == ";":
            raise TemplateError("empty item in a permutation", end + 1, "remove the extra ';'")
        if end == option.start or blank_at is not None:  # nothing at all, or a second blank
            what = " in '[...]'" if opener and opener[0] == "[" else ""
            raise TemplateError(f"empty alternative{what}", end + 1,
                                "remove the extra '|'" if what else
                                "remove the extra '|', or use [words] for an optional part")
        blank_at = end
        seqs.append(None)
    if blank_at is not None and any(s is not None and _says_words(s) for s in seqs):
        # "(the | )": hassil reads an optional word, but it is usually a slip; [the] says it.
        raise TemplateError("empty alternative", blank_at + 1,
                            "remove the extra '|', or use [words] for an optional part")
    done = tuple(_BLANK if s is None else s for s in seqs)
    if separator and separator[0] == ";":
        if len(done) > MAX_PERMUTATION_ITEMS:
            raise TemplateError(f"a permutation of more than {MAX_PERMUTATION_ITEMS} items", separator[1] + 1,
                                "split the sentence, or fix the order of some items")
        return Perm(done)
    return Alt(done)


def _says_words(seq: Seq) -> bool:
    return not all(isinstance(item, Words) and not tokenize(item.text) for item in seq.items)


# --- glued runs --------------------------------------------------------------------------


def _glue(items: List[Node], spaced: List[bool]) -> List[Node]:
    """Items of one option with every glued run of words and groups ("blind[s]") replaced by
    the group of the words it spells; items with nothing glued come back unchanged."""
    units: List[Union[Node, str]] = []  # word and group units; a str unit is whitespace
    for item, space in zip(items, spaced):
        if space:
            units.append(" ")
        if isinstance(item, Words):
            units.extend(p if p.isspace() else Words(p) for p in _SPACES_RE.split(item.text) if p)
        else:
            units.append(item)
    out: List[Node] = []
    text: List[str] = []  # words and spaces not glued to a group, kept as written
    run: List[Node] = []

    def flush_text() -> None:
        joined = "".join(text)
        if joined.strip():
            out.append(Words(joined))
        text.clear()

    def flush_run() -> None:
        combined = _combine(run) if len(run) > 1 else None
        if combined is None:
            for unit in run:
                if isinstance(unit, Words):
                    text.append(unit.text)
                else:
                    flush_text()
                    out.append(unit)
        else:
            flush_text()
            out.extend(combined)
        run.clear()

    for unit in units:
        if isinstance(unit, str):
            flush_run()
            text.append(unit)
        elif isinstance(unit, (SlotRef, RuleRef, Perm)):
            # A slot is its own words in voiced; hassil puts spaces around permutation items.
            flush_run()
            run.append(unit)
            flush_run()
        else:
            run.append(unit)
    flush_run()
    flush_text()
    return out


def _combine(run: List[Node]) -> Optional[List[Node]]:
    """The spelt-out forms of a glued run, as one group (none when a form says nothing); None
    when the run cannot be spelt out (a rule or slot inside, or too many forms)."""
    forms = [""]
    for unit in run:
        found = _surfaces(unit)
        if found is None or len(forms) * len(found) > MAX_GLUED_FORMS:
            return None
        forms = [a + b for a in forms for b in found]
    said: Dict[Tuple[str, ...], str] = {}
    for form in forms:
        said.setdefault(tuple(tokenize(form)), " ".join(form.split()))
    optional = () in said
    options = tuple(Seq((Words(text),)) for key, text in said.items() if key)
    if not options:
        return []
    if len(options) == 1 and not optional:
        return [options[0].items[0]]
    return [Alt(options, optional=optional)]


def _surfaces(node: Node) -> Optional[List[str]]:
    """Every text `node` can say, as written (spaces kept); None with a slot, rule or permutation."""
    if isinstance(node, Words):
        return [node.text]
    if isinstance(node, Seq):
        forms = [""]
        for item in node.items:
            found = _surfaces(item)
            if found is None or len(forms) * len(found) > MAX_GLUED_FORMS:
                return None
            forms = [a + b for a in forms for b in found]
        return forms
    if isinstance(node, Alt):
        forms = [""] if node.optional else []
        for option in node.options:
            found = _surfaces(option)
            if found is None or len(forms) + len(found) > MAX_GLUED_FORMS:
                return None
            forms.extend(found)
        return forms
    return None


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
