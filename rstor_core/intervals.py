"""Means and paired differences with bootstrap intervals over photos and training runs (chapters 02-04).

A comparison of two arms is only as good as its uncertainty: the book's numbers average a handful of
test photos and three independently trained networks per arm, and photos differ far more than arms do.
Every function here takes evaluation rows (:func:`rstor_core.evaluate.evaluate`, with a ``run`` column)
and returns a DataFrame; :mod:`rstor_core.study` builds the chapters' tables on top of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from rstor_core.evaluate import INPUT
from rstor_core.rng import stream

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


def describe(row: Any, metric: str = "psnr_diff", unit: str = "dB") -> str:
    """One row of :func:`paired_difference` (or a gain) for prose: the value and its interval, followed by
    ", no measurable difference" when the interval holds 0, as the book's convention says."""
    mean, lo, hi = row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"]
    return format_interval(mean, lo, hi, unit) + (", no measurable difference" if lo <= 0 <= hi else "")


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
