"""The analysis the chapters show, as pure table builders: arrays or DataFrames in, DataFrames out.

Each function is what a chapter's table is made of (the chapter only calls it, saves it and
plots it), so each is unit-tested in milliseconds instead of only through a chapter run.
Evaluation rows come from :func:`rstor_core.networks.evaluate.evaluate` (one row per model, test set,
image, degradation and size); ``INPUT`` is the degraded input's model name. No table shows an
all-empty metric column (LPIPS where AlexNet's weights are missing): such columns are left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from rstor_core.degradation.degrade import BANK_SIZE, FAMILIES, KERNEL_SIZE, bank_kernels, kernel_radius
from rstor_core.images.leaf_sampling import power_law_cdf
from rstor_core.images.spectrum import radial_power_spectrum, spectral_slope
from rstor_core.measurement import intervals
from rstor_core.measurement.rows import INPUT, METRICS
from rstor_core.settings.configs import DeadLeavesConfig

PUBLISHED_FILE = Path(__file__).with_name("published_results.csv")
PUBLISHED_SOURCE = "published (DIV2K validation)"


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


LEARNED_DB = 1.0  # a blind network that gains less than this over the blurred input on every family has not learned to deblur


def best_blind_gain(gain: pd.DataFrame, arms: Sequence[str]) -> float:
    """The largest gain over the blurred input (dB) of the blind ``arms`` on any family (``gain``:
    :func:`family_gains`): below :data:`LEARNED_DB`, none of them has learned to deblur."""
    return float(gain.loc[[arm for arm in arms if arm in gain.index]].to_numpy().max())


def deblurring_reading(gain: pd.DataFrame, arms: Sequence[str]) -> dict[str, str]:
    """What chapter 03 may say of its networks' gap (``gain``: :func:`family_gains`, dB over the blurred
    input, one row per model): a comparison of networks that have not learned to deblur when no blind arm
    gains :data:`LEARNED_DB` on any family, else a pointer to read the gaps family by family."""
    best = best_blind_gain(gain, arms)
    if best < LEARNED_DB:
        return {"deblur_reading": f"Ours cannot say why: at this scale neither blind network gains more than "
                                  f"{best:+.2f} dB over the blurred input on any family, against several dB for "
                                  "Richardson–Lucy told the kernel, so our gaps compare networks that have not "
                                  "learned to deblur, and say nothing of whether the dead-leaves network keeps "
                                  "deblurring when the blur is big."}
    return {"deblur_reading": f"The best blind network gains {best:+.2f} dB over the blurred input on some family: "
                              "read our gaps family by family, next to each arm's gain."}


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


def in_distribution_reading(table: pd.DataFrame, names: Mapping[str, str]) -> dict[str, str]:
    """What chapter 03 says of :func:`in_distribution` (``names``: arm -> glue suffix): per arm, its gains per
    family on its own images next to the anchors' (``own_<suffix>``), and ``own_reading``: whether any
    network gains :data:`LEARNED_DB` on its own kind of images, the least a network that learned to
    deblur shows where it trained."""
    said, learned = {}, []
    for arm, name in names.items():
        mine = table[table.network == arm]
        if mine.empty:
            continue
        gains = mine.pivot(index="model", columns="family", values="psnr_gain").reindex(columns=list(FAMILIES))
        own = gains.loc[arm]
        others = "; ".join(f"{model} {' / '.join(f'{v:+.2f}' for v in gains.loc[model])}"
                           for model in gains.index if model != arm)
        said[f"own_{name}"] = (f"{' / '.join(f'{v:+.2f}' for v in own)} dB on small / mild / big blur "
                               f"({mine.test_set.iloc[0]} images; {others or 'no anchor'})")
        families = [family for family, value in own.items() if value >= LEARNED_DB]
        if families:
            learned.append(f"the network trained on {arm} gains at least {LEARNED_DB:g} dB on {_listed(families)} blur")
    if learned:
        said["own_reading"] = (f"On its own kind of images, {'; '.join(learned)}: there it has learned something of "
                               "the task (still far below Richardson–Lucy told the kernel); the transfer question "
                               "follows.")
    else:
        said["own_reading"] = (f"No network gains {LEARNED_DB:g} dB on any family even on its own kind of images: "
                               "at this scale neither has learned to deblur what it trained on, so the transfer "
                               "question below compares networks that have not learned the task.")
    return said


def _listed(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c": a list for prose."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else list(items))


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


def photo_extremes(by_photo: pd.DataFrame, names: Mapping[str, str]) -> dict[str, str]:
    """Per model of ``names`` (model -> glue suffix), ``photos_<suffix>``: on each family, its worst photo's
    gain and the range over the others (:func:`gain_by_photo`), e.g. "small: chelsea -4.47 (others -0.67
    to -0.01)"."""
    said = {}
    for model, name in names.items():
        mine = by_photo[by_photo.model == model]
        parts = []
        for family in FAMILIES:
            gains = mine[mine.family == family].set_index("image").gain_db.sort_values()
            if gains.empty:
                continue
            others = gains.iloc[1:]
            rest = f" (others {others.min():+.2f} to {others.max():+.2f})" if len(others) else ""
            parts.append(f"{family}: {gains.index[0]} {gains.iloc[0]:+.2f}{rest}")
        if parts:
            said[f"photos_{name}"] = "; ".join(parts)
    return said


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


