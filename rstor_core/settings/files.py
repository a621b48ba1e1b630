"""Atomic file writes: every result is written to a temporary name, then renamed.

A run killed mid-write must never leave a truncated figure, table or manifest that looks
like a result; ``os.replace`` is atomic on POSIX and Windows within one directory. Temporary
names carry the writer's PID, so the next run can tell a killed run's leftovers from a live
run's files (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# atomic_path's names (.model.tmp-123.pt) and the runner's staging folders (.01_data_generation.tmp-123).
TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(?P<pid>\d+)(\.[^.]+)?$")
# temporary_folder's names in the system temp folder (rstor-123-npm-x1y2).
STAGING_NAME = re.compile(r"^rstor-(?P<pid>\d+)-")


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


def temporary_folder(label: str) -> tempfile.TemporaryDirectory:
    """A folder in the system temp folder, named ``rstor-<pid>-<label>-*`` so that a later run removes it
    if this process is killed before it can (:func:`remove_stale_temporaries`)."""
    return tempfile.TemporaryDirectory(prefix=f"rstor-{os.getpid()}-{label}-")


def remove_stale_temporaries(folder: str | Path, *, temp_root: str | Path | None = None) -> list[Path]:
    """Remove what killed runs left behind, and return it: temporary files and staging folders anywhere
    under ``folder`` (:func:`atomic_path`'s ``.<name>.tmp-<pid>.<suffix>``), and the ``rstor-<pid>-*``
    folders of :func:`temporary_folder` in ``temp_root`` (default: the system temp folder).

    Only names whose process has ended are removed, so a run going on beside this one keeps its files.
    """
    stale = []
    for parent, dirs, files in os.walk(folder):
        for name in files + dirs:
            match = TEMPORARY_NAME.match(name)
            if match and not pid_alive(int(match["pid"])):
                stale.append(Path(parent) / name)
        dirs[:] = [d for d in dirs if Path(parent) / d not in stale]
    temp_root = Path(tempfile.gettempdir() if temp_root is None else temp_root)
    stale += [path for path in (temp_root.iterdir() if temp_root.is_dir() else [])
              if (match := STAGING_NAME.match(path.name)) and path.is_dir() and not pid_alive(int(match["pid"]))]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d leftover(s) of killed runs: %s", len(stale), ", ".join(map(str, stale[:5])))
    return stale


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


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120, metadata: dict[str, str] | None = None) -> Path:
    """Save a matplotlib figure atomically as PNG (``bbox_inches="tight"``; ``metadata``: PNG text chunks)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png", metadata=metadata)
    return Path(path)


def save_table(frame: Any, path: str | Path, **to_csv: Any) -> Path:
    """Save a pandas DataFrame atomically as CSV, without its integer index (``to_csv``: pandas' options)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **to_csv)
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` atomically as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return Path(path)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as ended; another user's process as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
