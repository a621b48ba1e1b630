"""What the repository ships stays consistent: paired notebooks, and the committed quick outputs."""

from __future__ import annotations

import json

import jupytext
import pytest
from conftest import ROOT

from rstor_core.book.site import toc_chapters
from rstor_core.settings.profiles import load_profile

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


def test_committed_quick_tables_carry_the_evidence_the_prose_rests_on():
    """Issue 13's acceptance, on what is committed: >= 5 natural test photos, >= 3 networks per compared
    arm, an interval for every PSNR, and a filled perceptual column."""
    import pandas as pd

    tables = ROOT / "outputs" / "quick" / "tables"
    denoise = pd.read_csv(tables / "02_denoise_table.csv").set_index("model")
    deblur = pd.read_csv(tables / "03_deblur_table.csv").query("test_set == 'natural'").set_index("model")
    cross = pd.read_csv(tables / "04_cross_validation.csv").query("test_set == 'natural'").set_index("model")
    for table, arms in ((denoise, ["dead leaves (discs)", "natural"]), (deblur, ["dead leaves", "natural"]),
                        (cross, ["dead leaves", "natural"])):
        assert (table.loc[arms, "n_images"] >= 5).all() and (table.loc[arms, "n_runs"] >= 3).all()
        intervals = [c for c in table if c.endswith(("_lo_db", "_lo"))]
        assert intervals and table.loc[arms, intervals].notna().all().all()
        perceptual = [c for c in table if "st_lpips" in c]
        assert perceptual and table.loc[arms, perceptual].notna().all().all()


def test_the_readme_is_one_a_newcomer_finishes_and_it_states_the_answer():
    """Issue 32: the README was 25.7 KB, a changelog of runs, and never stated the study's answer."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme) <= 12_000, len(readme)
    for said in ("**Denoising**", "**Blind motion deblurring**", "**What closes the gap**", "make book", "make test",
                 "## Budgets", "Read first"):
        assert said in readme, said
    assert readme.count("| `make ") >= 4  # the options and budgets are tables, not paragraphs of commands
