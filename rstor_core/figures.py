"""Small figure builders the chapters share, so notebook cells stay a few lines long."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from rstor_core.data import to_image, to_tensor
from rstor_core.degrade import degrade
from rstor_core.files import save_figure
from rstor_core.metrics import psnr


def publish_figure(name: str, fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` to ``path`` (atomically), glue it as ``name`` for the book's captions, and
    close it, so the executed notebook stores the figure once (in the glue) instead of twice."""
    from myst_nb import glue  # the book's dependency, not the library's

    save_figure(fig, path)
    glue(name, fig, display=False)
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


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window of an (H, W, ...) image (the whole side if smaller)."""
    height, width = image.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top:top + size, left:left + size]


def restoration_grid(image: np.ndarray, kernels: Mapping[str, torch.Tensor], models: Mapping[str, Callable], *,
                     sigma: float = 0.0, seed: int = 0, input_label: str = "blurred input",
                     panel_size: float = 2.6) -> tuple[plt.Figure, dict[str, dict[str, float]]]:
    """Blur ``image`` (H, W, 3) with each kernel (columns) plus noise ``sigma`` (/255), restore with
    each model (rows under the degraded input) and title every panel with its PSNR; return the
    figure and ``{row: {column: psnr}}``. Chapter 03's small / mild / big grid."""
    clean = to_tensor(image)[None]
    rows: dict[str, dict[str, torch.Tensor]] = {input_label: {}, **{name: {} for name in models}}
    for k, (column, kernel) in enumerate(kernels.items()):
        degraded = degrade(clean, kernels=kernel, sigma=sigma / 255.0, seed=seed + k)
        rows[input_label][column] = degraded.clamp(0, 1)
        with torch.inference_mode():
            for name, model in models.items():
                rows[name][column] = model(degraded).clamp(0, 1)
    scores = {row: {column: float(psnr(out, clean)[0]) for column, out in outs.items()} for row, outs in rows.items()}
    fig, axes = plt.subplots(len(rows), len(kernels), squeeze=False,
                             figsize=(panel_size * len(kernels), (panel_size + 0.25) * len(rows)))
    for r, (row, outs) in enumerate(rows.items()):
        for c, (column, out) in enumerate(outs.items()):
            ax = axes[r, c]
            ax.imshow(to_image(out[0]), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{column}: {scores[row][column]:.2f} dB", fontsize=9)
            if c == 0:
                ax.set_ylabel(row, fontsize=10)
    fig.tight_layout()
    return fig, scores
