"""Colour samplers for dead leaves: uniform RGB, grey, saturated, and natural-image palettes.

The colour law matters as much as the geometry: Achddou et al. (2021) found colours drawn from
natural images help, and VibrantLeaves (2025) uses saturated ones. Every sampler takes the
caller's ``numpy.random.Generator``; chapter 01 shows one gallery per sampler.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
from matplotlib.colors import hsv_to_rgb

from rstor_core.images.photos import image_folder, natural_images
from rstor_core.settings.configs import COLOUR_SAMPLERS
from rstor_core.settings.rng import skip_doubles, stream

PALETTE_PIXELS = 200_000  # pixels kept per palette: plenty of colours, a few MB
PHOTO_PALETTES_PIXELS = 8_000_000  # over all the photos of photo_palettes (DIV2K's 800: 10,000 each, 192 MB)


def sample_colours(n: int, sampler: str, rng: np.random.Generator, *, palette: str = "skimage",
                   palette_run: int | None = None, pixels: np.ndarray | None = None) -> np.ndarray:
    """``n`` RGB colours, (n, 3) float64 in [0, 1], from the named sampler. "natural" draws pixels of all
    the palette's photos (of run ``palette_run``'s training photos, :func:`natural_palette`); "photo" those
    of one photo, ``pixels`` (:func:`pick_photo`, once per image)."""
    if sampler == "uniform":
        return rng.random((n, 3))
    if sampler == "grey":
        return np.repeat(rng.random((n, 1)), 3, axis=1)
    if sampler == "saturated":  # high chroma: any hue, saturation and value near the top
        hsv = np.stack([rng.random(n), rng.uniform(0.75, 1.0, n), rng.uniform(0.55, 1.0, n)], axis=1)
        return hsv_to_rgb(hsv)
    if sampler in ("natural", "photo"):
        pixels = _palette_pixels(sampler, palette, palette_run, pixels)
        return np.take(pixels, rng.integers(0, len(pixels), n), axis=0)  # rows: 13x faster than pixels[i]
    raise ValueError(f"unknown colour sampler {sampler!r}; allowed: {COLOUR_SAMPLERS}")


def skip_colours(n: int, sampler: str, rng: np.random.Generator, *, palette: str = "skimage",
                 palette_run: int | None = None, pixels: np.ndarray | None = None) -> None:
    """Move ``rng`` past what :func:`sample_colours` would draw with the same arguments, without making
    the colours: for colours no leaf shows (a flat leaf's second colour), the later draws unchanged."""
    doubles = colour_doubles(n, sampler)
    if doubles is not None:
        skip_doubles(rng, doubles)
        return
    # bounded integers may redraw: their count is known only by drawing
    rng.integers(0, len(_palette_pixels(sampler, palette, palette_run, pixels)), n)


def colour_doubles(n: int, sampler: str) -> int | None:
    """How many doubles :func:`sample_colours` draws for ``n`` colours; None for the samplers that draw
    bounded integers instead ("natural", "photo"), whose count is known only by drawing."""
    if sampler not in COLOUR_SAMPLERS:
        raise ValueError(f"unknown colour sampler {sampler!r}; allowed: {COLOUR_SAMPLERS}")
    return {"uniform": 3 * n, "grey": n, "saturated": 3 * n}.get(sampler)


def _palette_pixels(sampler: str, palette: str, palette_run: int | None, pixels: np.ndarray | None) -> np.ndarray:
    """The pixels the "natural" or "photo" sampler draws from."""
    if sampler == "photo" and pixels is None:
        raise ValueError("the 'photo' sampler draws from one photo's pixels: pass pixels=pick_photo(...)")
    return natural_palette(palette, palette_run) if sampler == "natural" else pixels


def pick_photo(palette: str, palette_run: int | None, rng: np.random.Generator) -> np.ndarray:
    """The pixels of one photo of the palette, drawn with ``rng``: an image's "photo" colours."""
    photos = photo_palettes(palette, palette_run)
    return photos[rng.integers(len(photos))]


@functools.lru_cache(maxsize=4)
def natural_palette(source: str = "skimage", run: int | None = None) -> np.ndarray:
    """Pixels of the photos in ``source`` (see :func:`rstor_core.images.photos.natural_images`; with ``run`` and
    the bundled photos, only those run ``run`` trains on), (M, 3) float64.

    A fixed subsample (seeded, so the palette is the same in every process) keeps sampling fast. The
    bundled photos are pooled then subsampled; a folder's photos are read one at a time, each
    subsampled to its share first, so a DIV2K-sized folder never sits in memory.
    """
    count, photos = _palette_photos(source, run)
    if str(source) == "skimage":
        return _subsample(np.concatenate([image.reshape(-1, 3) for _, image in photos]))
    share = max(1, PALETTE_PIXELS // count)
    return _subsample(np.concatenate([_subsample(image.reshape(-1, 3), name, size=share) for name, image in photos]))


@functools.lru_cache(maxsize=4)
def photo_palettes(source: str = "skimage", run: int | None = None) -> tuple[np.ndarray, ...]:
    """Each photo's pixels (a fixed subsample of at most PALETTE_PIXELS, fewer when many photos share
    PHOTO_PALETTES_PIXELS), in the palette's order; photos are read one at a time."""
    count, photos = _palette_photos(source, run)
    size = min(PALETTE_PIXELS, max(1, PHOTO_PALETTES_PIXELS // count))
    return tuple(_subsample(image.reshape(-1, 3), name, size=size) for name, image in photos)


def _subsample(pixels: np.ndarray, *keys: str, size: int = PALETTE_PIXELS) -> np.ndarray:
    """At most ``size`` of ``pixels``, a seeded choice (stream ``"palette", *keys``) in their order."""
    keep = stream(0, "palette", *keys).choice(len(pixels), size=min(size, len(pixels)), replace=False)
    return pixels[np.sort(keep)].astype(np.float64)


def _palette_photos(source: str, run: int | None) -> tuple[int, Iterator[tuple[str, np.ndarray]]]:
    """How many photos a palette draws from, and (name, photo) pairs read as they are iterated."""
    if str(source) == "skimage":  # with a run: never the photos run `run` is tested on
        photos = natural_images("skimage", split="train", run=run) if run is not None else natural_images("skimage")
        return len(photos), iter(photos.items())
    folder = image_folder(source)
    return len(folder), ((name, folder.image(i)) for i, name in enumerate(folder.names()))