def single_bank_table(rows: pd.DataFrame, *, n_kernels: int, test_set: str = "natural") -> pd.DataFrame:
    """One row per model on one bank (chapter 03's Gaussian pair): mean PSNR (dB), SSIM, ST-LPIPS (and
    LPIPS where measured)."""
    return (metric_means(rows, ["model"]).rename(columns={"psnr": "psnr_db"}).reset_index()
            .assign(test_set=test_set, n_images=rows.image.nunique(), n_kernels=n_kernels))


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


def glue_values(table: pd.DataFrame, names: Mapping[str, str]) -> dict[str, float]:
    """The prose's numbers from a table: ``{f"{names[row]}_{column}": value}`` for each row ``names`` names."""
    return {f"{names[row]}_{column}": float(table.loc[row, column]) for row in table.index if row in names
            for column in table.columns}


def convergence(curves: pd.DataFrame, *, flat_db: float = 0.05) -> dict[str, float | str]:
    """What the prose says of :func:`late_rise`: its range over the networks (``rise_min``, ``rise_max``) and
    whether they had levelled off (no network rose more than ``flat_db``) or were stopped early (``converged``)."""
    rise = late_rise(curves).val_psnr_rise_db
    return {"rise_min": float(rise.min()), "rise_max": float(rise.max()),
            "converged": "the networks stopped before they converged" if rise.max() > flat_db else "they had levelled off"}


def config_changes(base: Any, other: Any) -> str:
    """What ``other`` (an :class:`~rstor_core.settings.configs.ExperimentConfig`) trains differently from ``base``,
    as ``field: value`` pairs (nested fields dotted): the recipe table's "change" column, read off the
    configs so it cannot disagree with what ran. Fields that only say how a run executes (``compare=False``)
    and which steps it keeps (``snapshots``) are left out."""
    def flat(config: Any, prefix: str = "") -> dict[str, Any]:
        values = {}
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if not f.compare or f.name == "snapshots":
                continue
            if dataclasses.is_dataclass(value):
                values.update(flat(value, f"{prefix}{f.name}."))
            else:
                values[f"{prefix}{f.name}"] = value
        return values

    before, after = flat(base), flat(other)
    changed = [f"{key}: {_short(after[key])}" for key in after if before.get(key) != after[key]]
    return "; ".join(changed) or "(the baseline)"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def training_minutes(log: pd.DataFrame, batch_size: int) -> float:
    """Wall minutes of a run from its ``log.csv`` (each row's step took ``batch_size / img_per_s`` s,
    compilation included): what the recipe table charges each trial."""
    return float((batch_size / log.img_per_s).sum() / 60)


def recipe_table(trials: Mapping[str, tuple[Any, pd.DataFrame]], gains: pd.DataFrame, *, baseline: Any,
                 input_psnr: Mapping[str, float], selection: pd.DataFrame) -> pd.DataFrame:
    """One row per recipe trial (chapter 03): what it changes against the ``baseline`` config, its steps and
    wall minutes from its log, its last validation PSNR as a gain over its blurred validation inputs
    (``input_psnr``), its gains per family on the selection images (``selection``: one row per trial, one
    column per family, dB; what the recipe is chosen on) and on the test photos (``gains``, alike; shown
    after the choice, never read by it). Negative results stay in; no trial, no row."""
    missing = sorted(set(trials) - set(gains.index) | set(trials) - set(selection.index))
    if missing:
        raise ValueError(f"recipe table: every trial needs selection and test gains (missing: {missing})")
    rows = []
    for name, (config, log) in trials.items():
        validated = log.dropna(subset=["val_psnr"])
        rows.append({"trial": name, "data": config.data, "change": config_changes(baseline, config),
                     "steps": int(log.step.max()), "minutes": training_minutes(log, config.batch_size),
                     "val_gain_db": float(validated.val_psnr.iloc[-1] - input_psnr[name]),
                     **{f"selection_{family}_gain_db": float(selection.loc[name, family]) for family in FAMILIES},
                     **{f"{family}_gain_db": float(gains.loc[name, family]) for family in FAMILIES}})
    return pd.DataFrame(rows, columns=["trial", "data", "change", "steps", "minutes", "val_gain_db",
                                       *(f"selection_{family}_gain_db" for family in FAMILIES),
                                       *(f"{family}_gain_db" for family in FAMILIES)])


