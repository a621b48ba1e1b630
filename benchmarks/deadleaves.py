"""Dead-leaves speed: whole images end to end (sampling included) against the original study's generator end
to end; rendering alone in Mpix/s against the original study's two kernels; and how our CPU kernel's cost
grows with the canvas and the number of leaves.

    .venv/bin/python benchmarks/deadleaves.py [--e2e-sizes 256 512] [--images 7] [--sizes 128 256 512]
        [--batch 16] [--repeats 3] [--scaling-sizes 128 256 512 1024] [--leaf-factors 1 2 4] [--skip-e2e]

The tables are :func:`rstor_core.speed.end_to_end_table`, :func:`rstor_core.speed.rendering_speed_table`
and :func:`rstor_core.speed.rendering_scaling_table` (their docstrings say what each engine and column
is); chapter 01 shows smaller ones on the machine that ran it. Run it on an idle machine. The end-to-end
table's original_study rows time the original's default kernel on a 5x canvas: about 5 s an image at 256²
and 20 s at 512² here, so the whole script takes several minutes.

End to end (issue 28, measured here 2026-12-04, 2 cores; the README has the table): the original study's
default generator costs ~50 ms for a 256² image here (its draws 0.6 ms, its kernel the rest); ours 0.8 ms,
a quarter of it sampling. Before issue 28 the same call cost 1.7-2.9 ms, half of it sampling in numpy.

Measured here (2 cores, idle, 2026-11-28, ``--batch 8 --repeats 5``): single-image Mpix/s, the median
over 8 images of each one's median of 5 timings, and our speed-up over the original study's default
kernel: 128² 48.0 (12.7x), 256² 71.2 (58.8x), 512² 113.6 (295x); over its exhaustive kernel 129x, 358x,
1136x. The default kernel's own time moves by tens of percent between runs on this shared machine
(55-110 ms per 256² image in this session's runs), and the ratio with it. What got it there from 26x: the leaves are packed
in one compiled pass each for geometry and looks (numpy's array passes cost as much as painting), each
tile is shaded as soon as it is painted (one thread launch, float32 out), discs and flat leaves take
their own short path (same bits). The scaling table: per pixel the cost falls as the canvas grows at
the seed's density (10.2 ns at 256², 8.8 ns at 1024²), but at a fixed canvas it follows the leaf count
(x2 leaves: x1.7-2), since every leaf is binned and a tile with background left scans all of its own.
"""

from __future__ import annotations

import argparse

import numba

from rstor_core.speed import end_to_end_table, rendering_scaling_table, rendering_speed_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--e2e-sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--images", type=int, default=7, help="images per end-to-end row (the median is reported)")
    parser.add_argument("--skip-e2e", action="store_true", help="only the rendering tables")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling-sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--leaf-factors", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print(f"numba threads: {numba.get_num_threads()}; batch of {args.batch}; median of {args.repeats}\n")
    if not args.skip_e2e:
        table = end_to_end_table(args.e2e_sizes, images=args.images, repeats=args.repeats)
        print(f"End to end (ms per image, median over {args.images} images; threading layer "
              f"{numba.threading_layer()}):")
        print(table.to_markdown(index=False, floatfmt=".3g"), "\n")
    table = rendering_speed_table(args.sizes, batch=args.batch, repeats=args.repeats)
    print(table.to_markdown(index=False, floatfmt=".1f"), "\n")
    scaling = rendering_scaling_table(args.scaling_sizes, args.leaf_factors, repeats=args.repeats)
    print(scaling.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
