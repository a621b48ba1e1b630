"""Dead-leaves rendering speed, in Mpix/s: our kernels against the original study's algorithm.

    .venv/bin/python benchmarks/deadleaves.py [--sizes 128 256 512] [--batch 16] [--repeats 3]

The table is :func:`rstor_core.speed.rendering_speed_table` (its docstring says what each engine
and column is); chapter 01 shows a smaller one on the machine that ran it.
"""

from __future__ import annotations

import argparse

import numba

from rstor_core.speed import rendering_speed_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"numba threads: {numba.get_num_threads()}; batch of {args.batch}; best of {args.repeats}")
    table = rendering_speed_table(args.sizes, batch=args.batch, repeats=args.repeats)
    print(table.to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