def chosen_recipe(table: pd.DataFrame, data: str) -> str | None:
    """The trial chapter 03's rule picks among the ``data`` trials of :func:`recipe_table`, on the selection
    images only: the largest gain on big blur among those that do no harm on mild blur (None: no such
    trial). Test-photo columns are never read."""
    trials = table[(table.data == data) & (table.selection_mild_gain_db >= 0)]
    return None if trials.empty else str(trials.loc[trials.selection_big_gain_db.idxmax(), "trial"])


def gains_by_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR gain over the blurred input (dB) per model (rows) and family (columns) of
    :func:`~rstor_core.networks.evaluate.evaluate` rows on the motion banks: the recipe table's test columns."""
    means = metric_means(rows.assign(family=family_of(rows.blur)), ["model", "family"], ["psnr"]).psnr
    return gain_over_input(means.unstack("family").reindex(columns=list(FAMILIES)))


def run_spread(rows: pd.DataFrame, model: str) -> pd.Series:
    """Per family, how far apart the gains over the input of ``model``'s networks (its runs) lie: the
    largest minus the smallest, dB. What one network per trial cannot resolve."""
    networks = rows[rows.model == model]
    per_run = gains_by_family(pd.concat([rows[rows.model == INPUT],
                                         networks.assign(model=model + " run " + networks.run.astype(str))]))
    return per_run.max() - per_run.min()


def scaling_table(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]],
                  minutes_per_step: Mapping[str, float]) -> pd.DataFrame:
    """Chapter 03's compute scaling: per arm, training steps and family, the PSNR gain over the blurred
    input with its 95 % interval (paired per photo, over photos, networks and kernels). ``rows``' models are
    the keys of ``budgets`` (``{model: (arm, steps)}``: an arm's networks at some step) and the input;
    ``minutes_per_step``: each arm's wall minutes per step on this machine (``minutes`` column)."""
    gains = intervals.gain_over_input_with_interval(rows.assign(family=family_of(rows.blur)), ["family"])
    gains = gains[gains.model.isin(list(budgets))]
    arm, steps = (gains.model.map(lambda m, i=i: budgets[m][i]) for i in (0, 1))
    return (gains.assign(arm=arm, steps=steps, minutes=steps * arm.map(minutes_per_step))
            .rename(columns={"psnr_gain": "gain_db", "psnr_gain_lo": "gain_lo_db", "psnr_gain_hi": "gain_hi_db"})
            [["arm", "steps", "minutes", "family", "gain_db", "gain_lo_db", "gain_hi_db", "n_images", "n_runs"]]
            .sort_values(["arm", "family", "steps"], key=lambda c: c.map(list(FAMILIES).index) if c.name == "family"
                         else c).reset_index(drop=True))


