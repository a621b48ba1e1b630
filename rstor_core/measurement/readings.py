"""What a chapter's prose may say, read off its tables: verdicts, rankings and the values it glues.

The tables are :mod:`rstor_core.measurement.study`'s; each function here takes them (DataFrames, no I/O)
and returns ``{glue key: value}`` for :meth:`~rstor_core.book.chapter.ChapterRun.glue`, so that a claim in
the prose ("each network wins on its own kind of image", "BM3D beats both") is decided by a tested
function, in the open, rather than by a cell's expression. The keys are the names the chapters' Markdown
reads (``{glue:text}`key```): a renamed key is a broken sentence, which the chapter's own run reveals.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd

from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement import intervals
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.study import ablation_ranking, late_rise, share_below_zero

LEARNED_DB = 1.0  # a blind network that gains less than this over the blurred input on every family has not learned to deblur


def best_blind_gain(gain: pd.DataFrame, arms: Sequence[str]) -> float:
    """The largest gain over the blurred input (dB) of the blind ``arms`` on any family (``gain``:
    :func:`family_gains`): below :data:`LEARNED_DB`, none of them has learned to deblur."""
    return float(gain.loc[[arm for arm in arms if arm in gain.index]].to_numpy().max())


def deblurring_reading(gain: pd.DataFrame, arms: Sequence[str]) -> dict[str, str]:
    """What chapter 03 may say of its networks' gap (``gain``: :func:`family_gains`, dB over the blurred
    input, one row per model): a comparison of networks that have not learned to deblur when no blind arm
    gains :data:`LEARNED_DB` on any family, else a pointer to read the gaps family by family."""
    best = best_blind_gain(gain, arms)
    if best < LEARNED_DB:
        return {"deblur_reading": f"Ours cannot say why: at this scale neither blind network gains more than "
                                  f"{best:+.2f} dB over the blurred input on any family, against several dB for "
                                  "Richardson–Lucy told the kernel, so our gaps compare networks that have not "
                                  "learned to deblur, and say nothing of whether the dead-leaves network keeps "
                                  "deblurring when the blur is big."}
    return {"deblur_reading": f"The best blind network gains {best:+.2f} dB over the blurred input on some family: "
                              "read our gaps family by family, next to each arm's gain."}


def in_distribution_reading(table: pd.DataFrame, names: Mapping[str, str]) -> dict[str, str]:
    """What chapter 03 says of :func:`in_distribution` (``names``: arm -> glue suffix): per arm, its gains per
    family on its own images next to the anchors' (``own_<suffix>``), and ``own_reading``: whether any
    network gains :data:`LEARNED_DB` on its own kind of images, the least a network that learned to
    deblur shows where it trained."""
    said, learned = {}, []
    for arm, name in names.items():
        mine = table[table.network == arm]
        if mine.empty:
            continue
        gains = mine.pivot(index="model", columns="family", values="psnr_gain").reindex(columns=list(FAMILIES))
        own = gains.loc[arm]
        others = "; ".join(f"{model} {' / '.join(f'{v:+.2f}' for v in gains.loc[model])}"
                           for model in gains.index if model != arm)
        said[f"own_{name}"] = (f"{' / '.join(f'{v:+.2f}' for v in own)} dB on small / mild / big blur "
                               f"({mine.test_set.iloc[0]} images; {others or 'no anchor'})")
        families = [family for family, value in own.items() if value >= LEARNED_DB]
        if families:
            learned.append(f"the network trained on {arm} gains at least {LEARNED_DB:g} dB on {listed(families)} blur")
    if learned:
        said["own_reading"] = (f"On its own kind of images, {'; '.join(learned)}: there it has learned something of "
                               "the task (still far below Richardson–Lucy told the kernel); the transfer question "
                               "follows.")
    else:
        said["own_reading"] = (f"No network gains {LEARNED_DB:g} dB on any family even on its own kind of images: "
                               "at this scale neither has learned to deblur what it trained on, so the transfer "
                               "question below compares networks that have not learned the task.")
    return said


def listed(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c": a list for prose."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else list(items))


def photo_extremes(by_photo: pd.DataFrame, names: Mapping[str, str]) -> dict[str, str]:
    """Per model of ``names`` (model -> glue suffix), ``photos_<suffix>``: on each family, its worst photo's
    gain and the range over the others (:func:`gain_by_photo`), e.g. "small: chelsea -4.47 (others -0.67
    to -0.01)"."""
    said = {}
    for model, name in names.items():
        mine = by_photo[by_photo.model == model]
        parts = []
        for family in FAMILIES:
            gains = mine[mine.family == family].set_index("image").gain_db.sort_values()
            if gains.empty:
                continue
            others = gains.iloc[1:]
            rest = f" (others {others.min():+.2f} to {others.max():+.2f})" if len(others) else ""
            parts.append(f"{family}: {gains.index[0]} {gains.iloc[0]:+.2f}{rest}")
        if parts:
            said[f"photos_{name}"] = "; ".join(parts)
    return said


