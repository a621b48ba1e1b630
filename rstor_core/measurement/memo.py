"""Evaluation rows kept beside the outputs under the fingerprint of everything that made them.

Evaluating a chapter's networks is most of a book run once the weights exist (chapter 03 tests
dozens of networks: its own, their snapshots, the recipe trials). The rows are a pure function of
the networks' weights, the test images, the degradations, the settings, the device and the code
that scores them, so :func:`fingerprint` hashes all of that and a chapter reuses rows saved under
the same fingerprint (:meth:`~rstor_core.book.chapter.ChapterRun.evaluate`); anything else, a retrained
network, another photo, an edit of the scoring code, misses and recomputes. The rows are CSV (read
back bit for bit: :func:`read_rows`), one file per name, the fingerprint in the file name.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rstor_core.settings.files import save_table

# The modules whose code decides an evaluation row's numbers (restoring, degrading, scoring, cropping, seeding),
# and those that decide recorded pairs' rows besides (reading the pairs, scoring them): only pair rows hash them.
SCORING_MODULES = ("rstor_core.networks.evaluate", "rstor_core.measurement.metrics", "rstor_core.degradation.degrade",
                   "rstor_core.networks.models", "rstor_core.networks.batches", "rstor_core.images.photos",
                   "rstor_core.settings.rng")
PAIR_SCORING_MODULES = ("rstor_core.networks.pair_scoring", "rstor_core.images.pairs")
LIBRARIES = ("torch", "numpy", "scikit-image", "stlpips-pytorch", "deepinv", "lpips", "bm3d")
TEXT = ("model", "test_set", "image", "degradation", "blur", "lpips_note")  # evaluate's columns of names
NA = "NaN"  # how a missing number is written, so that an empty string stays one


@functools.cache
def scoring_code(*extra: str) -> str:
    """A digest of :data:`SCORING_MODULES`' code (and the ``extra`` modules', :data:`PAIR_SCORING_MODULES` for
    pairs) and :data:`LIBRARIES`' versions, read once per process (the code a process scores with is the code
    it imported). The code is each module's syntax tree without its docstrings (:func:`code_tree`): a comment,
    a docstring or a line break edited keeps the saved rows, and an edit of the pairs' code keeps the others'."""
    digest = hashlib.sha256()
    for module in (*SCORING_MODULES, *extra):
        digest.update(code_tree(Path(importlib.util.find_spec(module).origin).read_text()).encode())
    for library in LIBRARIES:
        try:
            digest.update(f"{library}={importlib.metadata.version(library)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{library}=absent".encode())
    return digest.hexdigest()


def code_tree(source: str) -> str:
    """``source``'s syntax tree, docstrings dropped, as text: what the code does, not how it is laid out or
    documented (positions, comments and formatting are not in the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:]
    return ast.dump(tree)


def fingerprint(*parts: Any) -> str:
    """A SHA-256 of ``parts``: networks by architecture and weights, arrays and tensors by dtype, shape and
    bytes, mappings and sequences item by item in their order (it is the rows' order), closures (a classical
    method) by name and captured values, dataclasses and the rest by ``repr``."""
    digest = hashlib.sha256()
    _feed(digest, parts)
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """A SHA-256 of a file's bytes, read in chunks: an image set stands in a fingerprint by its files."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.nn.Module):
        digest.update(f"module {value!r}".encode())
        _feed(digest, value.state_dict())
    elif isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits
        digest.update(b"bfloat16 ")
        _feed(digest, value.detach().cpu().contiguous().view(torch.int16).numpy())
    elif isinstance(value, torch.Tensor):
        _feed(digest, value.detach().cpu().contiguous().numpy())
    elif isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"mapping {len(value)}".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"sequence {len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif callable(value) and not dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed(digest, (f"callable {value.__module__}.{value.__qualname__}", _captured(value)))
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def _captured(function: Callable) -> list:
    """The values a closure captured (a classical method's settings), by name."""
    cells = getattr(function, "__closure__", None) or ()
    names = getattr(getattr(function, "__code__", None), "co_freevars", ())
    return [(name, cell.cell_contents) for name, cell in zip(names, cells)]


def rows_path(folder: str | Path, name: str, key: str) -> Path:
    """``folder/<name>.<first 16 hex of key>.csv``."""
    return Path(folder) / f"{name}.{key[:16]}.csv"


def read_rows(folder: str | Path, name: str, key: str) -> pd.DataFrame | None:
    """The rows saved as ``name`` under ``key``, exactly as they were written, or None."""
    path = rows_path(folder, name, key)
    if not path.is_file():
        return None
    header = pd.read_csv(path, nrows=0).columns  # a photo named "7" stays a name
    return pd.read_csv(path, keep_default_na=False, na_values=[NA], dtype={c: str for c in TEXT if c in header})


def write_rows(rows: pd.DataFrame, folder: str | Path, name: str, key: str) -> Path:
    """Save ``rows`` as ``name`` under ``key`` (atomically), then remove ``name``'s rows of other keys."""
    path = save_table(rows, rows_path(folder, name, key), na_rep=NA)
    for stale in Path(folder).glob(f"{name}.*.csv"):
        if stale != path and stale.name.count(".") == 2:
            stale.unlink()
    return path
