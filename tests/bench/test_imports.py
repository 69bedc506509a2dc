"""The benchmark scripts import each other by file name; no chain of those imports may lead back to where it started."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT


def bench_imports(folder: Path) -> dict[str, set[str]]:
    """Each script's imports of other scripts of ``folder`` (top-level and inside functions alike)."""
    scripts = {path.stem: path for path in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in scripts.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
        graph[name] = (imported & set(scripts)) - {name}
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the list of its nodes (first repeated at the end), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_and_only_a_circle() -> None:
    assert import_cycle({"bench": {"admission"}, "admission": {"common"}, "common": set()}) is None
    assert import_cycle({"bench": {"admission"}, "admission": {"bench"}}) == ["admission", "bench", "admission"]


def test_no_import_circle_in_bench() -> None:
    graph = bench_imports(REPO_ROOT / "bench")
    assert {"bench", "admission", "soak", "common"} <= set(graph)
    assert import_cycle(graph) is None, graph
