"""Atomic file writes: every result is written to a temporary name, then renamed.

A run killed mid-write must never leave a truncated figure, table or manifest that looks
like a result; ``os.replace`` is atomic on POSIX and Windows within one directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffix) that replaces ``path`` on success.

    >>> with atomic_path("table.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def git_state(root: str | Path = ".") -> dict[str, Any]:
    """The commit checked out at ``root`` and whether tracked code differs from it ("unknown" outside git)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    # outputs/ is left out: a run rewrites the committed results, which says nothing of the code.
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)outputs")
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": changes not in ("", "unknown")}


def project_root(start: str | Path = ".") -> Path:
    """The folder holding ``_toc.yml`` at or above ``start``: chapters chdir there, so their relative
    paths mean the same under papermill (run from the root) and in JupyterLab (run from book/)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    raise FileNotFoundError(f"no _toc.yml at or above {here}: not inside the rstor repository")


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically as PNG (``bbox_inches="tight"``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return Path(path)


def save_table(frame: Any, path: str | Path) -> Path:
    """Save a pandas DataFrame atomically as CSV, without its integer index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` atomically as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return Path(path)
