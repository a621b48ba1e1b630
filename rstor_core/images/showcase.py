"""The generator's galleries (chapter 01): each changes one thing on the same draws, so that a
figure shows what that change alone does to an image."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from rstor_core.images.deadleaves import dead_leaves, image_rng
from rstor_core.images.leaf_sampling import APPEARANCES, SHAPES
from rstor_core.images.photos import centre_crop
from rstor_core.settings.configs import (COLOUR_SAMPLERS, DEAD_LEAVES_PRESETS, AppearanceWeights,
                                         DeadLeavesConfig, ShapeWeights)


def described(params: DeadLeavesConfig, width: int = 88) -> str:
    """``name=value`` of every field in lines of ``width``: a whole model, on a page that fits."""
    fields = dataclasses.asdict(params).items()
    return textwrap.fill(", ".join(f"{k}={v!r}" for k, v in fields), width)


def preset_images(size: int, seed: int) -> dict[str, np.ndarray]:
    """Each preset on the draws of ``seed``'s image 0: only the model differs from that image."""
    return {f"preset {name}": dead_leaves(size, image_rng(seed, 0),
                                          params=DeadLeavesConfig.from_preset(name))
            for name in DEAD_LEAVES_PRESETS}


def one_at_a_time(size: int, seed: int, params: DeadLeavesConfig, *,
                  r_min: float) -> dict[str, dict[str, np.ndarray]]:
    """One primitive, look or colour sampler per image, same layout: only that feature differs."""
    changes = {"primitives": {name: {"shapes": ShapeWeights.only(name)} for name in SHAPES},
               "looks": {name: {"appearance": AppearanceWeights.only(name)}
                         for name in APPEARANCES},
               "colours": {name: {"colour": name} for name in COLOUR_SAMPLERS}}
    return {gallery: {name: dead_leaves(size, seed, params=params, r_min=r_min, **change)
                      for name, change in named.items()} for gallery, named in changes.items()}


def antialiasing_images(size: int, seed: int, params: DeadLeavesConfig,
                        factors: Sequence[int] = (1, 2, 4)) -> dict[str, np.ndarray]:
    """The same leaves at each ``ds_factor``: a close-up shows only what anti-aliasing changes."""
    return {f"ds_factor = {d}": dead_leaves(size, seed, params=params, ds_factor=d)
            for d in factors}


def leaf_index_maps(size: int, seed: int, params: DeadLeavesConfig,
                    n: int) -> dict[bool, list[np.ndarray]]:
    """Index maps of images 0..n-1 by ``until_covered``: same draws, so covering is the change."""
    return {mode: [dead_leaves(size, image_rng(seed, i), params=params, until_covered=mode,
                               return_index=True)[1] for i in range(n)] for mode in (False, True)}


def example_crops(size: int, seed: int, params: DeadLeavesConfig,
                  photos: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A dead-leaves image and the first photo's centre crop: a degradation seen on both kinds."""
    name, photo = next(iter(photos.items()))
    return {"dead leaves": dead_leaves(size, seed, params=params), name: centre_crop(photo, size)}
