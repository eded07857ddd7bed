"""The one walk over parsed templates: a visitor with one method per node type.

Every reader of the template tree (references, the loader's size check, list value forms, the
matcher's graph, the sampler, the rescorer's carrier sentences and sentence index) dispatches
through `Visitor.visit`, so a new node type is added to HANDLERS and to every visitor, and any
visitor without a handler cannot even be created: the handlers are abstract, and
tests/test_grammar_walk.py checks HANDLERS covers template.Node. Permutations (`Perm`) are the
latest: most readers treat one as the alternatives of its orders (`Perm.orders()`), as hassil
expands it.

The derived operations most readers need live here too: `references`, `expand` (every way of
saying a template), `render` (one way, picked by a Chooser) and `count` (how many ways).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from math import factorial, prod
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from voiced.grammar.template import MAX_NESTING, Alt, Node, Perm, RuleRef, Seq, SlotRef, Words

R = TypeVar("R")

HANDLERS: Dict[type, str] = {Words: "words", SlotRef: "slot", RuleRef: "rule", Seq: "seq", Alt: "alt",
                             Perm: "perm"}
"""node type -> name of the Visitor method that handles it"""


class UnhandledNode(TypeError):
    """A template node of a type no handler exists for: HANDLERS lacks it."""


class Visitor(ABC, Generic[R]):
    """One handler per node type. Handlers recurse by calling `visit` on the children they want;
    extra positional arguments of `visit` are passed on to the handler (e.g. the graph's
    predecessor nodes)."""

    def visit(self, node: Node, *context: Any) -> R:
        name = HANDLERS.get(type(node))
        if name is None:
            raise UnhandledNode(f"no handler for template node {type(node).__name__}: add it to "
                                f"voiced.grammar.walk.HANDLERS and to every Visitor")
        return getattr(self, name)(node, *context)

    @abstractmethod
    def words(self, node: Words, *context: Any) -> R: ...

    @abstractmethod
    def slot(self, node: SlotRef, *context: Any) -> R: ...

    @abstractmethod
    def rule(self, node: RuleRef, *context: Any) -> R: ...

    @abstractmethod
    def seq(self, node: Seq, *context: Any) -> R: ...

    @abstractmethod
    def alt(self, node: Alt, *context: Any) -> R: ...

    @abstractmethod
    def perm(self, node: Perm, *context: Any) -> R: ...


class RuleInliner:
    """Inlines `<rule>` references up to `max_depth` levels; a missing rule, or one too deep,
    says nothing (the loader has already reported it, or rejects the depth)."""

    def __init__(self, rules: Optional[Mapping[str, Seq]], max_depth: int):
        self.rules: Mapping[str, Seq] = rules if rules is not None else {}
        self.max_depth = max_depth
        self.depth = 0

    def inline(self, node: RuleRef, walk: Callable[[Seq], R], missing: R) -> R:
        rule = self.rules.get(node.name)
        if rule is None or self.depth >= self.max_depth:
            return missing
        self.depth += 1
        try:
            return walk(rule)
        finally:
            self.depth -= 1


# --- references ----------------------------------------------------------------------------


class _References(Visitor[None]):
    def __init__(self) -> None:
        self.slots: List[SlotRef] = []
        self.rules: List[RuleRef] = []

    def words(self, node: Words) -> None:
        pass

    def slot(self, node: SlotRef) -> None:
        self.slots.append(node)

    def rule(self, node: RuleRef) -> None:
        self.rules.append(node)

    def seq(self, node: Seq) -> None:
        for item in node.items:
            self.visit(item)

    def alt(self, node: Alt) -> None:
        for option in node.options:
            self.visit(option)

    def perm(self, node: Perm) -> None:
        for item in node.items:  # in the written order
            self.visit(item)


def references(node: Node) -> Tuple[List[SlotRef], List[RuleRef]]:
    """Every slot and rule reference in a parsed template, in order (rules not inlined)."""
    found = _References()
    found.visit(node)
    return found.slots, found.rules


# --- expansion -----------------------------------------------------------------------------

Piece = Union[str, SlotRef]
Way = Tuple[Piece, ...]


class _Expander(Visitor[List[Way]]):
    def __init__(self, limit: int, inliner: RuleInliner, words: Callable[[str], Sequence[str]], distinct: bool):
        self.limit = limit
        self.inliner = inliner
        self.split = words
        self.distinct = distinct

    def words(self, node: Words) -> List[Way]:
        return [tuple(self.split(node.text))]

    def slot(self, node: SlotRef) -> List[Way]:
        return [(node,)]

    def rule(self, node: RuleRef) -> List[Way]:
        return self.inliner.inline(node, self.visit, [()])

    def seq(self, node: Seq) -> List[Way]:
        ways: List[Way] = [()]
        for item in node.items:
            parts = self.visit(item)
            ways = [a + b for a in ways for b in parts][:self.limit]
        return ways

    def alt(self, node: Alt) -> List[Way]:
        ways: List[Way] = [()] if node.optional else []
        for option in node.options:
            ways.extend(self.visit(option))
        return (list(dict.fromkeys(ways)) if self.distinct else ways)[:self.limit]

    def perm(self, node: Perm) -> List[Way]:
        # hassil's order: each order of the items (itertools.permutations), then each way of it
        return self.alt(node.orders())


def expand(node: Node, limit: int, *, rules: Optional[Mapping[str, Seq]] = None, max_depth: int = MAX_NESTING,
           words: Callable[[str], Sequence[str]] = lambda text: (text,), distinct: bool = False) -> List[Way]:
    """Ways of saying `node`: each a tuple of word pieces (`words` splits a Words node's text;
    by default it stays one piece) and the SlotRefs still open. Rules come from `rules`,
    inlined up to `max_depth` levels. Every group keeps at most `limit` ways (the first ones),
    after dropping repeats when `distinct`."""
    return _Expander(limit, RuleInliner(rules, max_depth), words, distinct).visit(node)


# --- counting ------------------------------------------------------------------------------


class _Counter(Visitor[int]):
    def __init__(self, slot_forms: Callable[[SlotRef], int], inliner: RuleInliner):
        self.slot_forms = slot_forms
        self.inliner = inliner
        self.rules: Dict[Tuple[str, int], int] = {}  # a rule counts the same at the same depth

    def words(self, node: Words) -> int:
        return 1

    def slot(self, node: SlotRef) -> int:
        return self.slot_forms(node)

    def rule(self, node: RuleRef) -> int:
        key = (node.name, self.inliner.depth)
        if key not in self.rules:
            self.rules[key] = self.inliner.inline(node, self.visit, 1)  # as expand: one empty way
        return self.rules[key]

    def seq(self, node: Seq) -> int:
        total = 1
        for item in node.items:
            total *= self.visit(item)
        return total

    def alt(self, node: Alt) -> int:
        return int(node.optional) + sum(self.visit(option) for option in node.options)

    def perm(self, node: Perm) -> int:
        return factorial(len(node.items)) * prod(self.visit(item) for item in node.items)


def count(node: Node, slot_forms: Callable[[SlotRef], int], *, rules: Optional[Mapping[str, Seq]] = None,
          max_depth: int = MAX_NESTING) -> int:
    """The sentences `expand` would give with every slot filled by each of its `slot_forms`,
    without expanding anything: the product of the choices along each way, summed over the
    alternatives. Ways beyond expand's limit, and repeats, are counted too."""
    return _Counter(slot_forms, RuleInliner(rules, max_depth)).visit(node)


