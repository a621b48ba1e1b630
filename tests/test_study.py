"""The chapters' table builders (rstor_core.measurement.study), and two of their figures, on small hand-made inputs."""

from __future__ import annotations

import dataclasses
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from rstor_core.book import figures
from rstor_core.images.leaf_sampling import power_law_radii
from rstor_core.measurement import intervals, published, readings, recipes, scaling, study
from rstor_core.measurement.rows import INPUT
from rstor_core.settings.configs import DeadLeavesConfig


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
    from rstor_core.degradation.degrade import bank_kernels, kernel_radius

    gains = study.gain_by_kernel(deblur_rows[deblur_rows.test_set == "natural"])
    assert set(gains.columns) == {"dead leaves", "natural", "radius_px"}
    assert gains.loc["big:1", "radius_px"] == pytest.approx(float(kernel_radius(bank_kernels("big:1"))[0]))
    assert study.share_below_zero(gains).to_dict() == {"dead leaves": 1.0, "natural": 0.0}


def test_single_bank_table_means_each_model_over_images_and_kernels(deblur_rows):
    table = study.single_bank_table(deblur_rows[deblur_rows.test_set == "natural"], n_kernels=2).set_index("model")
    assert table.loc["natural", "psnr_db"] - table.loc[INPUT, "psnr_db"] == pytest.approx(0.5)
    assert "st_lpips" in table and "lpips" not in table
    gain = table.loc["natural", ["psnr_gain_lo_db", "psnr_gain_db", "psnr_gain_hi_db"]].to_numpy(float)
    assert gain[1] == pytest.approx(0.5) and gain[0] <= gain[1] <= gain[2]  # paired per photo, its interval
    assert table.loc[INPUT, ["psnr_gain_db", "psnr_gain_lo_db"]].isna().all()  # no gain over itself


def test_the_gaussian_pair_is_said_as_each_arms_gain_and_the_paired_gap(deblur_rows):
    said = readings.gaussian_reading(deblur_rows[deblur_rows.test_set == "natural"])
    gap = intervals.paired_difference(deblur_rows[deblur_rows.test_set == "natural"], "natural", "dead leaves")
    assert said["gaussian_gap"] == intervals.describe(gap.iloc[0])
    assert said["gaussian_gain_nat"].startswith("+0.50 dB") and said["gaussian_gain_dl"].startswith("-")


def recorded_rows() -> pd.DataFrame:
    """Rows as evaluate_pairs writes them: three shots of a folder "shots", 64-pixel crops, one recorded blur."""
    return rows([(model, "shots", image, "recorded", np.nan, 25.0 + gain + k)
                 for model, gain in ((INPUT, 0.0), ("dead leaves", -0.3), ("natural", 0.4))
                 for k, image in enumerate(("s0", "s1", "s2"))]).assign(size_px=64, run=0)


def test_recorded_blur_is_said_with_each_arms_gain_the_gap_and_for_kohler_its_reference():
    said = readings.real_blur_reading(recorded_rows(), "data/shots")["real_blur"]
    assert said.startswith("On 3 pairs of `shots` (64-pixel centre crops;")
    assert "by -0.30 dB" in said and "by +0.40 dB" in said and "natural minus dead leaves, +0.70 dB" in said
    assert "middle frame" not in said
    kohler = readings.real_blur_reading(recorded_rows().assign(test_set="kohler"), "kohler")["real_blur"]
    assert "`kohler`" in kohler and "middle frame" in kohler and "do not compare with the paper" in kohler
    table = study.single_bank_table(recorded_rows(), test_set="shots")
    assert "n_kernels" not in table and set(table.n_images) == {3}


def test_without_pairs_the_chapter_says_its_blur_is_synthetic_and_how_to_test_real_blur():
    said = readings.real_blur_reading(None, "")["real_blur"]
    assert "synthetic" in said and "`deblur_study.real_pairs`" in said and "`kohler`" in said
    assert "`blurred/NAME.png` beside `sharp/NAME.png`" in said and "infer --pairs" in said


def test_cross_table_works_without_sigma_25(denoise_rows):
    leaves = denoise_rows.assign(test_set="dead leaves", psnr=lambda r: r.psnr.where(r.model != "natural", 15.0))
    both = pd.concat([denoise_rows, leaves]).assign(sigma_255=lambda r: r.sigma_255.replace(25.0, 15.0))
    cross = study.cross_table(both)
    assert sorted(cross.sigma_255.unique()) == [15.0, 50.0] and set(cross.n_images) == {2}
    assert {"psnr", "ssim", "st_lpips"} <= set(cross) and "lpips" not in cross


def test_published_agreement_says_where_the_published_gap_falls_against_our_interval():
    ours = pd.DataFrame({"family": ["small", "mild", "big"], "psnr_diff": [3.0, 1.0, 0.2],
                         "psnr_diff_lo": [2.0, -1.0, -0.5], "psnr_diff_hi": [4.0, 3.0, 0.9]})
    theirs = pd.Series({"small": 4.8, "mild": 2.0, "big": -0.1, "huge": 1.0})
    table = published.published_agreement(theirs, ours, "family").set_index("family")
    assert list(table.index) == ["small", "mild", "big"]  # a key ours does not have is left out
    assert table.verdict.to_dict() == {"small": "above our interval", "mild": "inside our interval",
                                       "big": "inside our interval"}
    assert table.agrees.tolist() == [False, True, True] and table.loc["small", "published_gap_db"] == 4.8


