"""YAML files -> Grammar, validating everything and reporting every problem at once.

The format follows hassil (Home Assistant's intent files): `language`, `intents`, `lists`,
`expansion_rules`, `skip_words`, plus an optional per-intent `action` and `requires_address`
and the top-level `address` (voiced.grammar.address). Files are read into
nodes by voiced.yamlfile so each problem names its file and line. Rules are inlined into each
sentence's graph when the matcher is built, so their nesting and size are bounded here, where
the sentence can still be named.
"""
from __future__ import annotations

import difflib
import logging
from math import factorial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import yaml

from voiced import yamlfile
from voiced.errors import GrammarError, Problem
from voiced.grammar import address, hass, schema, scope
from voiced.grammar.model import Grammar
from voiced.grammar.template import MAX_NESTING, Alt, Node, Perm, RuleRef, Seq, SlotRef, Words, references
from voiced.grammar.walk import Visitor
from voiced.paths import SHIPPED_GRAMMAR

log = logging.getLogger(__name__)
PathLike = Union[str, Path]
# Words, slots and bracket groups of one sentence with its rules inlined; real sentences have
# under 100. The matcher's graph grows with this, so it bounds the time to build one.
MAX_SENTENCE_SIZE = 2000
MAX_GRAMMAR_SIZE = 200_000  # the same, summed over all sentences (the shipped set: about 1100)
MAX_SENTENCES = 20_000  # the shipped set has about 100; each costs the matcher about 0.1 ms to build


class _Collector:
    """Collects problems for one file; every check appends instead of raising. Home Assistant's
    own keys are only counted (`ignore`): the file gets one warning for all of them."""

    def __init__(self, file: str, problems: List[Problem]):
        self.file = file
        self.problems = problems
        self.ignored = hass.IgnoredKeys()

    def ignore(self, key: str, node: yaml.Node) -> None:
        self.ignored.add(key, node)

    def add(self, message: str, node: Optional[yaml.Node] = None, key: Optional[str] = None,
            hint: Optional[str] = None, line: Optional[int] = None) -> None:
        if line is None and node is not None:
            line = node.start_mark.line + 1
        self.problems.append(Problem(message, file=self.file, line=line, key=key, hint=hint))


