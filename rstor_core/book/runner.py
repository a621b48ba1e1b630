"""The book runner: execute each chapter with papermill, record a manifest, then build the site.

``python -m rstor_core book --profile quick`` (what ``make book`` calls) is :func:`run_book`.
Each chapter's Jupytext ``.py`` is read (never written: an executed copy written over the
paired ``.ipynb`` would sync the injected parameters back into the source), its profile section
is injected as papermill parameters, and the executed copy goes to
``outputs/<profile>/notebooks/``. A chapter's notebook, figures and tables wait in a staging folder
and are published together only when every cell ran, so a failed or interrupted chapter leaves the
previous ones intact. The HTML is then built by :mod:`rstor_core.book.site`.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
import zmq
from filelock import FileLock, Timeout
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from rstor_core.book.site import build_book, toc_chapters
from rstor_core.images.sources import chapter_missing_data
from rstor_core.settings.chapters import CHAPTER_SECTIONS, Profile, unnamed_arms
from rstor_core.settings.files import git_state, remove_stale_temporaries, write_json
from rstor_core.settings.profiles import as_parameters

log = logging.getLogger(__name__)

# Packages whose versions the manifest records.
MANIFEST_PACKAGES = ("numpy", "scipy", "numba", "torch", "torchvision", "scikit-image", "matplotlib",
                     "pandas", "lpips", "stlpips-pytorch", "papermill", "jupytext", "jupyter-book", "rstor_core")
RUN_LOCK, MANIFEST_LOCK = ".book.lock", ".manifest.lock"  # in outputs/<profile>/
# CurveZMQ between the runner and its kernel (ipykernel's kernelspec declares it): the kernel then
# has no reason to warn, on every chapter, that it runs over TCP without encryption.
KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}})


class ChapterError(RuntimeError):
    """A chapter raised; the message names the chapter, the failing cell and the error."""


class OutputsConflict(ValueError):
    """The outputs folder holds the results of another profile file of the same name (bad input: exit 2)."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the toc: its name (``01_data_generation``) and Jupytext source."""

    name: str
    source: Path
    parameters: dict[str, Any] = field(default_factory=dict)


def select_chapters(available: list[str], requested: list[str] | None) -> list[str]:
    """Chapters matching ``requested`` (``"01"`` or the full name), in toc order."""
    if not requested:
        return list(available)
    chosen = set()
    for want in requested:
        matches = [c for c in available if c == want or c.split("_", 1)[0] == want]
        if not matches:
            raise ValueError(f"no chapter {want!r}; available: {available}")
        chosen.update(matches)
    return [c for c in available if c in chosen]


def declared_parameters(source: Path) -> set[str]:
    """Names assigned in a chapter's ``parameters`` cell (read from its Jupytext source)."""
    notebook = jupytext.read(source)
    cell = next((c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        return set()
    return {target.id for node in ast.parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)}


def execute_chapter(chapter: Chapter, out_dir: Path, *, cwd: Path, progress: bool | dict[str, Any] = True) -> None:
    """Run one chapter with papermill; publish its notebook, figures and tables in ``out_dir`` only if every cell ran.

    They wait in ``out_dir/.<name>.tmp-<pid>/`` (the chapter's ``staging_dir`` parameter, where it
    declares one, tells :class:`~rstor_core.book.chapter.ChapterRun` to write there) and move into place
    together, the notebook last. A failure publishes nothing, keeps the failed run as
    ``notebooks/<name>.failed.ipynb`` for its traceback, and raises :class:`ChapterError`; Ctrl-C
    (KeyboardInterrupt) passes through once nbclient has shut the kernel down. Checkpoints are not
    staged: training makes its own writes atomic and resumable.
    """
    executed = out_dir / "notebooks" / f"{chapter.name}.ipynb"
    failed = executed.with_suffix(".failed.ipynb")
    staging = out_dir.resolve() / f".{chapter.name}.tmp-{os.getpid()}"
    staged = staging / "notebooks" / executed.name
    parameters = dict(chapter.parameters)
    if "staging_dir" in declared_parameters(chapter.source):  # relative to the kernel's cwd: no machine path
        parameters["staging_dir"] = os.path.relpath(staging, cwd)  # in the published notebook
    shutil.rmtree(staging, ignore_errors=True)
    staged.parent.mkdir(parents=True)
    try:
        source = staging / "source.ipynb"  # not published: only files in staging's subfolders are
        notebook = jupytext.read(chapter.source)
        notebook.metadata.pop("jupytext", None)  # the executed copy is not paired with anything
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, source)
        try:
            with _papermill_quiet():
                # "immediate": a kernel stopped mid-cell (Ctrl-C) is killed with its process group, instead of
                # printing a traceback as it tries to reply on the sockets a graceful shutdown closed.
                papermill.execute_notebook(source, staged, parameters=parameters, kernel_name="python3",
                                           cwd=str(cwd), progress_bar=progress, log_output=False, config=KERNEL_CONFIG,
                                           shutdown_kernel="immediate")
        except PapermillExecutionError as err:
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, failed)
            raise ChapterError(_failure_message(chapter.name, err, failed)) from None
        except Exception as err:  # the kernel died or could not start: no cell to name
            raise ChapterError(f"chapter {chapter.name} failed outside any cell: "
                               f"{type(err).__name__}: {err}") from err
        _record_paths(staged, source=chapter.source, executed=executed)
        _publish(staging, out_dir, prefix=chapter.name.split("_")[0] + "_")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    failed.unlink(missing_ok=True)