def steps_to_reach(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]], target_db: float,
                   family: str = "big", level: float = 0.95) -> pd.DataFrame:
    """Per arm, a straight line through each network's mean gain over the blurred input on ``family``
    against log2(steps) (``rows`` and ``budgets`` as :func:`scaling_table`'s): the gain per doubling of
    the steps (the mean of the networks' slopes, ``_lo`` / ``_hi``: a t interval over them) and the steps at
    which the arm's mean line reaches ``target_db``, an extrapolation beyond the largest budget measured,
    with the range the slope's interval gives (``steps_lo`` / ``steps_hi``, inf where the slope may be 0:
    then ``estimable`` is False). Why per network: the four budgets are snapshots of the same networks, so
    the points of one line are not independent; the networks are."""
    rows = rows.assign(family=family_of(rows.blur))
    rows = rows[rows.family == family]
    keys = [c for c in ("test_set", "image") if c in rows]
    inputs = rows[rows.model == INPUT].groupby(keys).psnr.mean()
    gains = []
    for model, (arm, steps) in budgets.items():
        mine = rows[rows.model == model].assign(run=lambda f: f[intervals.RUN].fillna(0) if intervals.RUN in f else 0)
        photo = mine.groupby(["run", *keys]).psnr.mean()
        gain = (photo - inputs.reindex(photo.index.droplevel("run")).to_numpy()).groupby(level="run").mean()
        gains += [{"arm": arm, "steps": steps, "run": run, "gain": value} for run, value in gain.items()]
    table = []
    for arm, points in pd.DataFrame(gains).groupby("arm", sort=False):
        slopes = np.array([np.polyfit(np.log2(one.steps.to_numpy(float)), one.gain, 1)[0]
                           for _, one in points.groupby("run") if one.steps.nunique() > 1])
        slope = float(slopes.mean()) if len(slopes) else float("nan")
        lo, hi = (scipy.stats.t.interval(level, len(slopes) - 1, loc=slope, scale=scipy.stats.sem(slopes))
                  if len(slopes) > 1 else (float("nan"), float("nan")))
        centre = (float(np.log2(points.steps.to_numpy(float)).mean()), float(points.gain.mean()))

        def reach(per_doubling: float) -> float:  # the line through the mean point with this slope
            return float(2 ** (centre[0] + (target_db - centre[1]) / per_doubling)) if per_doubling > 0 else np.inf

        most = float(points.steps.max())
        steps = reach(slope) if slope > 0 else float("nan")
        table.append({"arm": arm, "family": family, "gain_per_doubling_db": slope, "gain_per_doubling_lo_db": lo,
                      "gain_per_doubling_hi_db": hi, "n_runs": len(slopes), "target_db": target_db,
                      "steps_to_target": steps, "steps_lo": reach(hi), "steps_hi": reach(lo),
                      "times_largest_budget": steps / most, "largest_budget": most, "estimable": bool(lo > 0)})
    return pd.DataFrame(table)


def scaling_gaps(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]], *, first: str,
                 second: str) -> pd.DataFrame:
    """Arm ``first`` minus arm ``second`` at each number of steps both reach, per family, paired per photo
    with its interval (:func:`~rstor_core.measurement.intervals.paired_difference`): whether one arm catches up as
    compute grows. ``rows`` and ``budgets`` as :func:`scaling_table`'s."""
    rows = rows.assign(family=family_of(rows.blur))
    model_at = {(arm, steps): model for model, (arm, steps) in budgets.items()}
    gaps = [intervals.paired_difference(rows, model_at[first, steps], model_at[second, steps], ["family"])
            .assign(steps=steps) for steps in sorted({s for _, s in budgets.values()})
            if (first, steps) in model_at and (second, steps) in model_at]
    return pd.concat(gaps, ignore_index=True)


def extrapolated_budget(reach: Any) -> str:
    """A row of :func:`steps_to_reach` in words, for the prose (which gives the slope), rounded to what a line
    through a few points supports: one significant figure."""
    if not reach.estimable:
        return (f"no estimable budget (its slope's 95 % interval, {reach.gain_per_doubling_lo_db:+.2f} to "
                f"{reach.gain_per_doubling_hi_db:+.2f} dB per doubling, holds 0)")
    if reach.steps_hi <= reach.largest_budget:
        return f"at most {_about(reach.steps_hi)} steps, within the budgets measured"
    return (f"between {_about(reach.steps_lo)} and {_about(reach.steps_hi)} steps, about "
            f"{_about(reach.times_largest_budget)} times the networks' {int(reach.largest_budget):,}")


def _about(value: float) -> str:
    """``value`` to one significant figure, in words past a thousand: 2,464,592 -> "2 million"."""
    if not np.isfinite(value):
        return "unbounded"
    rounded = float(f"{value:.1g}")
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if rounded >= size:
            return f"{rounded / size:g} {word}"
    return f"{rounded:g}"


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


# --- the published study ---------------------------------------------------------------------------

def published_results(task: str) -> pd.DataFrame:
    """The original study's numbers for ``task`` ("denoise" or "deblur"), from the cited CSV."""
    table = pd.read_csv(PUBLISHED_FILE, comment="#")
    if task not in set(table.task):
        raise ValueError(f"no published results for task {task!r}; known: {sorted(set(table.task))}")
    return table[table.task == task].drop(columns="task").reset_index(drop=True).assign(source=PUBLISHED_SOURCE)


