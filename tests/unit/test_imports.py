"""emu's import graph has no circle: between modules, and between its top-level packages.

Every `import` and `from ... import` that runs counts, wherever it is: a circle hidden in a
function is still a circle of the design.  One under `if TYPE_CHECKING:` never runs: it is
a type's forward declaration (as `struct proc;` is in a C header, so that vm_map.h can name
a proc without including proc.h) and does not count.
`from pkg import name` imports pkg.name when that is a module, else pkg.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "emu"


def modules() -> dict[str, Path]:
    """Every module of emu by dotted name (a package by its __init__)."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a relative import in `module`."""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _type_checking(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The emu modules `module` imports."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()

    def add(name: str) -> None:
        # The longest known prefix: `import emu.kernel.state` imports emu.kernel.state
        # (whose packages run too, but the edge that matters is to the module named).
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)

    declared = {id(n) for node in ast.walk(tree) if _type_checking(node)
                for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in declared:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve(module, is_package, node.level, node.module) if node.level
                    else node.module or "")
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in known else base)
    out.discard(module)
    return out


def extensions() -> set[str]:
    """emu's compiled modules (emu/epoch/_atomics.c and its .so or .pyi): leaves."""
    found = set()
    for pattern in ("*.c", "*.so", "*.pyi"):
        for path in (ROOT / PACKAGE).rglob(pattern):
            parts = list(path.relative_to(ROOT).parts)
            parts[-1] = parts[-1].split(".")[0]
            found.add(".".join(parts))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods) | extensions()
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in g:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return sorted(found)


def package_of(module: str) -> str | None:
    """emu's top-level subpackage (or module) that `module` belongs to: emu.kernel for
    emu.kernel.mtx, emu.run for emu.run; None for emu itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def package_graph(g: dict[str, set[str]]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Between emu's top-level subpackages: a -> b -> the module edges behind it."""
    subpackages = {m for m, p in modules().items() if p.name == "__init__.py" and m != PACKAGE}
    pg: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for m, targets in g.items():
        a = package_of(m)
        if a not in subpackages:
            continue
        for t in targets:
            b = package_of(t)
            if b in subpackages and b != a:
                pg.setdefault(a, {}).setdefault(b, []).append((m, t))
    return pg


def test_the_checker_finds_a_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(g) == [["a", "b", "c"]]  # a self-loop is no circle between modules


def test_relative_imports_resolve():
    assert _resolve("emu.kernel.mtx", False, 1, "state") == "emu.kernel.state"
    assert _resolve("emu.kernel", True, 1, "mtx") == "emu.kernel.mtx"
    assert _resolve("emu.kernel.di.epoch", False, 2, "mtx") == "emu.kernel.mtx"
    assert _resolve("emu.kernel.mtx", False, 1, None) == "emu.kernel"


def test_every_module_is_parsed():
    g = graph()
    assert "emu.cli" in g and "emu.clock.engine" in g
    assert any(t.startswith("emu.") for t in g["emu.cli"])
    assert "emu.epoch._atomics" in g["emu.epoch.atomics"]  # a compiled module is a module


def test_no_import_circle_between_modules():
    found = cycles(graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_two_packages_import_each_other():
    """No module of package A imports package B while one of B imports A (emu.cpu and
    emu.kernel, say)."""
    pg = package_graph(graph())
    pairs = []
    for a in sorted(pg):
        for b in sorted(pg[a]):
            if a < b and a in pg.get(b, {}):
                there = ", ".join(f"{m} -> {t}" for m, t in sorted(pg[a][b])[:3])
                back = ", ".join(f"{m} -> {t}" for m, t in sorted(pg[b][a])[:3])
                pairs.append(f"{a} <-> {b}: {there} ... and {back}")
    assert not pairs, "packages importing each other:\n" + "\n".join(pairs)


def test_cpu_and_kernel_do_not_import_each_other():
    pg = package_graph(graph())
    assert not ("emu.kernel" in pg.get("emu.cpu", {}) and "emu.cpu" in pg.get("emu.kernel", {}))


def test_a_type_only_import_is_a_declaration(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from emu.kernel.state import KernelState\n"
                   "def f():\n    from emu.kernel.mtx import Mtx\n")
    known = {"emu.kernel.state", "emu.kernel.mtx", "emu.kernel.m"}
    assert imports_of("emu.kernel.m", src, known) == {"emu.kernel.mtx"}
