"""How a table reads in the book: a caption, no row numbers, each number at the precision its metric
deserves, an interval beside its value, and no column too many for the page. The CSV under
``tables/`` keeps every column at full precision; this is only the view of it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd
from pandas.io.formats.style import Styler

#: Decimals by what a column measures (its name): dB to 0.01, SSIM and (ST-)LPIPS to 0.001; p-values,
#: like any other float, to three significant digits (``None``).
DECIMALS = ((re.compile(r"p_?value"), None), (re.compile(r"ssim|lpips|statistic|fraction"), 3),
            (re.compile(r"psnr|_db$|diff|gain|gap|slope|mpix|speedup|radius"), 2))
MISSING = "–"


def decimals(column: str) -> int | None:
    """The decimals a float column is shown with, ``None`` for a plain count or label."""
    return next((places for pattern, places in DECIMALS if pattern.search(column.lower())), None)


def _significant(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def interval_bounds(column: str, columns: Sequence[str]) -> tuple[str, str] | None:
    """The ``(lo, hi)`` columns of ``column``'s interval in ``columns``: ``x_lo_db``/``x_hi_db`` for
    ``x_db``, ``x_lo``/``x_hi`` for ``x``; ``None`` when it has none."""
    stem, unit = (column[:-3], "_db") if column.endswith("_db") else (column, "")
    lo, hi = f"{stem}_lo{unit}", f"{stem}_hi{unit}"
    return (lo, hi) if lo in columns and hi in columns else None


def _number(value: object, places: int | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.{places}f}" if places is not None else _significant(value)
    return str(value)


def table_view(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``frame`` as text: each value with its interval (``"25.31 [25.10, 25.52]"``), its lo/hi columns
    folded into it, all-empty columns dropped, numbers rounded by :func:`decimals`. ``columns`` (the
    value columns, in order) keeps only those."""
    names = list(frame.columns)
    bounds = {c: b for c in names if (b := interval_bounds(c, names))}
    folded = {side for pair in bounds.values() for side in pair}
    keep = [c for c in (columns if columns is not None else names) if c not in folded]
    unknown = [c for c in keep if c not in names]
    if unknown:
        raise KeyError(f"no column {unknown} in the table (it has {names})")
    view = {}
    for column in keep:
        if frame[column].isna().all():
            continue
        places = decimals(column)
        text = frame[column].map(_number, places=places)
        if column in bounds:
            lo, hi = (frame[side].map(_number, places=places) for side in bounds[column])
            has = frame[list(bounds[column])].notna().any(axis="columns")
            text = text.where(~has, text + " [" + lo + ", " + hi + "]")  # a row with no interval: its value
        view[column] = text
    return pd.DataFrame(view, index=frame.index)


def styled(frame: pd.DataFrame, caption: str, columns: Sequence[str] | None = None) -> Styler:
    """The book's table: :func:`table_view` with a caption and no row index."""
    return table_view(frame, columns).style.hide(axis="index").set_caption(caption)


def split_columns(frame: pd.DataFrame, keys: Sequence[str], groups: Mapping[str, str]) -> dict[str, list[str]]:
    """``frame``'s columns cut into one list per ``{label: pattern}`` of ``groups`` (a regular expression
    searched in the name), each led by the ``keys`` columns: a table too wide for the page, read as
    several narrower ones (one per metric or per blur family). Interval columns go with their value."""
    names = [c for c in frame.columns if c not in keys]
    return {label: [*keys, *(c for c in names if re.search(pattern, c))] for label, pattern in groups.items()}


def show(frame: pd.DataFrame, caption: str, keys: Sequence[str] = (), groups: Mapping[str, str] | None = None) -> None:
    """Display ``frame`` as the book's table, or as one table per group of ``groups`` (see
    :func:`split_columns`), each captioned ``caption: label``."""
    from IPython.display import display

    parts = split_columns(frame, keys, groups) if groups else {"": None}
    for label, columns in parts.items():
        display(styled(frame, f"{caption}: {label}" if label else caption, columns))
