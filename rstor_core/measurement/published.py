"""The study this book rebuilds, next to ours: its published numbers (a cited CSV read off its figures) and
whether each published gap lies inside our interval for the same gap.

Why a module of its own: the published numbers are data with a provenance, and "agreement with the
published study" is a claim the book makes only where our paired interval supports it
(:func:`published_agreement`), in chapters 02 and 03 and on the landing page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement.readings import listed
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.study import family_of, metric_means

PUBLISHED_FILE = Path(__file__).with_name("published_results.csv")
PUBLISHED_SOURCE = "published (DIV2K validation)"


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
    where = "; ".join(f"{verdict} on {listed([str(v) for v in rows[key]])}"
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


def published_denoise_agreement(comparison: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """:func:`published_agreement` of the published denoising gap (natural minus dead leaves per ``sigma_255``,
    :func:`denoise_comparison`'s ``gap_db``) with ``ours`` (paired differences of the same two arms)."""
    published = comparison[comparison.source == PUBLISHED_SOURCE].set_index("sigma_255")
    return published_agreement(published.gap_db, ours, "sigma_255")


def denoise_agreement_reading(comparison: pd.DataFrame, agreement: pd.DataFrame) -> dict[str, object]:
    """What chapter 02 says of the published study: each published arm's PSNR and gap per σ
    (``published_<arm>_<σ>``, ``published_gap_<σ>``; ``comparison``: :func:`denoise_comparison`) and whether
    it lies inside our interval (``agreement_<σ>``; ``agreement``: :func:`published_denoise_agreement`)."""
    published = comparison[comparison.source == PUBLISHED_SOURCE].set_index("sigma_255")
    verdicts = agreement.set_index("sigma_255").verdict
    return {**{f"published_{arm}_{sigma:g}": float(published.loc[sigma, f"{arm}_db"])
               for sigma in published.index for arm in ("dead_leaves", "natural")},
            **{f"published_gap_{sigma:g}": float(published.loc[sigma, "gap_db"]) for sigma in published.index},
            **{f"agreement_{sigma:g}": verdicts[sigma] for sigma in verdicts.index}}


def deblur_agreement_reading(agreement: pd.DataFrame) -> dict[str, str]:
    """What chapter 03 says of the published deblurring gaps (``agreement``: :func:`published_deblur_agreement`):
    per family, the published gap and its verdict (``published_<family>``), and
    :func:`published_disagreement`."""
    return {**{f"published_{row.family}": f"{row.published_gap_db:+.2f} dB, {row.verdict}"
               for row in agreement.itertuples()}, **published_disagreement(agreement)}
