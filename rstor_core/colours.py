"""Colour samplers for dead leaves: uniform RGB, grey, saturated, and natural-image palettes.

The colour law matters as much as the geometry: Achddou et al. (2021) found colours drawn from
natural images help, and VibrantLeaves (2025) uses saturated ones. Every sampler takes the
caller's ``numpy.random.Generator``; chapter 01 shows one gallery per sampler.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.colors import hsv_to_rgb

from rstor_core.configs import COLOUR_SAMPLERS
from rstor_core.photos import natural_images
from rstor_core.rng import stream

PALETTE_PIXELS = 200_000  # pixels kept per palette: plenty of colours, a few MB


def sample_colours(n: int, sampler: str, rng: np.random.Generator, *, palette: str = "skimage") -> np.ndarray:
    """``n`` RGB colours, (n, 3) float64 in [0, 1], from the named sampler."""
    if sampler == "uniform":
        return rng.random((n, 3))
    if sampler == "grey":
        return np.repeat(rng.random((n, 1)), 3, axis=1)
    if sampler == "saturated":  # high chroma: any hue, saturation and value near the top
        hsv = np.stack([rng.random(n), rng.uniform(0.75, 1.0, n), rng.uniform(0.55, 1.0, n)], axis=1)
        return hsv_to_rgb(hsv)
    if sampler == "natural":
        pixels = natural_palette(palette)
        return pixels[rng.integers(0, len(pixels), n)]
    raise ValueError(f"unknown colour sampler {sampler!r}; allowed: {COLOUR_SAMPLERS}")


@functools.lru_cache(maxsize=4)
def natural_palette(source: str = "skimage") -> np.ndarray:
    """Pixels of the photos in ``source`` (see :func:`rstor_core.photos.natural_images`), (M, 3) float64.

    A fixed subsample (seeded, so the palette is the same in every process) keeps sampling fast.
    """
    pixels = np.concatenate([image.reshape(-1, 3) for image in natural_images(source).values()])
    keep = stream(0, "palette").choice(len(pixels), size=min(PALETTE_PIXELS, len(pixels)), replace=False)
    return pixels[np.sort(keep)].astype(np.float64)
