"""The book runner: execute each chapter with papermill, record a manifest, build the HTML.

``python -m rstor_core book --profile quick`` (what ``make book`` calls) is :func:`run_book`.
Each chapter's Jupytext ``.py`` is read (never written: an executed copy written over the
paired ``.ipynb`` would sync the injected parameters back into the source), its profile section
is injected as papermill parameters, and the executed copy goes to
``outputs/<profile>/notebooks/``. The HTML is built by Jupyter Book 1.x (offline) from a staged
tree holding the toc, the config and the executed notebooks, with execution off.
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
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
import yaml
from papermill.exceptions import PapermillExecutionError

from rstor_core.files import atomic_path, git_state, write_json
from rstor_core.configs import Profile, experiment_fields
from rstor_core.profiles import as_parameters

log = logging.getLogger(__name__)

# Packages whose versions the manifest records.
MANIFEST_PACKAGES = ("numpy", "scipy", "numba", "torch", "torchvision", "scikit-image", "matplotlib",
                     "pandas", "lpips", "papermill", "jupytext", "jupyter-book", "rstor_core")
STAGED_FILES = ("_toc.yml",)
VENDOR_DIR = Path("book/_static/vendor")  # git-ignored; filled by `npm pack` on the first build
MATHJAX_PACKAGE, MATHJAX_ENTRY = "mathjax@3", "vendor/mathjax/tex-chtml.js"


class ChapterError(RuntimeError):
    """A chapter raised; the message names the chapter, the failing cell and the error."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the toc: its name (``01_data_generation``) and Jupytext source."""

    name: str
    source: Path
    parameters: dict[str, Any] = field(default_factory=dict)


def toc_chapters(root: Path = Path(".")) -> list[str]:
    """Chapter names in ``_toc.yml`` order (notebooks only; ``intro`` is markdown)."""
    toc_file = root / "_toc.yml"
    if not toc_file.is_file():
        raise FileNotFoundError(f"{toc_file} not found: run from the repository root")
    toc = yaml.safe_load(toc_file.read_text())
    files = [entry["file"] for part in [toc] + toc.get("parts", []) for entry in part.get("chapters", [])]
    return [Path(f).name for f in files if (root / f).with_suffix(".py").is_file()]


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


def execute_chapter(chapter: Chapter, executed: Path, *, cwd: Path, progress: bool = True) -> None:
    """Run one chapter with papermill into ``executed``.

    The executed notebook appears only when every cell ran (temporary name, then rename); a
    failure leaves the previous copy intact, keeps the failed run beside it as
    ``<name>.failed.ipynb`` for its traceback, and raises :class:`ChapterError`.
    """
    executed.parent.mkdir(parents=True, exist_ok=True)
    failed = executed.with_suffix(".failed.ipynb")
    with tempfile.TemporaryDirectory(prefix="rstor-") as tmp_dir:
        source = Path(tmp_dir) / f"{chapter.name}.ipynb"
        notebook = jupytext.read(chapter.source)
        notebook.metadata.pop("jupytext", None)  # the executed copy is not paired with anything
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, source)
        with atomic_path(executed) as tmp:
            try:
                papermill.execute_notebook(source, tmp, parameters=chapter.parameters,
                                           kernel_name="python3", cwd=str(cwd),
                                           progress_bar=progress, log_output=False)
            except PapermillExecutionError as err:
                os.replace(tmp, failed)
                raise ChapterError(_failure_message(chapter.name, err, failed)) from None
            except Exception as err:  # the kernel died or could not start: no cell to name
                raise ChapterError(f"chapter {chapter.name} failed outside any cell: "
                                   f"{type(err).__name__}: {err}") from err
            _record_paths(tmp, source=chapter.source, executed=executed)
    failed.unlink(missing_ok=True)