def test_published_agreement_without_an_interval_says_so():
    ours = pd.DataFrame({"sigma_255": [25.0], "psnr_diff": [1.0], "psnr_diff_lo": [np.nan], "psnr_diff_hi": [np.nan]})
    table = published.published_agreement(pd.Series({25.0: 1.9}), ours, "sigma_255")
    assert table.verdict.tolist() == ["not comparable: one photo, no interval"] and not table.agrees.any()


def test_spectral_slope_comparison_tells_two_different_power_laws_apart():
    gen = np.random.default_rng(0)
    slopes = pd.DataFrame({"source": ["dead leaves"] * 16 + ["natural"] * 5,
                           "slope": np.r_[gen.normal(-1.9, 0.15, 16), gen.normal(-2.7, 0.3, 5)]})
    verdict = study.spectral_slope_comparison(slopes, "dead leaves", "natural")
    assert verdict["difference"] == pytest.approx(slopes.groupby("source").slope.mean().diff().iloc[-1] * -1)
    assert verdict["p_value"] < 0.01 and verdict["verdict"] == "dead leaves are flatter (more fine detail)"
    assert verdict["lo"] < verdict["difference"] < verdict["hi"] and verdict["lo"] > 0
    same = slopes.assign(slope=gen.normal(-2.0, 0.2, len(slopes)))
    assert study.spectral_slope_comparison(same, "dead leaves", "natural")["verdict"] == "no measurable difference"


def test_published_results_are_read_from_the_cited_csv():
    denoise = published.published_results("denoise")
    assert set(denoise.model) == {"dead leaves", "natural"} and set(denoise.source) == {published.PUBLISHED_SOURCE}
    assert len(published.published_results("deblur")) == 6
    with pytest.raises(ValueError, match="no published results for task 'segment'"):
        published.published_results("segment")


def test_denoise_comparison_puts_published_and_our_gaps_side_by_side(denoise_rows):
    summary = study.metric_means(denoise_rows, ["model", "sigma_255"]).reset_index()
    table = published.denoise_comparison(summary, dead_leaves="dead leaves", natural="natural", source="ours")
    ours = table[table.source == "ours"].set_index("sigma_255")
    assert ours.gap_db.tolist() == pytest.approx([2.0, 2.0])
    theirs = table[table.source == published.PUBLISHED_SOURCE].set_index("sigma_255")
    assert theirs.loc[25.0, "gap_db"] == pytest.approx(31.71 - 29.82)


def test_deblur_comparison_and_gaps_per_source_and_family(deblur_rows):
    natural = deblur_rows[deblur_rows.test_set == "natural"]
    comparison = published.deblur_comparison(natural, ["dead leaves", "natural"], source="ours")
    assert set(comparison[comparison.source == "ours"].model) == {INPUT, "dead leaves", "natural"}
    by_source = comparison.groupby("source")[["lpips", "st_lpips"]].count()  # published: LPIPS; ours: ST-LPIPS
    assert by_source.loc["ours"].tolist() == [0, 9] and by_source.loc[published.PUBLISHED_SOURCE].tolist() == [6, 0]
    gaps = published.deblur_gaps(comparison, dead_leaves="dead leaves", natural="natural")
    assert list(gaps.columns) == ["small", "mild", "big"]
    assert gaps.loc["ours"].tolist() == pytest.approx([1.5] * 3)
    assert gaps.loc[published.PUBLISHED_SOURCE, "small"] == pytest.approx(31.93 - 27.14)


def test_tables_give_each_psnr_its_interval_and_the_networks_behind_it(denoise_rows, deblur_rows):
    runs = pd.concat([denoise_rows.assign(run=r, psnr=denoise_rows.psnr + 0.1 * r) for r in range(3)])
    runs = runs[(runs.model != INPUT) | (runs.run == 0)]  # the input is one "network"
    table = study.denoise_table(runs, [25.0]).set_index("model")
    natural = table.loc["natural"]
    assert natural.psnr_sigma25_lo_db < natural.psnr_sigma25_db < natural.psnr_sigma25_hi_db
    assert table.n_runs.to_dict() == {INPUT: 1, "dead leaves": 3, "natural": 3}
    deblur = study.deblur_table(deblur_rows, n_kernels=2, sigma=1.0)
    assert {f"{f}_psnr_{end}_db" for f in ("small", "mild", "big") for end in ("lo", "hi")} <= set(deblur)
    assert (deblur.small_psnr_lo_db <= deblur.small_psnr_db).all() and set(deblur.n_runs) == {1}
    cross = study.cross_table(runs)
    assert {"psnr_lo", "psnr_hi", "n_runs"} <= set(cross) and (cross.psnr_lo <= cross.psnr).all()


def test_late_rise_is_the_validation_gain_over_the_last_fifth_of_training():
    steps = np.arange(1, 101)
    curves = pd.DataFrame({"step": steps, "val_psnr": np.where(steps % 10 == 0, steps / 10, np.nan),
                           "experiment": "a", "run": 0})
    flat = curves.assign(val_psnr=np.where(steps % 10 == 0, 5.0, np.nan), run=1)
    rise = study.late_rise(pd.concat([curves, flat])).set_index("run").val_psnr_rise_db
    assert rise[0] == pytest.approx(10.0 - 8.0) and rise[1] == pytest.approx(0.0)


