"""The library's shape: dependencies point one way (no import cycle, lazy imports included), and the
profile loader stays out of the library."""

from __future__ import annotations

import ast

from conftest import ROOT

PACKAGE = ROOT / "rstor_core"
# Only the runner, the CLI and the chapter opener read YAML profiles; the library takes configs.
LOADER_USERS = {"book", "__main__", "chapter", "profiles"}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of rstor_core it imports}``, counting imports inside functions too."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rstor_core"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges |= {n.split(".")[1] for n in names if n.startswith("rstor_core.") and
                      (PACKAGE / f"{n.split('.')[1]}.py").is_file()}
        graph[path.stem] = edges - {path.stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle reachable by depth-first search (enough to report one per back edge)."""
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_rstor_core_has_no_import_cycle_even_through_lazy_imports():
    assert cycles(import_graph()) == []


def test_only_the_runner_the_cli_and_the_chapter_opener_import_the_profile_loader():
    users = {module for module, edges in import_graph().items() if "profiles" in edges}
    assert users <= LOADER_USERS, sorted(users - LOADER_USERS)


def third_party_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


def test_photos_are_numpy_only_and_evaluation_needs_no_plotting():
    assert not {"torch", "matplotlib", "rstor_core"} & third_party_imports("photos")
    assert "figures" not in import_graph()["evaluate"]
    assert "matplotlib" not in third_party_imports("evaluate")
