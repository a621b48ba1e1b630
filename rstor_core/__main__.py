"""Command line of rstor_core: a thin layer over the functions the book calls.

    python -m rstor_core check-profile parameters/quick.yaml
    python -m rstor_core book --profile quick [--chapters 01 03] [--fresh] [--no-build]

Exit codes: 0 done, 1 a chapter or the book build failed, 2 bad input (profile, chapter name);
bad input is rejected before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rstor_core.params import ProfileError, load_profile


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        profile = load_profile(args.file if args.command == "check-profile" else args.profile)
    except ProfileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "check-profile":
        print(f"{profile.path}: ok (sha256 {profile.sha256[:12]})")
        return 0

    from rstor_core.book import run_book, select_chapters, toc_chapters

    try:
        select_chapters(toc_chapters(), args.chapters)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        run_book(profile, chapters=args.chapters, outputs_root=args.outputs, fresh=args.fresh,
                 build=not args.no_build)
    except RuntimeError as err:  # a chapter (ChapterError) or the Jupyter Book build
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
