"""The landing page's generated parts quote the outputs: each headline row is a row of a chapter's table,
a chapter that did not run is said to be missing, and the provenance names the manifest's commit."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from rstor_core.landing import headline_markdown, provenance_markdown

from conftest import ROOT

TABLES = ROOT / "outputs" / "quick" / "tables"


def test_the_headline_quotes_the_denoising_and_deblurring_tables():
    text = headline_markdown(TABLES)
    differences = pd.read_csv(TABLES / "02_paired_differences.csv")
    gap = differences[(differences.a == "natural") & (differences.b == "dead leaves (discs)")
                      & (differences.sigma_255 == 25.0)].iloc[0]
    assert (f"| Denoising: natural-trained minus dead-leaves-trained, σ = 25/255 | {gap.psnr_diff:+.2f} dB "
            f"({gap.psnr_diff_lo:+.2f} to {gap.psnr_diff_hi:+.2f}") in text
    families = pd.read_csv(TABLES / "03_paired_gap.csv")
    for row in families.query("a == 'natural' and b == 'dead leaves'").itertuples():
        assert f"Blind motion deblurring, {row.family} blur" in text and f"{row.psnr_diff:+.2f} dB" in text
        if not row.measurable:
            assert "no measurable difference" in text
    assert "BM3D (no training) minus natural-trained" in text and "Not in these outputs" not in text
    assert "σ = 2/255" not in text  # only the noise levels of chapter 02's table


def test_a_chapter_without_tables_is_said_missing(tmp_path):
    shutil.copy(TABLES / "02_paired_differences.csv", tmp_path)
    text = headline_markdown(tmp_path)
    assert "Not in these outputs: chapter 03" in text and "Denoising" in text and "deblurring" not in text


def test_the_provenance_names_the_commit_profile_and_chapter_times():
    manifest = json.loads((ROOT / "outputs" / "quick" / "manifest.json").read_text())
    text = provenance_markdown(manifest)
    assert manifest["git_commit"][:10] in text and "`quick`" in text and f"torch {manifest['packages']['torch']}" in text
    assert all(f"{name[:2]} {info['seconds']:.0f} s" in text for name, info in manifest["chapters"].items())
