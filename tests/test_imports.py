"""No import cycles among voiced's modules.

A cycle makes the import order matter: whichever module of the circle is imported first sees
the other half-initialised, which works until someone adds a name at the wrong line. Only
module-level imports count (those run when the module is loaded, class bodies included);
imports inside functions and under `if TYPE_CHECKING:` run later or never.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

PACKAGE = Path(__file__).resolve().parent.parent / "voiced"


def _modules() -> Dict[str, Path]:
    """{dotted module name: file} for every module of the package."""
    out: Dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _owner(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """The module `name` lives in: itself, or the nearest enclosing module (for `pkg.mod.func`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _module_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """The statements that run when the module is imported (not function bodies, not TYPE_CHECKING)."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.dump(stmt.test):
            yield from _module_level(stmt.orelse)
            continue
        yield stmt
        for block in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(stmt, block, None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from _module_level(handler.body)


def _imports(name: str, path: Path, modules: Dict[str, Path]) -> Set[str]:
    """The voiced modules `name` imports at module level."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: Set[Optional[str]] = set()
    for stmt in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(stmt, ast.Import):
            found.update(_owner(a.name, modules) for a in stmt.names if a.name.split(".")[0] == "voiced")
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                anchor = package.split(".")[:len(package.split(".")) - (stmt.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "voiced":
                continue
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` only mod
            found.update(_owner(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base, modules)
                         for a in stmt.names)
    return {m for m in found if m is not None and m != name}


def import_graph() -> Dict[str, Set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_is_read():
    graph = import_graph()
    assert "voiced.asr.decoder" in graph["voiced.asr.transcriber"]
    assert "voiced.audio.pcm" in graph["voiced.audio.sources"]  # a relative-free `from x import y`
    assert "voiced.grammar.matcher" in graph["voiced.grammar"]  # a package's __init__


def test_no_import_cycles_among_voiced_modules():
    assert cycles(import_graph()) == []


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
