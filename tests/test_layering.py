"""The package's shape, checked from the source (issue 12.5): no import cycles between modules (imports inside
functions count: moving an import into a function hides a cycle, it does not remove it), no argparse outside the
CLI, configs free of torch at module level."""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "tinybert")


def modules() -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[:-9] if rel.endswith(".__init__") else rel] = path
    return out


def imports_of(path: str, known: set[str]) -> set[str]:
    """tinybert modules a module imports anywhere: at module level and inside functions (an import moved into a
    function to break a cycle still counts), except under ``TYPE_CHECKING``."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):  # drop TYPE_CHECKING blocks: they never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m in known}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {}
    for name, path in mods.items():
        deps = imports_of(path, known)
        # importing a.b.c runs a/__init__ and a/b/__init__ too; a package is not a cycle with its own submodules
        edges[name] = {d for d in deps if d != name and not name.startswith(d + ".")}
    return edges


def test_no_import_cycles():
    edges = graph()
    assert sum(map(len, edges.values())) > 300  # the graph is really read (about 400 edges)
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    """Control: a two-module cycle and a longer one are reported; a diamond is not."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None


def test_argparse_only_in_the_cli():
    offenders = []
    for name, path in modules().items():
        if name.startswith("tinybert.cli"):
            continue
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names) or (
                    isinstance(node, ast.ImportFrom) and node.module == "argparse"):
                offenders.append(name)
    assert offenders == []


def test_configs_import_no_torch_at_module_level():
    for name, path in modules().items():
        if name.startswith("tinybert.config"):
            tree = ast.parse(open(path, encoding="utf-8").read())
            heavy = {n.module if isinstance(n, ast.ImportFrom) else a.name
                     for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
                     for a in (n.names if isinstance(n, ast.Import) else [n])}
            assert not {h for h in heavy if h and h.split(".")[0] in ("torch", "transformers")}, name
