"""The images a training recipe is chosen on, and each trial network's gain on them.

Why images of their own: a recipe chosen on the test photos is tuned to them (the trials were once scored on
two of the five). The natural arm's trials are chosen on crops of a photo no trial trains on and no chapter
tests on (matplotlib ships it), the dead-leaves arm's on dead leaves of a stream no training draws; each is
blurred by kernels drawn afresh per family (never the test banks) plus the chapter's test noise. The rule
that reads the gains, and the trial table, are :mod:`rstor_core.measurement.recipes` (chapter 03's appendix).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pandas as pd
import torch

from rstor_core.degradation.degrade import FAMILIES, degrade, motion_blur_kernels
from rstor_core.images.photos import random_crops, read_image
from rstor_core.measurement.metrics import psnr
from rstor_core.measurement.recipes import SELECTION_CROPS, SELECTION_KEY, SELECTION_PHOTO, SELECTION_SIZE
from rstor_core.networks.batches import DeadLeavesDataset
from rstor_core.networks.models import restore
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.rng import stream, stream_seed


def selection_photo() -> np.ndarray:
    """Matplotlib's bundled portrait of Grace Hopper, (H, W, 3) float32: the natural arm's selection photo."""
    path = Path(matplotlib.cbook.get_sample_data(SELECTION_PHOTO, asfileobj=False))
    if not path.is_file():
        raise FileNotFoundError(f"no {SELECTION_PHOTO} in matplotlib's sample data ({path.parent}): reinstall "
                                "matplotlib, whose wheel ships it")
    return read_image(path)


def selection_images(trial: ExperimentConfig, *, seed: int = 0) -> torch.Tensor:
    """The clean images a trial of ``trial.data``'s arm is chosen on, (SELECTION_CROPS, 3, SELECTION_SIZE,
    SELECTION_SIZE): for dead leaves, the trial's own generator on the stream ``SELECTION_KEY`` (no run
    trains or validates on it); for photos, random crops of :func:`selection_photo`. The same images for
    every trial of an arm with the same generator."""
    if trial.data == "dead_leaves":
        leaves = DeadLeavesDataset(SELECTION_SIZE, trial.dead_leaves, seed=seed, key=SELECTION_KEY)
        return torch.stack([leaves[i] for i in range(SELECTION_CROPS)])
    crops = random_crops([selection_photo()], SELECTION_CROPS, SELECTION_SIZE, stream(seed, SELECTION_KEY))
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()


def selection_gains(networks: Mapping[str, torch.nn.Module], trials: Mapping[str, ExperimentConfig], *,
                    sigma: float, seed: int = 0) -> pd.DataFrame:
    """Mean PSNR gain over the blurred input (dB) of each network on its trial's :func:`selection_images`,
    one row per trial, one column per motion family: kernels drawn per family from the stream
    ``SELECTION_KEY`` (one per image), then noise ``sigma``/255. What the recipe is chosen on."""
    gains = {}
    for name, network in networks.items():
        clean, row = selection_images(trials[name], seed=seed), {}
        for family in FAMILIES:
            kernels = motion_blur_kernels(len(clean), family, seed=stream_seed(seed, SELECTION_KEY, family))["filter"]
            blurred = degrade(clean, kernels=kernels, sigma=sigma / 255,
                              seed=stream_seed(seed, SELECTION_KEY, family, "noise"))
            row[family] = float((psnr(restore(network, blurred), clean) - psnr(blurred, clean)).mean())
        gains[name] = row
    return pd.DataFrame.from_dict(gains, orient="index", columns=list(FAMILIES))
