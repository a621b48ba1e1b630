"""Dead-leaves rendering speed: the numba front-to-back kernel against a numpy painter.

    .venv/bin/python benchmarks/bench_deadleaves.py [--sizes 128 256 512 1024] [--repeats 5]

The numpy painter is the straightforward reference: every leaf, back to front, paints its
bounding box with a mask. Both render the same sampled leaves; the table prints the median
time per image (sampling excluded) and the speed-up. Timings on a shared 2-core machine vary
by tens of percent between runs: compare the ratio within one run.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from rstor_core.deadleaves import DeadLeavesParams, render_leaf_index, sample_leaves


def numpy_painter(leaves, size: int) -> np.ndarray:
    index = np.full((size, size), -1, dtype=np.int32)
    for k in range(len(leaves) - 1, -1, -1):
        (cy, cx), r = leaves.centres[k], leaves.radii[k]
        y0, y1 = max(0, int(np.ceil(cy - r))), min(size - 1, int(np.floor(cy + r)))
        x0, x1 = max(0, int(np.ceil(cx - r))), min(size - 1, int(np.floor(cx + r)))
        if y0 > y1 or x0 > x1:
            continue
        yy, xx = np.ogrid[y0:y1 + 1, x0:x1 + 1]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        index[y0:y1 + 1, x0:x1 + 1][mask] = k
    return index


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    params = DeadLeavesParams()
    render_leaf_index(sample_leaves(32, params, np.random.default_rng(0)), 32)  # compile
    print(f"numba threads: {numba.get_num_threads()}")
    print(f"| size | leaves | numba kernel (ms) | numpy painter (ms) | speed-up |")
    print(f"|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        leaves = sample_leaves(size, params, np.random.default_rng(size))
        assert np.array_equal(render_leaf_index(leaves, size), numpy_painter(leaves, size))
        fast = median_seconds(lambda: render_leaf_index(leaves, size), args.repeats)
        slow = median_seconds(lambda: numpy_painter(leaves, size), max(1, args.repeats // 2))
        print(f"| {size} | {len(leaves)} | {fast * 1e3:.2f} | {slow * 1e3:.1f} | {slow / fast:.0f}x |")


if __name__ == "__main__":
    main()
