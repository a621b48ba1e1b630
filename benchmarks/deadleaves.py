"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's two kernels, and how
our CPU kernel's cost grows with the canvas and the number of leaves.

    .venv/bin/python benchmarks/deadleaves.py [--sizes 128 256 512] [--batch 16] [--repeats 3]
        [--scaling-sizes 128 256 512 1024] [--leaf-factors 1 2 4]

The tables are :func:`rstor_core.speed.rendering_speed_table` and
:func:`rstor_core.speed.rendering_scaling_table` (their docstrings say what each engine and column
is); chapter 01 shows a smaller speed table on the machine that ran it. Run it on an idle machine.
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
