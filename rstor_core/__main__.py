"""Command line of rstor_core: a thin layer over the functions the book calls.

    python -m rstor_core check-profile parameters/quick.yaml
    python -m rstor_core book --profile quick [--chapters 01 03] [--fresh] [--no-build] [--device cpu]
    python -m rstor_core train --profile smoke --experiment NAME [--force] [--device cpu]
    python -m rstor_core infer --checkpoints A/model.pt B/model.pt --images DIR --sizes 256,512 \
        --sigmas 5,25,50 --blur small:0-7 big:3 --n 5 --out results.csv [--save-images DIR] [--no-lpips] \
        [--device cpu]
    python -m rstor_core deadleaves save --n 1000 --size 256 --out DIR [--profile quick | --params FILE]

Exit codes: 0 done, 1 a chapter or the book build failed, 2 bad input (profile, chapter name);
bad input is rejected before anything is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rstor_core.profiles import ProfileError, load_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rstor_core", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-profile", help="validate a profile and exit")
    check.add_argument("file", help="a profile file or name (parameters/<name>.yaml)")
    book = commands.add_parser("book", help="run the chapters with papermill, then build the HTML book")
    book.add_argument("--profile", default="quick", help="profile name or file (default: quick)")
    book.add_argument("--chapters", nargs="+", metavar="NN", help="only these chapters, e.g. 01 03")
    book.add_argument("--fresh", action="store_true", help="retrain instead of reusing saved weights")
    book.add_argument("--no-build", action="store_true", help="execute the chapters only")
    book.add_argument("--outputs", type=Path, default=Path("outputs"), help="outputs root (default: outputs)")
    book.add_argument("--device", help="cpu, cuda, cuda:1 ... for training and evaluation "
                      "(default: cuda when available)")
    train = commands.add_parser("train", help="train one experiment of a profile (skipped when already trained)")
    train.add_argument("--profile", default="quick", help="profile name or file (default: quick)")
    train.add_argument("--experiment", required=True, help="a name under the profile's experiments section")
    train.add_argument("--force", action="store_true", help="start over even if trained or interrupted")
    train.add_argument("--outputs", type=Path, default=Path("outputs"), help="outputs root (default: outputs)")
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    infer = commands.add_parser("infer", help="evaluate checkpoints on a folder of images (tidy CSV)")
    infer.add_argument("--checkpoints", nargs="+", type=Path, required=True, help="model.pt files")
    infer.add_argument("--images", required=True, help="a folder of images, or 'skimage' (its test split)")
    infer.add_argument("--sizes", default="", help="centre-crop sides, comma-separated (default: whole images)")
    infer.add_argument("--sigmas", default="", help="AWGN sigmas in /255, comma-separated")
    infer.add_argument("--blur", nargs="*", default=[], help="bank kernels: small:0-7 big:3 mild")
    infer.add_argument("--blur-sigma", type=float, default=0.0, help="noise added after each blur, /255")
    infer.add_argument("--n", type=int, default=None, help="first N images only")
    infer.add_argument("--seed", type=int, default=0)
    infer.add_argument("--out", type=Path, required=True, help="CSV to write")
    infer.add_argument("--save-images", type=Path, help="also write degraded inputs and outputs as PNGs here")
    infer.add_argument("--no-lpips", action="store_true", help="leave LPIPS out (NaN column)")
    infer.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    dead = commands.add_parser("deadleaves", help="dead-leaves datasets").add_subparsers(dest="action", required=True)
    save = dead.add_parser("save", help="write a seeded set of dead-leaves PNGs (resumable)")
    save.add_argument("--n", type=int, required=True, help="number of images")
    save.add_argument("--size", type=int, required=True, help="image side, pixels")
    save.add_argument("--out", type=Path, required=True, help="output folder")
    save.add_argument("--seed", type=int, default=0)
    save.add_argument("--bits", type=int, choices=(8, 16), default=8)
    source = save.add_mutually_exclusive_group()
    source.add_argument("--profile", help="take data_generation.dead_leaves of this profile")
    source.add_argument("--params", type=Path, help="JSON of DeadLeavesConfig fields (or a params.json written before)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "deadleaves":
        return _save_dead_leaves(args)
    if args.command == "infer":
        return _infer(args)
    try:
        profile = load_profile(args.file if args.command == "check-profile" else args.profile)
    except ProfileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "check-profile":
        print(f"{profile.path}: ok (sha256 {profile.sha256[:12]})")
        return 0
    if args.command == "train":
        return _train(profile, args)

    from rstor_core.book import run_book, select_chapters, toc_chapters

    try:
        select_chapters(toc_chapters(), args.chapters)
        if args.device is not None:
            from rstor_core.models import pick_device

            pick_device(args.device)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        run_book(profile, chapters=args.chapters, outputs_root=args.outputs, fresh=args.fresh,
                 build=not args.no_build, device=args.device)
    except RuntimeError as err:  # a chapter (ChapterError) or the Jupyter Book build
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _train(profile, args: argparse.Namespace) -> int:
    if args.experiment not in profile.experiments:
        print(f"error: {profile.path}: no experiment {args.experiment!r}; available: {sorted(profile.experiments)}",
              file=sys.stderr)
        return 2
    from rstor_core.models import pick_device
    from rstor_core.train import TrainingDiverged, train_experiment

    config = profile.experiments[args.experiment]
    problems = [f"{profile.path}: experiments.{args.experiment}.{p}" for p in config.missing_data()]
    try:
        device = pick_device(args.device)
    except ValueError as err:
        problems.append(str(err))
    if problems:
        print("error: " + "\nerror: ".join(problems), file=sys.stderr)
        return 2
    out_dir = args.outputs / profile.name / "checkpoints" / args.experiment
    try:
        path = train_experiment(config, out_dir, force=args.force, device=device)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"model: {path}")
    return 0


def _infer(args: argparse.Namespace) -> int:
    from rstor_core.photos import test_photos
    from rstor_core.evaluate import degradation_grid, evaluate
    from rstor_core.files import save_table
    from rstor_core.models import pick_device
    from rstor_core.train import load_model

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s] or [None]
        sigmas = [float(s) for s in args.sigmas.split(",") if s]
        if any(s is not None and s < 16 for s in sizes) or any(s < 0 for s in sigmas):
            raise ValueError(f"sizes must be >= 16 and sigmas >= 0, got {args.sizes!r} and {args.sigmas!r}")
        grid = degradation_grid(sigmas, args.blur, blur_sigma=args.blur_sigma)
        missing = [str(p) for p in args.checkpoints if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"checkpoint(s) not found: {missing}")
        device = pick_device(args.device)
        images = test_photos(args.images)
        models = {(p.parent.name if p.name == "model.pt" else p.stem): load_model(p, device=device)
                  for p in args.checkpoints}
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = evaluate(models, images, grid, sizes=sizes, n_images=args.n, seed=args.seed, device=device,
                     test_set=Path(args.images).name, lpips=not args.no_lpips, save_images=args.save_images)
    save_table(table, args.out)
    print(table.groupby(["model", "degradation"])[["psnr", "ssim", "lpips"]].mean().round(3).to_string())
    print(f"{len(table)} rows -> {args.out}")
    return 0


def _save_dead_leaves(args: argparse.Namespace) -> int:
    from rstor_core.data import save_dead_leaves
    from rstor_core.deadleaves import DeadLeavesConfig

    try:
        if args.profile:
            params = load_profile(args.profile).data_generation.dead_leaves
        elif args.params:
            fields = json.loads(args.params.read_text())
            params = DeadLeavesConfig(**fields.get("params", fields))
        else:
            params = DeadLeavesConfig()
        if args.n < 1 or args.size < 1:
            raise ValueError(f"--n and --size must be >= 1, got {args.n} and {args.size}")
        save_dead_leaves(args.out, args.n, args.size, params, seed=args.seed, bits=args.bits)
    except (ProfileError, ValueError, TypeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _main_or_interrupted(argv: list[str] | None = None) -> int:
    """:func:`main`, with Ctrl-C reported as the shell does (exit 130), without a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_main_or_interrupted())
