"""Every plot of the book (the one place for matplotlib) and :func:`publish_figure`.

Figure builders take what :mod:`rstor_core.measurement.study` computed (or images and networks) and return a
``matplotlib`` figure; they compute nothing a table shows, so a chapter cell is a call or two.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import PowerNorm
from matplotlib.ticker import NullLocator

from rstor_core.degradation.degrade import FAMILIES
from rstor_core.images.leaf_sampling import power_law_pdf
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.batches import to_image
from rstor_core.networks.evaluate import Degrader, restoration_panels
from rstor_core.settings.configs import DeadLeavesConfig
from rstor_core.settings.files import save_figure

#: One colour per arm (what a network trained on, or a method) in every figure of the book, so that a
#: reader learns it once: the first pattern found in a label (lower case) picks the colour.
PALETTE = (("dead leaves → natural", "#17becf"), ("→ 1 photo", "#7f7f7f"), ("bm3d", "#9467bd"),
           ("richardson", "#8c564b"), ("original-study", "#d62728"), ("anti-aliased", "#e377c2"),
           ("photo colours", "#bcbd22"), ("primitives", "#ff7f0e"), ("dead leaves", "#1f77b4"),
           ("discs", "#1f77b4"), ("natural", "#2ca02c"), ("input", "#000000"))
#: Reference levels (targets, thresholds): grey, and told apart by their dashes, never by colour alone.
REFERENCE_STYLES = ({"color": "0.3", "ls": ":", "lw": 1.2}, {"color": "0.5", "ls": "-.", "lw": 1.0})
ARMS_KEY = "rstor:arms"  # the PNG text chunk naming each labelled arm's colour (the browser test reads it)


def arm_colour(label: str) -> str | None:
    """The book's colour for the arm ``label`` names (:data:`PALETTE`), ``None`` for what is no arm. In
    "trained on X, tested on Y" the arm is X; hyphens read as spaces ("dead-leaves-trained")."""
    label = label.lower().replace("-", " ")
    if "trained on " in label:
        label = label.split("trained on ", 1)[1].split(",")[0]
    return next((colour for pattern, colour in PALETTE if pattern.replace("-", " ") in label), None)


def drawn_arms(fig: plt.Figure) -> dict[str, str]:
    """``{label: colour}`` of every labelled line, marker set or error bar drawn in ``fig`` that names an
    arm, as drawn (hex): what a test compares with :data:`PALETTE`."""
    from matplotlib.colors import to_hex

    drawn = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.containers]:
            label = artist.get_label() if hasattr(artist, "get_label") else ""
            if not label or label.startswith("_") or arm_colour(label) is None:
                continue
            part = artist.lines[0] if hasattr(artist, "lines") and not hasattr(artist, "get_color") else artist
            colour = part.get_color() if hasattr(part, "get_color") else part.get_facecolor()
            drawn[label] = to_hex(colour[0] if np.ndim(colour) == 2 else colour)
    return drawn


def publish_figure(name: str, fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` to ``path`` (atomically; its arms' colours in the PNG's :data:`ARMS_KEY` chunk), glue
    that very PNG as ``name`` for the book's captions, and close the figure, so the executed notebook
    stores the figure once (in the glue) and the page shows the file ``figures/`` holds."""
    import json

    from IPython.display import Image
    from myst_nb import glue  # the book's dependency, not the library's

    save_figure(fig, path, metadata={ARMS_KEY: json.dumps(drawn_arms(fig), sort_keys=True)})
    glue(name, Image(data=Path(path).read_bytes(), format="png"), display=False)
    plt.close(fig)


def image_row(images: Mapping[str, np.ndarray], *, crop: tuple[slice, slice] | None = None,
              panel_size: float = 2.3, ncols: int | None = None) -> plt.Figure:
    """Titled images (H, W, 3) in [0, 1], ``ncols`` per row (default: all in one row); ``crop``
    zooms every panel on the same window."""
    ncols = min(ncols or len(images), len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.3) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, images.items()):
        ax.imshow(np.clip(image[crop] if crop is not None else image, 0.0, 1.0), interpolation="nearest")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig




def restoration_grid(images: Mapping[str, np.ndarray], degradations: Mapping[str, Degrader],
                     models: Mapping[str, Callable] | None = None, *, show_clean: bool = False,
                     input_label: str = "degraded", panel_size: float = 2.6
                     ) -> tuple[plt.Figure, dict[str, dict[str, float]]]:
    """The panels of :func:`~rstor_core.networks.evaluate.restoration_panels` (each image degraded by each
    degradation, in columns, restored by each model, in rows under the degraded row), each titled with its
    PSNR against the clean image; return the figure and ``{row: {column: psnr}}``. Chapter 01's degraded
    examples and chapter 03's small / mild / big grid."""
    rows, scores, cleans = restoration_panels(images, degradations, models, input_label=input_label)
    columns = (["clean"] if show_clean else []) + list(degradations)
    fig, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                             figsize=(panel_size * len(columns), (panel_size + 0.25) * len(rows)))
    for r, (row, outs) in enumerate(rows.items()):
        panels = {"clean": cleans[row], **outs} if show_clean else outs
        for c, (column, out) in enumerate(panels.items()):
            ax = axes[r, c]
            ax.imshow(to_image(out[0]).clip(0, 1), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(column if column == "clean" and show_clean else f"{column}: {scores[row][column]:.2f} dB",
                         fontsize=9)
            if c == 0:
                ax.set_ylabel(row, fontsize=10)
    fig.tight_layout()
    return fig, scores


# --- chapter 01 ----------------------------------------------------------------------------------

def radius_law_figure(centres: np.ndarray, density: np.ndarray, config: DeadLeavesConfig, n_radii: int
                      ) -> plt.Figure:
    """Log-binned density of sampled radii (points) against the power law's density (line)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    seen = density > 0
    ax.loglog(centres[seen], density[seen], "o", ms=4, label=f"{n_radii:,} sampled radii")
    law = power_law_pdf(centres, config.alpha, config.r_min, config.r_max)
    ax.loglog(centres, law, "-", label=rf"$p(r) \propto r^{{-{config.alpha:g}}}$")
    ax.set(xlabel="radius r (pixels)", ylabel="density p(r) (1/pixel)")
    ax.legend()
    return fig


def power_spectra_figure(leaves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                         photos: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    """The mean spectrum of the dead leaves (thick, in their arm's colour) over each photo's, and a 1/f^2
    line through the dead leaves' at 0.05 cycles/pixel."""
    freqs = next(iter(leaves.values()))[0]
    mean = np.mean([power for _, power in leaves.values()], axis=0)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.loglog(freqs, mean, "-", color=arm_colour("dead leaves"), lw=2.5, label=f"dead leaves (mean of {len(leaves)})")
    for name, (f, power) in photos.items():
        ax.loglog(f, power, lw=1, alpha=0.8, label=name)
    ax.loglog(freqs, mean[np.searchsorted(freqs, 0.05)] * (freqs / 0.05) ** -2.0, "k:", label=r"$1/f^2$")
    ax.set(xlabel="spatial frequency f (cycles/pixel)", ylabel="power (a.u.)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def kernel_bank_figure(banks: Mapping[str, torch.Tensor], n: int = 8) -> plt.Figure:
    """The first ``n`` kernels of each bank, one row per bank, on one colour scale with its colour bar
    (square-root scale, so the long, faint trajectories of big kernels show next to small ones)."""
    fig, axes = plt.subplots(len(banks), n, figsize=(1.1 * n, 1.3 * len(banks)), squeeze=False, layout="constrained")
    norm = PowerNorm(0.5, vmin=0.0, vmax=max(float(bank[:n].max()) for bank in banks.values()))
    for row, (name, bank) in zip(axes, banks.items()):
        for i, ax in enumerate(row):
            shown = ax.imshow(bank[i, 0].numpy(), cmap="magma", interpolation="nearest", norm=norm)
            ax.set_title(f"{name} {i}", fontsize=11)
            ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.8, label="kernel weight")
    return fig


def kernel_radius_histogram(drawn: Mapping[str, torch.Tensor], bank_radius: np.ndarray) -> plt.Figure:
    """RMS radius of freshly drawn kernels per family (``motion_blur_kernels`` output) over the
    families' ranges, with the evaluation banks' radii as ticks below the axis."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    edges = np.linspace(0, max(high for _, high in FAMILIES.values()) + 0.5, 53)
    for i, (name, (low, high)) in enumerate(FAMILIES.items()):
        ax.hist(drawn["radius"][drawn["family"] == i].numpy(), bins=edges, alpha=0.6, label=f"{name} (training draws)")
        ax.axvspan(low, high, color=f"C{i}", alpha=0.08)
    ax.plot(bank_radius, np.full_like(bank_radius, -2.0), "k|", ms=12, label="evaluation banks")
    ax.set(xlabel="kernel RMS radius (pixels)", ylabel="kernels")
    ax.legend(fontsize=8)
    return fig


# --- training and evaluation (chapters 02-04) ------------------------------------------------------

def by_training_data(label: str) -> str:
    """The panel of :func:`training_curves_figure` an experiment label falls in: what its networks trained on."""
    return "trained on " + ("dead leaves" if "dead" in label else "natural photos")


def training_curves_figure(curves: pd.DataFrame, *, baselines: Mapping[str, float] | None = None,
                           panels: Callable[[str], str] | None = None, smooth: int = 25) -> plt.Figure:
    """Training curves of ``curves`` (``read_log`` rows with an ``experiment`` and, for several trained
    networks per experiment, a ``run`` column): one colour per experiment, one line per run.

    Without ``baselines``: training loss (moving average) and validation PSNR side by side. With
    ``baselines`` (``{(experiment, run): validation PSNR of that network's degraded inputs}``): each
    network's validation gain over its own inputs, one panel per ``panels(experiment)`` title.
    """
    curves = curves if "run" in curves else curves.assign(run=0)
    colours = {label: arm_colour(label) or f"C{k}" for k, label in enumerate(curves.experiment.unique())}
    dashes = {label: "--" if label.lower().startswith("gaussian") else "-" for label in colours}

    def lines(frame: pd.DataFrame) -> Iterator[tuple[str, int, pd.DataFrame, dict]]:
        for (label, run), curve in frame.groupby(["experiment", "run"], sort=False):
            yield label, run, curve, {"color": colours[label], "label": label if run == 0 else None,
                                 "alpha": 1.0 if run == 0 else 0.55, "lw": 1.2, "ls": dashes[label]}

    if baselines is None:
        fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(11, 3.8))
        for _, _, curve, style in lines(curves):
            ax_loss.plot(curve.step, curve.loss.rolling(smooth, min_periods=1).mean(), **style)
            validated = curve.dropna(subset=["val_psnr"])
            ax_psnr.plot(validated.step, validated.val_psnr, marker="o", ms=3, **style)
        ax_loss.set(xlabel="step", ylabel=f"training loss (moving average of {smooth} steps)", yscale="log")
        ax_psnr.set(xlabel="step", ylabel="validation PSNR (dB)")
        ax_psnr.legend()
        return fig
    titles = list(dict.fromkeys(panels(label) for label in curves.experiment.unique()))
    fig, axes = plt.subplots(1, len(titles), figsize=(5.5 * len(titles), 3.8), squeeze=False)
    for label, run, curve, style in lines(curves.dropna(subset=["val_psnr"])):
        ax = axes[0, titles.index(panels(label))]
        ax.plot(curve.step, curve.val_psnr - baselines[label, run], marker="o", ms=3, **style)
    for ax, title in zip(axes[0], titles):
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel="step", ylabel="validation PSNR gain over its degraded input (dB)", title=title)
        ax.legend(fontsize=8)
    return fig


def metrics_vs_sigma_figure(summary: pd.DataFrame) -> plt.Figure:
    """Mean PSNR and SSIM against the noise sigma, one line per model (``metric_means`` by model and sigma)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, group in summary.groupby("model", sort=False):
        style = {"ls": "--" if name == INPUT else ("none" if name.startswith("BM3D") else "-"),
                 "marker": "" if name == INPUT else ("s" if name.startswith("BM3D") else "o"), "color": arm_colour(name)}
        for ax, metric in zip(axes, ("psnr", "ssim")):
            ax.plot(group.sigma_255, group[metric], **style, label="noisy input" if name == INPUT else name)
    axes[0].set(xlabel="noise σ (/255)", ylabel="PSNR (dB)")
    axes[1].set(xlabel="noise σ (/255)", ylabel="SSIM")
    axes[0].legend(fontsize=8)
    return fig


def gain_vs_radius_figure(gains: pd.DataFrame, blind: Collection[str]) -> plt.Figure:
    """PSNR gain over the blurred input per bank kernel against its RMS radius (``study.gain_by_kernel``),
    the families as grey bands; the ``blind`` networks' columns (named by their training data) as circles
    labelled "<data>-trained (blind)", the other methods (told the kernel) as triangles under their name."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (family, (low, high)) in enumerate(FAMILIES.items()):
        ax.axvspan(low, high, alpha=0.05 + 0.05 * i, color="grey")
        ax.text((low + high) / 2, 1.0, family, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=9)
    for name in gains.columns.drop("radius_px"):
        ax.scatter(gains.radius_px, gains[name], s=18, marker="o" if name in blind else "^", color=arm_colour(name),
                   label=f"{name.replace(' ', '-')}-trained (blind)" if name in blind else name)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="kernel RMS radius (px)", ylabel="PSNR gain over the blurred input (dB)")
    ax.legend(fontsize=8)
    return fig


def cross_validation_figure(cross: pd.DataFrame) -> plt.Figure:
    """Chapter 04's heat maps, one per sigma: each network (rows) on each test set (columns), coloured
    by its gain over the noisy input on one colour scale, the gain written large (the PSNR below it)."""
    sigmas = sorted(cross.sigma_255.unique())
    psnr = cross.pivot_table(index=["sigma_255", "model"], columns="test_set", values="psnr")
    gains = {s: psnr.loc[s].drop(index=INPUT) - psnr.loc[s].loc[INPUT] for s in sigmas}
    low, high = min(g.values.min() for g in gains.values()), max(g.values.max() for g in gains.values())
    fig, axes = plt.subplots(1, len(sigmas), figsize=(3.3 * len(sigmas) + 1.8, 3.6), squeeze=False,
                             layout="constrained")  # narrow: its labels stay readable at the text column's width
    for k, (ax, sigma) in enumerate(zip(axes[0], sigmas)):
        gain, grid = gains[sigma], psnr.loc[sigma].drop(index=INPUT)
        image = ax.imshow(gain.values, cmap="viridis", vmin=low, vmax=high)
        for r in range(grid.shape[0]):
            for c in range(grid.shape[1]):
                bright = (gain.values[r, c] - low) / (high - low or 1) > 0.6  # viridis' light end: dark text
                ax.text(c, r, f"{gain.values[r, c]:+.2f} dB\n(PSNR {grid.values[r, c]:.2f})", ha="center", va="center",
                        color="k" if bright else "w", fontsize=11)
        ax.set_xticks(range(grid.shape[1]), [f"tested on\n{t}" for t in grid.columns], fontsize=11)
        ax.set_yticks(range(grid.shape[0]), [f"trained on\n{m}" for m in grid.index] if k == 0 else [], fontsize=11)
        ax.set_title(f"σ = {sigma:g}/255")
    fig.colorbar(image, ax=axes, label="gain over the noisy input (dB)", shrink=0.8)
    return fig


def gap_closing_figure(ablation: pd.DataFrame, *, natural: str) -> plt.Figure:
    """Chapter 05: each variant's PSNR gain over the baseline generator with its interval (bars), against
    the natural-trained network's (the whole gap: dashed line and band), one panel per sigma
    (``study.ablation_table``)."""
    sigmas = sorted(ablation.sigma_255.unique())
    fig, axes = plt.subplots(1, len(sigmas), figsize=(5.2 * len(sigmas), 0.5 * ablation.variant.nunique() + 1.8),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, sigma in zip(axes[0], sigmas):
        rows = ablation[ablation.sigma_255 == sigma]
        reference, variants = rows[rows.variant == natural].iloc[0], rows[rows.variant != natural]
        ax.axvspan(reference.gain_lo, reference.gain_hi, color=arm_colour(natural), alpha=0.15)
        ax.axvline(reference.gain, color=arm_colour(natural), ls="--", label=f"{natural} (the whole gap)")
        ax.axvline(0, color="k", lw=0.8)
        for y, variant in enumerate(variants.itertuples()):
            ax.errorbar(variant.gain, y, xerr=[[variant.gain - variant.gain_lo], [variant.gain_hi - variant.gain]],
                        fmt="o", color=arm_colour(variant.variant) or "0.3", capsize=3)
        y = np.arange(len(variants))
        ax.set_yticks(y, variants.variant)
        ax.set(xlabel="PSNR gain over the baseline generator (dB)", title=f"σ = {sigma:g}/255")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", fontsize=9)
    return fig


def compute_scaling_figure(scaling: pd.DataFrame, *, targets: Sequence[float] = (1.0, 1.5)) -> plt.Figure:
    """Chapter 03: PSNR gain over the blurred input against training steps (log scale; wall minutes on the
    top axis), one panel per family, one line per arm with its 95 % interval (``scaling.scaling_table``);
    ``targets``: dashed horizontal lines (dB; by default issue 15's goal on big blur and its "where would
    +1.5 dB be reached?")."""
    families = [f for f in FAMILIES if f in set(scaling.family)]
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, family in zip(axes[0], families):
        for k, (arm, points) in enumerate(scaling[scaling.family == family].groupby("arm", sort=False)):
            spread = [points.gain_db - points.gain_lo_db, points.gain_hi_db - points.gain_db]
            ax.errorbar(points.steps * (1 + 0.03 * (k - 0.5)), points.gain_db, yerr=spread, fmt="o-", capsize=3,
                        color=arm_colour(arm), label=f"trained on {arm}")
        for i, level in enumerate(targets):
            ax.axhline(level, **REFERENCE_STYLES[i % len(REFERENCE_STYLES)], label=f"{level:+.1f} dB")
        ax.axhline(0, color="k", lw=0.8)
        steps = sorted(scaling.steps.unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [f"{s:g}" for s in steps])
        ax.set(xlabel="training steps", title=f"{family} blur")
        per_step = (scaling.minutes / scaling.steps).mean()
        top = ax.secondary_xaxis("top", functions=(lambda s: s * per_step, lambda m: m / per_step))
        top.set_xticks([s * per_step for s in steps], [f"{s * per_step:.2g}" for s in steps])  # the budgets' minutes
        top.xaxis.set_minor_locator(NullLocator())
        top.set_xlabel("wall minutes of training (from the logs)", fontsize=9)
    axes[0][0].set_ylabel("PSNR gain over the blurred input (dB)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=9)
    return fig


def long_runs_figure(runs: pd.DataFrame, *, learned_db: float = 1.0) -> plt.Figure:
    """Chapter 03's longer runs: PSNR gain over the blurred input against training steps (log scale), one
    panel per family, one colour per arm, a solid line on the arm's own kind of test images and a dashed one
    on the other kind, each point with its 95 % interval (``deblurring.long_runs``' table: ``arm``, ``test_set``,
    ``steps``, ``family``, ``gain_db`` and its bounds). Where in-distribution and transfer gains part."""
    if runs.empty:  # not trained (the profile's command trains them): say so where the figure would be
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "no longer run trained yet", ha="center", va="center")
        ax.set_axis_off()
        return fig
    families = [f for f in FAMILIES if f in set(runs.family)]
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 3.6), squeeze=False, sharey=True,
                             layout="constrained")
    colours = {arm: arm_colour(arm) or f"C{k}" for k, arm in enumerate(runs.arm.unique())}
    for ax, family in zip(axes[0], families):
        for k, ((arm, test_set), points) in enumerate(runs[runs.family == family].groupby(["arm", "test_set"],
                                                                                            sort=False)):
            spread = [points.gain_db - points.gain_lo_db, points.gain_hi_db - points.gain_db]
            ax.errorbar(points.steps * (1 + 0.02 * (k - 1.5)), points.gain_db, yerr=spread, capsize=2,
                        fmt="o-" if test_set == arm else "s--", color=colours[arm], ms=4,
                        label=f"trained on {arm}, tested on {test_set}")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(learned_db, **REFERENCE_STYLES[0], label=f"{learned_db:+.1f} dB")
        steps = sorted(runs.steps.unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [f"{s:g}" for s in steps], rotation=45)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set(xlabel="training steps", title=f"{family} blur")
    axes[0][0].set_ylabel("PSNR gain over the blurred input (dB)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=9)
    return fig