def test_ablation_table_pairs_each_variant_with_the_baseline_and_the_natural_reference(denoise_rows):
    rows = pd.concat([denoise_rows, denoise_rows[denoise_rows.model == "dead leaves"].assign(
        model="anti-aliased", psnr=lambda r: r.psnr + 0.5)])
    table = study.ablation_table(rows, ["dead leaves", "anti-aliased"], baseline="dead leaves", natural="natural")
    assert set(table.variant) == {"anti-aliased", "natural"}  # the baseline is the zero it is measured from
    aa = table[(table.variant == "anti-aliased")].set_index("sigma_255")
    nat = table[(table.variant == "natural")].set_index("sigma_255")
    assert aa.gain.to_numpy() == pytest.approx(0.5)
    assert (aa.gap + aa.gain).to_numpy() == pytest.approx(nat.gain.to_numpy())  # gains add up to the gap
    assert nat.gap.isna().all() and (aa.gain_lo <= aa.gain).all() and (aa.gain <= aa.gain_hi).all()


def test_recipe_table_reads_each_trials_change_time_and_gains_off_its_config_and_log():
    from rstor_core.measurement.recipes import config_changes, recipe_table
    from rstor_core.settings.configs import ExperimentConfig

    base = ExperimentConfig(blur="motion", loss="l1", steps=4, batch_size=2)
    trial = dataclasses.replace(base, optimiser="adamw", betas=(0.9, 0.9), compile=True, snapshots=(2,),
                                model={"name": "nafnet", "nafnet": {"width": 32}})
    assert config_changes(base, base) == "(the baseline)"
    assert config_changes(base, trial) == "model.nafnet.width: 32; optimiser: adamw; betas: (0.9, 0.9)"
    log = pd.DataFrame({"step": [1, 2, 3, 4], "img_per_s": [1.0, 2.0, 2.0, 4.0],
                        "val_psnr": [np.nan, 20.0, np.nan, 21.5]})
    gains = pd.DataFrame({"small": [-1.0, 0.5], "mild": [0.0, 0.0], "big": [0.2, 1.1]}, index=["base", "trial"])
    selection = pd.DataFrame({"small": [0.3, 0.4], "mild": [0.1, 0.2], "big": [0.9, 0.1]}, index=["base", "trial"])
    table = recipe_table({"base": (base, log), "trial": (trial, log.assign(val_psnr=[np.nan, 20, np.nan, 19.0]))},
                         gains, baseline=base, input_psnr={"base": 20.0, "trial": 20.0}, selection=selection)
    assert table.change.tolist()[0] == "(the baseline)"
    assert table.minutes.tolist() == pytest.approx([(2 + 1 + 1 + 0.5) / 60] * 2)  # batch / img_per_s per step
    assert table.val_gain_db.tolist() == pytest.approx([1.5, -1.0])  # the last validation, negative kept
    assert table.set_index("trial").loc["trial", "big_gain_db"] == 1.1 and table.steps.tolist() == [4, 4]
    assert table.set_index("trial").loc["trial", "selection_big_gain_db"] == 0.1
    with pytest.raises(ValueError, match="missing: \\['other'\\]"):
        recipe_table({"base": (base, log), "other": (base, log)}, gains, baseline=base, input_psnr={},
                     selection=selection)
    empty = recipe_table({}, gains.iloc[:0], baseline=base, input_psnr={}, selection=selection.iloc[:0])
    assert empty.empty and list(empty.columns)[-1] == "big_gain_db"  # nothing trained yet: no row


def test_the_recipe_is_chosen_on_the_selection_images_only_and_within_its_own_arm():
    """Issue 31, item 3: the trials were chosen on two of the five test photos."""
    table = pd.DataFrame({"trial": ["a", "b", "c", "n"], "data": ["dead_leaves"] * 3 + ["natural"],
                          "selection_mild_gain_db": [0.1, -0.1, 0.2, 0.5],
                          "selection_big_gain_db": [0.3, 0.9, 0.2, 0.1],
                          "big_gain_db": [0.0, 5.0, 9.0, 0.0]})  # the test photos would pick c
    assert recipes.chosen_recipe(table, "dead_leaves") == "a"  # b harms mild blur; c gains less on big
    assert recipes.chosen_recipe(table, "natural") == "n"
    assert recipes.chosen_recipe(table.assign(selection_mild_gain_db=-1.0), "dead_leaves") is None


def test_gains_by_family_is_each_models_mean_psnr_over_the_inputs(deblur_rows):
    gains = recipes.gains_by_family(deblur_rows[deblur_rows.test_set == "natural"])
    assert list(gains.columns) == ["small", "mild", "big"] and INPUT not in gains.index
    assert gains.loc["dead leaves"].tolist() == pytest.approx([-1.0] * 3)
    assert gains.loc["natural"].tolist() == pytest.approx([0.5] * 3)
    runs = pd.concat([deblur_rows.assign(run=r, psnr=deblur_rows.psnr + 0.25 * r * (deblur_rows.model != INPUT))
                      for r in range(3)])
    runs = runs[(runs.model != INPUT) | (runs.run == 0)]
    assert recipes.run_spread(runs, "natural").tolist() == pytest.approx([0.5] * 3)  # runs 0.25 dB apart