def glue_values(table: pd.DataFrame, names: Mapping[str, str]) -> dict[str, float]:
    """The prose's numbers from a table: ``{f"{names[row]}_{column}": value}`` for each row ``names`` names."""
    return {f"{names[row]}_{column}": float(table.loc[row, column]) for row in table.index if row in names
            for column in table.columns}


def convergence(curves: pd.DataFrame, *, flat_db: float = 0.05) -> dict[str, float | str]:
    """What the prose says of :func:`late_rise`: its range over the networks (``rise_min``, ``rise_max``) and
    whether they had levelled off (no network rose more than ``flat_db``) or were stopped early (``converged``)."""
    rise = late_rise(curves).val_psnr_rise_db
    return {"rise_min": float(rise.min()), "rise_max": float(rise.max()),
            "converged": "the networks stopped before they converged" if rise.max() > flat_db else "they had levelled off"}


def differences_said(differences: pd.DataFrame, by: str) -> dict[tuple[str, str, Hashable], str]:
    """``{(a, b, value of by): the difference in words}`` of :func:`~rstor_core.measurement.intervals.paired_difference`
    rows (:func:`~rstor_core.measurement.intervals.describe`): how the prose looks one comparison up."""
    return {(row.a, row.b, getattr(row, by)): intervals.describe(row._asdict()) for row in differences.itertuples()}


def denoise_reading(differences: pd.DataFrame, sigmas: Sequence[float], *, lowest: float, reference: str,
                    natural: str, primitives: str, bm3d: str | None) -> dict[str, str]:
    """What chapter 02 says of its paired differences (rows of ``a`` minus ``b`` per ``sigma_255``, the noisy
    input among the ``b``): the gap natural minus ``reference`` and the primitives' change at each of
    ``sigmas``; each arm against its input at σ = 25 and at the ``lowest`` σ (where a denoiser can only lose),
    with ``harm_verdict``: do the networks make nearly clean photos worse (the arms whose interval lies below
    the input); ``bm3d``'s lead over the natural network (``bm3d_lead<σ>``) and ``bm3d_verdict``: does it beat
    both kinds of networks at every σ of the table (``bm3d`` None: not run, no lead)."""
    said = differences_said(differences, "sigma_255")
    leads = differences[differences.a == bm3d]
    harms = differences[(differences.b == INPUT) & (differences.sigma_255 == lowest)]
    worse = harms.a[harms.psnr_diff_hi < 0].tolist()  # the arms whose interval lies below the noisy input
    return {**{f"gap{sigma:g}": said[natural, reference, sigma] for sigma in sigmas},
            **{f"primitives{sigma:g}": said[primitives, reference, sigma] for sigma in sigmas},
            "gain_discs25": said[reference, INPUT, 25.0], "lowest": f"{lowest:g}",
            "harm_discs": said[reference, INPUT, lowest], "harm_natural": said[natural, INPUT, lowest],
            **({f"bm3d_lead{sigma:g}": said[bm3d, natural, sigma] for sigma in sigmas} if bm3d else {}),
            "bm3d_verdict": "beats" if (leads.psnr_diff_lo > 0).all() else "does not measurably beat",
            "harm_verdict": "make them worse" if len(worse) == len(harms) else
            f"make them worse where it is measured ({', '.join(worse)})" if worse else
            "do not measurably make them worse"}


def ceiling_reading(clean: pd.DataFrame, noisy: pd.DataFrame, lowest: float) -> dict[str, Any]:
    """Why a denoiser loses on nearly clean photos: each network's mean PSNR on the clean photos themselves
    (``clean``: rows at σ = 0, ``ceiling``) next to the input's at the ``lowest`` σ (``noisy``' rows,
    ``lowest_input``): the error a network adds to an image with no noise caps it below that input."""
    ceiling = clean[clean.model != INPUT].groupby("model", sort=False).psnr.mean()
    return {"ceiling": ", ".join(f"{model} {value:.1f} dB" for model, value in ceiling.items()),
            "lowest_input": float(noisy[(noisy.model == INPUT) & (noisy.sigma_255 == lowest)].psnr.mean())}


