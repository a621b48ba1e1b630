"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's two kernels.

The original study's default kernel gives each pixel a thread that tests the leaves in sampling
order and stops at the first that covers it; its other kernel visits every leaf at every pixel
(cost ∝ pixels × leaves). Both are kept here as numba kernels on the same threads, as references:
the default one is the baseline that matters. Ours bins the leaves by tile first, so a pixel
tests only the leaves whose bounding box meets its tile, and a tile stops once it is covered
(:mod:`rstor_core.leaf_kernels`). Every engine renders the same sampled leaves (the seed's defaults:
flat discs, 30 × size of them, alpha = 3) and must give the same image; sampling is excluded.
"single" is one image, "batch" is ``batch`` images back to back. CUDA rows appear when a GPU is
present (host-device copies included). Chapter 01 shows :func:`rendering_speed_table`;
``benchmarks/deadleaves.py`` prints it and :func:`rendering_scaling_table`. Timings on a shared
2-core machine vary by tens of percent between runs: compare ratios within one run.
"""

from __future__ import annotations

import dataclasses
import time

import numba
import numpy as np
import pandas as pd

from rstor_core.configs import DeadLeavesConfig
from rstor_core.deadleaves import render_leaves, sample_leaves
from rstor_core.rng import stream

DEFAULT, EXHAUSTIVE = "original default (numba CPU)", "original exhaustive (numba CPU)"


@numba.njit(parallel=True, cache=True)
def first_hit_render(cy, cx, radius, colours, background, out):  # pragma: no cover - compiled
    """The original study's default kernel: every pixel tests the leaves front to back, first hit wins."""
    height, width = out.shape[:2]
    for y in numba.prange(height):
        for x in range(width):
            for c in range(3):
                out[y, x, c] = background
            for k in range(radius.shape[0]):
                dy, dx = y - cy[k], x - cx[k]
                if dx * dx + dy * dy <= radius[k] * radius[k]:
                    for c in range(3):
                        out[y, x, c] = colours[k, c]
                    break


@numba.njit(parallel=True, cache=True)
def exhaustive_render(cy, cx, radius, colours, background, out):  # pragma: no cover - compiled
    """The original study's other kernel: every pixel visits every leaf, back to front, last hit wins."""
    height, width = out.shape[:2]
    for y in numba.prange(height):
        for x in range(width):
            for c in range(3):
                out[y, x, c] = background
            for k in range(radius.shape[0] - 1, -1, -1):
                dy, dx = y - cy[k], x - cx[k]
                if dx * dx + dy * dy <= radius[k] * radius[k]:
                    for c in range(3):
                        out[y, x, c] = colours[k, c]


def _original(kernel):
    def render(leaves, size: int) -> np.ndarray:
        out = np.empty((size, size, 3))
        kernel(leaves.centres[:, 0].copy(), leaves.centres[:, 1].copy(), leaves.radii, leaves.colours, 0.5, out)
        return out.astype(np.float32)
    return render


def _engines() -> dict:
    from numba import cuda

    engines = {"ours (numba CPU)": lambda leaves, size: render_leaves(leaves, size),
               DEFAULT: _original(first_hit_render), EXHAUSTIVE: _original(exhaustive_render)}
    if cuda.is_available() and not numba.config.ENABLE_CUDASIM:  # the simulator is far too slow to time
        engines["ours (numba CUDA)"] = lambda leaves, size: render_leaves(leaves, size, backend="cuda")
    return engines


def _seconds(fn, repeats: int) -> float:
    """The median of ``repeats`` timings: a shared 2-core machine's stalls move a best-of by tens of percent."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def rendering_speed_table(sizes=(128, 256, 512), *, batch: int = 16, repeats: int = 3, naive_max_size: int = 512,
                          seed: int = 0) -> pd.DataFrame:
    """Mpix/s of every engine at each size, single image (the median over the ``batch`` images of each
    one's median of ``repeats`` timings; the exhaustive kernel: two images, once) and batch (the images back
    to back, median of ``repeats``), with the speed-up over each of the original study's kernels (the
    exhaustive one only up to ``naive_max_size``: it is slow)."""
    params = DeadLeavesConfig()
    rows = []
    for size in sizes:
        rng = stream(seed, "benchmark", size)
        sets = [sample_leaves(size, params, rng) for _ in range(batch)]
        reference = None
        for name, render in _engines().items():
            if name == EXHAUSTIVE and size > naive_max_size:
                continue
            render(sets[0], size)  # compile / warm up
            image = render(sets[0], size)
            reference = image if reference is None else reference
            assert np.array_equal(image, reference), f"{name} differs from our CPU kernel at {size}"
            timed, times = (sets[:2], 1) if name == EXHAUSTIVE else (sets, repeats)  # the exhaustive kernel is slow
            single = float(np.median([_seconds(lambda s=s: render(s, size), times) for s in timed]))  # of medians
            many = _seconds(lambda: [render(s, size) for s in sets], times)
            rows.append({"engine": name, "size_px": size, "leaves": len(sets[0]),
                         "single_mpix_s": size * size / single / 1e6,
                         "batch_mpix_s": batch * size * size / many / 1e6})
    table = pd.DataFrame(rows)
    for column, engine in (("speedup_vs_default", DEFAULT), ("speedup_vs_exhaustive", EXHAUSTIVE)):
        baseline = table[table.engine == engine].set_index("size_px")["single_mpix_s"]
        table[column] = table.single_mpix_s / table.size_px.map(baseline)
    return table


def rendering_scaling_table(sizes=(128, 256, 512, 1024), leaf_factors=(1, 2, 4), *, repeats: int = 3,
                            seed: int = 0) -> pd.DataFrame:
    """Our CPU kernel's time per image as the canvas and the number of leaves grow (``leaf_factors`` x
    the seed's 30 leaves per pixel of side), with the time per pixel and per pixel x leaf: a cost that
    follows the pixels keeps ``ns_per_pixel`` flat while ``ns_per_pixel_leaf`` falls."""
    rows = []
    for size in sizes:
        for factor in leaf_factors:
            params = dataclasses.replace(DeadLeavesConfig(), leaf_density=30.0 * factor)
            leaves = sample_leaves(size, params, stream(seed, "scaling", size, factor))
            render_leaves(leaves, size)  # compile / warm up
            seconds = _seconds(lambda: render_leaves(leaves, size), repeats)
            rows.append({"size_px": size, "leaves": len(leaves), "ms_per_image": seconds * 1e3,
                         "ns_per_pixel": seconds / size ** 2 * 1e9,
                         "ns_per_pixel_leaf": seconds / (size ** 2 * len(leaves)) * 1e9})
    return pd.DataFrame(rows)