def test_scaling_table_and_the_steps_a_straight_line_in_log_steps_needs_to_reach_a_target():
    # Arm "a" gains 0.5 dB per doubling on big (0.0 at 100 steps), arm "b" loses with more steps.
    entries = [(INPUT, "natural", image, f"{family}:0", 1.0, 20.0) for image in "xyz" for family in ("mild", "big")]
    budgets = {}
    for arm, per_doubling in (("a", 0.5), ("b", -0.1)):
        for doublings in range(4):
            model = f"{arm}@{100 * 2 ** doublings}"
            budgets[model] = (arm, 100 * 2 ** doublings)
            entries += [(model, "natural", image, f"{family}:0", 1.0, 20.0 + per_doubling * doublings + noise)
                        for image, noise in zip("xyz", (-0.1, 0.0, 0.1)) for family in ("mild", "big")]
    table = scaling.scaling_table(rows(entries), budgets, {"a": 0.01, "b": 0.02})
    assert len(table) == 2 * 4 * 2 and list(table.columns[:4]) == ["arm", "steps", "minutes", "family"]
    big_a = table[(table.arm == "a") & (table.family == "big")]
    assert big_a.steps.tolist() == [100, 200, 400, 800] and big_a.minutes.tolist() == pytest.approx([1, 2, 4, 8])
    assert big_a.gain_db.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert (big_a.gain_lo_db < big_a.gain_db).all() and (big_a.gain_db < big_a.gain_hi_db).all()
    reach = scaling.steps_to_reach(rows(entries), budgets, 2.5).set_index("arm")
    assert reach.loc["a", "gain_per_doubling_db"] == pytest.approx(0.5)
    assert reach.loc["a", "steps_to_target"] == pytest.approx(100 * 2 ** 5)  # 2.5 dB: 5 doublings of 100 steps
    assert reach.loc["a", "times_largest_budget"] == pytest.approx(4.0)
    assert np.isnan(reach.loc["b", "steps_to_target"])  # a line that falls never gets there
    assert not reach.loc["b", "estimable"] and reach.loc["b", "steps_hi"] == np.inf


def test_the_extrapolated_budget_has_the_slopes_interval_over_networks_and_one_significant_figure():
    """Issue 31: "about 2,464,600 steps, 1540.4x" from a line through 4 points, with no interval on its slope."""
    entries = [(INPUT, "natural", image, "big:0", 1.0, 20.0) for image in "xyz"]
    budgets = {}
    for doublings in range(4):
        model = f"a@{100 * 2 ** doublings}"
        budgets[model] = ("a", 100 * 2 ** doublings)
        entries += [(model, "natural", image, "big:0", 1.0, 20.0 + slope * doublings, run)
                    for image in "xyz" for run, slope in enumerate((0.3, 0.5, 0.7))]
    frame = rows([e[:6] for e in entries]).assign(run=[e[6] if len(e) > 6 else np.nan for e in entries])
    reach = scaling.steps_to_reach(frame, budgets, 2.5).iloc[0]
    half = scipy.stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3)  # three slopes 0.3, 0.5, 0.7
    assert (reach.gain_per_doubling_lo_db, reach.gain_per_doubling_hi_db) == pytest.approx((0.5 - half, 0.5 + half))
    assert reach.estimable and reach.steps_lo < reach.steps_to_target < reach.steps_hi
    said = scaling.extrapolated_budget(reach)
    assert said.startswith(f"between {scaling._about(reach.steps_lo)} and {scaling._about(reach.steps_hi)} steps")
    assert not any(len(n) >= 5 for n in re.findall(r"\d+", said.replace(",", "")))  # no 5-digit count
    assert [scaling._about(v) for v in (2_464_592, 27_246_285, 1540.4, 870)] == ["2 million", "30 million", "2 thousand", "900"]


def test_scaling_gaps_pair_the_arms_at_each_budget_and_the_budget_reads_in_words():
    entries = [(INPUT, "natural", image, "big:0", 1.0, 20.0) for image in "xyz"]
    budgets = {}
    for arm, gain_at in (("a", lambda s: s / 100), ("b", lambda s: 0.5 * s / 100)):
        for steps in (100, 200):
            budgets[f"{arm}@{steps}"] = (arm, steps)
            entries += [(f"{arm}@{steps}", "natural", image, "big:0", 1.0, 20.0 + gain_at(steps) + noise)
                        for image, noise in zip("xyz", (-0.1, 0.0, 0.1))]
    gaps = scaling.scaling_gaps(rows(entries), budgets, first="a", second="b").set_index("steps")
    assert gaps.psnr_diff.tolist() == pytest.approx([0.5, 1.0])  # the gap widens with the steps
    assert (gaps.psnr_diff_lo <= gaps.psnr_diff).all() and set(gaps.family) == {"big"}
    assert set(gaps.a) == {"a@100", "a@200"}
    row = pd.Series({"gain_per_doubling_db": 0.2, "gain_per_doubling_lo_db": -0.1, "gain_per_doubling_hi_db": 0.5,
                     "estimable": False, "steps_lo": 900.0, "steps_hi": np.inf, "largest_budget": 1600.0,
                     "times_largest_budget": 3.6})
    assert scaling.extrapolated_budget(row) == ("no estimable budget (its slope's 95 % interval, -0.10 to +0.50 dB per "
                                              "doubling, holds 0)")
    within = row.copy()
    within[["estimable", "steps_hi"]] = True, 1200.0
    assert scaling.extrapolated_budget(within).startswith("at most 1 thousand steps, within the budgets measured")


