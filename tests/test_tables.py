"""The book's table view: intervals beside their values, precision by metric, no empty column."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from rstor_core.book import tables

FRAME = pd.DataFrame({"model": ["natural", "input"], "big_psnr_db": [25.3141, 22.0], "big_psnr_lo_db": [25.1, np.nan],
                      "big_psnr_hi_db": [25.52, np.nan], "big_ssim": [0.81234, 0.7], "lpips": [np.nan, np.nan],
                      "n_images": [5, 5], "small_psnr_db": [30.0, 31.0]})


def test_a_value_carries_its_interval_and_the_precision_of_its_metric():
    view = tables.table_view(FRAME)
    assert list(view) == ["model", "big_psnr_db", "big_ssim", "n_images", "small_psnr_db"]  # lo/hi folded, empty gone
    assert view.big_psnr_db.tolist() == ["25.31 [25.10, 25.52]", "22.00"]
    assert view.big_ssim.tolist() == ["0.812", "0.700"] and view.n_images.tolist() == ["5", "5"]


def test_a_wide_table_splits_by_group_each_part_led_by_its_keys():
    parts = tables.split_columns(FRAME, ["model"], {"big blur": "^big_", "small blur": "^small_"})
    assert parts == {"big blur": ["model", "big_psnr_db", "big_psnr_lo_db", "big_psnr_hi_db", "big_ssim"],
                     "small blur": ["model", "small_psnr_db"]}
    assert list(tables.table_view(FRAME, parts["big blur"])) == ["model", "big_psnr_db", "big_ssim"]


def test_the_styled_table_has_a_caption_and_no_row_index():
    html = tables.styled(FRAME, "Test photos, PSNR").to_html()
    assert "<caption>Test photos, PSNR</caption>" in html and "25.31 [25.10, 25.52]" in html
    assert 'class="row_heading' not in html


def test_an_unknown_column_is_named():
    with pytest.raises(KeyError, match="psnr_db"):
        tables.table_view(FRAME, ["model", "psnr_db"])


def test_other_floats_keep_three_significant_digits_and_p_values_stay_readable():
    frame = pd.DataFrame({"visible_leaves": [1234.5, 12.345], "ks_pvalue": [3.2e-7, 0.5], "sigma_255": [25.0, 2.5]})
    view = tables.table_view(frame)
    assert view.visible_leaves.tolist() == ["1,234", "12.3"] and view.ks_pvalue.tolist() == ["3.2e-07", "0.5"]
    assert view.sigma_255.tolist() == ["25", "2.5"]


def test_headers_read_as_words_with_units_and_the_blur_family_after_the_metric():
    assert tables.header("psnr_sigma25_db") == "PSNR σ = 25 (dB)"
    assert tables.header("big_psnr_db") == "PSNR, big blur (dB)"
    assert tables.header("selection_small_gain_db") == "Gain on selection images, small blur (dB)"
    assert tables.header("mild_st_lpips") == "ST-LPIPS, mild blur" and tables.header("psnr") == "PSNR (dB)"
    assert tables.header("n_runs") == "Networks"  # the one map wins over the word-by-word reading


def test_every_column_of_every_table_the_library_writes_gets_a_header_without_underscores():
    names = set()
    for path in (ROOT / "outputs" / "quick" / "tables").glob("*.csv"):
        names |= set(pd.read_csv(path, nrows=0).columns)
    assert names, "no tables to read"
    raw = {name: tables.header(name) for name in names if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", tables.header(name))}
    assert not raw, raw


def test_a_value_that_rounds_to_zero_has_no_sign_and_a_self_comparison_is_not_shown():
    frame = pd.DataFrame({"a": ["natural", "natural"], "b": ["natural", "dead leaves"],
                          "psnr_diff": [-0.001, -0.004], "psnr_diff_lo": [-0.2, -1.0], "psnr_diff_hi": [0.1, 1.0]})
    assert tables.table_view(frame).psnr_diff.tolist() == ["0.00 [-0.20, 0.10]", "0.00 [-1.00, 1.00]"]
    html = tables.styled(frame, "Gaps").to_html()
    assert html.count("natural") == 1 and "A − B, PSNR (dB)" in html and "psnr_diff" not in html