def _publish(staging: Path, out_dir: Path, prefix: str) -> None:
    """Move every file in ``staging``'s subfolders to the same place under ``out_dir``, the notebook last
    (its presence says the chapter ran); each move is an atomic rename on one file system. Then the chapter's
    figures and tables (named ``prefix``...) that this run did not write are removed: a section the profile
    left out this time (real-blur pairs no longer named) must not be read as a result of it."""
    files = sorted((p for p in staging.glob("*/**/*") if p.is_file()), key=lambda p: (p.parent.name == "notebooks", p))
    written = set()
    for path in files:
        target = out_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        written.add(target)
    for kind in ("figures", "tables"):
        for stale in (out_dir / kind).glob(f"{prefix}*"):
            if stale.is_file() and stale not in written:
                stale.unlink()


@contextmanager
def _papermill_quiet() -> Iterator[None]:
    """Keep papermill's per-chapter INFO lines (input, output, working directory, kernel name) out of the
    run's output; its warnings (an unknown parameter, an unparsable parameters line) still show."""
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def chapter_parameters(profile: Profile, name: str, source: Path, out_dir: Path, *,
                       fresh: bool | Sequence[str] = False, device: str | None = None) -> dict[str, Any]:
    """What papermill injects into a chapter: its profile section, which profile, where outputs go,
    and ``fresh`` (True, or the experiments to retrain), ``device`` and ``live_widgets=False`` where the
    chapter declares them.

    Batch runs never build live widgets: nbclient can wait forever on a cell that creates
    ipywidgets (jupyter/nbclient#312; it happened twice in this project's runs), and the HTML book shows
    a static figure in their place anyway.
    """
    params = {**as_parameters(profile.section(name)), "profile": profile.path.as_posix(), "output_dir": str(out_dir)}
    declared = declared_parameters(source)
    if fresh and "fresh" in declared:
        params["fresh"] = True if fresh is True else sorted(fresh)
    if device is not None and "device" in declared:
        params["device"] = device
    if "live_widgets" in declared:
        params["live_widgets"] = False
    return params


def run_book(profile: Profile, *, chapters: list[str] | None = None, root: Path = Path("."),
             outputs_root: Path = Path("outputs"), build_root: Path | None = None,
             fresh: bool = False, build: bool = True, device: str | None = None) -> Path:
    """Execute the chosen chapters of ``profile`` and build the HTML book; return the outputs dir.

    ``fresh`` retrains each experiment once: a chapter whose experiments an earlier chapter of this run
    already retrained (chapter 04 reuses chapter 02's denoisers) loads them instead. Raises
    :class:`OutputsConflict` before any work when the outputs folder holds another profile file's
    results, and ValueError when a folder or public set the chapters read is missing or a chapter that
    compares arms has none named. One run at a time writes an outputs folder (a second waits, saying so);
    it first removes what killed runs left there.
    """
    out_dir = outputs_root / profile.name
    check_outputs_owner(profile, out_dir, root=root)
    names = select_chapters(toc_chapters(root), chapters)
    missing = dict.fromkeys(problem for name in names for problem in chapter_missing_data(profile, name))
    missing |= {f"{CHAPTER_SECTIONS[name][0]}.{key}: names no network for chapter {name} to compare": None
                for name in names for key in unnamed_arms(profile.section(name))}
    if missing:  # a folder or a public set that is not here: refused before the outputs folder exists
        raise ValueError("\nerror: ".join(f"{profile.path}: {problem}" for problem in missing))
    with _only_run(out_dir):
        remove_stale_temporaries(out_dir)
        plan, retrained = [], set()
        for name in names:
            source = root / "book" / f"{name}.py"
            experiments = profile.chapter_experiments(name)
            retrain = sorted(experiments - retrained) if fresh else []
            retrained |= experiments
            plan.append(Chapter(name, source, chapter_parameters(profile, name, source, out_dir, fresh=retrain,
                                                                device=device)))
        run_chapters(plan, out_dir, cwd=root, provenance=_provenance(profile, root, fresh))
        if build:
            build_book(out_dir, root=root, build_root=build_root if build_root is not None else root)
    return out_dir