def cross_reading(gaps: pd.DataFrame, sigmas: Sequence[float], test_sets: Sequence[str]) -> dict[str, str]:
    """What chapter 04 says of its gaps (natural minus dead leaves, per ``sigma_255`` and ``test_set``):
    ``gaps_<test set>`` in words at each of ``sigmas``, and ``flip``: whether each network measurably wins on
    its own kind of image at every σ (the natural network on photos, the dead-leaves one on dead leaves),
    the sign flip the original study's cross-validation looked for."""
    said = gaps.set_index(["sigma_255", "test_set"])
    flipped = all((said.psnr_diff_lo[:, "natural"] > 0) & (said.psnr_diff_hi[:, "dead leaves"] < 0))
    return {**{f"gaps_{test_set.replace(' ', '_')}": "; ".join(
                f"{intervals.describe(said.loc[(sigma, test_set)])} at σ = {sigma:g}" for sigma in sigmas)
               for test_set in test_sets},
            "flip": "each network wins on its own kind of image" if flipped
            else "the flip is not measurable at every σ: read the intervals"}


def worse_than_input(rows: pd.DataFrame, by: Sequence[str] = ("sigma_255", "test_set")) -> dict[str, str]:
    """``worse_than_input``: every (network, group of ``by``) whose gain over its degraded input has its whole
    interval below 0 (:func:`~rstor_core.measurement.intervals.gain_over_input_with_interval`), in words;
    "none" when there is none."""
    worse = intervals.gain_over_input_with_interval(rows, list(by)).query("psnr_gain_hi < 0")
    return {"worse_than_input": "; ".join(f"the {r.model} network on {r.test_set} images at σ = {r.sigma_255:g}, "
                                          f"{intervals.describe(r._asdict(), 'psnr_gain')}" for r in worse.itertuples())
            or "none"}


def ablation_reading(ablation: pd.DataFrame, arms: Sequence[str], *, first: float, last: float, baseline: str,
                     natural: str) -> dict[str, str]:
    """What chapter 05 says of :func:`~rstor_core.measurement.study.ablation_table`: per arm ``k`` (its place in
    ``arms``, the baseline first) at the ``first`` and ``last`` σ, ``gain_<k>_<end>`` over the baseline,
    ``gap_<k>_<end>`` left to the natural network (none for the natural one itself) and ``verdict_<k>_<end>``
    (not for the baseline); the ranking of the variants by their gain at ``first``
    (:func:`~rstor_core.measurement.study.ablation_ranking`) and the ``best`` one, with its gain and gap."""
    rows = ablation.set_index(["variant", "sigma_255"])
    ends = (("first", first), ("last", last))
    said = {"first": f"{first:g}", "last": f"{last:g}"}
    said |= {f"{column}_{k}_{end}": intervals.describe(rows.loc[(v, s)], column) for column in ("gain", "gap")
             for k, v in enumerate(arms) for end, s in ends
             if (v, s) in rows.index and pd.notna(rows.loc[(v, s), column])}  # natural: no gap to itself
    said |= {f"verdict_{k}_{end}": rows.loc[(v, s), "gain_verdict"] for k, v in enumerate(arms) if k
             for end, s in ends if (v, s) in rows.index}
    ranked = ablation_ranking(ablation, first, leave_out=[baseline, natural])
    best = ranked.iloc[0]
    return said | {"ranking": "; ".join(f"{v} {intervals.describe(r, 'gain')}" for v, r in ranked.iterrows()),
                   "best": best.name, "best_gain": intervals.describe(best, "gain"),
                   "best_gap": intervals.describe(best, "gap")}


def weak_runs_reading(weak: pd.DataFrame) -> dict[str, str]:
    """``weak_runs``: the networks of :func:`~rstor_core.measurement.study.weak_runs` in words (the runs an
    arm's mean and verdict may rest on), "none" when there is none."""
    return {"weak_runs": "; ".join(f"run {r.run} of {r.model} at σ = {r.sigma_255:g} ({r.gain_db:+.2f} dB, median "
                                   f"{r.arm_median_db:+.2f})" for r in weak.itertuples()) or "none"}


