"""The landing page's generated parts: the answer in plain words, the headline results and the provenance.

The book's first page is prose (``book/intro.md``); what it quotes must come from the outputs it
introduces, never be typed in. The site build (:mod:`rstor_core.book.site`) writes these Markdown
snippets beside it in the staged tree, from ``outputs/<profile>/tables`` and ``manifest.json``, and
the page includes them. A chapter whose table is missing (not run in this profile) leaves its rows
out, with a line saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rstor_core.measurement.intervals import verdict as verdict_of

HEADLINE_FILE, PROVENANCE_FILE, ANSWER_FILE, CLOSING_FILE = "_headline.md", "_provenance.md", "_answer.md", "_closing.md"
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
    (chapter 03), saying so when no blind network gains :data:`rstor_core.measurement.readings.LEARNED_DB` over the
    blurred input on any family: then its gaps compare networks that do not deblur."""
    from rstor_core.measurement.readings import LEARNED_DB, best_blind_gain
    from rstor_core.measurement.study import family_gains

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
    gap = gap_closing(tables, sigma)
    if gap:
        said.append(f"**What closes the gap.** {gap}")
    return "\n\n".join(said) + "\n" if said else "The chapters that answer the questions were not run here.\n"


def gap_closing(tables: str | Path, sigma: float = 25.0) -> str:
    """Chapter 05 in a sentence or two: the dead-leaves variant that gains most over flat discs at ``sigma``
    and the gap natural training still leads it by, and pre-training on dead leaves then fine-tuning on
    photos against natural-only training; empty when chapter 05's tables are not there."""
    tables, said = Path(tables), []
    ablation = tables / "05_ablation.csv"
    if ablation.is_file():
        rows = pd.read_csv(ablation).query("sigma_255 == @sigma and variant != 'natural'")
        if len(rows):
            best = rows.loc[rows.gain.idxmax()]
            said.append(f"Of the richer dead-leaves generators, the {best.variant} gains most over flat discs at "
                        f"σ = {sigma:g}/255, {_interval(best, 'gain')}; natural-trained minus it, "
                        f"{_interval(best, 'gap')}.")
    pretraining = tables / "05_pretraining_denoise.csv"
    if pretraining.is_file():
        rows = pd.read_csv(pretraining).query(f"a == '{PRETRAINED}' and b == 'natural' and sigma_255 == @sigma")
        for row in rows.itertuples():
            said.append(f"Pre-trained on dead leaves then fine-tuned on photos for the same total steps, a denoiser "
                        f"differs from the natural-only one by {_interval(row)}.")
    return " ".join(said)


def closing_markdown(tables: str | Path, manifest: Mapping[str, Any] | None = None) -> str:
    """The landing page's closing section: what the study shows at this scale, what it cannot, and what a
    GPU profile and public sets would add, with the numbers it rests on from ``tables`` (and the device from
    ``manifest``)."""
    tables, shows = Path(tables), []
    bm3d = tables / "02_paired_differences.csv"
    if bm3d.is_file():
        rows = pd.read_csv(bm3d).query("a == 'BM3D (knows σ)' and b == 'natural'")
        if len(rows):
            lows = rows.get("psnr_diff_lo", pd.Series(float("nan"), index=rows.index))  # none with one photo
            beats = ("beats the natural-trained network at every noise level" if (lows > 0).all() else
                     "against the natural-trained network, not measurably better at every noise level")
            shows.append(f"- **Where the networks lose.** BM3D, with no training and told the noise level, {beats} "
                         "of chapter 02's table ("
                         + "; ".join(f"σ = {r.sigma_255:g}: {_interval(r)}" for r in rows.itertuples()) + ").")
    gaussian = tables / "03_gaussian_table.csv"
    if gaussian.is_file():
        rows = pd.read_csv(gaussian).set_index("model")
        if {"psnr_gain_db", "psnr_gain_lo_db", "psnr_gain_hi_db"} <= set(rows.columns):
            said = "; ".join(f"{arm} {rows.loc[arm, 'psnr_gain_db']:+.2f} dB ({rows.loc[arm, 'psnr_gain_lo_db']:+.2f}"
                             f" to {rows.loc[arm, 'psnr_gain_hi_db']:+.2f})" for arm in ("dead leaves", "natural")
                             if arm in rows.index)
            shows.append(f"- **Gaussian blur.** Over the blurred photo, chapter 03's Gaussian pair gains: {said}.")
    agreement = tables / "03_published_agreement.csv"
    if agreement.is_file():
        rows = pd.read_csv(agreement)
        apart = rows[rows.verdict.isin(["above our interval", "below our interval"])]  # one photo: no interval
        if len(apart):
            shows.append("- **Against the published study.** Its natural minus dead-leaves deblurring gap lies outside "
                         "our interval on " + ", ".join(f"{r.family} blur ({r.published_gap_db:+.2f} dB published, "
                                                        f"ours {r.ours_gap_db:+.2f}, {r.ours_gap_lo_db:+.2f} to "
                                                        f"{r.ours_gap_hi_db:+.2f})" for r in apart.itertuples()) + ".")
    cannot = f"- **What this scale cannot show.** {_scale(tables, manifest or {})} {_real_blur(tables)}"
    adds = ("- **What the GPU profile and public sets would add.** `make book PROFILE=paper` trains the original "
            "study's 41 M-parameter NAFNet on 256-pixel crops with DIV2K photos and scores it on Köhler's recorded "
            "camera shake (it needs a GPU and a network); Kodak24, CBSD68 or DIV2K as test sets (`test_images:` "
            "in a profile) give tens to hundreds of photos, and so narrower intervals.")
    at_scale = (manifest or {}).get("profile") == "paper"  # already the GPU profile: nothing of it to add
    return "\n".join([*shows, cannot, *([] if at_scale else [adds])]) + "\n"


