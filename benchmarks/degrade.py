"""Degradation cost per training batch, against a training step of the quick-profile NAFNet.

    .venv/bin/python benchmarks/degrade.py [--batch 16] [--size 128] [--repeats 5]

For a batch of ``--batch`` x 3 x ``--size``² images it times, in one run on the same threads:
drawing fresh per-sample kernels of each motion-blur family (deepinv trajectories, rejection
into the family's range) and applying them with noise (:func:`rstor_core.degradation.degrade.degrade`);
Gaussian blur; noise alone; rendering the batch of dead leaves (serial kernel, as in a
DataLoader worker); and one training step (forward, MSE backward, Adam step) of
``NAFNet(NAFNetConfig())``, the quick profile's model. Each row gives its share of the step.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from rstor_core.degradation import degrade as D
from rstor_core.networks.batches import DeadLeavesDataset
from rstor_core.networks.models import NAFNet, NAFNetConfig


def _ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def training_step_ms(batch: int, size: int, repeats: int) -> float:
    """Median ms of one fwd + bwd + Adam step of the quick NAFNet on a (batch, 3, size, size) batch."""
    model = NAFNet.from_config(NAFNetConfig())
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    target = torch.rand_like(x)

    def step():
        optimiser.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), target).backward()
        optimiser.step()

    return _ms(step, repeats)


def degradation_table(batch: int = 16, size: int = 128, repeats: int = 5) -> pd.DataFrame:
    """ms per batch of each degradation (draw + apply) and its share of a quick training step."""
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    sigma = D.noise_levels(batch, (0, 2), seed=0)["sigma"]
    rows = {f"motion blur, {family} (draw + blur + noise)":
            (lambda f=family: D.degrade(x, kernels=D.motion_blur_kernels(batch, f, seed=0)["filter"], sigma=sigma,
                                        seed=0)) for family in D.FAMILIES}
    rows["motion blur, all families (draw + blur + noise)"] = \
        lambda: D.degrade(x, kernels=D.motion_blur_kernels(batch, seed=0)["filter"], sigma=sigma, seed=0)
    rows["Gaussian blur, anisotropic (draw + blur + noise)"] = \
        lambda: D.degrade(x, kernels=D.gaussian_blur_kernels(batch, seed=0)["filter"], sigma=sigma, seed=0)
    rows["noise only, sigma ~ U(0, 50)/255"] = \
        lambda: D.add_noise(x, D.noise_levels(batch, (0, 50), seed=0)["sigma"], seed=0)
    dataset = DeadLeavesDataset(size, seed=0)
    rows["dead leaves, render the batch (serial kernel)"] = lambda: torch.stack([dataset[i] for i in range(batch)])
    step = training_step_ms(batch, size, repeats)
    table = pd.DataFrame([{"operation": name, "ms_per_batch": _ms(fn, repeats)} for name, fn in rows.items()])
    ms = table.set_index("operation").ms_per_batch
    total = {"operation": "data for one deblurring step (dead leaves + all-family motion blur)",
             "ms_per_batch": ms["dead leaves, render the batch (serial kernel)"]
             + ms["motion blur, all families (draw + blur + noise)"]}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["share_of_training_step"] = table.ms_per_batch / step
    step_row = {"operation": "training step, quick NAFNet (fwd + bwd + Adam)", "ms_per_batch": step,
                "share_of_training_step": 1.0}
    return pd.concat([table, pd.DataFrame([step_row])], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"batch {args.batch} x 3 x {args.size}²; torch threads: {torch.get_num_threads()}; median of {args.repeats}")
    table = degradation_table(args.batch, args.size, args.repeats)
    print(table.to_markdown(index=False, floatfmt=("", ".1f", ".3f")))


if __name__ == "__main__":
    main()
