"""YAML files -> Grammar, validating everything and reporting every problem at once.

The format follows hassil (Home Assistant's intent files): `language`, `intents`, `lists`,
`expansion_rules`, `skip_words`, plus an optional per-intent `action`. Nodes are composed
with yaml.compose so each problem names its file and line.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import yaml

from voiced.errors import GrammarError, Problem
from voiced.grammar import schema
from voiced.grammar.model import Grammar
from voiced.grammar.template import references
from voiced.paths import SHIPPED_GRAMMAR

PathLike = Union[str, Path]


class _Collector:
    """Collects problems for one file; every check appends instead of raising."""

    def __init__(self, file: str, problems: List[Problem]):
        self.file = file
        self.problems = problems

    def add(self, message: str, node: Optional[yaml.Node] = None, key: Optional[str] = None,
            hint: Optional[str] = None, line: Optional[int] = None) -> None:
        if line is None and node is not None:
            line = node.start_mark.line + 1
        self.problems.append(Problem(message, file=self.file, line=line, key=key, hint=hint))


def load_grammar(paths: Sequence[PathLike]) -> Grammar:
    """Load grammar files (or directories of .yaml/.yml files). Raises GrammarError listing all problems."""
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
    texts = []
    for f in files:
        try:
            texts.append((str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"cannot read file: {exc}", file=str(f), hint="check permissions and encoding"))
    return _load_texts(texts, problems)


def load_grammar_text(text: str, name: str = "<grammar>") -> Grammar:
    """Load a grammar from YAML text (tests, inline grammars)."""
    return _load_texts([(name, text)], [])


def _load_texts(texts: Sequence[Tuple[str, str]], problems: List[Problem]) -> Grammar:
    grammar = Grammar()
    origins: Dict[Tuple[str, str], Tuple[str, int]] = {}  # (kind, name) -> (file, line)
    rule_lines: Dict[str, Tuple[str, int]] = {}
    for name, text in texts:
        col = _Collector(name, problems)
        root = _compose(text, col)
        if root is not None:
            schema.read_file(root, grammar, col, origins, rule_lines)
    _check_references(grammar, problems, rule_lines)
    if not grammar.intents and not problems:
        problems.append(Problem("the grammar defines no intents", file=texts[0][0] if texts else None,
                                hint="add an 'intents:' section"))
    if problems:
        order = {name: i for i, (name, _) in enumerate(texts)}
        problems.sort(key=lambda p: (order.get(p.file or "", -1), p.line or 0))
        raise GrammarError(problems)
    return grammar


def _compose(text: str, col: _Collector) -> Optional[yaml.Node]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        col.add(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                line=mark.line + 1 if mark else None, hint="check indentation, colons and quoting")
        return None
    except RecursionError:
        col.add("YAML nested too deeply", hint="flatten the structure")
        return None
    if node is None:
        col.add("empty file", hint="add 'intents:' with at least one intent")
    return node


def _check_references(grammar: Grammar, problems: List[Problem],
                      rule_lines: Dict[str, Tuple[str, int]]) -> None:
    """Slot lists and rules that templates name must exist; rules must not refer to themselves."""
    lists, rules = list(grammar.lists), list(grammar.rules)

    def check(tree: Any, file: Optional[str], line: Optional[int], where: str) -> None:
        slots, refs = references(tree)
        for s in slots:
            if s.list_name not in grammar.lists:
                problems.append(Problem(f"{where}: unknown slot list '{{{s.list_name}}}' (column {s.column})",
                                        file=file, line=line, hint=_did_you_mean(s.list_name, lists, "lists")))
        for r in refs:
            if r.name not in grammar.rules:
                problems.append(Problem(f"{where}: unknown rule '<{r.name}>' (column {r.column})",
                                        file=file, line=line,
                                        hint=_did_you_mean(r.name, rules, "expansion_rules")))

    for intent in grammar.intents.values():
        for t in intent.templates:
            check(t.tree, t.file, t.line, f"intent {intent.name}")
    for name, tree in grammar.rules.items():
        file, line = rule_lines.get(name, (None, None))
        check(tree, file, line, f"rule <{name}>")
        if _reaches(name, tree, grammar.rules, set()):
            problems.append(Problem(f"rule <{name}> refers to itself", file=file, line=line,
                                    hint="rules cannot be recursive; spell the repetition out"))


def _reaches(target: str, tree: Any, rules: Dict[str, Any], seen: set) -> bool:
    for ref in references(tree)[1]:
        if ref.name == target:
            return True
        if ref.name in rules and ref.name not in seen:
            seen.add(ref.name)
            if _reaches(target, rules[ref.name], rules, seen):
                return True
    return False


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
