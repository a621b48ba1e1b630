"""The command line's options: the parser of ``python -m rstor_core`` (:func:`command_line`) and the checks
its values pass before any work: comma-separated numbers, values held to the bounds the profiles declare,
paths that must be writable, and a machine's memory.

:mod:`rstor_core.__main__` parses and calls the library; these say why an option is refused, in one line
that names it, so bad input is exit 2 with nothing written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rstor_core.settings.knobs import ConfigError

DESCRIPTION = "Command line of rstor_core: a thin layer over the functions the book calls."
EXIT_CODES = """exit codes:
  0    done
  1    a run failed: a chapter, the book build, a training that diverged, a write (a full disk),
       or a check-gpu check
  2    bad input (profile, option, path, checkpoint, images): one error line, nothing written
  130  interrupted (Ctrl-C)"""


def comma_numbers(option: str, text: str, kind: type) -> list[tuple[str, Any]]:
    """``(as given, value)`` for each entry of a comma-separated option; a value given twice is refused (its
    rows would be scored twice and counted twice by the intervals)."""
    entries = [s.strip() for s in text.split(",") if s.strip()]
    try:
        numbers = [(s, kind(s)) for s in entries]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected comma-separated {kind.__name__} values") from None
    values = [value for _, value in numbers]
    twice = next((raw for raw, value in numbers if values.count(value) > 1), None)
    if twice is not None:
        raise ValueError(f"{option} {text!r}: {twice} is given twice")
    return numbers


def bounded(option: str, given: Any, config: type, **fields: Any) -> None:
    """Refuse ``given`` (the value of ``option``) unless ``config(**fields)`` accepts it: the command line
    holds its options to the bounds the profiles declare (:func:`rstor_core.settings.knobs.knob`)."""
    try:
        config(**fields)
    except ConfigError as err:
        raise ValueError(f"{option} {given}: {err.message}") from None


def check_writable(path: Path | None, option: str) -> None:
    """Refuse, before any work, a ``path`` that cannot be created or written: a temporary file is made and
    dropped in the nearest folder that exists (mode bits alone mislead: root ignores them, and a read-only
    mount or /proc refuses root too). ``None`` (an option not given) passes."""
    if path is None:
        return
    path = Path(os.path.abspath(path))
    folder = next(p for p in (path, *path.parents) if p.exists())
    if not folder.is_dir():
        raise ValueError(f"{option} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{option} {str(path)!r}: cannot write into {str(folder)!r} ({err.strerror})") from None


def infer_options(args: argparse.Namespace) -> tuple[list[int], list[float]]:
    """The sizes and sigmas of ``infer``, every number held to its profile bound and every path checked
    (``--out``, ``--save-images``, the checkpoints) before any work; ``--pairs`` takes no degradation (its
    blur is recorded), so ``--sigmas``, ``--blur`` and ``--blur-sigma`` are refused beside it."""
    from rstor_core.settings.chapters import DeblurStudyConfig, DenoiseStudyConfig
    from rstor_core.settings.configs import ExperimentConfig

    if args.pairs is not None and (args.sigmas or args.blur or args.blur_sigma):
        raise ValueError(f"--pairs {args.pairs}: the pairs' blur is recorded, not made: leave out --sigmas, --blur "
                         "and --blur-sigma")
    sizes, sigmas = comma_numbers("--sizes", args.sizes, int), comma_numbers("--sigmas", args.sigmas, float)
    for raw, size in sizes:
        bounded("--sizes", raw, DenoiseStudyConfig, eval_size=size)
    for raw, sigma in sigmas:
        bounded("--sigmas", raw, ExperimentConfig, noise=(sigma, sigma))
    bounded("--blur-sigma", args.blur_sigma, DeblurStudyConfig, sigma=args.blur_sigma)
    bounded("--n", args.n, DenoiseStudyConfig, n_images=args.n)
    bounded("--seed", args.seed, DenoiseStudyConfig, seed=args.seed)
    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give the CSV file to write")
    check_writable(args.out.parent, "--out")
    check_writable(args.save_images, "--save-images")
    missing = [str(p) for p in args.checkpoints if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint(s) not found: {missing}")
    return [size for _, size in sizes], [sigma for _, sigma in sigmas]


def physical_memory() -> int | None:
    """Bytes of physical memory (None where the OS does not say): what no single image may need more of."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def command_line(fill: Callable[[str], str] = lambda text: text) -> argparse.ArgumentParser:
    """The parser of ``python -m rstor_core``: its commands, their options and help. ``fill`` completes
    placeholders of the help text (``{banks}``, ``{public_sets}``) only when help is printed, so that a
    command does not pay for importing the modules that know them."""
    class Help(argparse.RawDescriptionHelpFormatter):  # keeps the line breaks of descriptions and epilogs
        def _fill_text(self, text: str, width: int, indent: str) -> str:
            return super()._fill_text(fill(text), width, indent)

        def _get_help_string(self, action: argparse.Action) -> str:
            return fill(super()._get_help_string(action) or "")

    parser = argparse.ArgumentParser(prog="python -m rstor_core", description=DESCRIPTION,
                                     epilog=EXIT_CODES, formatter_class=Help)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(group: Any, name: str, summary: str, details: str) -> argparse.ArgumentParser:
        return group.add_parser(name, help=summary, description=f"{summary}.\n\n{details}", epilog=EXIT_CODES,
                                formatter_class=Help)

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
    train.add_argument("--tensorboard", type=Path, metavar="DIR",
                       help="also log loss, learning rate, throughput, validation PSNR and restored validation "
                            "images to TensorBoard, in DIR/<experiment>/ (each experiment trained: those it starts "
                            "from too); needs pip install 'rstor_core[tracking]'")
    train.add_argument("--wandb", action="store_true",
                       help="with --tensorboard: also write the same to an offline Weights & Biases run in "
                            "DIR/<experiment>/wandb/ (nothing is sent; upload it later with wandb sync); needs "
                            "pip install 'rstor_core[wandb]'")
    infer = command(commands, "infer", "Evaluate checkpoints on a folder of images, a public set or pairs",
                    "Writes one CSV row per model, image, degradation and size to --out (PSNR, SSIM, LPIPS;\n"
                    "model 'input' is the degraded input), and PNGs to --save-images if given. Each model\n"
                    "is named by its folder, with parent folders added where two would share a name.\n"
                    "With --images, --sigmas or --blur is required (or both). Blur banks of {bank_size} fixed\n"
                    "kernels each: {banks}.\n"
                    "With --pairs, the blur is recorded: each network restores blurred/NAME.png, scored against\n"
                    "sharp/NAME.png. 'kohler' (Koehler et al. 2012, 48 shots of real camera shake) is fetched\n"
                    "once into $RSTOR_DATA/kohler through deepinv; its sharp reference is deepinv's\n"
                    "frames='middle', the middle one of the ~200 video frames recorded with each shot, not the\n"
                    "benchmark's best over aligned frames: scores do not compare with the paper's.")
    infer.add_argument("--checkpoints", nargs="+", type=Path, required=True, help="model.pt files")
    test_set = infer.add_mutually_exclusive_group(required=True)
    test_set.add_argument("--pairs", metavar="DIR|kohler",
                          help="a folder of pairs, blurred/NAME.png beside sharp/NAME.png (RealBlur, your own "
                               "shots), GoPro's test folder as it unpacks (SEQUENCE/blur/ beside SEQUENCE/sharp/), "
                               "or 'kohler' (middle sharp frame, as deepinv documents)")
    test_set.add_argument("--images",
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
    dead = commands.add_parser("deadleaves", help="dead-leaves datasets", epilog=EXIT_CODES, formatter_class=Help)
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
