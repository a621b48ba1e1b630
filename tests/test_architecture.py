"""The library's shape: a few subpackages named after the stages the data flows through, imports running
one way between them (lazy imports included), no import cycle, and the profile loader kept out of the
library."""

from __future__ import annotations

import ast

from conftest import ROOT

from rstor_core.book.site import toc_chapters

PACKAGE = ROOT / "rstor_core"
# The stages, lowest first: a module imports only from its own stage or those before it.
STAGES = ("settings", "images", "degradation", "measurement", "networks", "book")
# Only the runner, the CLI and the chapter opener read YAML profiles; the library takes configs.
LOADER_USERS = {"book.runner", "__main__", "book.chapter", "settings.profiles"}


def modules() -> dict[str, object]:
    """``{"stage.module": path}`` of every module but the packages' ``__init__``."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
            for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" and "__pycache__" not in p.parts}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of rstor_core it imports}``, counting imports inside functions too."""
    known, graph = modules(), {}
    for name, path in known.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rstor_core"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges |= {n.removeprefix("rstor_core.") for n in names if n.removeprefix("rstor_core.") in known}
        graph[name] = edges - {name}
    return graph


def stage(module: str) -> int:
    """The rank of a module's stage; ``__main__`` is above them all."""
    return STAGES.index(module.split(".")[0]) if "." in module else len(STAGES)


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


def test_the_import_graph_sees_lazy_imports_and_imports_of_a_module_from_its_package():
    graph = import_graph()
    assert "networks.evaluate" in graph["book.chapter"]  # from rstor_core.networks.evaluate import evaluate
    assert "measurement.study" in graph["book.landing"]  # imported inside a function
    assert "images.leaf_kernels_cuda" in graph["images.deadleaves"]  # from rstor_core.images import ... as KC


def test_rstor_core_has_no_import_cycle_even_through_lazy_imports():
    assert cycles(import_graph()) == []


def test_the_top_level_holds_the_stages_and_the_cli_only():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == {*STAGES, "__init__.py", "__main__.py"}
    assert len(entries) <= 8


def test_imports_run_one_way_from_the_book_down_to_the_settings():
    upward = sorted((module, target) for module, edges in import_graph().items() for target in edges
                    if stage(target) > stage(module))
    assert upward == []


def test_only_the_runner_the_cli_and_the_chapter_opener_import_the_profile_loader():
    users = {module for module, edges in import_graph().items() if "settings.profiles" in edges}
    assert users <= LOADER_USERS, sorted(users - LOADER_USERS)


def third_party_imports(module: str) -> set[str]:
    tree = ast.parse(modules()[module].read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


def test_photos_are_numpy_only_and_evaluation_needs_no_plotting():
    assert not {"torch", "matplotlib", "rstor_core"} & third_party_imports("images.public_sets")
    assert not {"torch", "matplotlib"} & third_party_imports("images.photos")
    assert import_graph()["images.photos"] == {"images.public_sets"}
    assert "book.figures" not in import_graph()["networks.evaluate"]
    assert "matplotlib" not in third_party_imports("networks.evaluate")


def test_the_analyses_read_the_row_schema_without_importing_torch():
    assert not {"torch", "rstor_core"} & third_party_imports("measurement.rows")
    assert "networks.evaluate" not in import_graph()["measurement.intervals"]


def test_the_readme_draws_the_stages_as_the_folders_hold_them():
    rows = [line.split("|")[1:3] for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| `") and line.split("|")[1].strip(" `") in STAGES]
    drawn = {cell.strip(" `"): {m.strip(" `") for m in names.split(",")} for cell, names in rows}
    held = {s: {m.split(".")[1] for m in modules() if m.startswith(f"{s}.")} for s in STAGES}
    assert list(drawn) == list(STAGES) and drawn == held


def test_init_from_is_followed_only_by_the_config_that_declares_it_and_the_experiment_store():
    readers = {name for name, path in modules().items()
               if any(isinstance(n, ast.Attribute) and n.attr == "init_from" for n in ast.walk(ast.parse(path.read_text())))}
    assert readers == {"settings.configs", "networks.runs"}


def test_the_cli_module_only_parses_and_calls():
    assert len((PACKAGE / "__main__.py").read_text().splitlines()) <= 220


def test_every_module_holds_one_concern_in_at_most_400_lines_and_none_is_named_after_a_chapter():
    """Issue 33: a module past 400 lines held several concerns; one named after a chapter held its glue."""
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert max(sizes.values()) <= 400, {name: n for name, n in sizes.items() if n > 400}
    slugs = [name.split("_", 1)[1] for name in toc_chapters(ROOT)]  # "deblur_study", ...
    chapters = {*slugs, *(slug.split("_")[0] for slug in slugs)}
    assert not {name for name in sizes if name.split(".")[-1] in chapters}
