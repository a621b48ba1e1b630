"""Small figure builders the chapters share, so notebook cells stay a few lines long."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np


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