def _scale(tables: Path, manifest: Mapping[str, Any]) -> str:
    """What the outputs' scale allows, read from chapter 03's tables: how many networks per arm, trained how
    many steps on which device, tested on how many photos; how many of the deblurring gaps are inconclusive;
    and whether any blind network learned to deblur (:data:`~rstor_core.measurement.readings.LEARNED_DB`)."""
    from rstor_core.measurement.readings import LEARNED_DB, best_blind_gain
    from rstor_core.measurement.study import family_gains

    gaps, gains, curves = (tables / f"03_{name}.csv" for name in ("paired_gap", "deblur_table", "training_curves"))
    if not (gaps.is_file() and gains.is_file()):
        return "Chapter 03 was not run here: its scale is unknown."
    gap = pd.read_csv(gaps).query("a == 'natural' and b == 'dead leaves'")
    steps = (pd.read_csv(curves).query("experiment.str.startswith('motion')").groupby("experiment").step.max()
             if curves.is_file() else pd.Series(dtype=int))
    trained = f" trained for {int(steps.max())} steps" if len(steps) else ""
    device = {None: "", "cpu": " on a CPU"}.get(manifest.get("device"), f" on {manifest.get('device')}")
    runs = int(gap[["n_runs_a", "n_runs_b"]].min().min()) if {"n_runs_a", "n_runs_b"} <= set(gap) else 1
    photos = int(gap.n_images.max()) if "n_images" in gap else 1
    open_ = int((gap.get("verdict", pd.Series("", index=gap.index)) == "inconclusive").sum())
    best = best_blind_gain(family_gains(pd.read_csv(gains)), ("dead leaves", "natural"))
    said = (f"{runs} network{'s' if runs != 1 else ''} per arm{trained}{device}, tested on {photos} "
            f"photo{'s' if photos != 1 else ''}: {open_} of the {len(gap)} natural minus dead-leaves deblurring gaps "
            "are inconclusive")
    if best < LEARNED_DB:
        return (f"{said}, and no blind network gains {LEARNED_DB:g} dB over the blurred photo on any family (best "
                f"{best:+.2f} dB), so a gap between two of them says little about networks that deblur, as the "
                "original study's did.")
    return f"{said}; the best blind network gains {best:+.2f} dB over the blurred photo."


def _real_blur(tables: Path) -> str:
    """What the landing page says of real camera shake: the pairs chapter 03 scored, or that none was."""
    rows = tables / "03_real_blur_rows.csv"
    if not rows.is_file():
        return ("Every blur is synthetic: no real camera shake is tested (Köhler's recorded shots or your own "
                "pairs are one profile line away: `deblur_study.real_pairs`).")
    real = pd.read_csv(rows)
    return (f"Real camera shake: {real.image.nunique()} recorded pairs of `{real.test_set.iloc[0]}` (chapter 03's "
            "real-blur section); every other blur is synthetic.")


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


def _interval(row: Any, metric: str = "psnr_diff") -> str:
    lo, hi = getattr(row, f"{metric}_lo", float("nan")), getattr(row, f"{metric}_hi", float("nan"))
    value = getattr(row, metric)
    if lo != lo or hi != hi:  # no interval (one photo, one network: the CSV leaves the empty columns out)
        return f"{value:+.2f} dB ({getattr(row, 'verdict', 'no interval')})"
    verdict = f", {verdict_of(lo, hi)}" if lo <= 0 <= hi else ""  # equivalent within the margin, or inconclusive
    return f"{value:+.2f} dB ({lo:+.2f} to {hi:+.2f}{verdict})"