def denoise_comparison(summary: pd.DataFrame, *, dead_leaves: str, natural: str, source: str) -> pd.DataFrame:
    """Published and our PSNR (dB) of the dead-leaves-trained and natural-trained denoisers at the
    published sigmas, and the gap between them. ``summary``: mean PSNR per (model, sigma_255)."""
    published = published_results("denoise").pivot(index="sigma_255", columns="model", values="psnr_db")
    ours = summary[summary.sigma_255.isin(published.index)].pivot(index="sigma_255", columns="model", values="psnr")
    frames = [pd.DataFrame({"source": name, "sigma_255": table.index.astype(float),
                            "dead_leaves_db": table[dl].values, "natural_db": table[nat].values})
              for name, table, dl, nat in ((PUBLISHED_SOURCE, published, "dead leaves", "natural"),
                                           (source, ours, dead_leaves, natural))]
    comparison = pd.concat(frames, ignore_index=True)
    return comparison.assign(gap_db=comparison.natural_db - comparison.dead_leaves_db)


def deblur_comparison(rows: pd.DataFrame, models: Sequence[str], *, source: str) -> pd.DataFrame:
    """Published and our PSNR / SSIM / LPIPS / ST-LPIPS per family of the dead-leaves-trained and
    natural-trained deblurring networks (and our blurred input). ``rows``: evaluation rows of one test set.
    The published study reports LPIPS, not ST-LPIPS: each source leaves the other's column empty, and a
    column empty for both is left out."""
    ours = (metric_means(rows.assign(family=family_of(rows.blur)), ["model", "family"]).reset_index()
            .rename(columns={"psnr": "psnr_db"}))
    ours = ours[ours.model.isin([*models, INPUT])].assign(source=source)
    published = published_results("deblur")
    columns = ["source", "model", "family", "psnr_db", "ssim", "lpips", "st_lpips"]
    return (pd.concat([published.reindex(columns=columns), ours.reindex(columns=columns)], ignore_index=True)
            .dropna(axis=1, how="all"))


def deblur_gaps(comparison: pd.DataFrame, *, dead_leaves: str, natural: str) -> pd.DataFrame:
    """Natural-trained minus dead-leaves-trained PSNR (dB) per source and family."""
    psnr = comparison.pivot_table(index=["source", "family"], columns="model", values="psnr_db")
    gaps = (psnr[natural] - psnr[dead_leaves]).unstack("family")
    return gaps[list(FAMILIES)]


def published_disagreement(agreement: pd.DataFrame, key: str = "family") -> dict[str, str]:
    """The sentence saying where the book disagrees with the study it rebuilds (``agreement``:
    :func:`published_agreement` rows): every ``key`` value whose published gap lies outside our interval."""
    outside = agreement[agreement.verdict.isin(["above our interval", "below our interval"])]
    if outside.empty:
        return {"published_disagreement": "the published gap lies inside our interval everywhere it is compared."}
    where = "; ".join(f"{verdict} on {_listed([str(v) for v in rows[key]])}"
                      for verdict, rows in outside.groupby("verdict", sort=False))
    return {"published_disagreement": f"the published gap lies {where}: there this book disagrees with the study it "
                                      "rebuilds, at its own (much smaller) scale."}


def published_deblur_agreement(comparison: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """:func:`published_agreement` of the published deblurring gap (natural minus dead leaves per family, from
    :func:`deblur_comparison`'s rows, models named ``"natural"`` and ``"dead leaves"``) with ``ours``."""
    published = deblur_gaps(comparison, dead_leaves="dead leaves", natural="natural").loc[PUBLISHED_SOURCE]
    return published_agreement(published, ours, "family")


def published_agreement(published: pd.Series, ours: pd.DataFrame, key: str) -> pd.DataFrame:
    """Does each published gap (``published``, indexed by ``key`` values: sigmas or families) fall inside our
    interval for the same gap (rows of :func:`rstor_core.measurement.intervals.paired_difference` with a ``key`` column)?
    One row per key both have: ``published_gap_db``, ``ours_gap_db`` with ``ours_gap_lo_db`` / ``_hi_db``,
    ``agrees`` and ``verdict``.
    Why: "agreement with the published study" is claimed only where our interval supports it."""
    ours = ours.set_index(key)
    keys = [k for k in ours.index if k in published.index]
    lo, hi = ours.psnr_diff_lo[keys].to_numpy(float), ours.psnr_diff_hi[keys].to_numpy(float)
    value = published[keys].to_numpy(float)
    verdict = np.where(np.isnan(lo) | np.isnan(hi), "not comparable: one photo, no interval",
                       np.where(value > hi, "above our interval",
                                np.where(value < lo, "below our interval", "inside our interval")))
    return pd.DataFrame({key: keys, "published_gap_db": value, "ours_gap_db": ours.psnr_diff[keys].to_numpy(float),
                         "ours_gap_lo_db": lo, "ours_gap_hi_db": hi, "agrees": verdict == "inside our interval",
                         "verdict": verdict})
