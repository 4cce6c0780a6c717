"""The package's modules import one another without cycles.

Every module under ``okx_onchain_earn/`` is parsed (not imported), and every import of
another module of the package counts: top-level ones, those under
``if TYPE_CHECKING:`` and those inside functions. A cycle, even a type-only one, means
two modules a reader cannot take in one after the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "okx_onchain_earn"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def _modules(root: Path) -> dict[str, Path]:
    """Module name → file, for every ``.py`` file of the package."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The package's modules that module ``name`` (at ``path``) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # ``from .`` in a package's __init__ is the package itself.
                parts = name.split(".")
                drop = node.level - 1 if is_package else node.level
                base = ".".join(parts[: len(parts) - drop])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source not in modules:
                continue
            submodules = [f"{source}.{a.name}" for a in node.names]
            named = [m for m in submodules if m in modules]
            yield from named
            if len(named) < len(submodules):  # some names are attributes of ``source``
                yield source


def _graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {
        name: {m for m in _imported(name, path, modules) if m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_sees_type_only_and_function_level_imports(tmp_path: Path) -> None:
    # A cycle closed only under TYPE_CHECKING, and one closed inside a function: both count.
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
    )
    (pkg / "b.py").write_text("from . import a\nB = 2\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from .. import sub\n")
    (pkg / "d.py").write_text(f"import {PACKAGE}.a\nfrom {PACKAGE}.sub.c import f\n")
    graph = _graph(pkg)
    assert graph[f"{PACKAGE}.d"] == {f"{PACKAGE}.a", f"{PACKAGE}.sub.c"}
    assert _cycles(graph) == [
        [f"{PACKAGE}.a", f"{PACKAGE}.b"],
        [f"{PACKAGE}.sub", f"{PACKAGE}.sub.c"],
    ]


def test_no_import_cycle_in_the_package() -> None:
    graph = _graph(ROOT)
    assert f"{PACKAGE}.simulator" in graph  # the walk found the subpackages
    assert _cycles(graph) == []
