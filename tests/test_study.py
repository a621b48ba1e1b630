"""The chapters' table builders (rstor_core.study) on small hand-made inputs, in milliseconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rstor_core import study
from rstor_core.configs import DeadLeavesConfig
from rstor_core.deadleaves import power_law_radii
from rstor_core.evaluate import INPUT
from rstor_core.rng import stream


def rows(entries: list[tuple]) -> pd.DataFrame:
    """Evaluation rows from (model, test_set, image, blur, sigma, psnr) tuples; ssim = psnr / 100,
    st_lpips = (50 - psnr) / 100, lpips NaN (as without AlexNet's weights)."""
    frame = pd.DataFrame(entries, columns=["model", "test_set", "image", "blur", "sigma_255", "psnr"])
    return frame.assign(ssim=frame.psnr / 100, lpips=np.nan, st_lpips=(50 - frame.psnr) / 100)


@pytest.fixture
def denoise_rows() -> pd.DataFrame:
    return rows([(model, "natural", image, "none", sigma, base + offset)
                 for model, offset in ((INPUT, 0.0), ("dead leaves", 8.0), ("natural", 10.0))
                 for image, base in (("a", 20.0), ("b", 22.0)) for sigma in (25.0, 50.0)])


@pytest.fixture
def deblur_rows() -> pd.DataFrame:
    gains = {INPUT: 0.0, "dead leaves": -1.0, "natural": 0.5}
    return rows([(model, test_set, image, f"{family}:{k}", 1.0, 30.0 - 3 * f + gain + k)
                 for model, gain in gains.items() for test_set in ("natural", "dead leaves")
                 for image in ("a", "b") for f, family in enumerate(("small", "mild", "big")) for k in (0, 1)])


def test_coverage_table_counts_background_pixels_and_distinct_visible_leaves():
    index = np.array([[-1, 0], [2, 2]])
    table = study.coverage_table({False: [index], True: [np.array([[1, 1], [1, 1]])]})
    assert table.to_dict("records") == [
        {"until_covered": False, "image": 0, "background_fraction": 0.25, "visible_leaves": 2},
        {"until_covered": True, "image": 0, "background_fraction": 0.0, "visible_leaves": 1}]


def test_ks_table_accepts_radii_from_the_law_and_rejects_another_alpha():
    config = DeadLeavesConfig(alpha=3.0, r_min=1.0, r_max=100.0)
    drawn = power_law_radii(20_000, 3.0, 1.0, 100.0, np.random.default_rng(0))
    assert study.radius_ks_table(drawn, config).ks_pvalue[0] > 0.01
    other = power_law_radii(20_000, 2.0, 1.0, 100.0, np.random.default_rng(0))
    table = study.radius_ks_table(other, config)
    assert table.ks_pvalue[0] < 1e-6 and table.n_radii[0] == 20_000


def test_log_binned_density_of_a_power_law_has_its_slope_on_log_log_axes():
    radii = power_law_radii(200_000, 3.0, 1.0, 1000.0, np.random.default_rng(1))
    centres, density = study.log_binned_density(radii, 1.0, n_bins=20)
    keep = (density > 0) & (centres < 30)
    slope = np.polyfit(np.log(centres[keep]), np.log(density[keep]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.15)
    assert np.all(np.diff(centres) > 0)


def test_spectral_slope_table_finds_steeper_slopes_for_smoother_images():
    rng = np.random.default_rng(2)
    white = rng.random((64, 64))
    smooth = np.cumsum(np.cumsum(rng.standard_normal((64, 64)), 0), 1)  # integrated noise: ~1/f^4
    table = study.spectral_slope_table({"test": study.power_spectra({"white": white, "smooth": smooth})})
    slopes = table.set_index("image").slope
    assert list(table.source) == ["test", "test"]
    assert slopes["white"] == pytest.approx(0.0, abs=0.5) and slopes["smooth"] < -2.5


def test_blur_family_table_lists_disjoint_ranges():
    table = study.blur_family_table()
    assert list(table.family) == ["small", "mild", "big"]
    assert (table.rms_radius_max_px.values[:-1] <= table.rms_radius_min_px.values[1:]).all()


def test_gain_over_input_subtracts_the_input_row_and_drops_it():
    scores = pd.DataFrame({"psnr": [20.0, 28.5, 30.0]}, index=[INPUT, "a", "b"])
    assert study.gain_over_input(scores).psnr.to_dict() == {"a": 8.5, "b": 10.0}


def test_denoise_table_has_one_row_per_model_and_a_column_per_metric_and_sigma(denoise_rows):
    table = study.denoise_table(denoise_rows, [25.0]).set_index("model")
    assert table.loc["natural", "psnr_sigma25_db"] == pytest.approx(31.0)
    assert table.loc[INPUT, "ssim_sigma25"] == pytest.approx(0.21)
    assert "psnr_sigma50_db" not in table and set(table.n_images) == {2}
    assert table.loc["natural", "st_lpips_sigma25"] == pytest.approx(0.19)


def test_tables_never_show_an_all_empty_metric_column(denoise_rows):
    """LPIPS without AlexNet's weights is NaN throughout: its columns go, not shown empty; so does a metric
    measured at some sigmas only, at the others."""
    partly = denoise_rows.assign(st_lpips=denoise_rows.st_lpips.where(denoise_rows.sigma_255 == 25.0))
    table = study.denoise_table(partly, [25.0, 50.0])
    assert not [c for c in table if c.startswith("lpips") or c == "st_lpips_sigma50"]
    assert {"psnr_sigma50_db", "ssim_sigma50", "st_lpips_sigma25"} <= set(table)
    assert "lpips" not in study.metric_means(denoise_rows, ["model"])


def test_deblur_table_and_family_gains_give_each_model_its_gain_per_family(deblur_rows):
    table = study.deblur_table(deblur_rows, n_kernels=2, sigma=1.0)
    assert len(table) == 6 and {"small_psnr_db", "mild_ssim", "big_st_lpips", "noise_sigma_255"} <= set(table)
    assert not [c for c in table if c.endswith("_lpips") and not c.endswith("st_lpips")]  # all NaN: left out
    gains = study.family_gains(table)
    assert gains.loc["dead leaves"].tolist() == pytest.approx([-1.0] * 3)
    assert gains.loc["natural"].tolist() == pytest.approx([0.5] * 3)
    losses = study.losses(gains)
    assert set(losses.model) == {"dead leaves"} and list(losses.family) == ["small", "mild", "big"]


def test_gain_by_kernel_joins_each_bank_kernel_to_its_radius(deblur_rows):
    from rstor_core.degrade import bank_kernels, kernel_radius

    gains = study.gain_by_kernel(deblur_rows[deblur_rows.test_set == "natural"])
    assert set(gains.columns) == {"dead leaves", "natural", "radius_px"}
    assert gains.loc["big:1", "radius_px"] == pytest.approx(float(kernel_radius(bank_kernels("big:1"))[0]))
    assert study.share_below_zero(gains).to_dict() == {"dead leaves": 1.0, "natural": 0.0}


def test_single_bank_table_means_each_model_over_images_and_kernels(deblur_rows):
    table = study.single_bank_table(deblur_rows[deblur_rows.test_set == "natural"], n_kernels=2).set_index("model")
    assert table.loc["natural", "psnr_db"] - table.loc[INPUT, "psnr_db"] == pytest.approx(0.5)
    assert "st_lpips" in table and "lpips" not in table


def test_cross_table_and_gaps_work_without_sigma_25(denoise_rows):
    leaves = denoise_rows.assign(test_set="dead leaves", psnr=lambda r: r.psnr.where(r.model != "natural", 15.0))
    both = pd.concat([denoise_rows, leaves]).assign(sigma_255=lambda r: r.sigma_255.replace(25.0, 15.0))
    cross = study.cross_table(both)
    assert sorted(cross.sigma_255.unique()) == [15.0, 50.0] and set(cross.n_images) == {2}
    assert {"psnr", "ssim", "st_lpips"} <= set(cross) and "lpips" not in cross
    gaps = study.cross_gaps(cross, "dead leaves", "natural").set_index(["sigma_255", "test_set"]).gap_db
    assert gaps[15.0, "natural"] == pytest.approx(2.0) and gaps[15.0, "dead leaves"] < 0


def test_published_results_are_read_from_the_cited_csv():
    denoise = study.published_results("denoise")
    assert set(denoise.model) == {"dead leaves", "natural"} and set(denoise.source) == {study.PUBLISHED_SOURCE}
    assert len(study.published_results("deblur")) == 6
    with pytest.raises(ValueError, match="no published results for task 'segment'"):
        study.published_results("segment")


def test_denoise_comparison_puts_published_and_our_gaps_side_by_side(denoise_rows):
    summary = study.metric_means(denoise_rows, ["model", "sigma_255"]).reset_index()
    table = study.denoise_comparison(summary, dead_leaves="dead leaves", natural="natural", source="ours")
    ours = table[table.source == "ours"].set_index("sigma_255")
    assert ours.gap_db.tolist() == pytest.approx([2.0, 2.0])
    published = table[table.source == study.PUBLISHED_SOURCE].set_index("sigma_255")
    assert published.loc[25.0, "gap_db"] == pytest.approx(31.71 - 29.82)


def test_deblur_comparison_and_gaps_per_source_and_family(deblur_rows):
    natural = deblur_rows[deblur_rows.test_set == "natural"]
    comparison = study.deblur_comparison(natural, ["dead leaves", "natural"], source="ours")
    assert set(comparison[comparison.source == "ours"].model) == {INPUT, "dead leaves", "natural"}
    by_source = comparison.groupby("source")[["lpips", "st_lpips"]].count()  # published: LPIPS; ours: ST-LPIPS
    assert by_source.loc["ours"].tolist() == [0, 9] and by_source.loc[study.PUBLISHED_SOURCE].tolist() == [6, 0]
    gaps = study.deblur_gaps(comparison, dead_leaves="dead leaves", natural="natural")
    assert list(gaps.columns) == ["small", "mild", "big"]
    assert gaps.loc["ours"].tolist() == pytest.approx([1.5] * 3)
    assert gaps.loc[study.PUBLISHED_SOURCE, "small"] == pytest.approx(31.93 - 27.14)


# --- means and paired differences with bootstrap intervals (issue 13, item 3) ------------------------

def arm(model: str, psnr: dict[tuple[str, float], float], *, sigma: float = 25.0) -> pd.DataFrame:
    """Evaluation rows of one arm from ``{(image, run): psnr}`` (run NaN: the input's and classical rows)."""
    return pd.DataFrame([{"model": model, "test_set": "natural", "image": image, "blur": "none", "sigma_255": sigma,
                          "run": run, "psnr": value} for (image, run), value in psnr.items()])


PHOTOS = [f"photo{i}" for i in range(6)]
BASE = dict(zip(PHOTOS, [22.0, 31.0, 26.0, 35.0, 24.0, 29.0]))  # photos differ far more than arms


def test_mean_with_interval_averages_runs_and_photos_per_group_with_counts():
    rows = pd.concat([arm("dl", {(p, r): BASE[p] + r + sigma / 25 for p in PHOTOS for r in range(3)}, sigma=sigma)
                      for sigma in (25.0, 50.0)])
    table = study.mean_with_interval(rows, ["model", "sigma_255"], n_boot=500).set_index("sigma_255")
    assert table.psnr.tolist() == pytest.approx([np.mean(list(BASE.values())) + 1 + s for s in (1, 2)])
    assert (table.psnr_lo < table.psnr).all() and (table.psnr < table.psnr_hi).all()
    assert table.n_images.tolist() == [6, 6] and table.n_runs.tolist() == [3, 3]


def test_counts_every_network_when_each_photo_is_tested_by_one_network_only():
    """The natural arm's fold networks: each photo is seen by the one network that did not train on it."""
    rows = arm("natural", {(p, i // 2): BASE[p] for i, p in enumerate(PHOTOS)})
    table = study.mean_with_interval(rows, ["model"], n_boot=200)
    assert table.psnr[0] == pytest.approx(np.mean(list(BASE.values())))
    assert (table.n_images[0], table.n_runs[0]) == (6, 3)


def test_mean_with_interval_agrees_with_metric_means_in_their_group_order(denoise_rows):
    """Balanced rows (every photo, one run, no run column): the same means as the plain table, same order."""
    shuffled = denoise_rows.sample(frac=1.0, random_state=0)
    table = study.mean_with_interval(shuffled, ["sigma_255", "model"], metric="ssim", n_boot=100)
    plain = study.metric_means(shuffled, ["sigma_255", "model"]).ssim
    assert list(zip(table.sigma_255, table.model)) == list(plain.index)
    assert table.ssim.tolist() == pytest.approx(plain.tolist())


def test_rows_without_a_run_column_count_as_one_run():
    table = study.mean_with_interval(arm("dl", {(p, 0): BASE[p] for p in PHOTOS}).drop(columns="run"), ["model"])
    assert (table.n_images[0], table.n_runs[0]) == (6, 1)


def test_an_exact_offset_per_photo_gives_that_difference_with_a_zero_width_interval():
    rows = pd.concat([arm("a", {(p, r): BASE[p] + r + 1.0 for p in PHOTOS for r in range(3)}),
                      arm("b", {(p, r): BASE[p] + r for p in PHOTOS for r in range(3)})])
    diff = study.paired_difference(rows, "a", "b", ["sigma_255"], n_boot=500).iloc[0]
    assert [diff.psnr_diff, diff.psnr_diff_lo, diff.psnr_diff_hi] == pytest.approx([1.0] * 3)
    assert diff.measurable and diff.verdict == "a higher"
    assert (diff.n_images, diff.n_runs_a, diff.n_runs_b) == (6, 3, 3)


def test_runs_with_the_same_id_are_paired_so_a_shared_run_effect_cancels():
    """Both arms tested every photo with runs 0-2 (seeds shared by the arms): run r of a meets run r of b."""
    seed_effect = [0.0, 3.0, 6.0]
    rows = pd.concat([arm("a", {(p, r): BASE[p] + seed_effect[r] + 1.0 for p in PHOTOS for r in range(3)}),
                      arm("b", {(p, r): BASE[p] + seed_effect[r] for p in PHOTOS for r in range(3)})])
    diff = study.paired_difference(rows, "a", "b", [], n_boot=500).iloc[0]
    assert diff.psnr_diff_hi - diff.psnr_diff_lo == pytest.approx(0.0, abs=1e-9)


def test_one_network_of_b_per_photo_is_paired_with_every_run_of_a():
    """Dead leaves (runs 0-2 on every photo) against natural (one fold network per photo): each photo's
    difference is the mean over a's runs minus b's network, then averaged over photos."""
    a = arm("dl", {(p, r): BASE[p] + 0.5 * r for p in PHOTOS for r in range(3)})
    b = arm("natural", {(p, i // 2): BASE[p] + 2.0 for i, p in enumerate(PHOTOS)})
    diff = study.paired_difference(pd.concat([a, b]), "dl", "natural", [], n_boot=500).iloc[0]
    assert diff.psnr_diff == pytest.approx(0.5 - 2.0)
    assert diff.psnr_diff_lo < -1.5 < diff.psnr_diff_hi and diff.psnr_diff_hi < 0  # only a's runs vary
    assert (diff.n_images, diff.n_runs_a, diff.n_runs_b) == (6, 3, 3) and diff.verdict == "natural higher"


def test_pairing_removes_photo_variation_that_widens_each_arms_own_interval():
    noise = stream(0, "test").normal(0.0, 0.1, (len(PHOTOS), 3))
    a = arm("a", {(p, r): BASE[p] + 1.0 + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)})
    b = arm("b", {(p, r): BASE[p] for p in PHOTOS for r in range(3)})
    rows = pd.concat([a, b])
    paired = study.paired_difference(rows, "a", "b", []).iloc[0]
    alone = study.mean_with_interval(rows, ["model"]).set_index("model")
    assert paired.psnr_diff_hi - paired.psnr_diff_lo < 0.4
    assert (alone.psnr_hi - alone.psnr_lo > 4.0).all() and alone.psnr_lo["a"] < alone.psnr_hi["b"]  # unpaired: overlap


def test_a_difference_of_pure_noise_is_called_no_measurable_difference():
    noise = stream(0, "test").normal(0.0, 0.3, (len(PHOTOS), 3))
    rows = pd.concat([arm("a", {(p, r): BASE[p] + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)}),
                      arm("b", {(p, r): BASE[p] for p in PHOTOS for r in range(3)})])
    diff = study.paired_difference(rows, "a", "b", []).iloc[0]
    assert diff.psnr_diff_lo < 0 < diff.psnr_diff_hi
    assert not diff.measurable and diff.verdict == "no measurable difference"


def test_groups_by_sigma_are_kept_separate():
    rows = pd.concat([arm(model, {(p, r): BASE[p] + gap * (model == "a") for p in PHOTOS for r in range(3)}, sigma=s)
                      for s, gap in ((25.0, 1.0), (50.0, -2.0)) for model in ("a", "b")])
    diffs = study.paired_difference(rows, "a", "b", ["sigma_255"], n_boot=200).set_index("sigma_255")
    assert diffs.psnr_diff.to_dict() == pytest.approx({25.0: 1.0, 50.0: -2.0})
    assert diffs.verdict.to_dict() == {25.0: "a higher", 50.0: "b higher"}


def test_same_seed_gives_identical_intervals_and_another_seed_other_ones():
    noise = stream(0, "test").normal(0.0, 1.0, (len(PHOTOS), 3))
    rows = arm("a", {(p, r): BASE[p] + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)})
    first, again = (study.mean_with_interval(rows, ["model"], seed=1) for _ in range(2))
    pd.testing.assert_frame_equal(first, again)
    assert first.psnr_lo[0] != study.mean_with_interval(rows, ["model"], seed=2).psnr_lo[0]


@pytest.mark.parametrize("input_run", [np.nan, 0])
def test_gain_over_input_pairs_each_model_with_the_input_per_photo(input_run):
    rows = pd.concat([arm(INPUT, {(p, input_run): BASE[p] for p in PHOTOS}),
                      arm("dl", {(p, r): BASE[p] + 2.0 + 0.1 * r for p in PHOTOS for r in range(3)}),
                      arm("bm3d", {(p, input_run): BASE[p] + 3.0 for p in PHOTOS})])
    gains = study.gain_over_input_with_interval(rows, ["sigma_255"], n_boot=200).set_index("model")
    assert list(gains.index) == ["dl", "bm3d"] and INPUT not in gains.index
    assert gains.psnr_gain.to_dict() == pytest.approx({"dl": 2.1, "bm3d": 3.0})
    assert gains.n_runs.to_dict() == {"dl": 3, "bm3d": 1} and set(gains.n_images) == {6}


def test_paired_difference_refuses_model_in_by_and_an_unknown_model():
    rows = arm("a", {(p, 0): BASE[p] for p in PHOTOS})
    with pytest.raises(ValueError, match="'model'"):
        study.paired_difference(rows, "a", "a", ["model"])
    with pytest.raises(ValueError, match="'b'.*\\['a'\\]"):
        study.paired_difference(rows, "a", "b", [])


def test_a_metric_with_no_value_is_refused_by_name():
    with pytest.raises(ValueError, match="'lpips'"):
        study.mean_with_interval(arm("a", {(p, 0): BASE[p] for p in PHOTOS}).assign(lpips=np.nan), [], metric="lpips")


def test_one_photo_gives_no_interval():
    a = arm("a", {("photo0", r): 20.0 + r for r in range(3)})
    table = study.mean_with_interval(a, [])
    assert table.psnr[0] == pytest.approx(21.0) and table.psnr_lo.isna().all() and table.psnr_hi.isna().all()
    diff = study.paired_difference(pd.concat([a, arm("b", {("photo0", 0): 20.0})]), "a", "b").iloc[0]
    assert diff.psnr_diff == pytest.approx(1.0) and not diff.measurable and diff.verdict == "one photo: no interval"


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    """200 data sets of 6 photos x 3 networks per arm, drawn like the book's: a photo effect shared by the
    arms (sd 2 dB), a per-photo arm difference (0.5), a network effect (0.2) and a residual (0.3). The 95 %
    interval of a mean, of a difference run by run, and of a difference against one fold network per
    photo holds the truth in 88-99 % of them (the plain percentile interval: about 85 % for the mean)."""
    rng = stream(0, "coverage")
    n_sets, n_photos, n_runs, truth = 200, 6, 3, 1.0
    photo = rng.normal(0, 2.0, (n_sets, n_photos, 1))
    a = (truth + photo + rng.normal(0, 0.5, (n_sets, n_photos, 1)) + rng.normal(0, 0.2, (n_sets, 1, n_runs))
         + rng.normal(0, 0.3, (n_sets, n_photos, n_runs)))
    b = photo + rng.normal(0, 0.2, (n_sets, 1, n_runs)) + rng.normal(0, 0.3, (n_sets, n_photos, n_runs))
    index = pd.MultiIndex.from_product([range(n_sets), range(n_photos), range(n_runs)],
                                       names=["dataset", "image", "run"])
    rows = pd.concat([pd.DataFrame({"model": name, "psnr": values.ravel()}, index=index).reset_index()
                      for name, values in (("a", a), ("b", b))]).assign(test_set="synthetic")
    one_per_photo = rows[(rows.model == "a") | (rows.image % n_runs == rows.run)]  # b: the photo's fold network
    intervals = [study.mean_with_interval(rows[rows.model == "a"], ["dataset"], n_boot=500)
                 .rename(columns=lambda c: c.replace("psnr", "psnr_diff")),
                 study.paired_difference(rows, "a", "b", ["dataset"], n_boot=500),
                 study.paired_difference(one_per_photo, "a", "b", ["dataset"], n_boot=500)]
    for table in intervals:
        assert 0.88 <= ((table.psnr_diff_lo <= truth) & (truth <= table.psnr_diff_hi)).mean() <= 0.99


def test_format_interval_writes_a_signed_value_and_its_interval_for_prose():
    assert study.format_interval(1.234, 0.8, 1.6) == "+1.23 dB (95 % CI +0.80 to +1.60)"
    assert study.format_interval(-0.5, -1.25, 0.25, unit="", digits=1) == "-0.5 (95 % CI -1.2 to +0.2)"
    assert study.format_interval(30.45, 30.0, 31.0, signed=False) == "30.45 dB (95 % CI 30.00 to 31.00)"
    assert study.format_interval(1.0, np.nan, np.nan) == "+1.00 dB (one photo: no interval)"
