"""Means and paired differences with bootstrap intervals (rstor_core.measurement.intervals, issue 13 item 3), in milliseconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from test_study import denoise_rows, rows  # noqa: F401 (a fixture and the row builder)

from rstor_core.measurement import intervals, study
from rstor_core.measurement.rows import INPUT
from rstor_core.settings.rng import stream


def arm(model: str, psnr: dict[tuple[str, float], float], *, sigma: float = 25.0) -> pd.DataFrame:
    """Evaluation rows of one arm from ``{(image, run): psnr}`` (run NaN: the input's and classical rows)."""
    return pd.DataFrame([{"model": model, "test_set": "natural", "image": image, "blur": "none", "sigma_255": sigma,
                          "run": run, "psnr": value} for (image, run), value in psnr.items()])


PHOTOS = [f"photo{i}" for i in range(6)]
BASE = dict(zip(PHOTOS, [22.0, 31.0, 26.0, 35.0, 24.0, 29.0]))  # photos differ far more than arms


def test_mean_with_interval_averages_runs_and_photos_per_group_with_counts():
    rows = pd.concat([arm("dl", {(p, r): BASE[p] + r + sigma / 25 for p in PHOTOS for r in range(3)}, sigma=sigma)
                      for sigma in (25.0, 50.0)])
    table = intervals.mean_with_interval(rows, ["model", "sigma_255"]).set_index("sigma_255")
    assert table.psnr.tolist() == pytest.approx([np.mean(list(BASE.values())) + 1 + s for s in (1, 2)])
    assert (table.psnr_lo < table.psnr).all() and (table.psnr < table.psnr_hi).all()
    assert table.n_images.tolist() == [6, 6] and table.n_runs.tolist() == [3, 3]


def test_counts_every_network_when_each_photo_is_tested_by_one_network_only():
    """The natural arm's fold networks: each photo is seen by the one network that did not train on it."""
    rows = arm("natural", {(p, i // 2): BASE[p] for i, p in enumerate(PHOTOS)})
    table = intervals.mean_with_interval(rows, ["model"])
    assert table.psnr[0] == pytest.approx(np.mean(list(BASE.values())))
    assert (table.n_images[0], table.n_runs[0]) == (6, 3)


def test_mean_with_interval_agrees_with_metric_means_in_their_group_order(denoise_rows):
    """Balanced rows (every photo, one run, no run column): the same means as the plain table, same order."""
    shuffled = denoise_rows.sample(frac=1.0, random_state=0)
    table = intervals.mean_with_interval(shuffled, ["sigma_255", "model"], metric="ssim")
    plain = study.metric_means(shuffled, ["sigma_255", "model"]).ssim
    assert list(zip(table.sigma_255, table.model)) == list(plain.index)
    assert table.ssim.tolist() == pytest.approx(plain.tolist())


def test_rows_without_a_run_column_count_as_one_run():
    table = intervals.mean_with_interval(arm("dl", {(p, 0): BASE[p] for p in PHOTOS}).drop(columns="run"), ["model"])
    assert (table.n_images[0], table.n_runs[0]) == (6, 1)


def test_an_exact_offset_per_photo_gives_that_difference_with_a_zero_width_interval():
    rows = pd.concat([arm("a", {(p, r): BASE[p] + r + 1.0 for p in PHOTOS for r in range(3)}),
                      arm("b", {(p, r): BASE[p] + r for p in PHOTOS for r in range(3)})])
    diff = intervals.paired_difference(rows, "a", "b", ["sigma_255"]).iloc[0]
    assert [diff.psnr_diff, diff.psnr_diff_lo, diff.psnr_diff_hi] == pytest.approx([1.0] * 3)
    assert diff.measurable and diff.verdict == "a higher"
    assert (diff.n_images, diff.n_runs_a, diff.n_runs_b) == (6, 3, 3)


def test_runs_with_the_same_id_are_paired_so_a_shared_run_effect_cancels():
    """Both arms tested every photo with runs 0-2 (seeds shared by the arms): run r of a meets run r of b."""
    seed_effect = [0.0, 3.0, 6.0]
    rows = pd.concat([arm("a", {(p, r): BASE[p] + seed_effect[r] + 1.0 for p in PHOTOS for r in range(3)}),
                      arm("b", {(p, r): BASE[p] + seed_effect[r] for p in PHOTOS for r in range(3)})])
    diff = intervals.paired_difference(rows, "a", "b", []).iloc[0]
    assert diff.psnr_diff_hi - diff.psnr_diff_lo == pytest.approx(0.0, abs=1e-9)


def test_one_network_of_b_per_photo_is_paired_with_every_run_of_a():
    """Dead leaves (runs 0-2 on every photo) against natural (one fold network per photo): each photo's
    difference is the mean over a's runs minus b's network, then averaged over photos."""
    a = arm("dl", {(p, r): BASE[p] + 0.5 * r for p in PHOTOS for r in range(3)})
    b = arm("natural", {(p, i // 2): BASE[p] + 2.0 for i, p in enumerate(PHOTOS)})
    diff = intervals.paired_difference(pd.concat([a, b]), "dl", "natural", []).iloc[0]
    assert diff.psnr_diff == pytest.approx(0.5 - 2.0)
    assert diff.psnr_diff_lo < -1.5 < diff.psnr_diff_hi and diff.psnr_diff_hi < 0  # only a's runs vary
    assert (diff.n_images, diff.n_runs_a, diff.n_runs_b) == (6, 3, 3) and diff.verdict == "natural higher"


def test_pairing_removes_photo_variation_that_widens_each_arms_own_interval():
    noise = stream(0, "test").normal(0.0, 0.1, (len(PHOTOS), 3))
    a = arm("a", {(p, r): BASE[p] + 1.0 + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)})
    b = arm("b", {(p, r): BASE[p] for p in PHOTOS for r in range(3)})
    rows = pd.concat([a, b])
    paired = intervals.paired_difference(rows, "a", "b", []).iloc[0]
    alone = intervals.mean_with_interval(rows, ["model"]).set_index("model")
    assert paired.psnr_diff_hi - paired.psnr_diff_lo < 0.4
    assert (alone.psnr_hi - alone.psnr_lo > 4.0).all() and alone.psnr_lo["a"] < alone.psnr_hi["b"]  # unpaired: overlap


@pytest.mark.parametrize("spread, said", [(0.1, "equivalent within ±0.5 dB"), (1.5, "inconclusive")])
def test_a_difference_of_pure_noise_is_equivalent_within_the_margin_or_inconclusive(spread, said):
    """Issue 31: "no measurable difference" said of an interval [-2, +2] claimed what it could not; a verdict
    of equivalence needs the interval inside the stated margin."""
    noise = stream(0, "test").normal(0.0, spread, (len(PHOTOS), 3))
    rows = pd.concat([arm("a", {(p, r): BASE[p] + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)}),
                      arm("b", {(p, r): BASE[p] for p in PHOTOS for r in range(3)})])
    diff = intervals.paired_difference(rows, "a", "b", []).iloc[0]
    assert diff.psnr_diff_lo < 0 < diff.psnr_diff_hi
    assert not diff.measurable and diff.verdict == said


def test_groups_by_sigma_are_kept_separate():
    rows = pd.concat([arm(model, {(p, r): BASE[p] + gap * (model == "a") for p in PHOTOS for r in range(3)}, sigma=s)
                      for s, gap in ((25.0, 1.0), (50.0, -2.0)) for model in ("a", "b")])
    diffs = intervals.paired_difference(rows, "a", "b", ["sigma_255"]).set_index("sigma_255")
    assert diffs.psnr_diff.to_dict() == pytest.approx({25.0: 1.0, 50.0: -2.0})
    assert diffs.verdict.to_dict() == {25.0: "a higher", 50.0: "b higher"}


def test_the_interval_is_the_same_on_every_call():
    """Exact arithmetic, no resampling: the same rows give the same bits."""
    noise = stream(0, "test").normal(0.0, 1.0, (len(PHOTOS), 3))
    rows = arm("a", {(p, r): BASE[p] + noise[i, r] for i, p in enumerate(PHOTOS) for r in range(3)})
    first, again = (intervals.mean_with_interval(rows, ["model"]) for _ in range(2))
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.parametrize("input_run", [np.nan, 0])
def test_gain_over_input_pairs_each_model_with_the_input_per_photo(input_run):
    rows = pd.concat([arm(INPUT, {(p, input_run): BASE[p] for p in PHOTOS}),
                      arm("dl", {(p, r): BASE[p] + 2.0 + 0.1 * r for p in PHOTOS for r in range(3)}),
                      arm("bm3d", {(p, input_run): BASE[p] + 3.0 for p in PHOTOS})])
    gains = intervals.gain_over_input_with_interval(rows, ["sigma_255"]).set_index("model")
    assert list(gains.index) == ["dl", "bm3d"] and INPUT not in gains.index
    assert gains.psnr_gain.to_dict() == pytest.approx({"dl": 2.1, "bm3d": 3.0})
    assert gains.n_runs.to_dict() == {"dl": 3, "bm3d": 1} and set(gains.n_images) == {6}


def test_paired_difference_refuses_model_in_by_and_an_unknown_model():
    rows = arm("a", {(p, 0): BASE[p] for p in PHOTOS})
    with pytest.raises(ValueError, match="'model'"):
        intervals.paired_difference(rows, "a", "a", ["model"])
    with pytest.raises(ValueError, match="'b'.*\\['a'\\]"):
        intervals.paired_difference(rows, "a", "b", [])


def test_a_metric_with_no_value_is_refused_by_name():
    with pytest.raises(ValueError, match="'lpips'"):
        intervals.mean_with_interval(arm("a", {(p, 0): BASE[p] for p in PHOTOS}).assign(lpips=np.nan), [], metric="lpips")


def test_one_photo_gives_no_interval():
    a = arm("a", {("photo0", r): 20.0 + r for r in range(3)})
    table = intervals.mean_with_interval(a, [])
    assert table.psnr[0] == pytest.approx(21.0) and table.psnr_lo.isna().all() and table.psnr_hi.isna().all()
    diff = intervals.paired_difference(pd.concat([a, arm("b", {("photo0", 0): 20.0})]), "a", "b").iloc[0]
    assert diff.psnr_diff == pytest.approx(1.0) and not diff.measurable and diff.verdict == "one photo: no interval"


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    """200 data sets of 6 photos x 3 networks per arm, drawn like the book's: a photo effect shared by the
    arms (sd 2 dB), a per-photo arm difference (0.5), a network effect (0.2) and a residual (0.3). The 95 %
    interval of a mean and of a difference run by run holds the truth in 88-99 % of them; against one fold
    network per photo it is conservative here (0.98-1.0: three fold networks that barely differ still give
    only 2 degrees of freedom, and the crossed arm's networks add their spread)."""
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
    tables = [intervals.mean_with_interval(rows[rows.model == "a"], ["dataset"])
                 .rename(columns=lambda c: c.replace("psnr", "psnr_diff")),
                 intervals.paired_difference(rows, "a", "b", ["dataset"]),
                 intervals.paired_difference(one_per_photo, "a", "b", ["dataset"])]
    covered = [((table.psnr_diff_lo <= truth) & (truth <= table.psnr_diff_hi)).mean() for table in tables]
    assert 0.88 <= covered[0] <= 0.99 and 0.88 <= covered[1] <= 0.99 and covered[2] >= 0.95


def test_format_interval_writes_a_signed_value_and_its_interval_for_prose():
    assert intervals.format_interval(1.234, 0.8, 1.6) == "+1.23 dB (95 % CI +0.80 to +1.60)"
    assert intervals.format_interval(-0.5, -1.25, 0.25, unit="", digits=1) == "-0.5 (95 % CI -1.2 to +0.2)"
    assert intervals.format_interval(30.45, 30.0, 31.0, signed=False) == "30.45 dB (95 % CI 30.00 to 31.00)"
    assert intervals.format_interval(1.0, np.nan, np.nan) == "+1.00 dB (one photo: no interval)"


def test_describe_adds_the_verdict_only_when_the_interval_holds_zero():
    row = pd.Series({"psnr_diff": 0.3, "psnr_diff_lo": -0.1, "psnr_diff_hi": 0.7})
    assert intervals.describe(row) == "+0.30 dB (95 % CI -0.10 to +0.70), inconclusive"
    assert intervals.describe(row.replace(0.7, 0.4)) == "+0.30 dB (95 % CI -0.10 to +0.40), equivalent within ±0.5 dB"
    assert intervals.describe(row.replace(-0.1, 0.1)) == "+0.30 dB (95 % CI +0.10 to +0.70)"



def _fold_study(n_sets: int, spread: float, seed: int, truth: float = 1.0,
                dead_leaves_spread: float = 0.2) -> pd.DataFrame:
    """``n_sets`` data sets drawn like the book's natural - dead leaves comparison: five photos (shared effect,
    sd 3 dB), a per-photo arm difference (sd 0.5), three dead-leaves networks tested on every photo (sd
    ``dead_leaves_spread``: 0.1-0.2 dB in chapter 02) and three natural fold networks, each tested on its own
    fold of 2, 2 and 1 photos (sd ``spread``), a residual of 0.3 dB."""
    rng = stream(seed, "fold coverage")
    folds = [0, 0, 1, 1, 2]
    photo = rng.normal(0, 3.0, (n_sets, 5, 1))
    a = (truth + photo + rng.normal(0, 0.5, (n_sets, 5, 1)) + rng.normal(0, dead_leaves_spread, (n_sets, 1, 3))
         + rng.normal(0, 0.3, (n_sets, 5, 3)))
    b = photo + rng.normal(0, spread, (n_sets, 1, 3)) + rng.normal(0, 0.3, (n_sets, 5, 3))
    index = pd.MultiIndex.from_product([range(n_sets), range(5), range(3)], names=["dataset", "image", "run"])
    rows = pd.concat([pd.DataFrame({"model": name, "psnr": values.ravel()}, index=index).reset_index()
                      for name, values in (("a", a), ("b", b))]).assign(test_set="synthetic")
    return rows[(rows.model == "a") | (rows.run == rows.image.map(dict(enumerate(folds))))]


@pytest.mark.parametrize("spread", [1.0, 2.0])
def test_intervals_hold_95_percent_when_the_fold_networks_differ_by_a_decibel_or_more(spread):
    """Issue 31: the natural arm's three fold networks are three units, not five photos. With them 1 or 2 dB
    apart, 2000 data sets: the interval holds the truth in 0.93-0.97 of them (0.970 at 1 dB, 0.962 at 1.5,
    0.955 at 2; over seeds 0-2 at 1 dB 0.970-0.973: conservative by the dead-leaves networks' spread, which it
    adds at the fold networks' 2 degrees of freedom). The bootstrap percentile interval used before: 0.92-0.94
    in draws like these, 0.87-0.88 in the issue's own simulation."""
    table = intervals.paired_difference(_fold_study(2000, spread, seed=0), "a", "b", ["dataset"])
    assert 0.93 <= ((table.psnr_diff_lo <= 1.0) & (1.0 <= table.psnr_diff_hi)).mean() <= 0.97


def test_the_interval_is_at_least_as_wide_as_a_t_interval_over_the_fold_networks():
    """What a referee computes by hand: the mean difference on each fold network's photos, then a t interval
    over the three of them. The interval adds the dead-leaves networks' spread to that and never takes more
    degrees of freedom than the three networks give, so it is no narrower (here with the dead-leaves networks
    as far apart as the fold networks)."""
    rows = _fold_study(30, 1.0, seed=1, dead_leaves_spread=1.0)
    table = intervals.paired_difference(rows, "a", "b", ["dataset"]).set_index("dataset")
    for dataset, one in rows.groupby("dataset"):
        a = one[one.model == "a"].groupby("image").psnr.mean()
        b = one[one.model == "b"].set_index("image")
        folds = (a - b.psnr).groupby(b.run).mean()
        half = scipy.stats.t.ppf(0.975, 2) * folds.std(ddof=1) / np.sqrt(3)
        assert folds.mean() == pytest.approx(table.psnr_diff[dataset])  # each fold network weighs the same
        assert table.psnr_diff_hi[dataset] - table.psnr_diff_lo[dataset] >= 2 * half - 1e-9


def test_one_comparison_has_one_interval_whatever_it_is_grouped_with():
    """Issue 31: chapter 02 (by sigma) and chapter 04 (by sigma and test set) gave the same gap two intervals."""
    rows = _fold_study(1, 1.0, seed=2).assign(sigma_255=25.0)
    alone = intervals.paired_difference(rows, "a", "b", ["sigma_255"]).iloc[0]
    both = intervals.paired_difference(pd.concat([rows, rows.assign(sigma_255=50.0, psnr=rows.psnr + 1)]), "a", "b",
                                       ["sigma_255", "test_set"]).iloc[0]
    assert (alone.psnr_diff_lo, alone.psnr_diff_hi) == (both.psnr_diff_lo, both.psnr_diff_hi)


def test_kernels_of_a_family_are_units_of_their_own():
    """A gain that holds on one kernel of six and not the others is not a family's gain."""
    per_kernel = [4.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    rows = pd.concat([arm(name, {(p, r): BASE[p] + gain * (name == "a") for p in PHOTOS for r in range(3)})
                      .assign(blur=f"big:{k}") for k, gain in enumerate(per_kernel) for name in ("a", "b")])
    diff = intervals.paired_difference(rows, "a", "b", []).iloc[0]
    assert diff.psnr_diff == pytest.approx(np.mean(per_kernel)) and diff.psnr_diff_lo < 0 < diff.psnr_diff_hi