def check_outputs_owner(profile: Profile, out_dir: Path, *, root: Path = Path(".")) -> None:
    """Raise :class:`OutputsConflict` when ``out_dir``'s manifest says another profile file wrote it.

    Outputs are keyed on the profile's name (the file's stem), so a ``quick.yaml`` anywhere would
    otherwise write over the committed ``outputs/quick``.
    """
    manifest = out_dir / "manifest.json"
    if not manifest.is_file():
        return
    recorded = json.loads(manifest.read_text()).get("profile_file")
    if recorded is None or _same_file(Path(recorded), profile.path, root=root):
        return
    raise OutputsConflict(f"{out_dir} holds the outputs of {recorded}, not of {profile.path}: pass --outputs DIR "
                       f"to keep them apart, or give the profile file another name")


def _same_file(recorded: Path, path: Path, *, root: Path) -> bool:
    """Whether ``recorded`` (relative to the repository root, as manifests write it) names ``path``."""
    return (recorded if recorded.is_absolute() else root / recorded).resolve() == path.resolve()


@contextmanager
def _only_run(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir``'s run lock for one book run; wait, saying so, while another run holds it
    (as training does for a checkpoint folder). The OS drops the lock when its process dies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out_dir / RUN_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("waiting for another book run writing %s to end (it holds %s); Ctrl-C to give up",
                    out_dir, lock.lock_file)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def run_chapters(chapters: list[Chapter], out_dir: Path, *, cwd: Path, provenance: dict[str, Any]) -> None:
    """Execute ``chapters`` in order into ``out_dir``, stopping at the first failure.

    ``out_dir/manifest.json`` gets each chapter's entry once its outputs are published, so it always
    says what the outputs came from; a failed or interrupted chapter, whose previous outputs stay,
    leaves it alone. Each update re-reads the manifest under a lock, so chapters run at once by two
    processes both land in it.
    """
    sha = provenance.get("profile_sha256")
    for i, chapter in enumerate(chapters, 1):
        step = f"[{i}/{len(chapters)}] {chapter.name}"
        log.info("%s: running on profile %r", step, provenance.get("profile"))
        start = time.perf_counter()
        # A terminal shows the cells' progress bar until the chapter ends; a log file gets no bar.
        execute_chapter(chapter, out_dir, cwd=cwd, progress=sys.stderr.isatty() and {"desc": step, "leave": False})
        seconds = time.perf_counter() - start
        entry = {"status": "ok", "seconds": round(seconds, 1), "profile_sha256": sha}
        _update_manifest(out_dir, provenance, chapter, entry)
        log.info("%s: ok in %.1f s", step, seconds)


def _update_manifest(out_dir: Path, provenance: dict[str, Any], chapter: Chapter, entry: dict[str, Any]) -> None:
    """Record one chapter's entry (and the run's provenance) in ``out_dir/manifest.json``, keeping the others."""
    path = out_dir / "manifest.json"
    with FileLock(out_dir / MANIFEST_LOCK):
        previous = json.loads(path.read_text()) if path.is_file() else {}
        manifest = {**provenance, "seeds": previous.get("seeds", {}), "chapters": previous.get("chapters", {})}
        manifest["seeds"][chapter.name] = chapter.parameters.get("seed")
        manifest["chapters"][chapter.name] = entry
        manifest["weights"] = trained_weights(out_dir)
        write_json(manifest, path)


def _record_paths(notebook_path: Path, *, source: Path, executed: Path) -> None:
    """Papermill records the temporary paths it ran; record the chapter's source and final copy, and fold
    the cell of parameters papermill injected (the book shows it one click away, as the other code)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.metadata.setdefault("papermill", {}).update(input_path=str(source), output_path=str(executed))
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(notebook, notebook_path)


def _failure_message(name: str, err: PapermillExecutionError, failed: Path) -> str:
    first_line = next((line for line in (err.source or "").splitlines() if line.strip()), "")
    return (f"chapter {name} failed in cell {err.cell_index} (execution count {err.exec_count}): "
            f"{err.ename}: {err.evalue}\n  cell starts with: {first_line}\n"
            f"  the failed run with its traceback: {failed}")


def trained_weights(out_dir: Path) -> dict[str, Any]:
    """What trained each ``checkpoints/*/model.pt`` of an outputs folder: file hash, steps, commit."""
    import torch

    weights = {}
    for path in sorted(out_dir.glob("checkpoints/*/model.pt")):
        state = torch.load(path, map_location="cpu", weights_only=True)
        weights[path.parent.name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "steps": state["step"],
                                     **state.get("provenance", {})}
    return weights


def _provenance(profile: Profile, root: Path, fresh: bool) -> dict[str, Any]:
    return {
        "profile": profile.name,
        "profile_file": profile.path.as_posix(),
        "profile_sha256": profile.sha256,
        **git_state(root),
        "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fresh": fresh,
        "device": _device(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in MANIFEST_PACKAGES},
    }


def _device() -> str:
    import torch  # heavy: imported only when a manifest is written

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


