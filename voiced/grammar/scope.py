"""Lists and rules local to one data block (hassil's data-block `lists` and `expansion_rules`).

hassil looks a name up when it matches: a block's own list or rule wins over the file's, also
inside a shared rule the block's sentences use. voiced resolves names once, at load time: a
local list or rule gets a grammar-wide name of its own (`intents.X.data[0].lists.NAME`), the
block's sentences and local rules are rewritten to it (`rename`), and a shared rule that uses
an overridden name is copied for that block with the block's names (`localize`). Slot names
stay as written, so results and actions never see the longer names.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

from voiced.grammar.model import Grammar, Scope
from voiced.grammar.template import Alt, Node, Perm, RuleRef, Seq, SlotRef, Words
from voiced.grammar.walk import Visitor, references


def list_key(name: str) -> str:
    return "{" + name + "}"


def rule_key(name: str) -> str:
    return "<" + name + ">"


class _Rename(Visitor[Node]):
    """The same tree with the names in `names` ("{list}" / "<rule>" -> new name) replaced;
    `rule_name` may rename further rules (the copies `localize` makes)."""

    def __init__(self, names: Mapping[str, str], rule_name: Optional[Callable[[str], Optional[str]]] = None):
        self.names = names
        self.rule_name = rule_name

    def words(self, node: Words) -> Node:
        return node

    def slot(self, node: SlotRef) -> Node:
        new = self.names.get(list_key(node.list_name))
        return node if new is None else SlotRef(new, node.slot_name, node.column)

    def rule(self, node: RuleRef) -> Node:
        new = self.names.get(rule_key(node.name))
        if new is None and self.rule_name is not None:
            new = self.rule_name(node.name)
        return node if new is None else RuleRef(new, node.column)

    def seq(self, node: Seq) -> Node:
        return Seq(tuple(self.visit(item) for item in node.items))

    def alt(self, node: Alt) -> Node:
        return Alt(tuple(self.visit(option) for option in node.options), node.optional)

    def perm(self, node: Perm) -> Node:
        return Perm(tuple(self.visit(item) for item in node.items))


def rename(tree: Seq, names: Mapping[str, str]) -> Seq:
    """`tree` with a block's local names ("{list}", "<rule>") replaced by their grammar names."""
    return _Rename(names).visit(tree) if names else tree


def localize(grammar: Grammar) -> None:
    """Copy every shared rule that a block's sentences reach and that uses a name the block
    overrides, renamed for that block, and point the block's sentences at the copies."""
    uses = _Uses(grammar.rules)
    for intent in grammar.intents.values():
        for k, template in enumerate(intent.templates):
            if template.scope is None or not template.scope.names:
                continue
            copier = _Copier(grammar, template.scope, uses)
            tree = copier.rename(template.tree)
            if tree is not template.tree:
                intent.templates[k] = replace(template, tree=tree)


class _Uses:
    """The "{list}" and "<rule>" names each rule uses, directly or through other rules."""

    def __init__(self, rules: Mapping[str, Seq]):
        self.rules = rules
        self.memo: Dict[str, Set[str]] = {}

    def of(self, name: str, active: Tuple[str, ...] = ()) -> Set[str]:
        if name in self.memo:
            return self.memo[name]
        found: Set[str] = set()
        if name in active or name not in self.rules:  # recursive or unknown: reported elsewhere
            return found
        slots, rules = references(self.rules[name])
        found.update(list_key(s.list_name) for s in slots)
        for ref in rules:
            found.add(rule_key(ref.name))
            found |= self.of(ref.name, active + (name,))
        self.memo[name] = found
        return found


class _Copier:
    def __init__(self, grammar: Grammar, scope: Scope, uses: _Uses):
        self.grammar = grammar
        self.scope = scope
        self.uses = uses
        self.active: List[str] = []

    def rename(self, tree: Seq) -> Seq:
        new = _Rename({}, self._rule_name).visit(tree)
        return tree if new == tree else new

    def _rule_name(self, name: str) -> Optional[str]:
        """The copy of shared rule `name` for this block, made on first use; None when the rule
        uses none of the block's names (or is unknown, or recursive: reported elsewhere)."""
        if name not in self.grammar.rules or name in self.active:
            return None
        if not self.uses.of(name) & set(self.scope.names):
            return None
        copy = f"{self.scope.key}.{rule_key(name)}"
        if copy not in self.grammar.rules:
            self.active.append(name)
            try:
                body = _Rename(self.scope.names, self._rule_name).visit(self.grammar.rules[name])
            finally:
                self.active.pop()
            self.grammar.rules[copy] = body
        return copy


def reachable_lists(tree: Seq, rules: Mapping[str, Seq]) -> List[Tuple[SlotRef, Optional[str]]]:
    """Every slot reference a sentence makes, also inside the rules it uses (each rule once),
    with the rule it is written in (None: in the sentence)."""
    out: List[Tuple[SlotRef, Optional[str]]] = []
    seen: Set[str] = set()
    pending: List[Tuple[Seq, Optional[str]]] = [(tree, None)]
    while pending:  # iterative: a chain of thousands of rules must not exhaust the stack
        node, where = pending.pop()
        slots, refs = references(node)
        out.extend((s, where) for s in slots)
        for ref in refs:
            if ref.name in rules and ref.name not in seen:
                seen.add(ref.name)
                pending.append((rules[ref.name], ref.name))
    return out
