"""JupyterLab's side of the book (``make lab``): chapters saved as sources, not as results.

A chapter opened in JupyterLab is paired by Jupytext with its ``book/*.py``; saving writes both. The
paired ``.ipynb`` is committed without outputs, so :func:`strip_outputs` (the contents manager's
``pre_save_hook``) keeps it so: a run's figures live in ``outputs/``, never in ``book/``. The committed
``.ipynb`` also carries the kernel's ``language_info`` (:func:`language_info`), which JupyterLab would
otherwise add on opening, marking an untouched chapter modified.
"""

from __future__ import annotations

from typing import Any


def strip_outputs(model: dict[str, Any], **_: Any) -> None:
    """Empty every code cell's outputs and execution count in a notebook about to be saved (in place)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    model["content"].get("metadata", {}).pop("widgets", None)  # ipywidgets' saved state is an output too


def language_info() -> dict[str, Any]:
    """What this environment's Python kernel reports as ``metadata.language_info`` on starting."""
    from ipykernel.ipkernel import IPythonKernel

    return dict(IPythonKernel.language_info)
