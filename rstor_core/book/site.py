"""The site build: the HTML book from one profile's executed chapters, with Jupyter Book 1.x.

:func:`build_book` stages a tree holding only what the toc (``_toc.yml``, :func:`toc_chapters`) names:
the config, the landing page with its generated parts (:mod:`rstor_core.book.landing`), the executed
notebooks and their tables, and builds it with execution off, warnings as errors. It never needs the
network, nor do the pages: MathJax comes from the copy npm fetches once (:func:`vendor_mathjax`).
The runner (:mod:`rstor_core.book.runner`) calls it after the chapters ran.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from rstor_core.settings.files import temporary_folder

log = logging.getLogger(__name__)

STAGED_FILES = ("_toc.yml",)
VENDOR_DIR = Path("book/_static/vendor")  # git-ignored; filled by `npm pack` on the first build
MATHJAX_PACKAGE, MATHJAX_ENTRY = "mathjax@3", "vendor/mathjax/tex-chtml.js"


def toc_chapters(root: Path = Path(".")) -> list[str]:
    """Chapter names in ``_toc.yml`` order (notebooks only; ``intro`` is markdown)."""
    toc_file = root / "_toc.yml"
    if not toc_file.is_file():
        raise FileNotFoundError(f"{toc_file} not found: run from the repository root")
    toc = yaml.safe_load(toc_file.read_text())
    files = [entry["file"] for part in [toc] + toc.get("parts", []) for entry in part.get("chapters", [])]
    return [Path(f).name for f in files if (root / f).with_suffix(".py").is_file()]


def build_book(out_dir: Path, *, root: Path = Path("."), build_root: Path = Path(".")) -> Path:
    """Build ``build_root/_build/html`` from the executed notebooks in ``out_dir``; return index.html.

    The staged tree holds only what the toc names, so any profile renders without touching the
    sources, and Sphinx never needs the network. Nor do the pages: they load only files of the site
    (MathJax from the npm copy when :func:`vendor_mathjax` got one; thebe is off in ``_config.yml``).
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
        if path.suffix in (".md", ".bib") or (path.is_dir() and path.name in ("images", "_static")):
            _copy(path, stage / "book" / path.name)
    _stage_landing(out_dir, stage / "book")
    if (out_dir / "tables").is_dir():  # each chapter links the CSV behind its tables ({download}`tables/...`)
        _copy(out_dir / "tables", stage / "book" / "tables")
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
    with temporary_folder("npm") as tmp:
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


def _stage_landing(out_dir: Path, book: Path) -> None:
    """The landing page's headline results and provenance, from these outputs (:mod:`rstor_core.book.landing`)."""
    from rstor_core.book.landing import (ANSWER_FILE, CLOSING_FILE, HEADLINE_FILE, PROVENANCE_FILE, answer_markdown,
                                         closing_markdown, headline_markdown, provenance_markdown)

    manifest = json.loads((out_dir / "manifest.json").read_text()) if (out_dir / "manifest.json").is_file() else None
    (book / ANSWER_FILE).write_text(answer_markdown(out_dir / "tables"))
    (book / CLOSING_FILE).write_text(closing_markdown(out_dir / "tables", manifest))
    (book / HEADLINE_FILE).write_text(headline_markdown(out_dir / "tables"))
    (book / PROVENANCE_FILE).write_text(provenance_markdown(manifest) if manifest is not None
                                        else "No manifest was written for these outputs.\n")


def _stage_config(root: Path, stage: Path, *, mathjax: bool) -> None:
    """Copy ``_config.yml`` with the book's own scripts and styles (``book/_static``), pointing Sphinx at the
    vendored MathJax when it is there."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["html_static_path"] = ["book/_static"]
    sphinx_config["html_js_files"] = sorted(p.name for p in (root / "book" / "_static").glob("*.js"))
    sphinx_config["html_css_files"] = sorted(p.name for p in (root / "book" / "_static").glob("*.css"))
    if mathjax:
        sphinx_config["mathjax_path"] = MATHJAX_ENTRY
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


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
