"""Command line of rstor_core: a thin layer over the functions the book calls.

    python -m rstor_core check-profile parameters/quick.yaml
    python -m rstor_core book --profile quick [--chapters 01 03] [--fresh] [--no-build] [--device cpu]
    python -m rstor_core train --profile smoke --experiment NAME [--run R] [--force] [--device cpu]
    python -m rstor_core infer --checkpoints A/model.pt B/model.pt --images DIR --sizes 256,512 \
        --sigmas 5,25,50 --blur small:0-7 big:3 --n 5 --out results.csv [--save-images DIR] [--no-lpips] [--no-st-lpips] \
        [--device cpu]
    python -m rstor_core deadleaves save --n 1000 --size 256 --out DIR [--profile quick | --params FILE]
    python -m rstor_core check-gpu

Options are held to the bounds the profiles declare (:func:`rstor_core.settings.knobs.knob`), and every
path is checked before any work, so bad input is one ``error:`` line, exit 2, and nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rstor_core.settings.chapters import DataGenerationConfig, DeblurStudyConfig, DenoiseStudyConfig
from rstor_core.settings.configs import BANK_SIZE, DeadLeavesConfig, ExperimentConfig
from rstor_core.settings.knobs import ConfigError
from rstor_core.settings.profiles import ProfileError, load_profile

log = logging.getLogger("rstor_core")
EXIT_CODES = """exit codes:
  0    done
  1    a run failed: a chapter, the book build, a training that diverged, a write (a full disk),
       or a check-gpu check
  2    bad input (profile, option, path, checkpoint, images): one error line, nothing written
  130  interrupted (Ctrl-C)"""
# Bytes per rendered pixel while one dead-leaves image is painted and finished: the int32 leaf index and
# the float64 RGB shading (28; tracemalloc measured 48-61 at 256-512 px when anti-aliasing also made a
# full-size low-pass copy, which rstor_core.images.antialiasing.decimate_gaussian no longer makes: kept as the
# bound). No config bounds memory, so `deadleaves save` compares this with the machine's.
RENDER_BYTES_PER_PIXEL = 64


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rstor_core", description=__doc__.split("\n")[0],
                                     epilog=EXIT_CODES, formatter_class=_Help)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(group: Any, name: str, summary: str, details: str) -> argparse.ArgumentParser:
        return group.add_parser(name, help=summary, description=f"{summary}.\n\n{details}", epilog=EXIT_CODES,
                                formatter_class=_Help)

    check = command(commands, "check-profile", "Validate a profile and exit",
                    "Reports unknown keys, wrong types and out-of-range values with the file and the key;\n"
                    "prints the profile's sha256 when it is valid. Writes nothing.")
    check.add_argument("file", help="a profile file or name (parameters/<name>.yaml)")
    command(commands, "check-gpu", "Tell whether this machine can run the GPU path",
            "Three checks, each needing the one before: torch sees a CUDA GPU; numba-CUDA compiles and runs\n"
            "the dead-leaves kernels (numpy 2.5 included); a batch rendered on the GPU in one launch equals the\n"
            "CPU's images bit for bit. Exit 0 when all hold, else 1 with one error line. Writes nothing.")
    book = command(commands, "book", "Run the chapters with papermill, then build the HTML book",
                   "Writes OUTPUTS/<profile>/notebooks (the executed chapters), <profile>/figures,\n"
                   "<profile>/tables and <profile>/manifest.json, then _build/html/index.html. Chapters that\n"
                   "train reuse the saved weights in <profile>/checkpoints unless --fresh.")
    book.add_argument("--profile", default="quick", help="profile name or file (default: quick)")
    book.add_argument("--chapters", nargs="+", metavar="NN", help="only these chapters, e.g. 01 03")
    book.add_argument("--fresh", action="store_true", help="retrain instead of reusing saved weights")
    book.add_argument("--no-build", action="store_true", help="execute the chapters only")
    book.add_argument("--outputs", type=Path, default=Path("outputs"), help="outputs root (default: outputs)")
    book.add_argument("--device", help="cpu, cuda, cuda:1 ... for training and evaluation "
                      "(default: cuda when available)")
    train = command(commands, "train", "Train one experiment of a profile",
                    "Writes OUTPUTS/<profile>/checkpoints/<experiment>/ (run R > 0: <experiment>.runR/):\n"
                    "model.pt (the weights the chapters and infer load), last.opt.pt (the resumable state)\n"
                    "and log.csv. Skipped when already trained; an interrupted run resumes from last.opt.pt;\n"
                    "--force starts over (the old model stays until the new one is complete).")
    train.add_argument("--profile", default="quick", help="profile name or file (default: quick)")
    train.add_argument("--experiment", required=True, help="a name under the profile's experiments section")
    train.add_argument("--run", type=int, default=0,
                       help="which of the experiment's independently trained networks, 0-9 (default: 0); each "
                            "draws its own batches and initial weights, and natural run R trains outside fold "
                            "R mod 3 of the bundled photos")
    train.add_argument("--force", action="store_true", help="start over even if trained or interrupted")
    train.add_argument("--outputs", type=Path, default=Path("outputs"), help="outputs root (default: outputs)")
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    infer = command(commands, "infer", "Evaluate checkpoints on a folder of images or a public set",
                    "Writes one CSV row per model, image, degradation and size to --out (PSNR, SSIM, LPIPS;\n"
                    "model 'input' is the degraded input), and PNGs to --save-images if given. Each model\n"
                    "is named by its folder, with parent folders added where two would share a name.\n"
                    "--sigmas or --blur is required (or both). Blur banks of {bank_size} fixed kernels each:\n"
                    "{banks}.")
    infer.add_argument("--checkpoints", nargs="+", type=Path, required=True, help="model.pt files")
    infer.add_argument("--images", required=True,
                       help="a folder of images, 'skimage' (the five bundled photos; a natural network trained "
                            "on them is scored on its run's fold only), or a public set fetched into the "
                            "cache ($RSTOR_DATA): {public_sets}")
    infer.add_argument("--sizes", default="", help="centre-crop sides, comma-separated (default: whole images)")
    infer.add_argument("--sigmas", default="", help="AWGN sigmas in /255, comma-separated")
    infer.add_argument("--blur", nargs="*", default=[], metavar="BANK:INDICES",
                       help="bank kernels, e.g. small:0-7 big:3 mild (a bank alone: all its kernels)")
    infer.add_argument("--blur-sigma", type=float, default=0.0, help="noise added after each blur, /255")
    infer.add_argument("--n", type=int, default=None, help="first N images only")
    infer.add_argument("--seed", type=int, default=0)
    infer.add_argument("--out", type=Path, required=True, help="CSV to write")
    infer.add_argument("--save-images", type=Path, help="also write degraded inputs and outputs as PNGs here")
    infer.add_argument("--no-lpips", action="store_true", help="leave LPIPS out (NaN column)")
    infer.add_argument("--no-st-lpips", action="store_true",
                       help="leave ST-LPIPS out (NaN column; saves about 0.25 s per 256x256 output on a 2-core CPU)")
    infer.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    dead = commands.add_parser("deadleaves", help="dead-leaves datasets", epilog=EXIT_CODES, formatter_class=_Help)
    save = command(dead.add_subparsers(dest="action", required=True), "save",
                   "Write a seeded set of dead-leaves PNGs",
                   "Writes 000000.png, 000001.png ... and params.json (what made the set) into --out. A rerun\n"
                   "resumes; a folder holding another set, or files this command did not write, is refused.")
    save.add_argument("--n", type=int, required=True, help="number of images")
    save.add_argument("--size", type=int, required=True, help="image side, pixels")
    save.add_argument("--out", type=Path, required=True, help="output folder")
    save.add_argument("--seed", type=int, default=0)
    save.add_argument("--bits", type=int, choices=(8, 16), default=8)
    source = save.add_mutually_exclusive_group()
    source.add_argument("--profile", help="take data_generation.dead_leaves of this profile")
    source.add_argument("--params", type=Path, help="JSON of DeadLeavesConfig fields (or a params.json written before)")
    return parser


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and epilogs, and fills in ``{banks}`` and ``{public_sets}``
    only when help is printed: the bank names live in :mod:`rstor_core.degradation.degrade`, whose torch import
    every command would otherwise pay (and the set names in :mod:`rstor_core.images.photos`)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(_with_bank_names(text), width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        return _with_bank_names(super()._get_help_string(action) or "")


def _with_bank_names(text: str) -> str:
    if "{public_sets}" in text:  # photos reads images with PIL and scikit-image: only for help
        from rstor_core.images.photos import PUBLIC_SETS

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
    _check_writable(args.outputs, "--outputs")
    if args.device is not None:
        from rstor_core.networks.models import pick_device

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


def _train(profile, args: argparse.Namespace) -> int:
    if args.experiment not in profile.experiments:
        raise ValueError(f"{profile.path}: no experiment {args.experiment!r}; available: {sorted(profile.experiments)}")
    from rstor_core.book.runner import check_outputs_owner
    from rstor_core.images.sources import experiment_missing_data
    from rstor_core.networks.models import pick_device
    from rstor_core.networks.runs import experiment_dir, parent_weights, train_experiment
    from rstor_core.networks.train import TrainingDiverged

    _bounded("--run", args.run, ExperimentConfig, run=args.run)
    check_outputs_owner(profile, args.outputs / profile.name)  # a quick.yaml elsewhere: not over outputs/quick
    configs = {name: dataclasses.replace(profile.experiments[name], run=args.run)
               for name in profile.lineage(args.experiment)}  # the ones it starts from (init_from) first
    problems = [f"{profile.path}: experiments.{name}.{p}" for name, config in configs.items()
                for p in experiment_missing_data(config)]  # missing, or no readable image in it
    if problems:
        raise ValueError("\nerror: ".join(problems))
    device = pick_device(args.device)
    checkpoints = args.outputs / profile.name / "checkpoints"
    _check_writable(experiment_dir(checkpoints, args.experiment, args.run), "--outputs")
    try:
        for name, config in configs.items():
            if name != args.experiment:
                log.info("%s starts from %s: training (or reusing) that first", args.experiment, name)
            path = train_experiment(config, experiment_dir(checkpoints, name, args.run), device=device,
                                    force=args.force and name == args.experiment,
                                    init_weights=parent_weights(config, checkpoints))
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"model: {path}")
    return 0


def _infer(args: argparse.Namespace) -> int:
    from rstor_core.images.photos import test_photos
    from rstor_core.images.sources import photos_unseen_by
    from rstor_core.measurement import study
    from rstor_core.networks.checkpoints import load_model, read_checkpoint
    from rstor_core.networks.evaluate import degradation_grid, evaluate, model_names
    from rstor_core.networks.models import pick_device
    from rstor_core.settings.files import save_table

    sizes, sigmas = _numbers("--sizes", args.sizes, int), _numbers("--sigmas", args.sigmas, float)
    for raw, size in sizes:
        _bounded("--sizes", raw, DenoiseStudyConfig, eval_size=size)
    for raw, sigma in sigmas:
        _bounded("--sigmas", raw, ExperimentConfig, noise=(sigma, sigma))
    _bounded("--blur-sigma", args.blur_sigma, DeblurStudyConfig, sigma=args.blur_sigma)
    _bounded("--n", args.n, DenoiseStudyConfig, n_images=args.n)
    _bounded("--seed", args.seed, DenoiseStudyConfig, seed=args.seed)
    grid = degradation_grid([sigma for _, sigma in sigmas], args.blur, blur_sigma=args.blur_sigma)
    twice = next((d.blur for d in grid if d.blur and grid.count(d) > 1), None)
    if twice is not None:  # overlapping specs (small:0-3 small:2): the kernel's rows would count twice
        raise ValueError(f"--blur {' '.join(args.blur)!r}: kernel {twice} is given twice")
    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give the CSV file to write")
    _check_writable(args.out.parent, "--out")
    if args.save_images is not None:
        _check_writable(args.save_images, "--save-images")
    missing = [str(p) for p in args.checkpoints if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint(s) not found: {missing}")
    names = model_names(args.checkpoints)
    device = pick_device(args.device)
    images = test_photos(args.images)
    unseen = {(name, 0): photos_unseen_by(read_checkpoint(p)[1], args.images) for name, p in zip(names, args.checkpoints)}
    models = {name: load_model(p, device=device) for name, p in zip(names, args.checkpoints)}
    table = evaluate(models, images, grid, sizes=[size for _, size in sizes] or [None], n_images=args.n,
                     seed=args.seed, device=device, test_set=Path(args.images).name, lpips=not args.no_lpips,
                     st_lpips=not args.no_st_lpips, save_images=args.save_images,
                     photos_of={key: photos for key, photos in unseen.items() if photos is not None})
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
    _bounded("--size", args.size, DataGenerationConfig, size=args.size)
    _bounded("--seed", args.seed, DataGenerationConfig, seed=args.seed)
    needed, available = (args.size * params.ds_factor) ** 2 * RENDER_BYTES_PER_PIXEL, _physical_memory()
    if available is not None and needed > available:
        raise ValueError(f"--size {args.size} (rendered at {args.size * params.ds_factor} px, ds_factor "
                         f"{params.ds_factor}) needs about {needed / 2**30:.1f} GiB of memory per image; this "
                         f"machine has {available / 2**30:.1f} GiB")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a file; give a folder")
    _check_writable(args.out, "--out")
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


def _numbers(option: str, text: str, kind: type) -> list[tuple[str, Any]]:
    """``(as given, value)`` for each entry of a comma-separated option."""
    entries = [s.strip() for s in text.split(",") if s.strip()]
    try:
        numbers = [(s, kind(s)) for s in entries]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected comma-separated {kind.__name__} values") from None
    values = [value for _, value in numbers]
    twice = next((raw for raw, value in numbers if values.count(value) > 1), None)
    if twice is not None:  # its rows would be scored twice and counted twice by the intervals
        raise ValueError(f"{option} {text!r}: {twice} is given twice")
    return numbers


def _bounded(option: str, given: Any, config: type, **fields: Any) -> None:
    """Refuse ``given`` (the value of ``option``) unless ``config(**fields)`` accepts it: the command line
    holds its options to the bounds the profiles declare (:func:`rstor_core.settings.knobs.knob`)."""
    try:
        config(**fields)
    except ConfigError as err:
        raise ValueError(f"{option} {given}: {err.message}") from None


def _check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a ``path`` that cannot be created or written: a temporary file is made and
    dropped in the nearest folder that exists (mode bits alone mislead: root ignores them, and a read-only
    mount or /proc refuses root too)."""
    path = Path(os.path.abspath(path))
    folder = next(p for p in (path, *path.parents) if p.exists())
    if not folder.is_dir():
        raise ValueError(f"{option} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{option} {str(path)!r}: cannot write into {str(folder)!r} ({err.strerror})") from None


def _physical_memory() -> int | None:
    """Bytes of physical memory (None where the OS does not say): what no image may need more of."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _main_or_interrupted(argv: list[str] | None = None) -> int:
    """:func:`main`, with Ctrl-C reported as the shell does (exit 130), without a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_main_or_interrupted())
