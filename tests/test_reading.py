"""The published chapters read as a paper: no raw header, self-comparison, signed zero or bare option."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from reading_checks import reading_problems

PUBLISHED = sorted((ROOT / "outputs" / "quick" / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("notebook", PUBLISHED, ids=[p.stem for p in PUBLISHED])
def test_each_published_chapter_reads_clean(notebook):
    assert reading_problems(notebook) == []


def test_the_check_finds_each_kind_of_problem(tmp_path):
    table = ('<table><thead><tr><th class="col_heading level0 col0">psnr_diff</th>'
             '<th class="col_heading level0 col1">Comparison</th></tr></thead>'
             "<tbody><tr><td>-0.00</td><td>natural − natural</td></tr></tbody></table>")
    glue = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "cmd"}},
            "data": {"application/papermill.record/text/plain": "'python -m rstor_core train --experiment x'"}}
    cells = [{"cell_type": "markdown", "source": ["Run python -m rstor_core book --fresh, or `make book`.\n",
                                                  "It says {glue:text}`cmd`."]},
             {"cell_type": "code", "source": [], "outputs": [glue, {"output_type": "display_data",
                                                                   "data": {"text/html": table}}]}]
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    found = "\n".join(reading_problems(path))
    for kind in ("raw column name as header: 'psnr_diff'", "self-comparison row", "signed zero: '-0.00'",
                 "option outside a code span", "glued text 'cmd'"):
        assert kind in found, (kind, found)
    cells[0]["source"] = ["Run `python -m rstor_core book --fresh`."]
    cells[1]["outputs"] = []
    path.write_text(json.dumps({"cells": cells}))
    assert reading_problems(path) == []


def test_the_landing_pages_prose_has_no_option_outside_a_code_span(tmp_path):
    from rstor_core.book.landing import answer_markdown, closing_markdown

    tables = ROOT / "outputs" / "quick" / "tables"
    page = (ROOT / "book" / "intro.md").read_text() + answer_markdown(tables) + closing_markdown(tables)
    notebook = tmp_path / "intro.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": [page]}]}))
    assert reading_problems(notebook) == []
