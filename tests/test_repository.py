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


def test_the_readmes_denoising_numbers_are_the_committed_evaluation_rows_averaged_by_hand():
    """The README quotes chapter 02's gaps at σ = 25/255; here they are recomputed from the committed evaluation
    rows (one row per model, network and photo) with a plain groupby, not with the intervals module that wrote the
    tables the README was copied from: a photo's value is its mean over an arm's networks, the natural arm's
    photos are averaged per fold network first (each network tested the photos it never saw; the fold weighs as one
    unit, as :mod:`rstor_core.measurement.intervals` says), every other arm's over the photos."""
    import pandas as pd

    [path] = (ROOT / "outputs" / "quick" / "evaluations").glob("02_table.*.csv")
    rows = pd.read_csv(path).query("sigma_255 == 25 and test_set == 'natural'")
    photo = rows.groupby(["model", "image"]).psnr.mean().unstack("model")
    fold = rows[rows.model == "natural"].set_index("image").run

    def minus(a: str, b: str) -> float:
        difference = photo[a] - photo[b]
        return difference.groupby(fold).mean().mean() if "natural" in (a, b) else difference.mean()

    readme = " ".join((ROOT / "README.md").read_text().split())
    discs, bm3d = "dead leaves (discs)", "BM3D (knows σ)"
    quoted = {(discs, "input"): ("the dead-leaves network gains {:+.1f} dB",
                                 '"dead leaves (discs)" - input, sigma 25: {:+.2f}'),
              ("natural", discs): ("the photo-trained one is ahead of it by {:+.1f} dB",
                                   'natural - "dead leaves (discs)", sigma 25: {:+.2f}'),
              (bm3d, "natural"): ("beats the photo-trained network by {:+.1f} dB",
                                  '"BM3D (knows σ)" - natural, 25: {:+.2f}'),
              (bm3d, discs): ("and the dead-leaves one by {:+.1f} dB",
                              '"BM3D (knows σ)" - "dead leaves (discs)", 25: {:+.2f}')}
    for (a, b), (prose, source) in quoted.items():
        value = minus(a, b)
        assert prose.format(value) in readme and source.format(value) in readme, \
            f"the README should quote {a} minus {b} at σ = 25/255 as {value:+.2f} dB"


def test_the_readme_and_the_landing_page_say_alike_what_real_blur_is_tested():
    readme, intro = (ROOT / "README.md").read_text(), (ROOT / "book" / "intro.md").read_text()
    tested = (ROOT / "outputs" / "quick" / "tables" / "03_real_blur_rows.csv").is_file()
    for page in (readme, " ".join(intro.split())):
        assert "synthetic" in page and "`deblur_study.real_pairs`" in page and "infer --pairs" in page
        assert "Köhler's set was not reachable here" in page and not tested  # else both must say what was
        assert "not offered" not in page
