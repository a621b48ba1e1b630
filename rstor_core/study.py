"""The analysis the chapters show, as pure table builders: arrays or DataFrames in, DataFrames out.

Each function is what a chapter's table is made of (the chapter only calls it, saves it and
plots it), so each is unit-tested in milliseconds instead of only through a chapter run.
Evaluation rows come from :func:`rstor_core.evaluate.evaluate` (one row per model, test set,
image, degradation and size); ``INPUT`` is the degraded input's model name. No table shows an
all-empty metric column (LPIPS where AlexNet's weights are missing): such columns are left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from rstor_core.configs import DeadLeavesConfig
from rstor_core.deadleaves import power_law_cdf
from rstor_core.degrade import BANK_SIZE, FAMILIES, KERNEL_SIZE, bank_kernels, kernel_radius
from rstor_core.evaluate import INPUT
from rstor_core.rng import stream
from rstor_core.spectrum import radial_power_spectrum, spectral_slope

METRICS = ("psnr", "ssim", "lpips", "st_lpips")  # evaluate's metric columns; LPIPS is NaN without AlexNet's weights
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
    with no value left out."""
    summary = metric_means(rows, ["model", "sigma_255"]).reset_index()
    table = (summary[summary.sigma_255.isin(sigmas)]
             .pivot(index="model", columns="sigma_255", values=list(summary.columns.intersection(METRICS)))
             .dropna(axis=1, how="all"))
    table.columns = [f"{metric}_sigma{sigma:g}" + ("_db" if metric == "psnr" else "")
                     for metric, sigma in table.columns]
    return table.reset_index().assign(n_images=rows.image.nunique())


def family_of(blur: pd.Series) -> pd.Series:
    """The bank of each blur address (``"big:3"`` -> ``"big"``)."""
    return blur.str.split(":").str[0]


def deblur_table(rows: pd.DataFrame, *, n_kernels: int, sigma: float) -> pd.DataFrame:
    """Chapter 03's table: one row per (test set, model), ``{family}_{metric}`` columns (mean over the
    test images and the bank kernels of each family; those with no value left out)."""
    means = metric_means(rows.assign(family=family_of(rows.blur)), ["test_set", "model", "family"])
    table = means.unstack("family")[[(m, f) for f in FAMILIES for m in means.columns]].dropna(axis=1, how="all")
    table.columns = [f"{family}_{metric}" + ("_db" if metric == "psnr" else "") for metric, family in table.columns]
    return table.reset_index().assign(n_images=lambda t: t.test_set.map(images_per_test_set(rows)),
                                      n_kernels=n_kernels, noise_sigma_255=sigma)


def family_gains(table: pd.DataFrame, test_set: str = "natural") -> pd.DataFrame:
    """PSNR gain over the blurred input (dB) per model and family, from :func:`deblur_table`."""
    psnr = table[table.test_set == test_set].set_index("model")[[f"{f}_psnr_db" for f in FAMILIES]]
    return gain_over_input(psnr.set_axis(list(FAMILIES), axis=1))


def losses(gains: pd.DataFrame) -> pd.DataFrame:
    """Where a method makes its input worse: (model, family, gain_db) for every negative gain."""
    long = gains.rename_axis(index="model", columns="family").stack().rename("gain_db").reset_index()
    return long[long.gain_db < 0].reset_index(drop=True)


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
    """Chapter 04's table: mean PSNR, SSIM and ST-LPIPS (and LPIPS where measured) per (sigma, test set, model)."""
    return (metric_means(rows, ["sigma_255", "test_set", "model"]).sort_index().reset_index()
            .assign(n_images=lambda t: t.test_set.map(images_per_test_set(rows))))


