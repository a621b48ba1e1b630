"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's algorithm.

The original kernel loops, for every pixel, over every leaf (cost ∝ pixels × leaves); it is kept
here, as a numba kernel on the same threads, as the reference. Ours paints front to back and
stops a row once it is covered (:mod:`rstor_core.leaf_kernels`). Every engine renders the same
sampled leaves (the seed's defaults: flat discs, 30 × size of them, alpha = 3); sampling is
excluded. "single" is one image, "batch" is ``batch`` images back to back. CUDA rows appear when
a GPU is present (host-device copies included). Chapter 01 shows :func:`rendering_speed_table`;
``benchmarks/deadleaves.py`` prints it. Timings on a shared 2-core machine vary by tens of percent
between runs: compare ratios within one run.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import pandas as pd

from rstor_core.configs import DeadLeavesConfig
from rstor_core.deadleaves import render_leaves, sample_leaves
from rstor_core.rng import stream


@numba.njit(parallel=True, cache=True)
def naive_render(cy, cx, radius, colours, background, out):  # pragma: no cover - compiled
    """The original study's kernel: every pixel visits every leaf, back to front, last hit wins."""
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


def _naive(leaves, size: int) -> np.ndarray:
    out = np.empty((size, size, 3))
    naive_render(leaves.centres[:, 0].copy(), leaves.centres[:, 1].copy(), leaves.radii, leaves.colours, 0.5, out)
    return out.astype(np.float32)


def _engines() -> dict:
    from numba import cuda

    engines = {"ours (numba CPU)": lambda leaves, size: render_leaves(leaves, size),
               "original (naive numba CPU)": _naive}
    if cuda.is_available() and not numba.config.ENABLE_CUDASIM:  # the simulator is far too slow to time
        engines["ours (numba CUDA)"] = lambda leaves, size: render_leaves(leaves, size, backend="cuda")
    return engines


def _seconds(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def rendering_speed_table(sizes=(128, 256, 512), *, batch: int = 16, repeats: int = 3, naive_max_size: int = 512,
                    seed: int = 0) -> pd.DataFrame:
    """Mpix/s of every engine at each size, single image and batch, with the speed-up over the naive kernel."""
    params = DeadLeavesConfig()
    rows = []
    for size in sizes:
        rng = stream(seed, "benchmark", size)
        sets = [sample_leaves(size, params, rng) for _ in range(batch)]
        reference = None
        for name, render in _engines().items():
            if name.startswith("original") and size > naive_max_size:
                continue
            render(sets[0], size)  # compile / warm up
            image = render(sets[0], size)
            reference = image if reference is None else reference
            assert np.array_equal(image, reference), f"{name} differs from our CPU kernel at {size}"
            single = _seconds(lambda: render(sets[0], size), repeats)
            many = _seconds(lambda: [render(s, size) for s in sets], 1 if name.startswith("original") else repeats)
            rows.append({"engine": name, "size_px": size, "leaves": len(sets[0]),
                         "single_mpix_s": size * size / single / 1e6,
                         "batch_mpix_s": batch * size * size / many / 1e6})
    table = pd.DataFrame(rows)
    naive = table[table.engine.str.startswith("original")].set_index("size_px")["single_mpix_s"]
    table["speedup_vs_original"] = table.single_mpix_s / table.size_px.map(naive)
    return table
