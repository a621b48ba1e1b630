"""The landing page's generated parts quote the outputs: each headline row is a row of a chapter's table,
a chapter that did not run is said to be missing, and the provenance names the manifest's commit.

Every test writes its own small tables with round numbers, so each expected line is worked out by hand
here, never read from ``outputs/`` (a test that compared the page with the CSVs it was built from, through
the same formatting, could not catch a wrong number)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rstor_core.book.landing import (_interval, answer_markdown, closing_markdown, headline_markdown,
                                     provenance_markdown)

RL = "Richardson-Lucy (non-blind, knows the kernel)"


def _difference(a: str, b: str, value: float, lo: float, hi: float, **where) -> dict:
    return {"a": a, "b": b, **where, "psnr_diff": value, "psnr_diff_lo": lo, "psnr_diff_hi": hi,
            "measurable": lo > 0 or hi < 0}


def _chapter_02(folder: Path) -> None:
    """Natural minus discs at σ = 2, 25, 50 (chapter 02's table shows 25 and 50 only) and BM3D minus natural."""
    pd.DataFrame([_difference("natural", "dead leaves (discs)", 9.0, 8.0, 10.0, sigma_255=2.0),
                  _difference("natural", "dead leaves (discs)", 1.234, -0.1, 2.5, sigma_255=25.0),
                  _difference("natural", "dead leaves (discs)", 2.0, 0.5, 3.5, sigma_255=50.0),
                  _difference("BM3D (knows σ)", "natural", 2.5, 0.6, 4.4, sigma_255=25.0),
                  _difference("dead leaves (discs)", "input", 7.0, 6.0, 8.0, sigma_255=25.0)]
                 ).to_csv(folder / "02_paired_differences.csv", index=False)
    pd.DataFrame({"model": ["natural"], "psnr_sigma25_db": [29.0], "psnr_sigma50_db": [26.0]}).to_csv(
        folder / "02_denoise_table.csv", index=False)


def _chapter_03(folder: Path, natural_big: float = 22.9) -> None:
    """Natural-test-set PSNR per family: input 30 / 26 / 23, so dead leaves gains -1.50 / +0.25 / +0.50 dB,
    natural +0.50 / +0.00 / ``natural_big`` - 23, Richardson–Lucy +7.0 / +6.5 / +6.0. On the dead-leaves test
    set every network gains 10 dB more: rows the landing page must leave out."""
    psnr = {"input": (30.0, 26.0, 23.0), "dead leaves": (28.5, 26.25, 23.5), "natural": (30.5, 26.0, natural_big),
            RL: (37.0, 32.5, 29.0)}
    rows = [{"test_set": test_set, "model": model,
             **{f"{family}_psnr_db": value - (10.0 if test_set != "natural" and model == "input" else 0.0)
                for family, value in zip(("small", "mild", "big"), values)}}
            for test_set in ("natural", "dead leaves") for model, values in psnr.items()]
    pd.DataFrame(rows).to_csv(folder / "03_deblur_table.csv", index=False)
    pd.DataFrame([_difference("natural", "dead leaves", 2.0, 0.4, 3.6, family="small"),
                  _difference("natural", "dead leaves", -0.6, -1.2, 0.1, family="big"),
                  _difference("dead leaves", "natural", 0.6, -0.1, 1.2, family="big")]
                 ).to_csv(folder / "03_paired_gap.csv", index=False)


@pytest.fixture
def tables(tmp_path) -> Path:
    """Chapters 02 and 03's tables, small and hand-made."""
    _chapter_02(tmp_path)
    _chapter_03(tmp_path)
    return tmp_path


def test_the_headline_gives_each_denoising_gap_of_chapter_02s_table_with_its_interval(tables):
    lines = headline_markdown(tables).splitlines()
    assert lines[:5] == [
        "| Question | Measured (95 % interval) |", "| --- | --- |",
        "| Denoising: natural-trained minus dead-leaves-trained, σ = 25/255 | "
        "+1.23 dB (-0.10 to +2.50, inconclusive) |",
        "| Denoising: natural-trained minus dead-leaves-trained, σ = 50/255 | +2.00 dB (+0.50 to +3.50) |",
        "| Denoising: BM3D (no training) minus natural-trained, σ = 25/255 | +2.50 dB (+0.60 to +4.40) |"]


def test_the_headline_leaves_out_noise_levels_chapter_02s_table_does_not_show(tables):
    assert "σ = 2/255" not in headline_markdown(tables)
    (tables / "02_denoise_table.csv").unlink()  # without the table, every σ of the differences is shown
    assert "| Denoising: natural-trained minus dead-leaves-trained, σ = 2/255 | +9.00 dB (+8.00 to +10.00) |" in \
        headline_markdown(tables).splitlines()


def test_the_headline_gives_each_deblurring_gap_with_each_arms_gain_over_the_blurred_input(tables):
    rows = [line for line in headline_markdown(tables).splitlines() if "deblurring" in line]
    assert rows == [
        "| Blind motion deblurring, small blur: natural-trained minus dead-leaves-trained | +2.00 dB (+0.40 to +3.60) "
        "(dead leaves gains -1.50 dB over the input; natural gains +0.50 dB over the input) |",
        "| Blind motion deblurring, big blur: natural-trained minus dead-leaves-trained | -0.60 dB (-1.20 to +0.10, "
        "inconclusive) (dead leaves gains +0.50 dB over the input; natural gains -0.10 dB over the input) |"]


def test_a_chapter_without_tables_is_said_missing(tmp_path):
    _chapter_02(tmp_path)
    text = headline_markdown(tmp_path)
    assert text.endswith("\nNot in these outputs: chapter 03 (not run for this profile).\n")
    assert "Denoising" in text and "deblurring" not in text
    _chapter_03(tmp_path)
    (tmp_path / "02_paired_differences.csv").unlink()
    text = headline_markdown(tmp_path)
    assert "Not in these outputs: chapter 02 (not run for this profile)." in text and "Denoising" not in text


def test_the_provenance_names_the_commit_profile_packages_and_chapter_times():
    manifest = {"git_commit": "0123456789abcdef", "git_dirty": True, "profile": "quick", "written": "2026-01-02 03:04",
                "device": "cpu", "python": "3.11.9", "fresh": False,
                "packages": {"numpy": "2.3.0", "torch": "2.14.1", "pandas": "2.2.0"},
                "chapters": {"02_denoise": {"seconds": 61.6, "status": "ok"},
                             "01_dead_leaves": {"seconds": 12.4, "status": "failed"}}}
    assert provenance_markdown(manifest) == (
        "Outputs of profile `quick` written 2026-01-02 03:04 by commit `0123456789` (with uncommitted changes) on "
        "`cpu` (Python 3.11.9; torch 2.14.1, numpy 2.3.0); committed weights; time per chapter: 01 12 s (failed), "
        "02 62 s (ok).\n")


def test_the_headline_quotes_chapter_05s_pretraining_rows_when_they_are_there(tables):
    assert "pre-trained" not in headline_markdown(tables)
    row = {"a": "dead leaves → natural", "b": "natural", "psnr_diff": 0.123, "psnr_diff_lo": -0.2, "psnr_diff_hi": 0.4,
           "measurable": False}
    pd.DataFrame([{**row, "sigma_255": 25.0}, {**row, "a": "natural", "b": "dead leaves", "sigma_255": 25.0}]).to_csv(
        tables / "05_pretraining_denoise.csv", index=False)
    pd.DataFrame([{**row, "family": "big", "psnr_diff": 1.5, "psnr_diff_lo": 1.1, "measurable": True}]).to_csv(
        tables / "05_pretraining_deblur.csv", index=False)
    text = headline_markdown(tables)
    assert ("| Denoising, σ = 25/255: pre-trained on dead leaves then fine-tuned minus natural-only, same steps | "
            "+0.12 dB (-0.20 to +0.40, equivalent within ±0.5 dB) |") in text
    assert "Blind motion deblurring, big blur: pre-trained" in text and "+1.50 dB (+1.10 to +0.40)" in text
    assert text.count("pre-trained") == 2


def test_a_difference_without_an_interval_says_why_instead_of_failing():
    """The smoke profile tests one photo: its CSVs have no interval columns (all empty, left out)."""
    row = pd.Series({"psnr_diff": 1.1, "n_images": 1, "measurable": False, "verdict": "one photo: no interval"})
    assert _interval(row) == "+1.10 dB (one photo: no interval)"
    full = row.to_dict() | {"psnr_diff_lo": 0.2, "psnr_diff_hi": 2.0, "measurable": True}
    assert _interval(pd.Series(full)) == "+1.10 dB (+0.20 to +2.00)"


@pytest.mark.parametrize("interval, words", [
    ((1.0, 0.4, 2.0), "+1.00 dB (+0.40 to +2.00) on photos neither saw: the network trained on photos denoises photos "
                      "measurably better."),
    ((-1.0, -2.0, -0.4), "-1.00 dB (-2.00 to -0.40) on photos neither saw: the network trained on dead leaves "
                         "denoises photos measurably better."),
    ((1.234, -0.1, 2.5), "+1.23 dB (-0.10 to +2.50, inconclusive) on photos neither saw: our few photos and networks "
                         "can neither tell the two apart nor call them equivalent."),
    ((0.1, -0.3, 0.4), "+0.10 dB (-0.30 to +0.40, equivalent within ±0.5 dB) on photos neither saw: the two are "
                       "equivalent within ±0.5 dB."),
], ids=["natural higher", "dead leaves higher", "inconclusive", "equivalent"])
def test_the_answer_says_in_words_what_the_denoising_interval_at_sigma_25_shows(tmp_path, interval, words):
    pd.DataFrame([_difference("natural", "dead leaves (discs)", 5.0, 4.0, 6.0, sigma_255=50.0),
                  _difference("natural", "dead leaves (discs)", *interval, sigma_255=25.0)]
                 ).to_csv(tmp_path / "02_paired_differences.csv", index=False)
    assert answer_markdown(tmp_path) == ("**Denoising.** At σ = 25/255 the network trained on photos minus the one "
                                         f"trained only on dead leaves is {words}\n")


def test_the_answer_says_no_network_deblurs_when_none_gains_a_decibel_over_the_blurred_photo(tables):
    """Issue 31: at this scale neither blind network deblurs; the best gain (+0.50 dB, dead leaves on big blur)
    is quoted beside Richardson–Lucy's range, and the gaps are said to compare networks that do not deblur."""
    deblurring = answer_markdown(tables).split("\n\n")[1]
    assert deblurring == (
        "**Blind motion deblurring.** At this scale neither network has learned to deblur: the best gain over the "
        "blurred photo on any family is +0.50 dB, while Richardson–Lucy, told the kernel, gains +6.0 to +7.0 dB. "
        "The natural minus dead-leaves gaps (small +2.00 dB (+0.40 to +3.60); big -0.60 dB (-1.20 to +0.10, "
        "inconclusive)) compare networks that do not deblur.\n")


def test_the_answer_quotes_the_best_gain_when_a_network_deblurs(tmp_path):
    _chapter_03(tmp_path, natural_big=24.5)  # natural gains +1.50 dB on big blur
    assert answer_markdown(tmp_path) == (
        "**Blind motion deblurring.** The best blind network gains +1.50 dB over the blurred photo on some family, "
        "while Richardson–Lucy, told the kernel, gains +6.0 to +7.0 dB; natural minus dead leaves: small +2.00 dB "
        "(+0.40 to +3.60); big -0.60 dB (-1.20 to +0.10, inconclusive).\n")


def test_the_answer_adds_not_even_on_its_own_images_when_no_network_gains_a_decibel_there(tables):
    own = pd.DataFrame({"network": ["dead leaves", "dead leaves"], "model": ["dead leaves", "Richardson-Lucy"],
                        "family": "big", "psnr_gain": [0.4, 6.0]})  # the Richardson–Lucy row is not the network's
    own.to_csv(tables / "03_in_distribution.csv", index=False)
    assert ("neither network has learned to deblur, not even on the kind of images it trained on (best +0.40 dB "
            "there): the best gain") in answer_markdown(tables)
    own.assign(psnr_gain=[1.2, 6.0]).to_csv(tables / "03_in_distribution.csv", index=False)
    assert "neither network has learned to deblur: the best gain" in answer_markdown(tables)


def test_the_answer_says_what_closes_the_gap_and_the_closing_section_where_the_networks_lose(tmp_path):
    """Issue 32: the landing page states the answer (chapter 05 included) and closes on what the study shows."""
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


def test_the_closing_section_says_whether_real_camera_shake_was_tested(tmp_path):
    assert "Every blur is synthetic: no real camera shake is tested" in closing_markdown(tmp_path)
    pd.DataFrame({"model": ["input", "natural"] * 2, "test_set": "kohler", "image": ["a", "a", "b", "b"],
                  "psnr": 20.0}).to_csv(tmp_path / "03_real_blur_rows.csv", index=False)
    closing = closing_markdown(tmp_path)
    assert "Real camera shake: 2 recorded pairs of `kohler`" in closing and "no real camera shake" not in closing


def test_what_this_scale_cannot_show_is_read_from_the_outputs_not_typed_in(tables):
    gap = pd.read_csv(tables / "03_paired_gap.csv").assign(
        n_images=12, n_runs_a=2, n_runs_b=3, verdict=["measurably higher", "inconclusive", "inconclusive"])
    gap.to_csv(tables / "03_paired_gap.csv", index=False)
    pd.DataFrame({"step": [1, 40, 1, 60, 90], "experiment": ["motion, dead leaves"] * 2 + ["motion, natural"] * 2
                  + ["Gaussian, natural"]}).to_csv(tables / "03_training_curves.csv", index=False)
    closing = closing_markdown(tables, {"device": "cuda"})
    assert ("2 networks per arm trained for 60 steps on cuda, tested on 12 photos: 1 of the 2 natural minus "
            "dead-leaves deblurring gaps are inconclusive, and no blind network gains 1 dB over the blurred photo on "
            "any family (best +0.50 dB)") in closing
    _chapter_03(tables, natural_big=25.0)  # natural gains +2.00 dB on big blur: it deblurs
    gap.to_csv(tables / "03_paired_gap.csv", index=False)
    closing = closing_markdown(tables, {"device": "cpu"})
    assert "on a CPU" in closing and "the best blind network gains +2.00 dB over the blurred photo." in closing
    assert "says little" not in closing
    assert "Chapter 03 was not run here" in closing_markdown(tables.parent / "empty")
    assert "What the GPU profile" in closing and "What the GPU profile" not in closing_markdown(tables, {"profile": "paper"})