def cross_gaps(cross: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """PSNR of model ``second`` minus model ``first`` per (sigma, test set), from :func:`cross_table`."""
    psnr = cross.pivot_table(index=["sigma_255", "test_set"], columns="model", values="psnr")
    return (psnr[second] - psnr[first]).rename("gap_db").reset_index()


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


# --- uncertainty: means and paired differences with bootstrap intervals (chapters 02-04) ---------------

RUN = "run"  # which of an arm's independently trained networks produced a row; NaN or absent: a single one


def mean_with_interval(rows: pd.DataFrame, by: Sequence[str], metric: str = "psnr", *, n_boot: int = 2000,
                       seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Mean of ``metric`` per group of ``by`` (normally ``model`` among them) with its bootstrap interval
    (``{metric}_lo``, ``{metric}_hi``), ``n_images`` and ``n_runs`` (the networks behind the group).

    Rows are first averaged per (photo, run) (a photo: test set and image; degradations and sizes of the
    group fall together), then per photo over its runs, then over photos, so each photo weighs the same
    whether one or three networks tested it. The interval resamples what the claim generalises over:
    photos (clusters, with replacement) and, independently, the arm's networks (run ids, with replacement;
    a photo none of whose networks is drawn keeps them all). Fewer than 2 photos: no interval (NaN).
    See :func:`_bounds` for the small-sample widening.
    """
    table = []
    for key, gen, (cells,) in _cell_groups(rows, by, metric, seed, n_boot):
        estimate = float(np.mean(_photo_means(cells)))
        table.append({**key, metric: estimate,
                      **_named_bounds(metric, _replicates(cells, gen, n_boot), estimate, len(cells), level),
                      "n_images": len(cells), "n_runs": _n_runs(cells)})
    return pd.DataFrame(table)


def paired_difference(rows: pd.DataFrame, a: str, b: str, by: Sequence[str] = (), metric: str = "psnr", *,
                      n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Model ``a`` minus model ``b`` in ``metric``, per group of ``by`` (without ``model``), paired per photo:
    ``{metric}_diff`` with its bootstrap interval, ``n_images`` (photos both arms measured), ``n_runs_a``,
    ``n_runs_b``, ``measurable`` (the interval excludes 0) and ``verdict`` ("no measurable difference",
    "<a> higher" or "<b> higher").

    Pairing rule, per photo: where both arms have the same runs on it, run r of a meets run r of b (the
    arms share seeds; the pair is resampled as one); otherwise, e.g. where b has one network per photo
    (the natural arm's fold network, the input, a classical method), every run of a meets all of b's
    networks on that photo, i.e. the photo's difference is a's mean over its runs minus b's. Then photos
    are averaged and resampled as in :func:`mean_with_interval`, each arm's runs resampled on their own.
    Why pair: photos differ far more than arms do (several dB against a fraction), so comparing two
    unpaired means buries the difference under the photo-to-photo spread; a per-photo difference cancels it.
    """
    if "model" in by:
        raise ValueError(f"by={list(by)!r} includes 'model': the two arms are the models a and b; drop it")
    for model in (a, b):
        if model not in set(rows.model):
            raise ValueError(f"model {model!r} has no row; models in rows: {sorted(set(rows.model))}")
    table = []
    for key, gen, (cells_a, cells_b) in _cell_groups(rows, by, metric, seed, n_boot, models=(a, b)):
        photos = len(cells_a)
        estimate = float(np.mean(_photo_means(cells_a) - _photo_means(cells_b)))
        bounds = _named_bounds(f"{metric}_diff", _paired_replicates(cells_a, cells_b, gen, n_boot), estimate,
                               photos, level)
        lo, hi = bounds[f"{metric}_diff_lo"], bounds[f"{metric}_diff_hi"]
        verdict = (f"{a} higher" if lo > 0 else f"{b} higher" if hi < 0 else
                   "no measurable difference" if lo <= 0 <= hi else "one photo: no interval")
        table.append({"a": a, "b": b, **key, f"{metric}_diff": estimate, **bounds, "n_images": photos,
                      "n_runs_a": _n_runs(cells_a), "n_runs_b": _n_runs(cells_b), "measurable": lo > 0 or hi < 0,
                      "verdict": verdict})
    return pd.DataFrame(table)


def gain_over_input_with_interval(rows: pd.DataFrame, by: Sequence[str] = (), metric: str = "psnr", *,
                                  n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Each method's gain over the degraded input (:data:`INPUT`), paired per photo as in
    :func:`paired_difference`: ``model``, ``{metric}_gain`` with ``_lo`` / ``_hi``, ``n_images``, ``n_runs``,
    ``measurable`` and ``verdict``. What a method adds over doing nothing, with its uncertainty."""
    gains = [paired_difference(rows, model, INPUT, by, metric, n_boot=n_boot, seed=seed, level=level)
             for model in rows.model.unique() if model != INPUT]
    return (pd.concat(gains, ignore_index=True)
            .rename(columns=lambda c: c.replace(f"{metric}_diff", f"{metric}_gain"))
            .rename(columns={"a": "model", "n_runs_a": "n_runs"}).drop(columns=["b", "n_runs_b"]))


def format_interval(mean: float, lo: float, hi: float, unit: str = "dB", *, digits: int = 2, level: float = 0.95,
                    signed: bool = True) -> str:
    """A value and its interval for prose: ``"+1.23 dB (95 % CI +0.80 to +1.60)"`` (``signed``: differences
    and gains carry their sign)."""
    spec = f"{'+' if signed else ''}.{digits}f"
    unit = f" {unit}" if unit else ""
    if np.isnan(lo) or np.isnan(hi):
        return f"{mean:{spec}}{unit} (one photo: no interval)"
    return f"{mean:{spec}}{unit} ({100 * level:g} % CI {lo:{spec}} to {hi:{spec}})"


def _cell_groups(rows: pd.DataFrame, by: Sequence[str], metric: str, seed: int, n_boot: int,
                 models: Sequence[str | None] = (None,)) -> Iterator[tuple[dict, np.random.Generator, list]]:
    """Per group of ``by`` (in order of appearance): the key as a dict, the group's own named stream (so its
    interval does not change when other groups are added), and per model of ``models`` (None: every row)
    its cells: the mean of ``metric`` per photo (row; a photo is a test set and image) and run (column), NaN
    where that run did not test that photo. Only photos every model measured are kept; a group where
    none is left is skipped (BM3D has no row on blurred inputs: nothing to pair)."""
    missing = [c for c in [*by, metric, "image"] if c not in rows]
    if missing:
        raise ValueError(f"column(s) {missing} missing from the rows; columns: {list(rows.columns)}")
    if not rows[metric].notna().any():
        raise ValueError(f"metric {metric!r} has no value in the rows (NaN throughout): pick a measured metric")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer (bootstrap replicates), got {n_boot!r}")
    rows = rows[rows[metric].notna()]
    photo = rows.groupby([c for c in ("test_set", "image") if c in rows], sort=False).ngroup().to_numpy()
    run = pd.factorize(rows[RUN].fillna(0).astype(int) if RUN in rows else np.zeros(len(rows), int))[0]
    group = (rows.groupby(list(by), sort=False, dropna=False).ngroup().to_numpy() if by
             else np.zeros(len(rows), int))
    keys = rows[list(by)].drop_duplicates().itertuples(index=False, name=None)
    shape = (photo.max() + 1, run.max() + 1)
    values, model = rows[metric].to_numpy(float), rows.model.to_numpy() if "model" in rows else None
    for code, key in enumerate(keys):
        cells = []
        for name in models:
            mine = (group == code) & (True if name is None else model == name)
            flat = np.ravel_multi_index((photo[mine], run[mine]), shape)
            sums, counts = (np.bincount(flat, weights=w, minlength=shape[0] * shape[1]).reshape(shape)
                            for w in (values[mine], None))
            cells.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
        measured = np.all([~np.isnan(c).all(1) for c in cells], axis=0)
        if measured.any():
            yield dict(zip(by, key)), stream(seed, "bootstrap", *map(str, key)), [c[measured] for c in cells]


def _n_runs(cells: np.ndarray) -> int:
    return int((~np.isnan(cells)).any(0).sum())


def _photo_means(cells: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Each photo's mean over its runs, (photos,); with run ``weights`` (B, runs): (B, photos), a photo whose
    runs all have weight 0 keeping the plain mean over them."""
    measured = (~np.isnan(cells)).astype(float)
    values = np.nan_to_num(cells)
    plain = values.sum(1) / measured.sum(1)
    if weights is None:
        return plain
    total = weights @ measured.T
    return np.where(total > 0, (weights @ values.T) / np.maximum(total, 1), plain)


def _run_weights(cells: np.ndarray, gen: np.random.Generator, n_boot: int) -> np.ndarray:
    """How often each of the arm's runs is drawn in each replicate, (n_boot, runs); 0 for ids it lacks."""
    present = (~np.isnan(cells)).any(0)
    k = int(present.sum())
    weights = np.zeros((n_boot, len(present)))
    weights[:, present] = gen.multinomial(k, np.full(k, 1 / k), size=n_boot)
    return weights


def _resampled_photo_mean(photo_means: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Mean over photos drawn with replacement, one per replicate: ``photo_means`` (B, photos) -> (B,)."""
    n_boot, n_photos = photo_means.shape
    draws = gen.multinomial(n_photos, np.full(n_photos, 1 / n_photos), size=n_boot)
    return (draws * photo_means).sum(1) / n_photos


def _replicates(cells: np.ndarray, gen: np.random.Generator, n_boot: int) -> np.ndarray:
    return _resampled_photo_mean(_photo_means(cells, _run_weights(cells, gen, n_boot)), gen)


def _paired_replicates(cells_a: np.ndarray, cells_b: np.ndarray, gen: np.random.Generator,
                       n_boot: int) -> np.ndarray:
    """Bootstrap replicates of the paired difference (rule in :func:`paired_difference`): on a photo where the
    arms have the same runs, b's runs take a's weights (run r meets run r); elsewhere b's own."""
    weights_a, weights_b = _run_weights(cells_a, gen, n_boot), _run_weights(cells_b, gen, n_boot)
    same_runs = (np.isnan(cells_a) == np.isnan(cells_b)).all(1)
    b_means = np.where(same_runs, _photo_means(cells_b, weights_a), _photo_means(cells_b, weights_b))
    return _resampled_photo_mean(_photo_means(cells_a, weights_a) - b_means, gen)


def _bounds(replicates: np.ndarray, estimate: float, n_photos: int, level: float) -> tuple[float, float]:
    """The percentile interval of ``replicates``, widened about ``estimate`` by sqrt(n / (n - 1)) t_{n-1} / z.

    Why widen: the plain percentile bootstrap of a mean of n clusters is too narrow for small n (its spread
    is the plug-in one, biased by (n - 1) / n, and it uses normal rather than t quantiles): it covers only
    about 85 % of the time at 5 photos. This is Hesterberg's (2015, "What teachers should know about the
    bootstrap") expanded percentile interval, applied as a stretch so that it needs no extreme quantiles.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    if n_photos < 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    lo, hi = np.quantile(replicates, [tail, 1 - tail])
    stretch = (np.sqrt(n_photos / (n_photos - 1)) * scipy.stats.t.ppf(1 - tail, n_photos - 1)
               / scipy.stats.norm.ppf(1 - tail))
    return float(estimate - stretch * (estimate - lo)), float(estimate + stretch * (hi - estimate))


def _named_bounds(name: str, replicates: np.ndarray, estimate: float, n_photos: int, level: float) -> dict:
    lo, hi = _bounds(replicates, estimate, n_photos, level)
    return {f"{name}_lo": lo, f"{name}_hi": hi}