def test_the_scaling_paragraph_reads_the_budgets_gaps_and_each_arms_slope():
    table = pd.DataFrame({"steps": [200, 400, 800, 1600] * 2})
    gaps = pd.DataFrame({"family": "big", "steps": [200, 1600], "psnr_diff": [0.1, 0.4], "psnr_diff_lo": [0.0, 0.2],
                         "psnr_diff_hi": [0.2, 0.6], "measurable": True, "verdict": "a"})
    reach = pd.DataFrame({"arm": ["dead leaves"], "gain_per_doubling_db": [0.2], "gain_per_doubling_lo_db": [-0.1],
                          "gain_per_doubling_hi_db": [0.5], "estimable": [False], "steps_lo": [900.0],
                          "steps_hi": [np.inf], "largest_budget": [1600.0], "times_largest_budget": [3.6]})
    said = scaling.scaling_reading(scaling.Budgets(table, gaps, reach), {"dead leaves": "dl"})
    assert said["scaling_fractions"] == "0.125, 0.25, 0.5" and said["budget_span"] == "8"
    assert (said["fewest_steps"], said["most_steps"], said["n_budgets"]) == (200, 1600, 4)
    assert said["gap_fewest"] == intervals.describe(gaps.iloc[0]) and said["gap_most"] == intervals.describe(gaps.iloc[1])
    assert said["per_doubling_dl"] == intervals.format_interval(0.2, -0.1, 0.5)
    assert said["reach_dl"].startswith("no estimable budget")


def test_the_recipe_paragraphs_say_each_arms_choice_and_what_the_chapters_networks_change():
    from rstor_core.settings.configs import ExperimentConfig

    base = ExperimentConfig(blur="motion", steps=4)
    configs = {"base": base, "wide": dataclasses.replace(base, lr=0.01),
               "photos": dataclasses.replace(base, data="natural")}
    table = pd.DataFrame({"trial": ["base", "wide", "photos"], "data": ["dead_leaves", "dead_leaves", "natural"],
                          "selection_mild_gain_db": [0.1, 0.2, -0.3], "selection_big_gain_db": [0.5, 0.9, 0.2]})
    arms = {"dead leaves": dataclasses.replace(base, lr=0.01, steps=8), "natural": configs["photos"]}
    names = {"dead leaves": "dl", "natural": "nat"}
    said = recipes.trials_reading(recipes.Trials(table, configs, arms, "base", {"x": "not trained: `python -m ...`"},
                                                 ["astronaut"], 0.3), names)
    assert said["chosen_dl"] == "wide" and said["chosen_differs_dl"] == recipes.config_changes(configs["wide"],
                                                                                              arms["dead leaves"])
    assert said["chosen_nat"].startswith("none") and said["chosen_differs_nat"] == "not compared"  # it harms mild
    assert said["main_changes"] == recipes.config_changes(base, arms["dead leaves"])
    assert (said["below_baseline_big"], said["harm_mild"], said["n_trials"]) == ("none", "photos", 3)
    assert said["untrained"] == "`x` (not trained: `python -m ...`)" and said["trial_photos"] == "astronaut"
    assert said["run_spread_big"] == 0.3
    empty = recipes.trials_reading(recipes.Trials(table.iloc[:0], {}, arms, None, {}, [], 0.0), names)
    assert empty["main_changes"] == "no baseline" and empty["chosen_dl"].startswith("none")


def test_the_recipe_change_is_said_per_arm_and_family_and_not_measured_when_unread():
    change = pd.DataFrame({"a": ["dead leaves"] * 2, "b": ["dead leaves, first recipe"] * 2, "family": ["mild", "big"],
                           "psnr_diff": [0.2, -0.1], "psnr_diff_lo": [0.1, -0.3], "psnr_diff_hi": [0.3, 0.1],
                           "measurable": True, "verdict": ["better", "inconclusive"]})
    said = recipes.change_reading(change, {"n_first": "not trained"}, {"dead leaves": "dl", "natural": "nat"})
    assert said["change_dl_mild"] == intervals.describe(change.iloc[0])
    assert said["change_nat_big"] == "not measured" and "`n_first`" in said["change_unread"]


def test_the_gap_per_family_is_said_with_its_interval_and_the_curves_panel_by_training_data(deblur_rows):
    natural = deblur_rows[deblur_rows.test_set == "natural"].assign(family=lambda r: study.family_of(r.blur))
    gap = intervals.paired_difference(natural, "natural", "dead leaves", ["family"])
    said = readings.gaps_by_family(gap)
    assert list(said) == [f"gap_{f}" for f in gap.family] and said["gap_big"].startswith("+1.50 dB")
    assert figures.by_training_data("motion, dead leaves") == "trained on dead leaves"
    assert figures.by_training_data("Gaussian, natural") == "trained on natural photos"


def test_the_published_deblurring_gap_is_set_against_our_interval_per_family(deblur_rows):
    comparison = published.deblur_comparison(deblur_rows[deblur_rows.test_set == "natural"], ["dead leaves", "natural"],
                                         source="ours")
    ours = pd.DataFrame({"family": ["small", "mild", "big"], "psnr_diff": [1.5] * 3,
                         "psnr_diff_lo": [1.0, 1.0, -4.0], "psnr_diff_hi": [2.0, 2.0, 4.0]})
    table = published.published_deblur_agreement(comparison, ours).set_index("family")
    assert table.published_gap_db["small"] == pytest.approx(31.93 - 27.14)
    assert table.verdict["small"] == "above our interval" and table.verdict["big"] == "inside our interval"


