"""How a table reads in the book: a caption, no row numbers, each number at the precision its metric
deserves, an interval beside its value, and no column too many for the page. The CSV under
``tables/`` keeps every column at full precision; this is only the view of it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

#: Decimals by what a column measures (its name): dB to 0.01, SSIM and (ST-)LPIPS to 0.001; p-values,
#: like any other float, to three significant digits (``None``).
DECIMALS = ((re.compile(r"p_?value"), None), (re.compile(r"ssim|lpips|statistic|fraction"), 3),
            (re.compile(r"psnr|_db$|diff|gain|gap|slope|mpix|speedup|radius"), 2))
MISSING = "–"

#: What a reader sees above a column, for the names a word-by-word reading (:func:`header`) gets wrong;
#: the one place a column's shown name is kept (the CSV keeps the name code reads).
HEADERS = {"a": "Network A", "b": "minus network B", "psnr_diff": "A − B, PSNR (dB)", "psnr": "PSNR (dB)",
           "gain": "Gain over flat discs (dB)", "gap": "Gap left to natural (dB)", "gain_verdict": "Gain verdict",
           "sigma_255": "Noise σ (/255)", "noise_sigma_255": "Noise σ (/255)", "n_runs": "Networks",
           "n_runs_a": "Networks A", "n_runs_b": "Networks B", "n_images": "Photos", "n_kernels": "Kernels",
           "n_radii": "Radii drawn", "test_set": "Test images", "model": "Network", "e2e_ms": "Whole image (ms)",
           "original_e2e_ms": "Original's whole image (ms)", "speedup_e2e": "Speed-up, whole image",
           "psnr_gain": "PSNR gain (dB)", "ours_gap_db": "Our gap (dB)", "ks_pvalue": "KS p-value",
           "ks_statistic": "KS statistic", "alpha": "Power-law exponent α", "r_min_px": "Smallest radius (px)",
           "r_max_px": "Largest radius (px)", "until_covered": "Until covered", "val_psnr": "Validation PSNR (dB)",
           "val_gain_db": "Validation gain (dB)", "lr": "Learning rate", "img_per_s": "Images per s",
           "measurable": "Measurable", "agrees": "Published gap inside our interval", "data": "Trained on",
           "steps_to_target": "Steps to the target", "lpips_note": "LPIPS note"}
#: Words of a column name shown otherwise, and units its last word stands for.
WORDS = {"psnr": "PSNR", "ssim": "SSIM", "st": "ST-", "lpips": "LPIPS", "rms": "RMS", "ks": "KS", "e2e": "whole image",
         "n": "number of", "mpix": "Mpix", "speedup": "speed-up"}
FAMILIES = ("small", "mild", "big")  # a blur family leading a name is said after it: "PSNR, big blur"
UNITS = {"db": "dB", "ms": "ms", "px": "px", "mpix_s": "Mpix/s"}


def header(column: str) -> str:
    """The name a reader sees above ``column``: :data:`HEADERS`' entry, else its words with acronyms in
    capitals, ``sigma25`` as ``σ = 25`` and a unit suffix (``_db``, ``_ms``, ``_px``, ``_mpix_s``) in
    brackets, so that ``psnr_sigma25_db`` reads "PSNR σ = 25 (dB)"."""
    if column in HEADERS:
        return HEADERS[column]
    if not re.fullmatch(r"[a-z0-9_]+", column):  # already words (a pivoted level, a label)
        return column
    stem, unit = column, ""
    for suffix, shown in UNITS.items():
        if column.endswith(f"_{suffix}"):
            stem, unit = column[:-len(suffix) - 1], f" ({shown})"
    words = [re.sub(r"^sigma(\d+)$", r"σ = \1", w) for w in stem.split("_")]
    selection = words[0] == "selection" and len(words) > 1
    family = words[selection] if words[selection] in FAMILIES and len(words) > selection + 1 else None
    words = [w for i, w in enumerate(words) if not (i < selection + (family is not None))]
    text = " ".join(WORDS.get(w, w) for w in words).replace("ST- LPIPS", "ST-LPIPS")
    text += " on selection images" * selection + (f", {family} blur" if family else "")
    return text[:1].upper() + text[1:] + unit


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
        text = f"{value:.{places}f}" if places is not None else _significant(value)
        return text[1:] if re.fullmatch(r"-0(\.0*)?", text) else text  # a value that rounds to 0 has no sign
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


def comparisons(frame: pd.DataFrame, across: str, level: Callable[[Any], str],
                value: str = "psnr_diff") -> pd.DataFrame:
    """Paired differences (``a``, ``b``, ``across``, ``value`` and its interval) as one row per comparison
    ("A − B") and one column per level of ``across`` named by ``level`` (``lambda s: f"σ = {s:g}"``):
    a long table of pairs read at a glance. Self-comparisons are left out; order is first appearance."""
    frame = frame[frame.a != frame.b]
    text = table_view(frame, [value]).assign(Comparison=(frame.a + " − " + frame.b).to_numpy(),
                                             **{across: frame[across].to_numpy()})
    wide = text.pivot(index="Comparison", columns=across, values=value)
    wide = wide.loc[pd.unique(text.Comparison), pd.unique(frame[across])].fillna(MISSING)
    return wide.rename(columns=level).reset_index().rename_axis(columns=None)


def styled(frame: pd.DataFrame, caption: str, columns: Sequence[str] | None = None) -> Styler:
    """The book's table: :func:`table_view` with a caption, human headers (:func:`header`) and no row
    index. A comparison of an arm with itself (``a == b``) says nothing and is left out."""
    if {"a", "b"} <= set(frame.columns):
        frame = frame[frame.a != frame.b]
    view = table_view(frame, columns)
    return view.rename(columns=header).style.hide(axis="index").set_caption(caption)


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
