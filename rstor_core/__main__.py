"""Command line of rstor_core: a thin layer over the functions the book calls.

    python -m rstor_core check-profile parameters/quick.yaml
    python -m rstor_core book --profile quick [--chapters 01 03] [--fresh] [--no-build] [--device cpu]
    python -m rstor_core train --profile smoke --experiment NAME [--run R] [--force] [--device cpu] [--tensorboard DIR]
    python -m rstor_core infer --checkpoints A/model.pt B/model.pt --images DIR --sizes 256,512 \
        --sigmas 5,25,50 --blur small:0-7 big:3 --n 5 --out results.csv [--save-images DIR] [--no-lpips] [--no-st-lpips] \
        [--device cpu]    (or --pairs DIR|kohler instead of --images and the degradations)
    python -m rstor_core deadleaves save --n 1000 --size 256 --out DIR [--profile quick | --params FILE]
    python -m rstor_core check-gpu

Options are held to the bounds the profiles declare (:func:`rstor_core.settings.knobs.knob`), and every
path is checked before any work, so bad input is one ``error:`` line, exit 2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rstor_core.settings.chapters import DataGenerationConfig
from rstor_core.settings.configs import BANK_SIZE, DeadLeavesConfig, ExperimentConfig
from rstor_core.settings.options import bounded, check_writable, command_line, infer_options
from rstor_core.settings.profiles import ProfileError, load_profile

log = logging.getLogger("rstor_core")


def main(argv: list[str] | None = None) -> int:
    args = command_line(_with_bank_names).parse_args(argv)
    # Our progress messages at INFO, every library's at WARNING: torch logs at INFO from atexit hooks
    # ("FakeTensor cache stats" after an `interrupted`), which a root logger at INFO would print.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        return _run(args)
    except (ProfileError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a write failed part-way (a full disk): what was complete before it is kept
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}; the files completed before it are kept, and a rerun resumes",
              file=sys.stderr)
        return 1


def _with_bank_names(text: str) -> str:
    if "{public_sets}" in text:  # photos reads images with PIL and scikit-image: only for help
        from rstor_core.images.public_sets import PUBLIC_SETS

        text = text.replace("{public_sets}", ", ".join(PUBLIC_SETS))
    if "{banks}" not in text:
        return text
    from rstor_core.degradation.degrade import BANKS, FAMILIES

    motion = [b for b in BANKS if b in FAMILIES]
    banks = f"{', '.join(motion)} (motion blur) and {', '.join(b for b in BANKS if b not in motion)}"
    return text.replace("{banks}", banks).replace("{bank_size}", str(BANK_SIZE))


def _run(args: argparse.Namespace) -> int:
    if args.command == "check-gpu":
        return _check_gpu()
    if args.command == "deadleaves":
        return _save_dead_leaves(args)
    if args.command == "infer":
        return _infer(args)
    profile = load_profile(args.file if args.command == "check-profile" else args.profile)
    if args.command == "check-profile":
        print(f"{profile.path}: ok (sha256 {profile.sha256[:12]})")
        return 0
    if args.command == "train":
        return _train(profile, args)

    from rstor_core.book.runner import run_book, select_chapters
    from rstor_core.book.site import toc_chapters

    select_chapters(toc_chapters(), args.chapters)
    check_writable(args.outputs, "--outputs")
    if args.device is not None:
        from rstor_core.networks.device import pick_device

        pick_device(args.device)
    try:
        run_book(profile, chapters=args.chapters, outputs_root=args.outputs, fresh=args.fresh,
                 build=not args.no_build, device=args.device)
    except RuntimeError as err:  # a chapter (ChapterError) or the Jupyter Book build
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _check_gpu() -> int:
    from rstor_core.networks.gpu_check import gpu_checks

    checks = gpu_checks()
    for check in checks:
        if check.ok:
            print(f"ok: {check.name}: {check.detail}")
        else:
            print(f"error: {check.detail}", file=sys.stderr)
            return 1
    return 0


def _tracking(args: argparse.Namespace):
    from rstor_core.networks.tracking import Tracking

    if args.wandb and args.tensorboard is None:
        raise ValueError("--wandb needs --tensorboard DIR: its offline run is written beside the TensorBoard events")
    return args.tensorboard and Tracking(args.tensorboard, wandb=args.wandb)


def _train(profile, args: argparse.Namespace) -> int:
    if args.experiment not in profile.experiments:
        raise ValueError(f"{profile.path}: no experiment {args.experiment!r}; available: {sorted(profile.experiments)}")
    from rstor_core.book.runner import check_outputs_owner
    from rstor_core.images.sources import experiment_missing_data
    from rstor_core.networks.device import pick_device
    from rstor_core.networks.runs import ExperimentStore
    from rstor_core.networks.train import TrainingDiverged

    bounded("--run", args.run, ExperimentConfig, run=args.run)
    check_outputs_owner(profile, args.outputs / profile.name)  # a quick.yaml elsewhere: not over outputs/quick
    store = ExperimentStore(args.outputs / profile.name / "checkpoints", profile.experiments,
                            device=pick_device(args.device), fresh={args.experiment} if args.force else False,
                            where=str(profile.path), tracking=_tracking(args))
    problems = [f"{profile.path}: experiments.{name}.{p}" for name in store.lineage(args.experiment)
                for p in experiment_missing_data(store.config(name, args.run))]  # missing, or no readable image
    if problems:
        raise ValueError("\nerror: ".join(problems))
    check_writable(store.folder(args.experiment, args.run), "--outputs")
    check_writable(args.tensorboard, "--tensorboard")
    try:
        path = store.train(args.experiment, args.run)  # after the ones it starts from (init_from)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"model: {path}")
    return 0


def _infer(args: argparse.Namespace) -> int:
    from rstor_core.measurement import study
    from rstor_core.settings.files import save_table

    sizes, sigmas = infer_options(args)  # numbers in bounds, paths writable, checkpoints there: before any work
    options = dict(device=args.device, n_images=args.n, sizes=sizes or [None], lpips=not args.no_lpips,
                   st_lpips=not args.no_st_lpips, save_images=args.save_images)
    if args.pairs is not None:  # recorded blur: each blurred image scored against its sharp one
        from rstor_core.networks.pair_scoring import score_pair_checkpoints

        table = score_pair_checkpoints(args.checkpoints, args.pairs, **options)
    else:
        from rstor_core.networks.evaluate import degradation_grid, score_checkpoints

        grid = degradation_grid(sigmas, args.blur, blur_sigma=args.blur_sigma)
        twice = next((d.blur for d in grid if d.blur and grid.count(d) > 1), None)
        if twice is not None:  # overlapping specs (small:0-3 small:2): the kernel's rows would count twice
            raise ValueError(f"--blur {' '.join(args.blur)!r}: kernel {twice} is given twice")
        table = score_checkpoints(args.checkpoints, args.images, grid, seed=args.seed, **options)
    save_table(table, args.out)
    print(study.metric_means(table, ["model", "degradation"]).round(3).to_string())
    print(f"{len(table)} rows -> {args.out}")
    return 0


def _save_dead_leaves(args: argparse.Namespace) -> int:
    from rstor_core.networks.batches import save_dead_leaves

    if args.profile:
        params = load_profile(args.profile).data_generation.dead_leaves
    elif args.params:
        params = _dead_leaves_params(args.params)
    else:
        params = DeadLeavesConfig()
    if args.n < 1:
        raise ValueError(f"--n {args.n}: expected a number of images >= 1")
    bounded("--size", args.size, DataGenerationConfig, size=args.size)
    bounded("--seed", args.seed, DataGenerationConfig, seed=args.seed)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a file; give a folder")
    check_writable(args.out, "--out")
    save_dead_leaves(args.out, args.n, args.size, params, seed=args.seed, bits=args.bits)
    return 0


def _dead_leaves_params(path: Path) -> DeadLeavesConfig:
    """The DeadLeavesConfig of a ``--params`` JSON file of its fields (or of a params.json's ``params``)."""
    try:
        fields = json.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"--params {str(path)!r}: cannot read it ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"--params {str(path)!r}: not JSON ({err})") from None
    fields = fields.get("params", fields) if isinstance(fields, dict) else fields
    if not isinstance(fields, dict):
        raise ValueError(f"--params {str(path)!r}: expected a JSON object of DeadLeavesConfig fields, got "
                         f"{type(fields).__name__}")
    from rstor_core.settings.profiles import build_config

    return build_config(DeadLeavesConfig, fields, where="params", source=path)  # keys, types, bounds: one line


def _main_or_interrupted(argv: list[str] | None = None) -> int:
    """:func:`main`, with Ctrl-C reported as the shell does (exit 130), without a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_main_or_interrupted())