def pretraining_reading(denoise: pd.DataFrame, deblur: pd.DataFrame, arms: Sequence[str],
                        sigma: float) -> dict[str, str]:
    """What chapter 05 says of pre-training (``arms``: the labels of the dead-leaves-only, natural-only,
    pre-trained then fine-tuned, and fine-tuned-on-one-photo arms, in that order; ``denoise``: their paired
    differences per ``sigma_255``, ``deblur``: per ``family``, each as :func:`differences_said` reads it):
    the fine-tuned network against natural-only (``ft_vs_nat``) and dead-leaves-only (``ft_vs_dl``) at
    ``sigma``, the whole gap (``full_gap``), the one-photo network against both (``one_vs_all``,
    ``one_vs_nat``), and per family the deblurring ones (``deblur_ft_<family>``, ``deblur_dl_<family>``)."""
    dead_leaves, natural, finetuned, one_photo = arms
    said = {**differences_said(denoise, "sigma_255"), **differences_said(deblur, "family")}
    return {"ft_vs_nat": said[finetuned, natural, sigma], "ft_vs_dl": said[finetuned, dead_leaves, sigma],
            "full_gap": said[natural, dead_leaves, sigma], "one_vs_all": said[one_photo, finetuned, sigma],
            "one_vs_nat": said[one_photo, natural, sigma],
            **{f"deblur_ft_{family}": said[finetuned, natural, family] for family in FAMILIES},
            **{f"deblur_dl_{family}": said[finetuned, dead_leaves, family] for family in FAMILIES}}


def gaussian_reading(rows: pd.DataFrame, dead_leaves: str = "dead leaves", natural: str = "natural") -> dict[str, str]:
    """What chapter 03 says of its Gaussian-blur pair (``rows``: its evaluation on the natural photos): each
    arm's PSNR gain over the blurred input and the gap natural minus dead leaves, paired per photo, with
    their 95 % intervals."""
    gain_dl, gain_nat, gap = _arm_gains(rows, dead_leaves, natural)
    return {"gaussian_gain_dl": gain_dl, "gaussian_gain_nat": gain_nat, "gaussian_gap": gap}


def real_blur_reading(rows: pd.DataFrame | None, source: str, dead_leaves: str = "dead leaves",
                      natural: str = "natural") -> dict[str, str]:
    """``real_blur``: what chapter 03 says of the motion arms on recorded blur (``rows``: their evaluation on
    the pairs of ``source``): each arm's PSNR change over the blurred shot and natural minus dead leaves,
    paired per pair; with no pairs (``rows`` None), that every blur is synthetic and how to test on real ones."""
    if rows is None:
        return {"real_blur": "This profile names no recorded blur, so every blur in this chapter is synthetic. "
                "To test the networks on real camera shake, set `deblur_study.real_pairs` to `kohler` (Köhler et "
                "al.'s 48 shots, downloaded once) or to a folder of `blurred/NAME.png` beside `sharp/NAME.png` "
                "(RealBlur, your own shots), or to GoPro's test folder as it unpacks; `python -m rstor_core infer --pairs` "
                "scores any checkpoint so."}
    gain_dl, gain_nat, gap = _arm_gains(rows, dead_leaves, natural)
    reference = (" Köhler's sharp reference is the middle frame of the video recorded under the same camera "
                 "motion, not the benchmark's best aligned frame, so these numbers do not compare with the "
                 "paper's." if source == "kohler" else "")
    sizes = rows.size_px.unique()
    crops = f"{sizes[0]}-pixel centre crops" if len(sizes) == 1 else "whole images"
    n = rows.image.nunique()
    return {"real_blur": f"On {n} pair{'s' if n != 1 else ''} of `{rows.test_set.iloc[0]}` ({crops}; the blur "
            f"recorded by a camera, its kernel unknown to every method), the dead-leaves network changes the PSNR "
            f"over the blurred shot by {gain_dl} and the natural network by {gain_nat}, paired per shot; natural "
            f"minus dead leaves, {gap}.{reference}"}


def _arm_gains(rows: pd.DataFrame, dead_leaves: str, natural: str) -> tuple[str, str, str]:
    """Each arm's PSNR gain over the input and natural minus dead leaves, paired per photo, as prose."""
    gains = intervals.gain_over_input_with_interval(rows).set_index("model")
    gap = intervals.paired_difference(rows, natural, dead_leaves).iloc[0]
    return (intervals.describe(gains.loc[dead_leaves], "psnr_gain"), intervals.describe(gains.loc[natural], "psnr_gain"),
            intervals.describe(gap))


def gaps_by_family(gap: pd.DataFrame) -> dict[str, str]:
    """``gap_<family>``: a paired difference per family (:func:`~rstor_core.measurement.intervals.paired_difference`
    rows with a ``family`` column) with its interval and verdict, as the prose says it."""
    return {f"gap_{row.family}": intervals.describe(row) for _, row in gap.iterrows()}


def crossing_reading(gains: pd.DataFrame) -> dict[str, str]:
    """``crossing``: per method, the share of its (photo, kernel) rows where it makes the blurred input worse
    (``gains``: :func:`~rstor_core.measurement.study.gain_by_kernel`, one column per method)."""
    below = share_below_zero(gains)
    return {"crossing": ", ".join(f"{name}: {share:.0%}" for name, share in below.items())}