def chapter_parameters(profile: Profile, name: str, source: Path, out_dir: Path, *, fresh: bool = False,
                       device: str | None = None) -> dict[str, Any]:
    """What papermill injects into a chapter: its profile section, which profile, where outputs go,
    and ``fresh``, ``device`` and ``live_widgets=False`` where the chapter declares them.

    Batch runs never build live widgets: nbclient can wait forever on a cell that creates
    ipywidgets (jupyter/nbclient#312; it happened twice in this project's runs), and the HTML book shows
    a static figure in their place anyway.
    """
    params = {**as_parameters(profile.section(name)), "profile": profile.path.as_posix(), "output_dir": str(out_dir)}
    declared = declared_parameters(source)
    if fresh and "fresh" in declared:
        params["fresh"] = True
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
    already retrained (chapter 04 reuses chapter 02's denoisers) loads them instead.
    """
    out_dir = outputs_root / profile.name
    plan, retrained = [], set()
    for name in select_chapters(toc_chapters(root), chapters):
        source = root / "book" / f"{name}.py"
        experiments = set(experiment_fields(profile.section(name)).values())
        retrain = fresh and not experiments <= retrained
        retrained |= experiments
        plan.append(Chapter(name, source, chapter_parameters(profile, name, source, out_dir, fresh=retrain,
                                                            device=device)))
    run_chapters(plan, out_dir, cwd=root, provenance=_provenance(profile, root, fresh))
    if build:
        build_book(out_dir, root=root, build_root=build_root if build_root is not None else root)
    return out_dir


def run_chapters(chapters: list[Chapter], out_dir: Path, *, cwd: Path, provenance: dict[str, Any]) -> None:
    """Execute ``chapters`` in order into ``out_dir/notebooks``, stopping at the first failure.

    ``out_dir/manifest.json`` is rewritten after every chapter, so it always says what the
    outputs came from; entries of chapters not run this time are kept.
    """
    manifest_path = out_dir / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest = {**provenance, "seeds": previous.get("seeds", {}), "chapters": previous.get("chapters", {})}
    sha = provenance.get("profile_sha256")
    for i, chapter in enumerate(chapters, 1):
        manifest["seeds"][chapter.name] = chapter.parameters.get("seed")
        log.info("[%d/%d] %s: running on profile %r", i, len(chapters), chapter.name, provenance.get("profile"))
        start = time.perf_counter()
        try:
            execute_chapter(chapter, out_dir / "notebooks" / f"{chapter.name}.ipynb", cwd=cwd)
        except ChapterError as err:
            manifest["chapters"][chapter.name] = {"status": "failed", "seconds": round(time.perf_counter() - start, 1),
                                                  "profile_sha256": sha, "error": str(err).splitlines()[0]}
            write_json(manifest, manifest_path)
            raise
        seconds = time.perf_counter() - start
        manifest["chapters"][chapter.name] = {"status": "ok", "seconds": round(seconds, 1), "profile_sha256": sha}
        manifest["weights"] = trained_weights(out_dir)
        write_json(manifest, manifest_path)
        log.info("[%d/%d] %s: ok in %.1f s", i, len(chapters), chapter.name, seconds)


def build_book(out_dir: Path, *, root: Path = Path("."), build_root: Path = Path(".")) -> Path:
    """Build ``build_root/_build/html`` from the executed notebooks in ``out_dir``; return index.html.

    The staged tree holds only what the toc names, so any profile renders without touching the
    sources, and Sphinx never needs the network.
    """
    names = toc_chapters(root)
    missing = [n for n in names if not (out_dir / "notebooks" / f"{n}.ipynb").is_file()]
    if missing:
        raise FileNotFoundError(f"no executed notebook for {missing} in {out_dir / 'notebooks'}: "
                                f"run those chapters first")
    stage = build_root / "_build" / f"source-{out_dir.name}"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "book").mkdir(parents=True)
    for name in STAGED_FILES:
        shutil.copy2(root / name, stage / name)
    _stage_config(root, stage, mathjax=vendor_mathjax(root))
    for path in (root / "book").iterdir():
        if path.suffix == ".md" or (path.is_dir() and path.name in ("images", "_static")):
            _copy(path, stage / "book" / path.name)
    for name in names:
        shutil.copy2(out_dir / "notebooks" / f"{name}.ipynb", stage / "book" / f"{name}.ipynb")
    # -W: a warning (a broken glue, a missing figure) fails the build instead of a silent gap.
    command = [_jupyter_book(), "build", str(stage), "--path-output", str(build_root), "--quiet",
               "--warningiserror", "--keep-going"]
    log.info("building the HTML book: %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed ({result.returncode}):\n{result.stdout[-4000:]}"
                           f"\n{result.stderr[-4000:]}")
    index = build_root / "_build" / "html" / "index.html"
    log.info("book ready: %s", index)
    return index


def vendor_mathjax(root: Path = Path(".")) -> bool:
    """Fetch MathJax 3 once into ``book/_static/vendor`` so the HTML renders maths offline.

    Returns False (the book then loads MathJax from its CDN, with a warning) when npm cannot
    reach its registry; the build itself never needs the network.
    """
    target = root / VENDOR_DIR / "mathjax"
    if (target / "tex-chtml.js").is_file():
        return True
    npm = shutil.which("npm")
    with tempfile.TemporaryDirectory(prefix="rstor-npm-") as tmp:
        # Offline first (npm's cache), and give up fast when the registry is unreachable.
        command = [npm, "pack", MATHJAX_PACKAGE, "--pack-destination", tmp, "--prefer-offline",
                   "--fetch-retries=1", "--fetch-timeout=15000"] if npm else None
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=120) if npm else None
        except subprocess.TimeoutExpired:
            result = None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result is None or result.returncode != 0 or not tarballs:
            log.warning("could not fetch %s with npm; the HTML will load MathJax from its CDN", MATHJAX_PACKAGE)
            return False
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(tmp, filter="data")
        es5 = Path(tmp) / "package" / "es5"
        staging = target.with_name(".mathjax-tmp")
        shutil.rmtree(staging, ignore_errors=True)
        # The tex-chtml component and what it loads lazily; the speech engine (sre) is 4 MB unused.
        shutil.copytree(es5, staging, ignore=lambda d, names: [
            n for n in names if Path(d) == es5 and (n == "sre" or (n.endswith(".js") and n != "tex-chtml.js"))])
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return True


def _stage_config(root: Path, stage: Path, *, mathjax: bool) -> None:
    """Copy ``_config.yml``, pointing Sphinx at the vendored MathJax when it is there."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    if mathjax:
        sphinx_config["html_static_path"] = ["book/_static"]
        sphinx_config["mathjax_path"] = MATHJAX_ENTRY
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def _record_paths(notebook_path: Path, *, source: Path, executed: Path) -> None:
    """Papermill records the temporary paths it ran; record the chapter's source and final copy."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.metadata.setdefault("papermill", {}).update(input_path=str(source), output_path=str(executed))
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


def _jupyter_book() -> str:
    local = Path(sys.executable).parent / "jupyter-book"
    found = str(local) if local.is_file() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book not found: run `make install`")
    return found


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
