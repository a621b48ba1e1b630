"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's two kernels, and how
our CPU kernel's cost grows with the canvas and the number of leaves.

    .venv/bin/python benchmarks/deadleaves.py [--sizes 128 256 512] [--batch 16] [--repeats 3]
        [--scaling-sizes 128 256 512 1024] [--leaf-factors 1 2 4]

The tables are :func:`rstor_core.speed.rendering_speed_table` and
:func:`rstor_core.speed.rendering_scaling_table` (their docstrings say what each engine and column
is); chapter 01 shows a smaller speed table on the machine that ran it. Run it on an idle machine.

Measured here (2 cores, idle, 2026-11-28, ``--batch 8``, best of 3), single-image Mpix/s and our
speed-up over the original study's default kernel: 128² 18.5 (5.1x), 256² 31.2 (26.1x), 512² 55.4
(141x); over its exhaustive kernel 46x, 151x, 534x. Before tiles (row threads) the issue measured
12-14x over the default kernel at 256²: tiling doubled it, short of the 50x aimed at (the fixed
per-image cost, packing and shading, is now a large share at 256²). The scaling table: 3.8k -> 123k
leaves at 128² -> 1024², 0.97 -> 47 ms per image; ns per pixel x leaf falls from 0.015 to 0.0004,
but at a fixed size the time still grows with the leaf count (x2 leaves: x1.4-2).
"""

from __future__ import annotations

import argparse

import numba

from rstor_core.speed import rendering_scaling_table, rendering_speed_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling-sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--leaf-factors", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print(f"numba threads: {numba.get_num_threads()}; batch of {args.batch}; best of {args.repeats}\n")
    table = rendering_speed_table(args.sizes, batch=args.batch, repeats=args.repeats)
    print(table.to_markdown(index=False, floatfmt=".1f"), "\n")
    scaling = rendering_scaling_table(args.scaling_sizes, args.leaf_factors, repeats=args.repeats)
    print(scaling.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
