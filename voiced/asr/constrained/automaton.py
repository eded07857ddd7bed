"""A grammar as a token automaton: which tokens may come next after a prefix, and what a
finished prefix means.

Two levels keep it as small as the grammar is written, not as large as what it can say:

* Junctions joined by empty moves (an optional part skipped, an alternative's end, a template's
  start) and by *calls*: a call from junction a to junction b says one phrase of a `Trie`.
* A `Trie` holds token sequences with shared prefixes: the spellings of a Words node, or every
  spoken form of a slot list, each end carrying what was said (`Said`: the slot value and its
  listed form). A list's trie is built once and shared by every slot that uses it; a call
  knows where to go on afterwards, so no stack is needed.

A search walks it with a `Cursor`: the set of places (call, trie, node) one token prefix can
be at, each with the trail of events that led there (the template entered, the slots filled),
and whether the prefix can end the sentence. Following tokens through sets of places
determinises the automaton lazily, so one prefix is one hypothesis however many ways the
grammar can say it, and the first way found names its intent and slots.

Each call has two tries: the one used inside a sentence and one for its first word (which the
recogniser capitalises); only places reached before any token, or after a call that ends a
sentence of its own ("Computer."), use the second.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

Value = Union[str, int, float]


@dataclass(frozen=True)
class Said:
    """What the end of a phrase in a trie says: a slot's value and the listed form that says it."""

    value: Value
    spoken: str


@dataclass(frozen=True)
class Start:
    """The event of entering template number `template` of `intent`."""

    intent: str
    template: int


@dataclass(frozen=True)
class Fill:
    """The event of saying `said` for slot `slot`."""

    slot: str
    said: Said


@dataclass(frozen=True)
class Addressed:
    """The event of saying one of the grammar's address words ("Computer,") before the command."""


Event = Union[Start, Fill, Addressed]
Trail = Optional[Tuple[Event, "Trail"]]
"""events newest first, as a linked list: (event, earlier trail) or None"""


def events(trail: Trail) -> List[Event]:
    """The events of a trail, oldest first."""
    out: List[Event] = []
    while trail is not None:
        out.append(trail[0])
        trail = trail[1]
    return out[::-1]


class Trie:
    """Token sequences with shared prefixes; node 0 is the root."""

    def __init__(self) -> None:
        self.children: List[Dict[int, int]] = [{}]
        self.ends: List[Tuple[Optional[Said], ...]] = [()]

    def add(self, tokens: Sequence[int], said: Optional[Said] = None) -> None:
        if not tokens:
            raise ValueError("a phrase says at least one token")
        node = 0
        for token in tokens:
            child = self.children[node].get(token)
            if child is None:
                child = len(self.children)
                self.children[node][token] = child
                self.children.append({})
                self.ends.append(())
            node = child
        if said not in self.ends[node]:
            self.ends[node] += (said,)

    def __len__(self) -> int:
        return len(self.children)


@dataclass(frozen=True)
class Call:
    target: int
    tries: Tuple[Trie, Trie]
    """(inside a sentence, as its first words)"""
    slot: Optional[str]
    """the slot the phrase fills, None for the template's own words"""
    restart: bool = False
    """the phrase ends a sentence of its own ("Computer."): what follows is written as a sentence's start"""


Place = Tuple[int, int, int]
"""(call, 0 inside / 1 first words, trie node)"""


class Cursor:
    """Where one token prefix can be in the automaton."""

    __slots__ = ("places", "accept", "_tokens")

    def __init__(self, places: Dict[Place, Trail], accept: Optional[Tuple[Trail]] = None):
        self.places = places
        self.accept = accept
        """(trail,) of a way the prefix ends a sentence; None when it cannot end here"""
        self._tokens: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.places)


