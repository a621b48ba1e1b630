"""The degradations chapter 01 shows side by side on one dead-leaves crop and one photo crop."""

from __future__ import annotations

from collections.abc import Callable

import torch

from rstor_core.degradation.degrade import FAMILIES, add_noise, bank_kernels, blur, gaussian_kernel
from rstor_core.settings.rng import stream_seed

Degradation = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) clean -> degraded


def example_degradations(seed: int) -> dict[str, Degradation]:
    """Kernel 0 of each motion bank, the original's Gaussian task, noise: one of each kind."""
    motion = {f"{family}:0": bank_kernels(f"{family}:0") for family in FAMILIES}
    gaussian = gaussian_kernel(2.0, 0.7, 30.0)  # sigma_x, sigma_y (px), angle (degrees)
    noise_seed = stream_seed(seed, "examples")
    return {**{name: (lambda x, k=k: blur(x, k)) for name, k in motion.items()},
            "Gaussian 2.0/0.7 px": lambda x: blur(x, gaussian),
            "noise 25/255": lambda x: add_noise(x, 25 / 255, seed=noise_seed)}
