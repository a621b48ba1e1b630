"""The analysis the chapters show, as pure table builders: arrays or DataFrames in, DataFrames out.

Each function is what a chapter's table is made of (the chapter only calls it, saves it and
plots it), so each is unit-tested in milliseconds instead of only through a chapter run.
Evaluation rows come from :func:`rstor_core.networks.evaluate.evaluate` (one row per model, test set,
image, degradation and size); ``INPUT`` is the degraded input's model name. No table shows an
all-empty metric column (LPIPS where AlexNet's weights are missing): such columns are left out.
What the prose says of these tables is :mod:`rstor_core.measurement.readings`; the compute-scaling,
recipe-trial and published-study tables have modules of their own (:mod:`~rstor_core.measurement.scaling`,
:mod:`~rstor_core.measurement.recipes`, :mod:`~rstor_core.measurement.published`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from rstor_core.degradation.degrade import BANK_SIZE, FAMILIES, KERNEL_SIZE, bank_kernels, kernel_radius
from rstor_core.images.leaf_sampling import power_law_cdf
from rstor_core.images.spectrum import radial_power_spectrum, spectral_slope
from rstor_core.measurement import intervals
from rstor_core.measurement.rows import INPUT, METRICS
from rstor_core.settings.configs import DeadLeavesConfig

# --- chapter 01: the generator and the degradations ----------------------------------------------

def coverage_table(index_maps: Mapping[bool, Sequence[np.ndarray]]) -> pd.DataFrame:
    """Per leaf-index map (-1: background), keyed by ``until_covered``: the background fraction and
    the number of visible leaves."""
    return pd.DataFrame([{"until_covered": mode, "image": i, "background_fraction": float(np.mean(index < 0)),
                          "visible_leaves": len(np.unique(index[index >= 0]))}
                         for mode, maps in index_maps.items() for i, index in enumerate(maps)])


def radius_ks_table(radii: np.ndarray, config: DeadLeavesConfig) -> pd.DataFrame:
    """Kolmogorov-Smirnov test of sampled radii against the power law of ``config`` (one row)."""
    law = (config.alpha, config.r_min, config.r_max)
    ks = scipy.stats.kstest(radii, lambda r: power_law_cdf(r, *law))
    return pd.DataFrame([{"n_radii": len(radii), "alpha": config.alpha, "r_min_px": config.r_min,
                          "r_max_px": config.r_max, "ks_statistic": ks.statistic, "ks_pvalue": ks.pvalue}])


def log_binned_density(values: np.ndarray, low: float, n_bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Histogram density on ``n_bins`` log-spaced bins from ``low`` to the largest value: (centres, density),
    the geometric centre of each bin. On log-log axes a power law is then a straight line."""
    edges = np.geomspace(low, values.max(), n_bins)
    density, edges = np.histogram(values, bins=edges, density=True)
    return np.sqrt(edges[1:] * edges[:-1]), density


