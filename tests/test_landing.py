"""The landing page's generated parts quote the outputs: each headline row is a row of a chapter's table,
a chapter that did not run is said to be missing, and the provenance names the manifest's commit."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from conftest import ROOT

from rstor_core.book.landing import headline_markdown, provenance_markdown

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
        if not row.measurable:  # said with the verdict of its interval, not "no measurable difference"
            assert row.verdict in ("inconclusive", "equivalent within ±0.5 dB") and row.verdict in text
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


def test_the_headline_quotes_chapter_05s_pretraining_rows_when_they_are_there(tmp_path):
    for name in ("02_paired_differences.csv", "03_paired_gap.csv", "03_deblur_table.csv"):
        shutil.copy(TABLES / name, tmp_path)
    assert "pre-trained" not in headline_markdown(tmp_path)
    row = {"a": "dead leaves → natural", "b": "natural", "psnr_diff": 0.123, "psnr_diff_lo": -0.2, "psnr_diff_hi": 0.4,
           "measurable": False}
    pd.DataFrame([{**row, "sigma_255": 25.0}, {**row, "a": "natural", "b": "dead leaves", "sigma_255": 25.0}]).to_csv(
        tmp_path / "05_pretraining_denoise.csv", index=False)
    pd.DataFrame([{**row, "family": "big", "psnr_diff": 1.5, "psnr_diff_lo": 1.1, "measurable": True}]).to_csv(
        tmp_path / "05_pretraining_deblur.csv", index=False)
    text = headline_markdown(tmp_path)
    assert ("| Denoising, σ = 25/255: pre-trained on dead leaves then fine-tuned minus natural-only, same steps | "
            "+0.12 dB (-0.20 to +0.40, equivalent within ±0.5 dB) |") in text
    assert "Blind motion deblurring, big blur: pre-trained" in text and "+1.50 dB (+1.10 to +0.40)" in text
    assert text.count("pre-trained") == 2


def test_a_difference_without_an_interval_says_why_instead_of_failing(tmp_path):
    """The smoke profile tests one photo: its CSVs have no interval columns (all empty, left out)."""
    from rstor_core.book.landing import _interval

    row = pd.Series({"psnr_diff": 1.1, "n_images": 1, "measurable": False, "verdict": "one photo: no interval"})
    assert _interval(row) == "+1.10 dB (one photo: no interval)"
    full = row.to_dict() | {"psnr_diff_lo": 0.2, "psnr_diff_hi": 2.0, "measurable": True}
    assert _interval(pd.Series(full)) == "+1.10 dB (+0.20 to +2.00)"


def test_the_answer_in_plain_words_quotes_the_intervals_and_says_when_no_network_deblurs(tmp_path):
    """Issue 31: the landing page's first paragraph answers both questions in plain words, with their intervals,
    including that at this scale neither blind network deblurs when that is what the numbers show."""
    from rstor_core.book.landing import answer_markdown

    text = answer_markdown(TABLES)
    differences = pd.read_csv(TABLES / "02_paired_differences.csv")
    gap = differences[(differences.a == "natural") & (differences.b == "dead leaves (discs)")
                      & (differences.sigma_255 == 25.0)].iloc[0]
    assert f"{gap.psnr_diff:+.2f} dB ({gap.psnr_diff_lo:+.2f} to {gap.psnr_diff_hi:+.2f}" in text
    table = pd.read_csv(TABLES / "03_deblur_table.csv").query("test_set == 'natural'").set_index("model")
    best = max(table.loc[arm, f"{f}_psnr_db"] - table.loc["input", f"{f}_psnr_db"]
               for arm in ("dead leaves", "natural") for f in ("small", "mild", "big"))
    assert ("neither network has learned to deblur" in text) == (best < 1.0) and f"{best:+.2f} dB" in text
    for name in ("02_paired_differences.csv", "03_paired_gap.csv"):
        shutil.copy(TABLES / name, tmp_path)
    deblur = pd.read_csv(TABLES / "03_deblur_table.csv")
    deblur.loc[(deblur.test_set == "natural") & (deblur.model == "natural"), "big_psnr_db"] += 5.0  # a network that deblurs
    deblur.to_csv(tmp_path / "03_deblur_table.csv", index=False)
    assert "has learned" not in answer_markdown(tmp_path) and "The best blind network gains" in answer_markdown(tmp_path)
    deblur.loc[(deblur.test_set == "natural") & (deblur.model == "natural"), "big_psnr_db"] -= 5.0
    deblur.to_csv(tmp_path / "03_deblur_table.csv", index=False)
    own = pd.DataFrame({"network": ["dead leaves", "dead leaves"], "model": ["dead leaves", "Richardson-Lucy"],
                        "family": "big", "psnr_gain": [0.4, 6.0]})
    own.to_csv(tmp_path / "03_in_distribution.csv", index=False)
    assert "not even on the kind of images it trained on (best +0.40 dB there)" in answer_markdown(tmp_path)
    own.assign(psnr_gain=[1.2, 6.0]).to_csv(tmp_path / "03_in_distribution.csv", index=False)
    assert "not even" not in answer_markdown(tmp_path)


def test_the_answer_says_what_closes_the_gap_and_the_closing_section_where_the_networks_lose(tmp_path):
    """Issue 32: the landing page states the answer (chapter 05 included) and closes on what the study shows."""
    from rstor_core.book.landing import answer_markdown, closing_markdown

    pd.DataFrame({"sigma_255": 25.0, "variant": ["photo colours", "preset", "natural"], "gain": [1.5, 0.4, 2.0],
                  "gain_lo": [0.3, -0.1, 1.0], "gain_hi": [2.7, 0.9, 3.0], "gap": [0.5, 1.6, None],
                  "gap_lo": [-1.0, 0.2, None], "gap_hi": [2.0, 3.0, None]}).to_csv(tmp_path / "05_ablation.csv")
    pd.DataFrame({"a": ["BM3D (knows σ)"], "b": ["natural"], "sigma_255": [25.0], "psnr_diff": [2.5],
                  "psnr_diff_lo": [0.6], "psnr_diff_hi": [4.4]}).to_csv(tmp_path / "02_paired_differences.csv")
    pd.DataFrame({"family": ["small", "big"], "published_gap_db": [4.79, -0.08], "ours_gap_db": [1.77, -0.07],
                  "ours_gap_lo_db": [-1.11, -0.87], "ours_gap_hi_db": [4.64, 0.73], "agrees": [False, True],
                  "verdict": ["above our interval", "inside our interval"]}
                 ).to_csv(tmp_path / "03_published_agreement.csv")
    answer = answer_markdown(tmp_path)
    assert ("**What closes the gap.** Of the richer dead-leaves generators, the photo colours gains most over flat "
            "discs at σ = 25/255, +1.50 dB (+0.30 to +2.70); natural-trained minus it, +0.50 dB (-1.00 to +2.00, "
            "inconclusive).") in answer
    closing = closing_markdown(tmp_path)
    assert "beats the natural-trained network at every noise level" in closing and "σ = 25: +2.50 dB" in closing
    assert "on small blur (+4.79 dB published, ours +1.77, -1.11 to +4.64)." in closing and "big blur" not in closing
    assert "What this scale cannot show" in closing
