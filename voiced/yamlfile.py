"""Reading a YAML file into nodes that are safe to walk: the one YAML boundary of voiced.

The config and the grammar are both YAML, and a broken file must give the same kind of answer
from both: a Problem with file, line and hint, never a traceback. PyYAML raises several
unrelated exception types (and RecursionError for deep nesting, since its composer is
recursive), accepts any tag while composing and only fails on it when constructing, allows
lists and mappings as keys, and composes aliases into shared (even cyclic) nodes that expand
exponentially when walked. `parse` turns all of that into Problems, and what it returns is a
tree that the schema walkers can read without further guards: scalar keys, known tags, at
most MAX_DEPTH levels and MAX_NODES nodes with every alias expanded.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import yaml
from yaml.constructor import SafeConstructor

from voiced.errors import Problem

# Far beyond any real config (4 levels) or grammar (6), and well within Python's recursion limit
# for PyYAML's composer and our own recursive readers.
MAX_DEPTH = 50
# Nodes once every alias is expanded: the shipped grammar has about 900. The bound keeps a
# "billion laughs" file from expanding in any walker that follows aliases.
MAX_NODES = 100_000
_YAML_HINT = "check indentation, colons and quoting"
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary", "merge")}
_TAGS = {yaml.ScalarNode: _SCALAR_TAGS,
         yaml.SequenceNode: {_CORE + "seq", _CORE + "omap", _CORE + "pairs"},
         yaml.MappingNode: {_CORE + "map", _CORE + "set"}}


class BadValue(ValueError):
    """A node whose tag is known but whose text does not fit it (`!!int abc`)."""


class _TooDeep(Exception):
    def __init__(self, mark: Any):
        super().__init__("too deep")
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops at MAX_DEPTH levels: its composer would otherwise recurse until Python
    gives up, and its scanner takes time quadratic in the depth of `[[[[` (0.5 s for 5000)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_sequence_node(self, anchor: Any) -> yaml.Node:
        return self._nested(super().compose_sequence_node, anchor)

    def compose_mapping_node(self, anchor: Any) -> yaml.Node:
        return self._nested(super().compose_mapping_node, anchor)

    def _nested(self, compose: Any, anchor: Any) -> yaml.Node:
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return compose(anchor)
        finally:
            self._depth -= 1


def parse(data: Union[str, bytes], file: str) -> Tuple[Optional[yaml.Node], List[Problem]]:
    """YAML text or bytes -> (root node, problems). The node is None when there is any problem
    (a file that is not plain YAML data is not read further) or when the file is empty."""
    if isinstance(data, bytes):
        text, problem = _decode(data, file)
        if problem:
            return None, [problem]
    else:
        text = data
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _TooDeep as exc:
        return None, [Problem(f"nested more than {MAX_DEPTH} levels deep", file=file, line=exc.mark.line + 1,
                              hint="flatten the structure")]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return None, [Problem(f"the character #x{exc.character:04x} is not allowed in YAML", file=file, line=line,
                              hint="remove it, or write it as an escape such as \\t inside double quotes")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context
        if exc.context and exc.problem and exc.problem.startswith("but "):  # "expected X, but found Y"
            what = f"{exc.context}, {exc.problem}"
        return None, [Problem(f"not valid YAML: {' '.join(str(what).split())}", file=file,
                              line=mark.line + 1 if mark else None, hint=_YAML_HINT)]
    except yaml.YAMLError as exc:
        return None, [Problem(f"not valid YAML: {' '.join(str(exc).split())}", file=file, hint=_YAML_HINT)]
    except RecursionError:  # MAX_DEPTH prevents it, unless the caller is already deep in its own stack
        return None, [Problem("nested too deeply to read", file=file, hint="flatten the structure")]
    if node is None:
        return None, []
    problems = _check_tree(node, file)
    return (None if problems else node), problems


def construct(node: yaml.Node) -> Any:
    """The Python value of a node that `parse` returned. Raises BadValue for text that does not fit
    its tag (`!!int abc`, `!!timestamp x`, a `<<` merge of a number)."""
    try:
        return SafeConstructor().construct_document(node)
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise ConstructorError, ValueError
        # (`!!int abc`), KeyError (`!!bool maybe`), AttributeError (`!!timestamp x`) and more
        if isinstance(node, yaml.ScalarNode) and node.tag.startswith(_CORE):
            text = repr(node.value) if len(node.value) <= 40 else repr(node.value[:37]) + "..."
            raise BadValue(f"{text} is not a valid !!{node.tag[len(_CORE):]}") from None
        raise BadValue(str(getattr(exc, "problem", None) or exc)) from None


def _decode(data: bytes, file: str) -> Tuple[str, Optional[Problem]]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        return "", Problem(f"byte 0x{data[exc.start]:02x} (column {exc.start - line_start + 1}) is not UTF-8 text",
                           file=file, line=line, hint="save the file as UTF-8")


def _check_tree(root: yaml.Node, file: str) -> List[Problem]:
    """Tags, keys, depth and expanded size, checked iteratively with aliases followed."""
    problems: List[Problem] = []
    reported = set()
    stack = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            problems.append(Problem(f"more than {MAX_NODES} values once aliases (*name) are expanded", file=file,
                                    line=node.start_mark.line + 1, hint="write the values out instead of "
                                    "repeating aliases"))
            break
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and depth > MAX_DEPTH:
            # only reachable through aliases: the composer stops deeper text
            problems.append(Problem(f"nested more than {MAX_DEPTH} levels deep through aliases", file=file,
                                    line=node.start_mark.line + 1, hint="an alias must not contain itself"))
            break
        if node.tag not in _TAGS[type(node)] and id(node) not in reported:
            reported.add(id(node))
            problems.append(_tag_problem(node, file))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                problem = _key_problem(key)
                if problem:
                    if id(key) not in reported:
                        reported.add(id(key))
                        problems.append(Problem(problem, file=file, line=key.start_mark.line + 1,
                                                hint="write name: value, the name on one line"))
                    continue
                stack.append((value, depth + 1))
                stack.append((key, depth + 1))
    return problems


def _key_problem(key: yaml.Node) -> Optional[str]:
    if isinstance(key, yaml.SequenceNode):
        return "a key must be a name, not a list"
    if isinstance(key, yaml.MappingNode):
        return "a key must be a name, not a mapping"
    if not key.value.isprintable():  # names end up in messages, which must stay one line each
        return f"the key {key.value!r} contains a line break or control character"
    return None


def _tag_problem(node: yaml.Node, file: str) -> Problem:
    line = node.start_mark.line + 1
    if node.tag == _CORE + "value":  # what a plain `=` resolves to; PyYAML cannot construct it
        return Problem("a bare '=' is not a value", file=file, line=line, hint="quote it: '='")
    shown = "!!" + node.tag[len(_CORE):] if node.tag.startswith(_CORE) else node.tag
    kind = {yaml.ScalarNode: "a value", yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}[type(node)]
    return Problem(f"unknown tag {shown!r} on {kind}", file=file, line=line,
                   hint="remove the tag, or quote the value to make it text")