class Automaton:
    """Junctions, empty moves and calls; junction `begin` starts a sentence, `final` ends one."""

    def __init__(self) -> None:
        self.moves: List[List[Tuple[int, Optional[Event]]]] = []
        self.calls_from: List[List[int]] = []
        self.calls: List[Call] = []
        self.begin = self.junction()
        self.final = self.junction()
        self._reach: Dict[int, Tuple[List[Tuple[int, Tuple[Event, ...]]], Optional[Tuple[Event, ...]]]] = {}

    def junction(self) -> int:
        self.moves.append([])
        self.calls_from.append([])
        return len(self.moves) - 1

    def move(self, a: int, b: int, event: Optional[Event] = None) -> None:
        """An empty move from junction a to b, recording `event` when taken."""
        self.moves[a].append((b, event))

    def call(self, a: int, b: int, tries: Tuple[Trie, Trie], slot: Optional[str] = None,
             restart: bool = False) -> None:
        self.calls_from[a].append(len(self.calls))
        self.calls.append(Call(b, tries, slot, restart))

    def tries(self) -> Iterator[Trie]:
        """Every distinct trie (shared ones once)."""
        seen = set()
        for call in self.calls:
            for trie in call.tries:
                if id(trie) not in seen:
                    seen.add(id(trie))
                    yield trie

    # --- walking -------------------------------------------------------------------------

    def start(self) -> Cursor:
        """The cursor of the empty prefix."""
        places: Dict[Place, Trail] = {}
        self._enter(self.begin, None, 1, places)
        return Cursor(places)  # an empty sentence says nothing: it never ends here

    def tokens(self, cursor: Cursor) -> np.ndarray:
        """The tokens that may follow the cursor's prefix, ascending."""
        if cursor._tokens is None:
            found = set()
            for call, first, node in cursor.places:
                found.update(self.calls[call].tries[first].children[node])
            cursor._tokens = np.fromiter(sorted(found), dtype=np.int64, count=len(found))
        return cursor._tokens

    def advance(self, cursor: Cursor, token: int) -> Cursor:
        """The cursor after one more token (no places left: the grammar cannot say it)."""
        places: Dict[Place, Trail] = {}
        accept: Optional[Tuple[Trail]] = None
        for (call, first, node), trail in cursor.places.items():
            c = self.calls[call]
            trie = c.tries[first]
            child = trie.children[node].get(token)
            if child is None:
                continue
            if trie.children[child]:
                places.setdefault((call, first, child), trail)  # on in the same trie
            for said in trie.ends[child]:
                filled = (Fill(c.slot, said), trail) if c.slot is not None and said is not None else trail
                found = self._enter(c.target, filled, 1 if c.restart else 0, places)
                if found is not None and accept is None:
                    accept = found
        return Cursor(places, accept)

    def _enter(self, junction: int, trail: Trail, first: int, places: Dict[Place, Trail]) -> Optional[Tuple[Trail]]:
        """Add the places reachable from `junction` by empty moves to `places`; returns (trail,)
        when the sentence can end there."""
        reach, done = self._reachable(junction)
        for call, taken in reach:
            key = (call, first, 0)
            if key not in places:
                places[key] = _extend(trail, taken)
        return None if done is None else (_extend(trail, done),)

    def _reachable(self, junction: int):
        """(calls reachable by empty moves with the events on the way, events on the way to
        `final` or None), first way found wins; memoised."""
        found = self._reach.get(junction)
        if found is not None:
            return found
        calls: Dict[int, Tuple[Event, ...]] = {}
        done: Optional[Tuple[Event, ...]] = None
        stack: List[Tuple[int, Tuple[Event, ...]]] = [(junction, ())]
        seen = {junction}
        while stack:
            j, taken = stack.pop()
            if j == self.final and done is None:
                done = taken
            for call in self.calls_from[j]:
                calls.setdefault(call, taken)
            for target, event in reversed(self.moves[j]):  # reversed: the first move is walked first
                if target not in seen:
                    seen.add(target)
                    stack.append((target, taken + (event,) if event is not None else taken))
        found = (list(calls.items()), done)
        self._reach[junction] = found
        return found


def _extend(trail: Trail, taken: Tuple[Event, ...]) -> Trail:
    for event in taken:
        trail = (event, trail)
    return trail
