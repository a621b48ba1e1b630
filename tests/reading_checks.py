"""What a reader of an executed chapter must never meet (issue 32): a raw column name as a table header,
a comparison of an arm with itself, a value printed as "-0.00", or a command option outside a code span
(Sphinx turns a bare ``--`` into an en-dash and the pasted command fails)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")
OPTION = re.compile(r"(?<![\w-])--[a-z]")
GLUE_TEXT = re.compile(r"\{glue:text\}`([^`:]+)")


def _outside_code(markdown: str) -> str:
    """``markdown`` without fenced blocks and code spans: what Sphinx typesets as prose."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return re.sub(r"`[^`]*`", "", markdown)


def _cells(table: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r,
                                                                                  flags=re.S)] for r in rows]


def reading_problems(notebook: Path) -> list[str]:
    """Every such problem in the executed ``notebook``, one line each (empty: it reads clean)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    problems, glued, referenced = [], {}, set()
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            referenced |= set(GLUE_TEXT.findall(source))
            problems += [f"option outside a code span in prose: {line.strip()[:80]!r}"
                         for line in _outside_code(source).splitlines() if OPTION.search(line)]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                glued[name] = "".join(data.get("application/papermill.record/text/plain", ""))
            for table in re.findall(r"<table.*?</table>", "".join(data.get("text/html", "")), flags=re.S):
                rows = _cells(table)
                heads = [html.unescape(h).strip() for h in re.findall(r'class="col_heading[^"]*"[^>]*>(.*?)</th>', table)]
                problems += [f"raw column name as header: {h!r}" for h in heads if SNAKE.fullmatch(h)]
                for row in rows[1:]:
                    problems += [f"self-comparison row: {row[:3]}" for c in row if re.fullmatch(r"(.+) − \1", c)]
                    if "Network A" in rows[0] and "minus network B" in rows[0]:
                        a, b = rows[0].index("Network A"), rows[0].index("minus network B")
                        problems += [f"self-comparison row: {row[:3]}"] if row[a] == row[b] else []
                    problems += [f"signed zero: {c!r}" for c in row if re.search(r"(?<![\d.])-0\.0+(?!\d*[1-9])\b", c)]
                    problems += [f"zero-width interval: {c!r}" for c in row if re.search(r"\[0\.00, 0\.00\]", c)]
    problems += [f"glued text {name!r} holds a code span or an option: {glued[name][:80]!r}"
                 for name in sorted(referenced & set(glued)) if "`" in glued[name] or OPTION.search(glued[name])]
    return problems