def test_glue_values_names_each_cell_of_the_rows_it_is_given():
    gain = pd.DataFrame({"small": [1.0, -2.0, 3.0], "big": [0.5, 0.25, 7.0]}, index=["dead leaves", "natural", "x"])
    assert readings.glue_values(gain, {"dead leaves": "dl", "natural": "nat"}) == {
        "dl_small": 1.0, "dl_big": 0.5, "nat_small": -2.0, "nat_big": 0.25}


def test_convergence_says_the_networks_were_stopped_early_only_when_one_still_rose():
    steps = np.arange(1, 101)
    rising = pd.DataFrame({"step": steps, "val_psnr": np.where(steps % 10 == 0, steps / 10, np.nan),
                           "experiment": "a", "run": 0})
    flat = rising.assign(val_psnr=np.where(steps % 10 == 0, 5.0, np.nan), run=1)
    said = readings.convergence(pd.concat([rising, flat]))
    assert said["rise_min"] == pytest.approx(0.0) and said["rise_max"] == pytest.approx(2.0)
    assert said["converged"] == "the networks stopped before they converged"
    assert readings.convergence(flat)["converged"] == "they had levelled off"


def test_the_gain_figure_labels_the_blind_networks_by_their_data_and_the_rest_by_name():
    gains = pd.DataFrame({"dead leaves": [0.1, -0.2], "Wiener": [1.0, 2.0], "radius_px": [1.0, 4.0]})
    fig = figures.gain_vs_radius_figure(gains, blind=["dead leaves"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["dead-leaves-trained (blind)", "Wiener"]
    plt.close(fig)


def test_the_longer_runs_are_said_as_multiples_of_the_chapters_steps_own_kind_solid_other_dashed():
    runs = pd.DataFrame([{"arm": arm, "test_set": test_set, "steps": steps, "family": family,
                          "gain_db": 0.1 * steps / 1600 if test_set == arm else -0.1 * steps / 1600,
                          "gain_lo_db": -1.0, "gain_hi_db": 2.0}
                         for arm in ("dead leaves", "natural") for test_set in ("dead leaves", "natural")
                         for steps in (1600, 3200, 12800) for family in ("small", "mild", "big")])
    said = scaling.long_runs_reading(scaling.LongRuns(runs, {}, 1600), {"dead leaves": "dl", "natural": "nat"})
    assert said["long_most"] == "8×" and "(1×, 2×, 8× the chapter's steps)" in said["long_what"]
    assert said["long_unread"] == "none"
    assert said["long_dl_on_dl"] == "+0.10 / +0.10 / +0.10 dB at 1× and +0.80 / +0.80 / +0.80 dB at 8×"
    assert said["long_dl_on_nat"].startswith("-0.10 / -0.10 / -0.10 dB at 1×")
    assert "12800" not in " ".join(map(str, said.values()))  # no step count to read as precision
    assert said["long_trend_dl"].startswith("on small, mild, big blur it gains more on its own kind")
    fig = figures.long_runs_figure(runs)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    styles = {label: handle.lines[0].get_linestyle() for handle, label in zip(handles, labels) if "trained" in label}
    assert styles == {"trained on dead leaves, tested on dead leaves": "-",
                      "trained on dead leaves, tested on natural": "--",
                      "trained on natural, tested on dead leaves": "--", "trained on natural, tested on natural": "-"}
    plt.close(fig)
    unread = scaling.LongRuns(pd.DataFrame(), {"x_long": "not trained: `python -m ...`"}, 1600)
    empty = scaling.long_runs_reading(unread, {})
    assert empty["long_what"] == "No longer run is read in this profile." and "`x_long`" in empty["long_unread"]
    assert unread.tables("03_")["03_long_runs.csv"].to_dict("list") == {  # the file the prose links says why
        "experiment": ["x_long"], "not_read": ["not trained: python -m ..."]}
    assert scaling.LongRuns(runs, {}, 1600).tables("03_")["03_long_runs.csv"] is runs
    plt.close(figures.long_runs_figure(pd.DataFrame()))


def test_the_book_says_where_it_disagrees_with_the_published_study():
    agreement = pd.DataFrame({"family": ["small", "mild", "big"],
                              "verdict": ["above our interval", "inside our interval", "below our interval"]})
    said = published.published_disagreement(agreement)["published_disagreement"]
    assert "lies above our interval on small; below our interval on big:" in said and "mild" not in said
    inside = published.published_disagreement(agreement.assign(verdict="inside our interval"))
    assert "inside our interval everywhere" in inside["published_disagreement"]


def test_a_familys_mean_carried_by_one_photo_shows_in_the_per_photo_gains(deblur_rows):
    """Issue 31, item 4: the small-blur verdict rested on one photo (-4.47 dB on chelsea, -0.01 to -0.67 elsewhere)."""
    natural = deblur_rows[deblur_rows.test_set == "natural"]
    natural = natural.assign(psnr=np.where((natural.model == "dead leaves") & (natural.image == "a"),
                                           natural.psnr - 4.0, natural.psnr))
    by_photo = study.gain_by_photo(natural).set_index(["model", "family", "image"]).gain_db
    assert by_photo["dead leaves", "small", "a"] == pytest.approx(-5.0)
    assert by_photo["dead leaves", "small", "b"] == pytest.approx(-1.0)
    said = readings.photo_extremes(by_photo.reset_index(), {"dead leaves": "dl"})["photos_dl"]
    assert said.startswith("small: a -5.00 (others -1.00 to -1.00); mild: a -5.00")


def test_run_gains_pair_each_network_with_the_inputs_it_was_given():
    """Issue 31, item 5: the ablation's primitives verdict rested on one failed run (below its input)."""
    table = rows([(INPUT, "natural", image, "", 25.0, psnr) for image, psnr in (("a", 20.0), ("b", 10.0))]
                 + [("p", "natural", "a", "", 25.0, 25.0), ("p", "natural", "b", "", 25.0, 14.0)]
                 ).assign(run=0, degradation="sigma=25", size_px=256)
    table = pd.concat([table, table[table.model == "p"].assign(run=1, psnr=[19.0, 10.5])], ignore_index=True)
    gains = study.run_gains(table).set_index("run").gain_db
    assert gains[0] == pytest.approx(4.5) and gains[1] == pytest.approx(-0.25)
    three = pd.DataFrame({"model": "p", "sigma_255": 25.0, "run": [0, 1, 2], "gain_db": [6.5, 0.75, 6.2]})
    weak = study.weak_runs(three)  # the primitives' run 1 at sigma 25 here: +0.75 dB against +6.2 and +6.5
    assert weak.run.tolist() == [1] and weak.arm_median_db.tolist() == [6.2]
    assert study.weak_runs(three.assign(gain_db=[6.5, 5.0, 6.2])).empty


def test_the_training_curves_figure_measures_each_run_against_its_own_validation_inputs():
    """Issue 31, item 7: runs 1-2 were measured against run 0's inputs and plotted below zero."""
    curves = pd.DataFrame({"experiment": "a", "run": [0, 0, 1, 1], "step": [1, 2, 1, 2], "loss": 1.0,
                           "val_psnr": [20.0, 21.0, 25.0, 26.0]})
    fig = figures.training_curves_figure(curves, baselines={("a", 0): 19.0, ("a", 1): 24.0}, panels=lambda _: "p")
    assert [list(line.get_ydata()) for line in fig.axes[0].get_lines()[:2]] == [[1.0, 2.0], [1.0, 2.0]]
    plt.close(fig)


def test_the_scaling_figure_draws_the_goal_and_the_question_by_default():
    scaling = pd.DataFrame({"arm": "dead leaves", "steps": [200, 1600], "minutes": [1.0, 8.0], "family": "big",
                            "gain_db": [0.1, 0.3], "gain_lo_db": [0.0, 0.1], "gain_hi_db": [0.2, 0.5]})
    fig = figures.compute_scaling_figure(scaling)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "+1.0 dB" in labels and "+1.5 dB" in labels
    plt.close(fig)


def test_the_in_distribution_check_reads_each_network_on_its_own_kind_of_images(deblur_rows):
    """Issue 31: chapter 03 first asks whether each network deblurs the kind of images it trained on."""
    anchor = deblur_rows[deblur_rows.model == INPUT].assign(model="Richardson-Lucy", psnr=lambda r: r.psnr + 8)
    rows = pd.concat([deblur_rows, anchor])
    table = study.in_distribution(rows, {"dead leaves": "dead leaves", "natural": "natural"}, ["Richardson-Lucy"])
    mine = table.set_index(["network", "model", "family"])
    assert mine.loc[("dead leaves", "dead leaves", "big"), "psnr_gain"] == pytest.approx(-1.0)
    assert set(table[table.network == "dead leaves"].test_set) == {"dead leaves"}
    assert mine.loc[("natural", "Richardson-Lucy", "mild"), "psnr_gain"] == pytest.approx(8.0)
    said = readings.in_distribution_reading(table, {"dead leaves": "dl", "natural": "nat"})
    assert said["own_dl"].startswith("-1.00 / -1.00 / -1.00 dB") and "Richardson-Lucy +8.00" in said["own_dl"]
    assert "neither has learned" in said["own_reading"]
    learned = readings.in_distribution_reading(table.assign(psnr_gain=table.psnr_gain + 1.5), {"natural": "nat"})
    assert "the network trained on natural gains at least 1 dB on small, mild and big blur" in learned["own_reading"]


def test_chapter_03_says_its_networks_have_not_learned_to_deblur_only_when_no_gain_reaches_a_decibel():
    """Issue 31, item 4: "the dead-leaves network keeps deblurring when the blur is big" rested on +0.31 dB."""
    gain = pd.DataFrame({"small": [-1.2, 0.29, 7.2], "mild": [0.48, 0.38, 7.6], "big": [0.31, 0.22, 6.5]},
                        index=["dead leaves", "natural", "Richardson-Lucy"])
    said = readings.deblurring_reading(gain, ["dead leaves", "natural"])["deblur_reading"]
    assert "+0.48 dB" in said and "have not learned to deblur" in said  # Richardson-Lucy's 7 dB is not a network's
    gain.loc["natural", "big"] = 1.4
    assert "have not learned" not in readings.deblurring_reading(gain, ["dead leaves", "natural"])["deblur_reading"]


def test_every_arm_keeps_its_one_colour_from_figure_to_figure():
    """Issue 32: dead leaves were blue / natural green in one figure, blue / orange in the next."""
    curves = pd.DataFrame({"experiment": ["motion, natural"] * 2 + ["motion, dead leaves"] * 2, "run": 0,
                           "step": [1, 2, 1, 2], "loss": 1.0, "val_psnr": [20.0, 21.0, 25.0, 26.0]})
    scaling = pd.DataFrame({"arm": ["natural", "natural", "dead leaves", "dead leaves"], "steps": [200, 400] * 2,
                            "minutes": 1.0, "family": "big", "gain_db": 0.1, "gain_lo_db": 0.0, "gain_hi_db": 0.2})
    gains = pd.DataFrame({"natural": [0.1], "dead leaves": [0.2], "Richardson-Lucy": [3.0], "radius_px": [1.0]})
    made = [figures.training_curves_figure(curves, baselines={("motion, natural", 0): 19.0,
                                                             ("motion, dead leaves", 0): 24.0}, panels=lambda _: "p"),
            figures.compute_scaling_figure(scaling), figures.gain_vs_radius_figure(gains, blind=["natural", "dead leaves"])]
    seen = {}
    for fig in made:
        for label, colour in figures.drawn_arms(fig).items():
            arm = "natural" if "natural" in label else "dead leaves" if "dead" in label else label
            seen.setdefault(arm, set()).add(colour)
        plt.close(fig)
    assert seen["natural"] == {figures.arm_colour("natural")} and seen["dead leaves"] == {figures.arm_colour("dead leaves")}
    assert seen["Richardson-Lucy"] == {figures.arm_colour("Richardson-Lucy")}
    assert len({figures.arm_colour(a) for a in ("natural", "dead leaves", "Richardson-Lucy", "input")}) == 4
    assert figures.arm_colour("trained on natural, tested on dead leaves") == figures.arm_colour("natural")


def test_the_two_reference_levels_are_told_apart_by_their_dashes():
    scaling = pd.DataFrame({"arm": "dead leaves", "steps": [200, 1600], "minutes": [1.0, 8.0], "family": "big",
                            "gain_db": [0.1, 0.3], "gain_lo_db": [0.0, 0.1], "gain_hi_db": [0.2, 0.5]})
    fig = figures.compute_scaling_figure(scaling)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    dashes = {label: handle.get_linestyle() for handle, label in zip(handles, labels) if label.endswith("dB")}
    assert len(set(dashes.values())) == 2, dashes
    plt.close(fig)


def test_coverage_summary_and_facts_average_each_mode_over_its_images():
    maps = {False: [np.array([[-1, 0], [1, 1]]), np.array([[-1, -1], [-1, 2]])], True: [np.array([[0, 1], [1, 1]])]}
    coverage = study.coverage_table(maps)
    summary = study.coverage_summary(coverage)
    assert summary.background_fraction.to_dict() == {False: 0.5, True: 0.0}  # (1/4 + 3/4) / 2, then none
    assert summary.visible_leaves.to_dict() == {False: 1.5, True: 2.0}
    assert study.coverage_facts(coverage) == {"background_fixed": "50.00%", "background_covered": "0.00%"}


def test_radius_ks_facts_quote_the_tables_test_and_its_sample_size():
    config = DeadLeavesConfig(alpha=3.0, r_min=1.0, r_max=100.0)
    table = study.radius_ks_table(power_law_radii(20_000, 3.0, 1.0, 100.0, np.random.default_rng(0)), config)
    facts = study.radius_ks_facts(table)
    assert facts == {"ks_stat": table.ks_statistic[0], "ks_pvalue": table.ks_pvalue[0], "n_radii": "20,000"}
    assert type(facts["ks_stat"]) is float and 0 < facts["ks_stat"] < 0.05


def test_spectra_by_source_names_each_dead_leaves_image_and_keeps_the_photos_names():
    gen = np.random.default_rng(3)
    leaves = [gen.random((32, 32, 3)) for _ in range(2)]
    spectra = study.spectra_by_source(leaves, {"cat": gen.random((32, 32, 3))})
    assert {source: list(by_name) for source, by_name in spectra.items()} == {
        "dead leaves": ["dead leaves 0", "dead leaves 1"], "natural": ["cat"]}
    table = study.spectral_slope_table(spectra)
    assert table.source.tolist() == ["dead leaves", "dead leaves", "natural"]


def test_spectral_slope_facts_quote_each_sources_mean_and_their_difference():
    gen = np.random.default_rng(0)
    slopes = pd.DataFrame({"source": ["dead leaves"] * 16 + ["natural"] * 5,
                           "slope": np.r_[gen.normal(-1.9, 0.15, 16), gen.normal(-2.7, 0.3, 5)]})
    summary = study.spectral_slope_summary(slopes)
    assert summary["count"].to_dict() == {"dead leaves": 16, "natural": 5}
    assert summary.loc["natural", "std"] == pytest.approx(slopes.slope[16:].std())
    facts = study.spectral_slope_facts(slopes)
    leaves, natural = slopes.slope[:16].mean(), slopes.slope[16:].mean()
    assert facts["slope_leaves"] == pytest.approx(leaves) and facts["slope_natural"] == pytest.approx(natural)
    assert facts["slope_difference"].startswith(f"{leaves - natural:+.2f} (95 % CI +")  # flatter, interval above 0
    assert facts["slope_verdict"] == "dead leaves are flatter (more fine detail)" and facts["slope_p"] < 0.01