def load_grammar(paths: Sequence[PathLike], extra: Sequence[Tuple[str, Union[str, bytes]]] = ()) -> Grammar:
    """Load grammar files (or directories of .yaml/.yml files), then `extra` (name, YAML text)
    files built at run time (voiced.sources). Raises GrammarError listing all problems."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    problems: List[Problem] = []
    files: List[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))
            if not found:
                problems.append(Problem("no .yaml files in directory", file=str(path),
                                        hint="put command files ending in .yaml there"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("grammar file not found", file=str(path),
                                    hint="check grammar.paths (relative to the config file)"))
    texts: List[Tuple[str, Union[str, bytes]]] = []
    for f in files:
        try:
            texts.append((str(f), f.read_bytes()))
        except OSError as exc:
            problems.append(Problem(f"cannot read file: {exc.strerror or exc}", file=str(f),
                                    hint="check that the file exists and is readable"))
    return _load_texts(texts + list(extra), problems)


def load_grammar_text(text: Union[str, bytes], name: str = "<grammar>") -> Grammar:
    """Load a grammar from YAML text or bytes (tests, inline grammars)."""
    return _load_texts([(name, text)], [])


def _load_texts(texts: Sequence[Tuple[str, Union[str, bytes]]], problems: List[Problem]) -> Grammar:
    grammar = Grammar()
    origins: Dict[Tuple[str, str], Tuple[str, int]] = {}  # (kind, name) -> (file, line)
    rule_lines: Dict[str, Tuple[str, int]] = {}
    for name, text in texts:
        col = _Collector(name, problems)
        root = _compose(text, col)
        if root is not None:
            schema.read_file(root, grammar, col, origins, rule_lines)
        warning = col.ignored.warning(name)
        if warning is not None:
            grammar.warnings.append(warning)
    scope.localize(grammar)
    left_out = hass.leave_out_runtime_lists(grammar, {name for kind, name in origins if kind == "list"})
    grammar.warnings.extend(left_out)
    _check_references(grammar, problems, rule_lines, set(origins))
    problems.extend(address.check(grammar, origins))
    if not problems:  # sizes need every rule known and none recursive
        _check_sizes(grammar, problems)
    if not grammar.intents and not problems:
        problems.append(Problem("the grammar defines no intents", file=texts[0][0] if texts else None,
                                hint="define the lists the warnings name" if left_out else
                                "add an 'intents:' section"))
    order = {name: i for i, (name, _) in enumerate(texts)}
    if problems:
        problems.sort(key=lambda p: (order.get(p.file or "", -1), p.line or 0))
        raise GrammarError(problems)
    grammar.warnings.sort(key=lambda p: (order.get(p.file or "", -1), p.line or 0))
    for warning in grammar.warnings:
        log.warning("%s", warning)
    return grammar


def _compose(text: Union[str, bytes], col: _Collector) -> Optional[yaml.Node]:
    node, problems = yamlfile.parse(text, col.file)
    col.problems.extend(problems)
    if node is None and not problems:
        col.add("empty file", hint="add 'intents:' with at least one intent")
    return node


def _check_references(grammar: Grammar, problems: List[Problem], rule_lines: Dict[str, Tuple[str, int]],
                      defined: set) -> None:
    """Slot lists and rules that templates name must exist; rules must not refer to themselves.

    `defined` holds every (kind, name) written in the files: a list or rule that is defined but
    broken has been reported already, so a use of it is not reported again."""
    lists = [name for name in grammar.lists if ".lists." not in name]  # local ones have long names
    rules = [name for name in grammar.rules if "." not in name]
    # A shared rule may use a list that only the blocks using it define (hassil looks it up there).
    local = {short[1:-1] for i in grammar.intents.values() for t in i.templates if t.scope for short in t.scope.names}
    # ...and one Home Assistant fills at run time: the sentences using it were left out (warned).
    unchecked_in_rules = local | set(hass.RUNTIME_LISTS)

    def check(tree: Any, file: Optional[str], line: Optional[int], where: str) -> None:
        slots, refs = references(tree)
        for s in slots:
            if s.list_name in unchecked_in_rules and where.startswith("rule"):
                continue
            if s.list_name not in grammar.lists and ("list", s.list_name) not in defined:
                problems.append(Problem(f"{where}: unknown slot list '{{{s.list_name}}}' (column {s.column})",
                                        file=file, line=line, hint=_did_you_mean(s.list_name, lists, "lists")))
        for r in refs:
            if r.name not in grammar.rules and ("rule", r.name) not in defined:
                problems.append(Problem(f"{where}: unknown rule '<{r.name}>' (column {r.column})",
                                        file=file, line=line,
                                        hint=_did_you_mean(r.name, rules, "expansion_rules")))

    for intent in grammar.intents.values():
        for t in intent.templates:
            check(t.tree, t.file, t.line, f"intent {intent.name}")
            for s, rule in scope.reachable_lists(t.tree, grammar.rules):
                if rule is not None and s.list_name in local and s.list_name not in grammar.lists:
                    problems.append(Problem(f"intent {intent.name}: rule <{rule}> uses list '{{{s.list_name}}}', "
                                            "which this sentence's data block does not define", file=t.file,
                                            line=t.line, hint=f"add {s.list_name} under this block's 'lists:' "
                                            "or the file's"))
    for name, tree in grammar.rules.items():
        file, line = rule_lines.get(name, (None, None))
        check(tree, file, line, f"rule <{name}>")
        if _reaches(name, tree, grammar.rules):
            problems.append(Problem(f"rule <{name}> refers to itself", file=file, line=line,
                                    hint="rules cannot be recursive; spell the repetition out"))


def _reaches(target: str, tree: Any, rules: Dict[str, Any]) -> bool:
    # Iterative: a chain of thousands of rules must not exhaust the stack.
    seen = set()
    pending = [tree]
    while pending:
        for ref in references(pending.pop())[1]:
            if ref.name == target:
                return True
            if ref.name in rules and ref.name not in seen:
                seen.add(ref.name)
                pending.append(rules[ref.name])
    return False


def _check_sizes(grammar: Grammar, problems: List[Problem]) -> None:
    """Every sentence, with its rules inlined, within MAX_NESTING levels and MAX_SENTENCE_SIZE."""
    inlined: Dict[str, Tuple[int, int]] = {}  # rule -> (size, depth) with its own rules inlined
    for name in _rule_order(grammar.rules):
        inlined[name] = _measure(grammar.rules[name], inlined)
    total = 0
    for intent in grammar.intents.values():
        for t in intent.templates:
            size, depth = _measure(t.tree, inlined)
            total += size
            where = f"intent {intent.name}: sentence {_short(t.text)}"
            if depth > MAX_NESTING:
                problems.append(Problem(f"{where} nests brackets and rules {depth} levels deep (at most "
                                        f"{MAX_NESTING})", file=t.file, line=t.line,
                                        hint="use fewer nested brackets and rules that use rules"))
            elif size > MAX_SENTENCE_SIZE:
                problems.append(Problem(f"{where} has {size} words and groups once its rules are inlined (at "
                                        f"most {MAX_SENTENCE_SIZE})", file=t.file, line=t.line,
                                        hint="split it into several sentences, or use a slot list"))
    count = sum(len(intent.templates) for intent in grammar.intents.values())
    if (total > MAX_GRAMMAR_SIZE or count > MAX_SENTENCES) and not problems:
        first = next(iter(grammar.intents.values()))
        problems.append(Problem(f"the grammar is too large: {count} sentences (at most {MAX_SENTENCES}) with {total} "
                                f"words and groups once rules are inlined (at most {MAX_GRAMMAR_SIZE})",
                                file=first.file, hint="use slot lists for long lists of words, and fewer sentences"))


def _rule_order(rules: Dict[str, Seq]) -> List[str]:
    """Rule names, each after the rules it uses (rules are known not to be recursive)."""
    order: List[str] = []
    done = set()
    for root in rules:
        stack = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in done or name not in rules:
                continue
            done.add(name)
            stack.append((name, True))
            stack.extend((ref.name, False) for ref in references(rules[name])[1])
    return order


def _measure(node: Node, inlined: Dict[str, Tuple[int, int]]) -> Tuple[int, int]:
    """(size, depth) of a template with its rules inlined; recursion is bounded by MAX_NESTING."""
    return _Measure(inlined).visit(node)


class _Measure(Visitor[Tuple[int, int]]):
    """(size, depth): words, slots and groups, and levels of groups and rules. `inlined` holds
    each rule's own (size, depth), so rules are measured once, not once per use."""

    def __init__(self, inlined: Dict[str, Tuple[int, int]]):
        self.inlined = inlined

    def words(self, node: Words) -> Tuple[int, int]:
        return max(1, len(node.text.split())), 0

    def slot(self, node: SlotRef) -> Tuple[int, int]:
        return 1, 0

    def rule(self, node: RuleRef) -> Tuple[int, int]:
        size, depth = self.inlined.get(node.name, (0, 0))
        return size + 1, depth + 1

    def seq(self, node: Seq) -> Tuple[int, int]:
        parts = [self.visit(item) for item in node.items]
        return sum(p[0] for p in parts), max((p[1] for p in parts), default=0)

    def alt(self, node: Alt) -> Tuple[int, int]:
        parts = [self.visit(option) for option in node.options]
        return sum(p[0] for p in parts) + 1, max((p[1] for p in parts), default=0) + 1

    def perm(self, node: Perm) -> Tuple[int, int]:
        # The graph says every order: each item once per order.
        size, depth = self.visit(Seq(node.items))
        return size * factorial(len(node.items)) + 1, depth + 1


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _did_you_mean(name: str, options: List[str], section: str) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"define it under '{section}'" + (f" (known: {', '.join(options[:12])})" if options else "")


def config_grammar_paths(config: Any) -> List[Path]:
    """The grammar files a loaded voiced.config.Config points to, resolved against its folder."""
    return [config.resolve(p) for p in config.grammar.paths]


def shipped_grammar_path() -> Path:
    """The command set that ships with voiced (config/commands.yaml next to the package)."""
    return SHIPPED_GRAMMAR
