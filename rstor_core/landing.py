"""The landing page's generated parts: the answer in plain words, the headline results and the provenance.

The book's first page is prose (``book/intro.md``); what it quotes must come from the outputs it
introduces, never be typed in. The runner (:mod:`rstor_core.book`) writes these two Markdown
snippets beside it in the staged tree, from ``outputs/<profile>/tables`` and ``manifest.json``, and
the page includes them. A chapter whose table is missing (not run in this profile) leaves its rows
out, with a line saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rstor_core.intervals import verdict as verdict_of

HEADLINE_FILE, PROVENANCE_FILE, ANSWER_FILE = "_headline.md", "_provenance.md", "_answer.md"
DENOISE_PAIRS = (("natural", "dead leaves (discs)", "Denoising: natural-trained minus dead-leaves-trained"),
                 ("BM3D (knows σ)", "natural", "Denoising: BM3D (no training) minus natural-trained"))
PRETRAINED = "dead leaves → natural"  # chapter 05's fine-tuned arm
PACKAGES = ("torch", "numba", "numpy", "scikit-image", "jupyter-book")


def headline_markdown(tables: str | Path) -> str:
    """A Markdown table of the study's answers with their 95 % intervals: the denoising gaps (chapter
    02, at the noise levels of its table) and the blind motion-deblurring gap per kernel family with
    each arm's mean gain over the blurred input (chapter 03); what pre-training on dead leaves buys
    (chapter 05), when its tables are there."""
    tables = Path(tables)
    rows, missing = [], []
    denoise, table = tables / "02_paired_differences.csv", tables / "02_denoise_table.csv"
    if denoise.is_file():
        frame = pd.read_csv(denoise)
        if table.is_file():  # the noise levels of chapter 02's table (its table_sigmas), not every σ of its plots
            shown = pd.read_csv(table, nrows=0).columns
            frame = frame[[f"psnr_sigma{sigma:g}_db" in shown for sigma in frame.sigma_255]]
        for a, b, label in DENOISE_PAIRS:
            for row in frame[(frame.a == a) & (frame.b == b)].itertuples():
                rows.append((f"{label}, σ = {row.sigma_255:g}/255", _interval(row)))
    else:
        missing.append("chapter 02")
    deblur, gains = tables / "03_paired_gap.csv", tables / "03_deblur_table.csv"
    if deblur.is_file() and gains.is_file():
        table = pd.read_csv(gains).query("test_set == 'natural'").set_index("model")
        for row in pd.read_csv(deblur).query("a == 'natural' and b == 'dead leaves'").itertuples():
            gain = {arm: table.loc[arm, f"{row.family}_psnr_db"] - table.loc["input", f"{row.family}_psnr_db"]
                    for arm in ("dead leaves", "natural") if arm in table.index}
            said = "; ".join(f"{arm} gains {value:+.2f} dB over the input" for arm, value in gain.items())
            rows.append((f"Blind motion deblurring, {row.family} blur: natural-trained minus dead-leaves-trained",
                         f"{_interval(row)} ({said})"))
    else:
        missing.append("chapter 03")
    for task, by in (("denoise", "sigma_255"), ("deblur", "family")):  # chapter 05, when its tables are there
        pretraining = tables / f"05_pretraining_{task}.csv"
        if pretraining.is_file():
            frame = pd.read_csv(pretraining).query(f"a == '{PRETRAINED}' and b == 'natural'")
            for row in frame.itertuples():
                where = f"σ = {getattr(row, by):g}/255" if by == "sigma_255" else f"{getattr(row, by)} blur"
                rows.append((f"{'Denoising' if task == 'denoise' else 'Blind motion deblurring'}, {where}: "
                             f"pre-trained on dead leaves then fine-tuned minus natural-only, same steps", _interval(row)))
    lines = ["| Question | Measured (95 % interval) |", "| --- | --- |", *(f"| {q} | {a} |" for q, a in rows)]
    if missing:
        lines += ["", f"Not in these outputs: {', '.join(missing)} (not run for this profile)."]
    return "\n".join(lines) + "\n"


def answer_markdown(tables: str | Path, sigma: float = 25.0) -> str:
    """The study's two questions answered in plain words with their intervals, for the paragraph after the
    abstract: denoising at ``sigma`` (chapter 02's natural minus dead-leaves gap) and blind motion deblurring
    (chapter 03), saying so when no blind network gains :data:`rstor_core.study.LEARNED_DB` over the
    blurred input on any family: then its gaps compare networks that do not deblur."""
    from rstor_core.study import LEARNED_DB, best_blind_gain, family_gains

    tables, said = Path(tables), []
    denoise = tables / "02_paired_differences.csv"
    if denoise.is_file():
        a, b, _ = DENOISE_PAIRS[0]
        frame = pd.read_csv(denoise)
        row = frame[(frame.a == a) & (frame.b == b) & (frame.sigma_255 == sigma)]
        if len(row):
            row = next(row.itertuples())
            verdict = verdict_of(getattr(row, "psnr_diff_lo", float("nan")), getattr(row, "psnr_diff_hi", float("nan")),
                                 "natural", "dead leaves")  # no interval columns: one photo (the smoke profile)
            words = {"natural higher": "the network trained on photos denoises photos measurably better",
                     "dead leaves higher": "the network trained on dead leaves denoises photos measurably better",
                     "inconclusive": "our few photos and networks can neither tell the two apart nor call them "
                                     "equivalent", "one photo: no interval": "one photo cannot tell"
                     }.get(verdict, f"the two are {verdict}")
            said.append(f"**Denoising.** At σ = {sigma:g}/255 the network trained on photos minus the one trained "
                        f"only on dead leaves is {_interval(row)} on photos neither saw: {words}.")
    gains, gaps = tables / "03_deblur_table.csv", tables / "03_paired_gap.csv"
    if gains.is_file() and gaps.is_file():
        gain = family_gains(pd.read_csv(gains))
        best = best_blind_gain(gain, ("dead leaves", "natural"))
        anchor = [m for m in gain.index if m.startswith("Richardson")]
        told = (f", while Richardson–Lucy, told the kernel, gains {gain.loc[anchor[0]].min():+.1f} to "
                f"{gain.loc[anchor[0]].max():+.1f} dB" if anchor else "")
        gap = "; ".join(f"{row.family} {_interval(row)}" for row in
                        pd.read_csv(gaps).query("a == 'natural' and b == 'dead leaves'").itertuples())
        own = tables / "03_in_distribution.csv"  # each network on its own kind of images
        own = pd.read_csv(own).query("model == network") if own.is_file() else pd.DataFrame()
        own_said = (f", not even on the kind of images it trained on (best {own.psnr_gain.max():+.2f} dB there)"
                    if len(own) and own.psnr_gain.max() < LEARNED_DB else "")
        if best < LEARNED_DB:
            said.append(f"**Blind motion deblurring.** At this scale neither network has learned to deblur"
                        f"{own_said}: the best gain over the blurred photo on any family is {best:+.2f} dB{told}. "
                        f"The natural minus dead-leaves gaps ({gap}) compare networks that do not deblur.")
        else:
            said.append(f"**Blind motion deblurring.** The best blind network gains {best:+.2f} dB over the "
                        f"blurred photo on some family{told}; natural minus dead leaves: {gap}.")
    return "\n\n".join(said) + "\n" if said else "The chapters that answer the questions were not run here.\n"


def provenance_markdown(manifest: Mapping[str, Any]) -> str:
    """Which commit, profile, device and packages made the outputs, and each chapter's time."""
    commit = str(manifest.get("git_commit") or "unknown")[:10]
    dirty = " (with uncommitted changes)" if manifest.get("git_dirty") else ""
    packages = manifest.get("packages", {})
    versions = ", ".join(f"{name} {packages[name]}" for name in PACKAGES if name in packages)
    chapters = manifest.get("chapters", {})
    times = ", ".join(f"{name.split('_', 1)[0]} {info.get('seconds', float('nan')):.0f} s ({info.get('status')})"
                      for name, info in sorted(chapters.items()))
    return (f"Outputs of profile `{manifest.get('profile')}` written {manifest.get('written')} by commit "
            f"`{commit}`{dirty} on `{manifest.get('device')}` (Python {manifest.get('python')}; {versions}); "
            f"{'networks retrained' if manifest.get('fresh') else 'committed weights'}; time per chapter: "
            f"{times}.\n")


def _interval(row: Any) -> str:
    lo, hi = getattr(row, "psnr_diff_lo", float("nan")), getattr(row, "psnr_diff_hi", float("nan"))
    if lo != lo or hi != hi:  # no interval (one photo, one network: the CSV leaves the empty columns out)
        return f"{row.psnr_diff:+.2f} dB ({row.verdict})"
    verdict = "" if row.measurable else f", {verdict_of(lo, hi)}"  # equivalent within the margin, or inconclusive
    return f"{row.psnr_diff:+.2f} dB ({lo:+.2f} to {hi:+.2f}{verdict})"
