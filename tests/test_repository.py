"""What the repository ships stays consistent: paired notebooks, and the committed quick outputs."""

from __future__ import annotations

import json

import jupytext
import pytest

from rstor_core.book import toc_chapters
from rstor_core.profiles import load_profile

from conftest import ROOT

CHAPTERS = toc_chapters(ROOT)


@pytest.mark.parametrize("name", CHAPTERS)
def test_paired_notebook_has_the_same_cells_as_its_jupytext_source(name):
    source = jupytext.read(ROOT / "book" / f"{name}.py")
    paired = jupytext.read(ROOT / "book" / f"{name}.ipynb")
    assert [(c.cell_type, c.source) for c in source.cells] == [(c.cell_type, c.source) for c in paired.cells], \
        f"run: jupytext --sync book/{name}.py"


@pytest.mark.parametrize("name", CHAPTERS)
def test_first_code_cell_is_tagged_parameters(name):
    first = next(c for c in jupytext.read(ROOT / "book" / f"{name}.py").cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])


def test_committed_quick_outputs_come_from_the_current_quick_profile():
    manifest = json.loads((ROOT / "outputs" / "quick" / "manifest.json").read_text())
    assert manifest["profile_sha256"] == load_profile("quick").sha256, "re-run `make book` and commit outputs/quick"
    for name in CHAPTERS:
        assert manifest["chapters"][name]["status"] == "ok", name
        assert (ROOT / "outputs" / "quick" / "notebooks" / f"{name}.ipynb").is_file()