def power_spectra(images: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Radially averaged power spectrum of each image: ``{name: (frequencies, power)}``."""
    return {name: radial_power_spectrum(image) for name, image in images.items()}


def spectral_slope_table(spectra: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]]) -> pd.DataFrame:
    """Log-log slope of each spectrum, ``spectra`` keyed by source then image name."""
    return pd.DataFrame([{"image": name, "source": source, "slope": spectral_slope(f, power)}
                         for source, by_name in spectra.items() for name, (f, power) in by_name.items()])


def spectral_slope_comparison(slopes: pd.DataFrame, first: str, second: str, *, level: float = 0.95) -> dict:
    """Mean spectral slope of source ``first`` minus that of ``second`` (rows of :func:`spectral_slope_table`),
    with its Welch t interval and p-value, and a verdict for prose: a slope closer to 0 is flatter, i.e. more
    energy in fine detail. Why a test: "close to natural images" is a claim about a difference."""
    a, b = (slopes.slope[slopes.source == name].to_numpy(float) for name in (first, second))
    test = scipy.stats.ttest_ind(a, b, equal_var=False)
    interval = test.confidence_interval(level)
    measurable = not interval.low <= 0 <= interval.high
    verdict = ("no measurable difference" if not measurable else
               f"{first} are {'flatter (more' if a.mean() > b.mean() else 'steeper (less'} fine detail)")
    return {"difference": float(a.mean() - b.mean()), "lo": float(interval.low), "hi": float(interval.high),
            "p_value": float(test.pvalue), "verdict": verdict}


def blur_family_table() -> pd.DataFrame:
    """The motion-blur families: RMS radius range, bank size and kernel support."""
    return pd.DataFrame([{"family": name, "rms_radius_min_px": low, "rms_radius_max_px": high,
                          "bank_kernels": BANK_SIZE, "kernel_support_px": KERNEL_SIZE}
                         for name, (low, high) in FAMILIES.items()])


# --- evaluation tables (chapters 02-04) ------------------------------------------------------------

def metric_means(rows: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean of each metric per group of ``by`` (groups in order of appearance). A metric with no value in
    ``rows`` (NaN throughout, like LPIPS without its weights, or absent from older results) is left out."""
    measured = [m for m in metrics if m in rows and rows[m].notna().any()]
    return rows.groupby(list(by), sort=False)[measured].mean()


def gain_over_input(scores: pd.DataFrame) -> pd.DataFrame:
    """Each method's scores (rows indexed by model, ``INPUT`` among them) minus the input's: what a
    method adds over doing nothing, in dB for PSNR. The input's own row is dropped."""
    return scores.sub(scores.loc[INPUT]).drop(index=INPUT)


def images_per_test_set(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("test_set").image.nunique()


def denoise_table(rows: pd.DataFrame, sigmas: Sequence[float]) -> pd.DataFrame:
    """Chapter 02's table: one row per model, ``{metric}_sigma{s}`` columns at ``sigmas`` (PSNR in dB), those
    with no value left out; the PSNR's 95 % interval over photos and runs (``psnr_sigma{s}_lo_db`` /
    ``_hi_db``, :func:`~rstor_core.measurement.intervals.mean_with_interval`), and ``n_images`` and ``n_runs`` (the
    networks behind each row)."""
    rows = rows[rows.sigma_255.isin(sigmas)]
    summary = metric_means(rows, ["model", "sigma_255"]).reset_index()
    table = (summary.pivot(index="model", columns="sigma_255", values=list(summary.columns.intersection(METRICS)))
             .dropna(axis=1, how="all"))
    table.columns = [f"{metric}_sigma{sigma:g}" + ("_db" if metric == "psnr" else "")
                     for metric, sigma in table.columns]
    spread = intervals.mean_with_interval(rows, ["model", "sigma_255"])
    bounds = spread.pivot(index="model", columns="sigma_255", values=["psnr_lo", "psnr_hi"])
    bounds.columns = [f"psnr_sigma{sigma:g}_{end.split('_')[1]}_db" for end, sigma in bounds.columns]
    return (table.join(bounds).join(spread.groupby("model").n_runs.max()).reset_index()
            .assign(n_images=rows.image.nunique()))


def family_of(blur: pd.Series) -> pd.Series:
    """The bank of each blur address (``"big:3"`` -> ``"big"``)."""
    return blur.str.split(":").str[0]


def deblur_table(rows: pd.DataFrame, *, n_kernels: int, sigma: float) -> pd.DataFrame:
    """Chapter 03's table: one row per (test set, model), ``{family}_{metric}`` columns (mean over the
    test images and the bank kernels of each family; those with no value left out), the PSNR's 95 %
    interval over photos and runs (``{family}_psnr_lo_db`` / ``_hi_db``), ``n_images`` and ``n_runs``."""
    rows = rows.assign(family=family_of(rows.blur))
    means = metric_means(rows, ["test_set", "model", "family"])
    table = means.unstack("family")[[(m, f) for f in FAMILIES for m in means.columns]].dropna(axis=1, how="all")
    table.columns = [f"{family}_{metric}" + ("_db" if metric == "psnr" else "") for metric, family in table.columns]
    spread = intervals.mean_with_interval(rows, ["test_set", "model", "family"])
    bounds = spread.set_index(["test_set", "model", "family"])[["psnr_lo", "psnr_hi"]].unstack("family")
    bounds.columns = [f"{family}_psnr_{end.split('_')[1]}_db" for end, family in bounds.columns]
    runs = spread.groupby(["test_set", "model"]).n_runs.max()
    return (table.join(bounds).join(runs).reset_index()
            .assign(n_images=lambda t: t.test_set.map(images_per_test_set(rows)), n_kernels=n_kernels,
                    noise_sigma_255=sigma))


def in_distribution(rows: pd.DataFrame, own: Mapping[str, str], anchors: Iterable[str]) -> pd.DataFrame:
    """Chapter 03's first question, before the transfer: each blind network on its own kind of test images
    (``own``: arm -> test set, e.g. dead leaves for the dead-leaves arm), beside the non-blind ``anchors`` on
    the same images: per family, the PSNR gain over the blurred input with its interval
    (:func:`~rstor_core.measurement.intervals.gain_over_input_with_interval`; ``rows``: chapter 03's evaluation rows)."""
    parts = []
    for arm, test_set in own.items():
        chosen = rows[(rows.test_set == test_set) & rows.model.isin([arm, INPUT, *anchors])]
        gains = intervals.gain_over_input_with_interval(chosen.assign(family=family_of(chosen.blur)), ["family"])
        parts.append(gains.assign(network=arm, test_set=test_set))
    columns = ["network", "test_set", "model", "family", "psnr_gain", "psnr_gain_lo", "psnr_gain_hi", "n_images",
               "n_runs"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def family_gains(table: pd.DataFrame, test_set: str = "natural") -> pd.DataFrame:
    """PSNR gain over the blurred input (dB) per model and family, from :func:`deblur_table`."""
    psnr = table[table.test_set == test_set].set_index("model")[[f"{f}_psnr_db" for f in FAMILIES]]
    return gain_over_input(psnr.set_axis(list(FAMILIES), axis=1))


def losses(gains: pd.DataFrame) -> pd.DataFrame:
    """Where a method makes its input worse: (model, family, gain_db) for every negative gain."""
    long = gains.rename_axis(index="model", columns="family").stack().rename("gain_db").reset_index()
    return long[long.gain_db < 0].reset_index(drop=True)


def gain_by_photo(rows: pd.DataFrame) -> pd.DataFrame:
    """PSNR gain over the blurred input per (model, photo, family): mean over the family's kernels and the
    model's networks that saw none of the photo, each paired with the input it was given. Where a family's
    mean rests on one photo, this table shows it."""
    rows = rows.assign(family=family_of(rows.blur))
    keys = ["image", "blur"]
    inputs = rows[rows.model == INPUT].drop_duplicates(keys).set_index(keys).psnr
    networks = rows[rows.model != INPUT]
    gain = networks.psnr.to_numpy() - inputs.reindex(pd.MultiIndex.from_frame(networks[keys])).to_numpy()
    return (networks.assign(gain_db=gain).groupby(["model", "family", "image"], sort=False).gain_db.mean()
            .reset_index())


def gain_by_kernel(rows: pd.DataFrame) -> pd.DataFrame:
    """PSNR gain over the blurred input per bank kernel (mean over images), one column per method,
    with the kernel's RMS radius: chapter 03's "gain against radius" table."""
    per_kernel = rows.groupby(["model", "blur"]).psnr.mean().unstack("model")
    gains = per_kernel.sub(per_kernel[INPUT], axis=0).drop(columns=INPUT)
    radius = pd.Series(kernel_radius(bank_kernels(list(gains.index))).numpy(), index=gains.index, name="radius_px")
    return gains.join(radius)


def share_below_zero(gains: pd.DataFrame) -> pd.Series:
    """Per method column, the fraction of rows where it makes the input worse."""
    return gains.drop(columns=["radius_px"], errors="ignore").lt(0).mean()


def single_bank_table(rows: pd.DataFrame, *, n_kernels: int | None = None, test_set: str = "natural") -> pd.DataFrame:
    """One row per model on one bank (chapter 03's Gaussian pair) or on recorded blur (``n_kernels`` None: no
    such column): mean PSNR (dB), SSIM, ST-LPIPS (and LPIPS where measured), and each method's PSNR gain
    over the input paired per photo with its 95 % interval (``psnr_gain_db``, ``_lo_db``, ``_hi_db``; none
    for the input itself)."""
    gains = intervals.gain_over_input_with_interval(rows).set_index("model")
    shown = gains[["psnr_gain", "psnr_gain_lo", "psnr_gain_hi"]].set_axis(
        ["psnr_gain_db", "psnr_gain_lo_db", "psnr_gain_hi_db"], axis="columns")
    counts = {"n_images": rows.image.nunique(), **({"n_kernels": n_kernels} if n_kernels is not None else {})}
    return (metric_means(rows, ["model"]).rename(columns={"psnr": "psnr_db"}).reset_index()
            .assign(test_set=test_set, **counts).merge(shown, left_on="model", right_index=True, how="left"))


def cross_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Chapter 04's table: mean PSNR, SSIM and ST-LPIPS (and LPIPS where measured) per (sigma, test set, model),
    with the PSNR's 95 % interval over images and runs (``psnr_lo`` / ``psnr_hi``), ``n_images`` and ``n_runs``."""
    by = ["sigma_255", "test_set", "model"]
    spread = intervals.mean_with_interval(rows, by).set_index(by)[["psnr_lo", "psnr_hi", "n_runs"]]
    return (metric_means(rows, by).join(spread).sort_index().reset_index()
            .assign(n_images=lambda t: t.test_set.map(images_per_test_set(rows))))


def run_gains(rows: pd.DataFrame) -> pd.DataFrame:
    """Each network's (model, run) mean PSNR gain over the degraded input on the very photos and degradations
    it was tested on (dB), per ``sigma_255``: where one network of an arm fails (below its input) while the
    others do not, an arm's mean and its verdict rest on that one run, and the prose says so."""
    keys = ["test_set", "image", "degradation", "size_px"]
    inputs = rows[rows.model == INPUT].drop_duplicates(keys).set_index(keys).psnr
    networks = rows[rows.model != INPUT]
    gains = networks.psnr.to_numpy() - inputs.reindex(pd.MultiIndex.from_frame(networks[keys])).to_numpy()
    return (networks.assign(gain_db=gains).groupby(["model", "sigma_255", "run"], sort=False).gain_db.mean()
            .reset_index())


def weak_runs(gains: pd.DataFrame, share: float = 0.5) -> pd.DataFrame:
    """The networks of :func:`run_gains` that gain less than ``share`` of what their arm's median network gains
    (per model and ``sigma_255``), with that median (``arm_median_db``): the runs that failed where their
    arm's others did not, on which an arm's mean and verdict may rest."""
    median = gains.groupby(["model", "sigma_255"]).gain_db.transform("median")
    return gains.assign(arm_median_db=median)[(gains.gain_db < share * median) & (median > 0)].reset_index(drop=True)


def late_rise(curves: pd.DataFrame, *, last: float = 0.2) -> pd.DataFrame:
    """How much validation PSNR still rose over the last ``last`` of training, per experiment and run
    (``read_log`` rows with ``experiment`` and ``run`` columns): a network still improving when training
    stopped was stopped early, and the prose says so."""
    def rise(curve: pd.DataFrame) -> float:
        validated = curve.dropna(subset=["val_psnr"])
        end = validated.step.max()
        before = validated[validated.step <= end - last * curve.step.max()]
        return float(validated.val_psnr.iloc[-1] - before.val_psnr.iloc[-1]) if len(before) else float("nan")

    curves = curves if "run" in curves else curves.assign(run=0)
    return (curves.groupby(["experiment", "run"], sort=False).apply(rise, include_groups=False)
            .rename("val_psnr_rise_db").reset_index())


# --- chapter 05: what closes the gap -------------------------------------------------------------

def ablation_table(rows: pd.DataFrame, variants: Sequence[str], *, baseline: str, natural: str,
                   by: Sequence[str] = ("sigma_255",)) -> pd.DataFrame:
    """Per generator variant (and the natural-trained reference) and group of ``by``: its PSNR gain over
    the ``baseline`` variant (``gain`` with ``gain_lo`` / ``gain_hi`` and a verdict, dB) and the gap the
    natural-trained network still leads it by (``gap`` with its interval), both paired per photo
    (:func:`rstor_core.measurement.intervals.paired_difference`). The reference's gain is the whole gap; its gap to
    itself is empty (NaN), not a 0.00 [0.00, 0.00] that reads like a measurement."""
    table = []
    for variant in [v for v in variants if v != baseline] + [natural]:
        gain = intervals.paired_difference(rows, variant, baseline, by).set_index(list(by))
        frame = pd.DataFrame({"variant": variant, "gain": gain.psnr_diff, "gain_lo": gain.psnr_diff_lo,
                              "gain_hi": gain.psnr_diff_hi, "gain_verdict": gain.verdict, "gap": np.nan,
                              "gap_lo": np.nan, "gap_hi": np.nan, "n_images": gain.n_images, "n_runs": gain.n_runs_a})
        if variant != natural:  # the reference has no gap to itself
            gap = intervals.paired_difference(rows, natural, variant, by).set_index(list(by))
            frame[["gap", "gap_lo", "gap_hi"]] = gap[["psnr_diff", "psnr_diff_lo", "psnr_diff_hi"]].to_numpy()
        table.append(frame.reset_index())
    return pd.concat(table, ignore_index=True)


def ablation_ranking(ablation: pd.DataFrame, sigma: float, *, leave_out: Sequence[str]) -> pd.DataFrame:
    """The variants of :func:`ablation_table` at ``sigma``, largest gain first, indexed by variant, without
    ``leave_out`` (the baseline and the natural-trained reference: they are not candidates). Why a
    function: "the variant that closes most of the gap" is a claim the prose makes from this order."""
    rows = ablation.set_index(["variant", "sigma_255"])
    return rows.xs(sigma, level="sigma_255").drop(index=list(leave_out), errors="ignore").sort_values(
        "gain", ascending=False)


def paired_differences(rows: pd.DataFrame, pairs: Sequence[tuple[str, str]], by: Sequence[str]) -> pd.DataFrame:
    """:func:`~rstor_core.measurement.intervals.paired_difference` of each ``(a, b)`` of ``pairs`` per group
    of ``by``, stacked in the order of ``pairs``: a chapter's table of comparisons."""
    return pd.concat([intervals.paired_difference(rows, a, b, by) for a, b in pairs], ignore_index=True)


def arms_table(arms: Mapping[str, str], steps: Mapping[str, Sequence[int]], runs: int) -> pd.DataFrame:
    """One row per arm (``arms``: label -> experiment): its experiment, the training steps of its lineage
    (``steps``: label -> steps of each network it starts from, oldest first, then its own), their total and
    the networks per arm: what a reader needs to tell which arms had the same budget."""
    return pd.DataFrame([{"arm": label, "experiment": name, "steps": " + ".join(map(str, steps[label])),
                          "total_steps": sum(steps[label]), "runs": runs} for label, name in arms.items()])


# --- chapter 01: what its prose quotes (chapters 02-05's: readings) -----------------------------

def coverage_summary(coverage: pd.DataFrame) -> pd.DataFrame:
    """Means of :func:`coverage_table` per ``until_covered``: what covering changes, in two rows."""
    return coverage.groupby("until_covered")[["background_fraction", "visible_leaves"]].mean()


def coverage_facts(coverage: pd.DataFrame) -> dict[str, str]:
    """Mean bare share with a fixed leaf count and until covered, in percent, for the prose."""
    bare = coverage_summary(coverage).background_fraction
    return {"background_fixed": f"{bare.loc[False]:.2%}",
            "background_covered": f"{bare.loc[True]:.2%}"}


def radius_ks_facts(ks: pd.DataFrame) -> dict[str, float | str]:
    """Statistic, p-value and sample size of :func:`radius_ks_table`, as the prose quotes them."""
    return {"ks_stat": float(ks.ks_statistic[0]), "ks_pvalue": float(ks.ks_pvalue[0]),
            "n_radii": f"{int(ks.n_radii[0]):,}"}


SPECTRUM_SOURCES = ("dead leaves", "natural")  # the sources chapter 01 compares the spectra of


def spectra_by_source(leaves: Sequence[np.ndarray], photos: Mapping[str, np.ndarray]
                      ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """:func:`power_spectra` of each source, keyed as :func:`spectral_slope_table` reads them."""
    named = {f"{SPECTRUM_SOURCES[0]} {i}": image for i, image in enumerate(leaves)}
    return dict(zip(SPECTRUM_SOURCES, (power_spectra(named), power_spectra(photos))))


def spectral_slope_summary(slopes: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count of the slopes per source: the spread a mean slope alone hides."""
    return slopes.groupby("source")["slope"].agg(["mean", "std", "count"])


def spectral_slope_facts(slopes: pd.DataFrame) -> dict[str, float | str]:
    """Each source's mean slope and their Welch comparison, as chapter 01's prose quotes them."""
    leaves, natural = SPECTRUM_SOURCES
    means = spectral_slope_summary(slopes)["mean"]
    diff = spectral_slope_comparison(slopes, leaves, natural)
    interval = intervals.format_interval(diff["difference"], diff["lo"], diff["hi"], "")
    return {"slope_leaves": float(means.loc[leaves]), "slope_natural": float(means.loc[natural]),
            "slope_difference": interval, "slope_verdict": diff["verdict"],
            "slope_p": diff["p_value"]}
