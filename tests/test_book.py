"""The runner: chapter order and failure behaviour on tiny notebooks, then the smoke book end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rstor_core.book import Chapter, ChapterError, run_book, run_chapters, select_chapters, toc_chapters
from rstor_core.profiles import load_profile

from conftest import ROOT

CHAPTER = """# %% tags=["parameters"]
value = 0
output_dir = "."

# %%
from pathlib import Path
Path(output_dir, "{name}.txt").write_text(str(value))

# %%
{body}
"""


def _chapter(tmp_path: Path, name: str, body: str = "pass", value: int = 1) -> Chapter:
    source = tmp_path / "src" / f"{name}.py"
    source.parent.mkdir(exist_ok=True)
    source.write_text(CHAPTER.format(name=name, body=body))
    return Chapter(name, source, {"value": value, "output_dir": str(tmp_path)})


def test_declared_parameters_are_read_from_the_jupytext_source(tmp_path):
    from rstor_core.book import declared_parameters

    assert declared_parameters(_chapter(tmp_path, "01_a").source) == {"value", "output_dir"}
    assert {"fresh", "device", "n_kernels"} <= declared_parameters(ROOT / "book" / "03_deblur_study.py")


def test_toc_lists_the_chapters_with_a_source():
    assert toc_chapters(ROOT)[0] == "01_data_generation"


def test_chapters_are_selected_by_number_or_name_in_toc_order():
    available = ["01_a", "02_b", "03_c"]
    assert select_chapters(available, ["03", "01_a"]) == ["01_a", "03_c"]
    assert select_chapters(available, None) == available
    with pytest.raises(ValueError, match="no chapter '04'"):
        select_chapters(available, ["04"])


def test_parameters_are_injected_and_the_manifest_records_each_chapter(tmp_path):
    out = tmp_path / "out"
    run_chapters([_chapter(tmp_path, "01_a", value=41)], out, cwd=tmp_path, provenance={"profile": "t"})
    assert (tmp_path / "01_a.txt").read_text() == "41"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chapters"]["01_a"]["status"] == "ok" and manifest["chapters"]["01_a"]["seconds"] > 0
    assert manifest["profile"] == "t"
    assert (out / "notebooks" / "01_a.ipynb").is_file()


def test_failing_chapter_names_itself_and_its_cell_and_leaves_other_outputs_intact(tmp_path):
    out = tmp_path / "out"
    good, bad, after = (_chapter(tmp_path, "01_a"), _chapter(tmp_path, "02_b"), _chapter(tmp_path, "03_c"))
    run_chapters([good, bad], out, cwd=tmp_path, provenance={})
    before = {p.name: p.read_bytes() for p in (out / "notebooks").iterdir()}

    bad = _chapter(tmp_path, "02_b", body='raise ValueError("forced failure")', value=2)
    with pytest.raises(ChapterError) as err:
        run_chapters([good, bad, after], out, cwd=tmp_path, provenance={})
    message = str(err.value)
    assert "chapter 02_b" in message and "cell 3" in message and "forced failure" in message
    assert 'raise ValueError("forced failure")' in message
    assert (out / "notebooks" / "02_b.ipynb").read_bytes() == before["02_b.ipynb"]  # last good copy kept
    assert (out / "notebooks" / "02_b.failed.ipynb").is_file()
    assert not (out / "notebooks" / "03_c.ipynb").exists()  # never started
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    chapters = json.loads((out / "manifest.json").read_text())["chapters"]
    assert chapters["01_a"]["status"] == "ok" and chapters["02_b"]["status"] == "failed"


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory) -> tuple[Path, Path]:
    """The smoke profile run end to end (every chapter, HTML book) into a temporary folder."""
    tmp = tmp_path_factory.mktemp("smoke")
    out = run_book(load_profile("smoke"), root=ROOT, outputs_root=tmp / "outputs", build_root=tmp)
    return out, tmp / "_build" / "html"


@pytest.mark.slow
def test_smoke_profile_runs_every_chapter_and_builds_the_book(smoke_book):
    out, html = smoke_book
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["chapters"]) == set(toc_chapters(ROOT))
    assert all(entry["status"] == "ok" for entry in manifest["chapters"].values())
    for key in ("git_commit", "profile_sha256", "packages", "device", "seeds"):
        assert key in manifest
    assert {"01_gallery.png", "01_radius_law.png", "01_power_spectra.png"} <= {p.name for p in (out / "figures").iterdir()}
    assert {"01_radius_ks.csv", "01_spectral_slopes.csv"} <= {p.name for p in (out / "tables").iterdir()}
    page = (html / "book" / "01_data_generation.html").read_text()
    assert (html / "index.html").is_file() and page.count("<img") >= 3
    assert "Traceback" not in page


@pytest.mark.slow
def test_a_profile_value_that_makes_the_chapter_raise_exits_nonzero_naming_chapter_and_cell(smoke_book, tmp_path):
    out, _ = smoke_book
    executed = out / "notebooks" / "01_data_generation.ipynb"
    before = executed.read_bytes()
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photo here")
    profile = tmp_path / "smoke.yaml"  # same name, so it writes where the good run did
    text = (ROOT / "parameters" / "smoke.yaml").read_text()
    profile.write_text(text.replace("natural_images: skimage", f"natural_images: {empty}"))
    result = subprocess.run([sys.executable, "-m", "rstor_core", "book", "--profile", str(profile),
                             "--outputs", str(out.parent), "--no-build"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert "chapter 01_data_generation failed in cell" in result.stderr
    assert "no readable image in folder" in result.stderr and "photos = load_photos" in result.stderr
    assert executed.read_bytes() == before


@pytest.mark.slow
def test_built_chapter_page_shows_its_figures_in_headless_chromium(smoke_book):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: run `make chromium`")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    page_path = smoke_book[1] / "book" / "01_data_generation.html"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        page.goto(page_path.as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])")
        maths = page.evaluate("document.querySelectorAll('mjx-container').length")
        browser.close()
    figures = [ok for src, ok in images if "_images" in src]
    assert len(figures) >= 3 and all(figures), images
    assert maths > 0, "MathJax did not render (vendored copy missing?)"


@pytest.mark.slow
def test_denoising_chapters_write_their_tables_and_the_networks_beat_the_noisy_input(smoke_book):
    import pandas as pd

    tables = smoke_book[0] / "tables"
    rows = pd.read_csv(tables / "02_denoise_natural.csv")
    assert {"model", "test_set", "image", "degradation", "sigma_255", "size_px", "psnr", "ssim", "lpips",
            "lpips_note"} <= set(rows.columns)
    psnr = rows.groupby(["model", "sigma_255"]).psnr.mean()
    for model in ("dead leaves (discs)", "dead leaves + primitives", "natural"):
        for sigma in (25.0, 50.0):
            assert psnr[model, sigma] > psnr["input", sigma], (model, sigma)
    assert "BM3D (knows σ)" in set(rows.model)
    table = pd.read_csv(tables / "02_denoise_table.csv")
    assert {"model", "psnr_sigma25_db", "ssim_sigma25", "lpips_sigma25", "psnr_sigma50_db", "n_images"} <= set(table)
    assert {"step", "loss", "lr", "val_psnr", "img_per_s", "experiment"} <= set(pd.read_csv(tables / "02_training_curves.csv"))
    assert {"source", "sigma_255", "dead_leaves_db", "natural_db", "gap_db"} <= set(
        pd.read_csv(tables / "02_published_comparison.csv"))
    cross = pd.read_csv(tables / "04_cross_validation.csv")
    assert {"sigma_255", "test_set", "model", "psnr", "ssim", "n_images"} <= set(cross.columns)
    assert set(cross.test_set) == {"natural", "dead leaves"} and set(cross.model) == {"input", "dead leaves", "natural"}


@pytest.mark.slow
def test_deblurring_chapter_writes_one_row_per_model_and_test_set_and_a_column_group_per_family(smoke_book):
    import pandas as pd

    out, html = smoke_book
    tables, figures = out / "tables", out / "figures"
    table = pd.read_csv(tables / "03_deblur_table.csv")
    families = ("small", "mild", "big")
    assert {f"{family}_{metric}" for family in families for metric in ("psnr_db", "ssim", "lpips")} <= set(table)
    assert set(table.test_set) == {"natural", "dead leaves"}
    anchor = "Richardson-Lucy (non-blind, knows the kernel)"
    assert set(table.model) == {"input", "dead leaves", "natural", anchor}
    assert len(table) == len(table[["model", "test_set"]].drop_duplicates()) == 8
    assert table[[f"{f}_psnr_db" for f in families]].notna().all().all()
    # the smoke profile deblurs with banks' first kernels: kernels of each family, never the training ones
    rows = pd.read_csv(tables / "03_deblur_rows.csv")
    assert set(rows.family) == set(families) and set(rows.blur.str.split(":").str[1].astype(int)) == {0, 1}
    gains = pd.read_csv(tables / "03_gain_vs_radius.csv")
    assert {"blur", "radius_px", "dead leaves", "natural", anchor} <= set(gains)
    assert gains.radius_px.between(0.5, 6.0).all()
    assert set(pd.read_csv(tables / "03_gaussian_table.csv").model) == {"input", "dead leaves", "natural", anchor}
    comparison = pd.read_csv(tables / "03_published_comparison.csv")
    assert comparison.query("source.str.startswith('published')").shape[0] == 6
    written = {p.name for p in figures.iterdir()}
    assert {"03_deblur_grid.png", "03_gain_vs_radius.png", "03_inspector_big.png"} <= written
    page = (html / "book" / "03_deblur_study.html").read_text()
    assert page.count("<img") >= 4 and "Traceback" not in page


def test_batch_runs_inject_the_section_and_never_build_live_widgets(tmp_path):
    from rstor_core.book import chapter_parameters

    profile = load_profile("smoke")
    for name in toc_chapters(ROOT):
        source = ROOT / "book" / f"{name}.py"
        params = chapter_parameters(profile, name, source, tmp_path, fresh=True, device="cpu")
        assert params["live_widgets"] is False and params["profile"] == "parameters/smoke.yaml", name
        assert params["fresh"] is True and params["device"] == "cpu", name
    params = chapter_parameters(profile, "03_deblur_study", ROOT / "book" / "03_deblur_study.py", tmp_path)
    assert params["n_kernels"] == profile.deblur_study.n_kernels and "fresh" not in params and "device" not in params


def test_a_fresh_run_retrains_each_experiment_in_the_first_chapter_that_names_it(tmp_path, monkeypatch):
    import rstor_core.book as book

    planned = {}
    monkeypatch.setattr(book, "run_chapters",
                        lambda plan, *a, **k: planned.update({c.name: c.parameters for c in plan}))
    run_book(load_profile("smoke"), root=ROOT, outputs_root=tmp_path, fresh=True, build=False)
    assert planned["02_denoise_study"]["fresh"] is True and planned["03_deblur_study"]["fresh"] is True
    assert "fresh" not in planned["04_cross_validation"]  # its denoisers are chapter 02's, retrained once


@pytest.mark.slow
def test_papermill_overrides_reach_the_chapter_and_a_bad_value_fails_with_the_profile_error(smoke_book, tmp_path):
    """The papermill idiom on the paired notebook: cross-validation at sigmas without 25 runs end to end
    (the smoke book's networks, tiny test sets); an out-of-range value stops at the opener with the profile's
    message."""
    import pandas as pd

    shutil.copytree(smoke_book[0] / "checkpoints", tmp_path / "out" / "checkpoints")
    papermill = [sys.executable, "-m", "papermill", "-k", "python3", "--cwd", str(ROOT)]
    overrides = ["-p", "profile", "smoke", "-p", "output_dir", str(tmp_path / "out"), "-p", "n_images", "1",
                 "-p", "n_dead_leaves", "1", "-p", "dead_leaves_size", "32", "-y", "sigmas: [15.0, 50.0]"]
    good = subprocess.run([*papermill, "book/04_cross_validation.ipynb", str(tmp_path / "04.ipynb"), *overrides],
                          cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-3000:]
    cross = pd.read_csv(tmp_path / "out" / "tables" / "04_cross_validation.csv")
    assert sorted(cross.sigma_255.unique()) == [15.0, 50.0] and set(cross.n_images) == {1}
    bad = subprocess.run([*papermill, "book/03_deblur_study.ipynb", str(tmp_path / "03.ipynb"), "-p", "n_kernels", "40",
                          "-p", "output_dir", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "ProfileError" in bad.stderr and "deblur_study.n_kernels: 40 is out of range" in bad.stderr
    assert not (tmp_path / "out" / "tables" / "03_deblur_table.csv").exists()
