"""JupyterLab (``make lab``): chapters open unmodified and are saved without outputs."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from rstor_core.book.lab import language_info, strip_outputs

PAIRED = sorted((ROOT / "book").glob("0*.ipynb"))


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_a_paired_notebook_has_no_outputs_and_the_kernels_language_info(notebook):
    """JupyterLab sets ``language_info`` from the kernel on opening and leaves an equal value alone
    (@jupyter/ydoc's setMetadata compares deeply): stored equal, an untouched chapter opens unmodified."""
    content = json.loads(notebook.read_text())
    assert all(not cell.get("outputs") for cell in content["cells"] if cell["cell_type"] == "code")
    stored, kernel = content["metadata"]["language_info"], language_info()
    assert {**stored, "version": stored["version"].rsplit(".", 1)[0]} == \
        {**kernel, "version": kernel["version"].rsplit(".", 1)[0]}


def test_a_saved_notebook_keeps_its_sources_and_loses_its_outputs_and_widget_state():
    model = {"type": "notebook", "content": {"metadata": {"widgets": {"state": {}}, "kernelspec": {}}, "cells": [
        {"cell_type": "code", "source": "1 + 1", "execution_count": 3,
         "outputs": [{"output_type": "execute_result", "data": {"text/plain": "2"}}]},
        {"cell_type": "markdown", "source": "# Title"}]}}
    strip_outputs(model=model, path="book/01_data_generation.ipynb", contents_manager=None)
    code, text = model["content"]["cells"]
    assert code == {"cell_type": "code", "source": "1 + 1", "execution_count": None, "outputs": []}
    assert text == {"cell_type": "markdown", "source": "# Title"} and model["content"]["metadata"] == {"kernelspec": {}}
    python = {"type": "file", "content": "print(1)"}
    strip_outputs(model=python, path="x.py")
    assert python == {"type": "file", "content": "print(1)"}
