"""Dead-leaves speed: whole images end to end (sampling included) against the original study's generator end
to end; rendering alone in Mpix/s against the original study's two kernels; and how our CPU kernel's cost
grows with the canvas and the number of leaves.

    .venv/bin/python benchmarks/deadleaves.py [--e2e-sizes 256 512] [--images 7] [--sizes 128 256 512]
        [--batch 16] [--repeats 3] [--scaling-sizes 128 256 512 1024] [--leaf-factors 1 2 4] [--skip-e2e]

The tables are :func:`rstor_core.images.speed.end_to_end_table`, :func:`rstor_core.images.speed.rendering_speed_table`
and :func:`rstor_core.images.speed.rendering_scaling_table` (their docstrings say what each engine and column
is); chapter 01 shows smaller ones on the machine that ran it. Run it on an idle machine. The end-to-end
table's original_study rows time the original's default kernel on a 5x canvas: about 5 s an image at 256²
and 20 s at 512² here, so the whole script takes several minutes.

Measured here (2 cores, idle, 2026-12-04, ``--batch 8 --repeats 5``, four runs; the README has the
tables): a whole 256² flat-disc image 0.76 ms, 65-67x the original study's generator end to end (50-53 ms),
sampling 28-30 % of it, in the two runs the VM's slow state spared (in about one process in five
everything, numpy's serial sampling included, ran 2-2.5x slower: 30-33x there); at 512² 140-309x and 18-26 %;
``original_study`` 175-195x at 256², 271-286x at 512², sampling 5-14 % (with the preset of that time, which
shrank the 512² scene into the image; it now paints a window of the scene, and the original's side renders the
whole scene: the 256² row is not re-measured since). Painting alone, 36-106x the
original's default kernel at 256² (59x before issue 28). Before issue 28 the whole 256² call cost 1.7-2.9 ms,
half of it sampling in numpy (0.74 ms then, 0.21 ms now). Every engine is timed after 0.3 s of calls and
with glibc's allocator in a working process's state (:func:`rstor_core.images.speed._steady_allocator`: without
it, page faults made a fresh process's 256² image 1.3 ms).
"""

from __future__ import annotations

import argparse

import numba

from rstor_core.images.speed import end_to_end_table, rendering_scaling_table, rendering_speed_table


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