class _Empty(Visitor[bool]):
    def __init__(self, inliner: RuleInliner):
        self.inliner = inliner

    def words(self, node: Words) -> bool:
        return not node.text.split()

    def slot(self, node: SlotRef) -> bool:
        return False

    def rule(self, node: RuleRef) -> bool:
        return self.inliner.inline(node, self.visit, True)

    def seq(self, node: Seq) -> bool:
        return all(self.visit(item) for item in node.items)

    def alt(self, node: Alt) -> bool:
        return node.optional or any(self.visit(option) for option in node.options)

    def perm(self, node: Perm) -> bool:
        return all(self.visit(item) for item in node.items)


def can_be_empty(node: Node, *, rules: Optional[Mapping[str, Seq]] = None, max_depth: int = MAX_NESTING) -> bool:
    """Whether every word of `node` is optional: it can be said with no word at all."""
    return _Empty(RuleInliner(rules, max_depth)).visit(node)


# --- rendering -----------------------------------------------------------------------------


class Chooser(ABC):
    """The decisions `render` leaves open: what a Words node and a slot say, which option of a
    group to take."""

    @abstractmethod
    def words(self, node: Words) -> Sequence[str]:
        """The pieces `node` adds to the sentence."""

    @abstractmethod
    def slot(self, node: SlotRef) -> str:
        """What the slot says (it may record the value it chose)."""

    @abstractmethod
    def option(self, node: Alt, depth: int) -> Optional[Seq]:
        """The option to say, or None to skip an optional group. `depth` is how many rules deep
        the group is (for choosers that render options themselves). A permutation is offered
        as the alternatives of its orders."""


class _Renderer(Visitor[None]):
    def __init__(self, chooser: Chooser, inliner: RuleInliner):
        self.chooser = chooser
        self.inliner = inliner
        self.out: List[str] = []

    def words(self, node: Words) -> None:
        self.out.extend(self.chooser.words(node))

    def slot(self, node: SlotRef) -> None:
        self.out.append(self.chooser.slot(node))

    def rule(self, node: RuleRef) -> None:
        self.inliner.inline(node, self.visit, None)

    def seq(self, node: Seq) -> None:
        for item in node.items:
            self.visit(item)

    def alt(self, node: Alt) -> None:
        option = self.chooser.option(node, self.inliner.depth)
        if option is not None:
            self.visit(option)

    def perm(self, node: Perm) -> None:
        self.alt(node.orders())


def render(node: Node, chooser: Chooser, *, rules: Optional[Mapping[str, Seq]] = None,
           max_depth: int = MAX_NESTING, depth: int = 0) -> List[str]:
    """One way of saying `node`, as the pieces the chooser gave, in order. `depth` is how many
    rules deep `node` already is; rules are inlined while the depth is below `max_depth`."""
    inliner = RuleInliner(rules, max_depth)
    inliner.depth = depth
    renderer = _Renderer(chooser, inliner)
    renderer.visit(node)
    return renderer.out
