"""What the chapters' prose says, read off hand-built tables (rstor_core.measurement.readings), in milliseconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_study import denoise_rows  # noqa: F401 (a fixture)

from rstor_core.measurement import published, readings, study
from rstor_core.measurement.rows import INPUT


def differences(entries: list[tuple], by: str = "sigma_255") -> pd.DataFrame:
    """Paired-difference rows from (a, b, level, mean, lo, hi) tuples."""
    return pd.DataFrame(entries, columns=["a", "b", by, "psnr_diff", "psnr_diff_lo", "psnr_diff_hi"])


def test_differences_said_looks_each_comparison_up_by_its_arms_and_level():
    said = readings.differences_said(differences([("x", "y", 25.0, 1.0, 0.5, 1.5)]), "sigma_255")
    assert said == {("x", "y", 25.0): "+1.00 dB (95 % CI +0.50 to +1.50)"}


def denoise_differences(bm3d_lo: float, discs_hi: float) -> pd.DataFrame:
    return differences([("natural", "discs", s, 1.0, 0.5, 1.5) for s in (5.0, 25.0)]
                       + [("prims", "discs", s, 0.1, -0.2, 0.4) for s in (5.0, 25.0)]
                       + [("bm3d", "natural", s, 2.0, bm3d_lo, 3.0) for s in (5.0, 25.0)]
                       + [("discs", INPUT, 5.0, -1.0, -1.5, discs_hi), ("natural", INPUT, 5.0, -1.0, -1.5, -0.5),
                          ("discs", INPUT, 25.0, 5.0, 4.0, 6.0)])


def test_bm3d_beats_only_when_every_lead_interval_lies_above_zero_and_harm_names_the_arms_below_input():
    said = readings.denoise_reading(denoise_differences(1.0, -0.5), [25.0], lowest=5.0, reference="discs",
                                    natural="natural", primitives="prims", bm3d="bm3d")
    assert said["bm3d_verdict"] == "beats" and said["harm_verdict"] == "make them worse"
    assert said["gap25"].startswith("+1.00 dB") and said["lowest"] == "5" and "bm3d_lead25" in said
    said = readings.denoise_reading(denoise_differences(-1.0, 0.5), [25.0], lowest=5.0, reference="discs",
                                    natural="natural", primitives="prims", bm3d=None)
    assert said["harm_verdict"] == "make them worse where it is measured (natural)"
    assert "bm3d_lead25" not in said and said["bm3d_verdict"] == "beats"  # no BM3D run: nothing to lead


def test_the_ceiling_is_each_networks_psnr_on_clean_photos_beside_the_lowest_noise_input():
    clean = pd.DataFrame({"model": [INPUT, "a", "a", "b"], "psnr": [99.0, 40.0, 42.0, 38.0]})
    noisy = pd.DataFrame({"model": [INPUT, INPUT, "a"], "sigma_255": [2.0, 5.0, 2.0], "psnr": [45.0, 30.0, 1.0]})
    assert readings.ceiling_reading(clean, noisy, 2.0) == {"ceiling": "a 41.0 dB, b 38.0 dB", "lowest_input": 45.0}


@pytest.mark.parametrize("dead_leaves_hi, flip", [(-0.1, "each network wins on its own kind of image"),
                                                  (0.1, "the flip is not measurable at every σ: read the intervals")])
def test_the_flip_holds_only_when_each_network_measurably_wins_on_its_own_kind(dead_leaves_hi, flip):
    gaps = pd.DataFrame([(s, t, m, lo, hi) for s in (25.0, 50.0) for t, m, lo, hi in
                         (("natural", 1.0, 0.5, 1.5), ("dead leaves", -1.0, -2.0, dead_leaves_hi))],
                        columns=["sigma_255", "test_set", "psnr_diff", "psnr_diff_lo", "psnr_diff_hi"])
    said = readings.cross_reading(gaps, [25.0, 50.0], ["natural", "dead leaves"])
    assert said["flip"] == flip
    assert said["gaps_natural"].count("at σ =") == 2 and "gaps_dead_leaves" in said


def test_worse_than_input_names_only_networks_whose_whole_interval_is_below_zero():
    rows = pd.DataFrame([(model, "natural", image, 25.0, base + offset) for image, base in (("a", 20.0), ("b", 22.0),
                                                                                         ("c", 21.0))
                         for model, offset in ((INPUT, 0.0), ("bad", -1.0), ("good", 1.0))],
                        columns=["model", "test_set", "image", "sigma_255", "psnr"]).assign(blur="none")
    said = readings.worse_than_input(rows)["worse_than_input"]
    assert said.startswith("the bad network on natural images at σ = 25") and "good" not in said
    assert readings.worse_than_input(rows[rows.model != "bad"]) == {"worse_than_input": "none"}


def ablation() -> pd.DataFrame:
    return pd.DataFrame([(v, s, g, g - 0.5, g + 0.5, "verdict", 2.0 - g, 1.0 - g, 3.0 - g)
                         for v, g in (("colours", 0.2), ("primitives", 0.8), ("natural", 2.0)) for s in (25.0, 50.0)],
                        columns=["variant", "sigma_255", "gain", "gain_lo", "gain_hi", "gain_verdict", "gap", "gap_lo",
                                 "gap_hi"]).assign(gap=lambda t: t.gap.where(t.variant != "natural"))


def test_the_ablation_ranking_puts_the_largest_gain_first_without_the_baseline_and_the_reference():
    ranked = study.ablation_ranking(ablation(), 25.0, leave_out=["flat", "natural"])
    assert list(ranked.index) == ["primitives", "colours"]


def test_the_ablation_reading_keys_each_arm_by_its_place_and_gives_the_reference_no_gap():
    said = readings.ablation_reading(ablation(), ["flat", "colours", "primitives", "natural"], first=25.0, last=50.0,
                                     baseline="flat", natural="natural")
    assert said["best"] == "primitives" and said["first"] == "25" and said["last"] == "50"
    assert said["ranking"].startswith("primitives +0.80 dB") and said["verdict_2_last"] == "verdict"
    assert "gain_3_first" in said and "gap_3_first" not in said and "verdict_0_first" not in said


def test_weak_runs_are_said_run_by_run_or_none():
    weak = pd.DataFrame({"run": [2], "model": ["colours"], "sigma_255": [25.0], "gain_db": [0.1],
                         "arm_median_db": [3.0]})
    assert readings.weak_runs_reading(weak) == {"weak_runs": "run 2 of colours at σ = 25 (+0.10 dB, median +3.00)"}
    assert readings.weak_runs_reading(weak.iloc[:0]) == {"weak_runs": "none"}


def test_the_pretraining_reading_reads_each_comparison_at_its_level():
    denoise = differences([(a, b, s, 0.1 * k, -1.0, 1.0) for k, (a, b) in enumerate(
        [("ft", "nat"), ("ft", "dl"), ("one", "ft"), ("one", "nat"), ("nat", "dl")]) for s in (25.0, 50.0)])
    deblur = differences([(a, b, f, 1.0 if b == "nat" else 2.0, 0.5, 3.0) for a, b in (("ft", "nat"), ("ft", "dl"))
                          for f in ("small", "mild", "big")], by="family")
    said = readings.pretraining_reading(denoise, deblur, ["dl", "nat", "ft", "one"], 25.0)
    assert said["ft_vs_nat"].startswith("+0.00 dB") and said["full_gap"].startswith("+0.40 dB")
    assert said["deblur_ft_big"].startswith("+1.00 dB") and said["deblur_dl_small"].startswith("+2.00 dB")


def test_the_arms_table_writes_each_lineage_and_its_total():
    table = study.arms_table({"a": "x", "b": "y@5"}, {"a": [10], "b": [3, 5]}, runs=3)
    assert table.to_dict("records") == [{"arm": "a", "experiment": "x", "steps": "10", "total_steps": 10, "runs": 3},
                                        {"arm": "b", "experiment": "y@5", "steps": "3 + 5", "total_steps": 8,
                                         "runs": 3}]


def test_paired_differences_stack_in_the_order_of_the_pairs(denoise_rows):  # noqa: F811
    table = study.paired_differences(denoise_rows, [("natural", "dead leaves"), ("dead leaves", INPUT)], ["sigma_255"])
    assert list(zip(table.a, table.b)) == [("natural", "dead leaves")] * 2 + [("dead leaves", INPUT)] * 2
    assert table.index.tolist() == [0, 1, 2, 3]


def test_the_denoise_agreement_reading_glues_the_published_values_and_our_verdicts():
    comparison = pd.DataFrame({"source": [published.PUBLISHED_SOURCE, "ours"], "sigma_255": [25.0, 25.0],
                               "dead_leaves_db": [29.0, 20.0], "natural_db": [31.0, 21.0], "gap_db": [2.0, 1.0]})
    ours = differences([("natural", "dl", 25.0, 1.0, 0.5, 1.5)])
    agreement = published.published_denoise_agreement(comparison, ours)
    assert agreement.verdict.tolist() == ["above our interval"]
    said = published.denoise_agreement_reading(comparison, agreement)
    assert said == {"published_dead_leaves_25": 29.0, "published_natural_25": 31.0, "published_gap_25": 2.0,
                    "agreement_25": "above our interval"}
    assert np.isfinite(said["published_gap_25"])
