"""The book's table view: intervals beside their values, precision by metric, no empty column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rstor_core import tables

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
