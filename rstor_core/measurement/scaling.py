"""Would more compute close the gap? Gains against training steps, the line through them, and the longer runs.

Chapter 03's networks keep their weights at a few fractions of their steps; under a constant learning rate
those are the weights of shorter runs, so one training gives several budgets per network. Every function
takes evaluation rows whose models are the keys of ``budgets`` (``{model: (arm, steps)}``: an arm's networks
at some step) and the input, and returns a DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement import intervals
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.study import family_of

TARGET_DB = 1.5  # the big-blur gain the scaling figure asks about: "where would +1.5 dB be reached?"


def scaling_table(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]],
                  minutes_per_step: Mapping[str, float]) -> pd.DataFrame:
    """Chapter 03's compute scaling: per arm, training steps and family, the PSNR gain over the blurred
    input with its 95 % interval (paired per photo, over photos, networks and kernels). ``rows``' models are
    the keys of ``budgets`` (``{model: (arm, steps)}``: an arm's networks at some step) and the input;
    ``minutes_per_step``: each arm's wall minutes per step on this machine (``minutes`` column)."""
    gains = intervals.gain_over_input_with_interval(rows.assign(family=family_of(rows.blur)), ["family"])
    gains = gains[gains.model.isin(list(budgets))]
    arm, steps = (gains.model.map(lambda m, i=i: budgets[m][i]) for i in (0, 1))
    return (gains.assign(arm=arm, steps=steps, minutes=steps * arm.map(minutes_per_step))
            .rename(columns={"psnr_gain": "gain_db", "psnr_gain_lo": "gain_lo_db", "psnr_gain_hi": "gain_hi_db"})
            [["arm", "steps", "minutes", "family", "gain_db", "gain_lo_db", "gain_hi_db", "n_images", "n_runs"]]
            .sort_values(["arm", "family", "steps"], key=lambda c: c.map(list(FAMILIES).index) if c.name == "family"
                         else c).reset_index(drop=True))


def steps_to_reach(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]], target_db: float,
                   family: str = "big", level: float = 0.95) -> pd.DataFrame:
    """Per arm, a straight line through each network's mean gain over the blurred input on ``family``
    against log2(steps) (``rows`` and ``budgets`` as :func:`scaling_table`'s): the gain per doubling of
    the steps (the mean of the networks' slopes, ``_lo`` / ``_hi``: a t interval over them) and the steps at
    which the arm's mean line reaches ``target_db``, an extrapolation beyond the largest budget measured,
    with the range the slope's interval gives (``steps_lo`` / ``steps_hi``, inf where the slope may be 0:
    then ``estimable`` is False). Why per network: the four budgets are snapshots of the same networks, so
    the points of one line are not independent; the networks are."""
    rows = rows.assign(family=family_of(rows.blur))
    rows = rows[rows.family == family]
    keys = [c for c in ("test_set", "image") if c in rows]
    inputs = rows[rows.model == INPUT].groupby(keys).psnr.mean()
    gains = []
    for model, (arm, steps) in budgets.items():
        mine = rows[rows.model == model].assign(run=lambda f: f[intervals.RUN].fillna(0) if intervals.RUN in f else 0)
        photo = mine.groupby(["run", *keys]).psnr.mean()
        gain = (photo - inputs.reindex(photo.index.droplevel("run")).to_numpy()).groupby(level="run").mean()
        gains += [{"arm": arm, "steps": steps, "run": run, "gain": value} for run, value in gain.items()]
    table = []
    for arm, points in pd.DataFrame(gains).groupby("arm", sort=False):
        slopes = np.array([np.polyfit(np.log2(one.steps.to_numpy(float)), one.gain, 1)[0]
                           for _, one in points.groupby("run") if one.steps.nunique() > 1])
        slope = float(slopes.mean()) if len(slopes) else float("nan")
        lo, hi = (scipy.stats.t.interval(level, len(slopes) - 1, loc=slope, scale=scipy.stats.sem(slopes))
                  if len(slopes) > 1 else (float("nan"), float("nan")))
        centre = (float(np.log2(points.steps.to_numpy(float)).mean()), float(points.gain.mean()))

        def reach(per_doubling: float) -> float:  # the line through the mean point with this slope
            return float(2 ** (centre[0] + (target_db - centre[1]) / per_doubling)) if per_doubling > 0 else np.inf

        most = float(points.steps.max())
        steps = reach(slope) if slope > 0 else float("nan")
        table.append({"arm": arm, "family": family, "gain_per_doubling_db": slope, "gain_per_doubling_lo_db": lo,
                      "gain_per_doubling_hi_db": hi, "n_runs": len(slopes), "target_db": target_db,
                      "steps_to_target": steps, "steps_lo": reach(hi), "steps_hi": reach(lo),
                      "times_largest_budget": steps / most, "largest_budget": most, "estimable": bool(lo > 0)})
    return pd.DataFrame(table)


def scaling_gaps(rows: pd.DataFrame, budgets: Mapping[str, tuple[str, int]], *, first: str,
                 second: str) -> pd.DataFrame:
    """Arm ``first`` minus arm ``second`` at each number of steps both reach, per family, paired per photo
    with its interval (:func:`~rstor_core.measurement.intervals.paired_difference`): whether one arm catches up as
    compute grows. ``rows`` and ``budgets`` as :func:`scaling_table`'s."""
    rows = rows.assign(family=family_of(rows.blur))
    model_at = {(arm, steps): model for model, (arm, steps) in budgets.items()}
    gaps = [intervals.paired_difference(rows, model_at[first, steps], model_at[second, steps], ["family"])
            .assign(steps=steps) for steps in sorted({s for _, s in budgets.values()})
            if (first, steps) in model_at and (second, steps) in model_at]
    return pd.concat(gaps, ignore_index=True)


def extrapolated_budget(reach: Any) -> str:
    """A row of :func:`steps_to_reach` in words, for the prose (which gives the slope), rounded to what a line
    through a few points supports: one significant figure."""
    if not reach.estimable:
        return (f"no estimable budget (its slope's 95 % interval, {reach.gain_per_doubling_lo_db:+.2f} to "
                f"{reach.gain_per_doubling_hi_db:+.2f} dB per doubling, holds 0)")
    if reach.steps_hi <= reach.largest_budget:
        return f"at most {_about(reach.steps_hi)} steps, within the budgets measured"
    return (f"between {_about(reach.steps_lo)} and {_about(reach.steps_hi)} steps, about "
            f"{_about(reach.times_largest_budget)} times the networks' {int(reach.largest_budget):,}")


def _about(value: float) -> str:
    """``value`` to one significant figure, in words past a thousand: 2,464,592 -> "2 million"."""
    if not np.isfinite(value):
        return "unbounded"
    rounded = float(f"{value:.1g}")
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if rounded >= size:
            return f"{rounded / size:g} {word}"
    return f"{rounded:g}"


@dataclass(frozen=True)
class Budgets:
    """Gains against training steps: :func:`scaling_table`, :func:`scaling_gaps` and :func:`steps_to_reach`."""

    table: pd.DataFrame  # gain per arm, steps and family
    gaps: pd.DataFrame  # one arm minus the other at each budget
    reach: pd.DataFrame  # per arm, the line through its big-blur gains

    def tables(self, prefix: str) -> dict[str, pd.DataFrame]:
        """``{file: table}`` for a chapter to save (``prefix``: the chapter's, e.g. ``"03_"``)."""
        return {f"{prefix}compute_scaling.csv": self.table, f"{prefix}compute_scaling_gap.csv": self.gaps,
                f"{prefix}steps_to_1p5db.csv": self.reach}  # TARGET_DB


@dataclass(frozen=True)
class LongRuns:
    """Longer runs read at every step they keep: :func:`scaling_table` per test set (a ``test_set`` column;
    empty when none was read), the runs not read and why, and the chapter's own steps (the unit)."""

    table: pd.DataFrame
    unread: dict[str, str]  # experiment -> why it was not read (with the command that trains it)
    chapter_steps: int  # the steps of the chapter's own networks: the budgets are said as multiples of it

    def tables(self, prefix: str) -> dict[str, pd.DataFrame]:
        """``{file: table}`` for a chapter to save: the gains, or, when no run was read, why (the prose links
        to the file either way)."""
        reasons = [why.replace("`", "") for why in self.unread.values()]  # a table cell shows no code span
        why = pd.DataFrame({"experiment": list(self.unread) or ["none"],
                            "not_read": reasons or ["the profile names no longer run"]})
        return {f"{prefix}long_runs.csv": self.table if len(self.table) else why}


def scaling_reading(budgets: Budgets, names: Mapping[str, str]) -> dict[str, object]:
    """What chapter 03's scaling paragraph glues (``names``: each arm's glue suffix): the budgets as fractions
    of the most, the big-blur gap at the fewest and the most steps, each arm's gain per doubling and the
    budget it would need."""
    reach = budgets.reach
    steps = sorted(budgets.table.steps.unique())
    big_gap = budgets.gaps[budgets.gaps.family == "big"].set_index("steps")
    return {"scaling_fractions": ", ".join(f"{s / steps[-1]:.3g}" for s in steps[:-1]), "n_budgets": len(steps),
            "budget_span": f"{steps[-1] / steps[0]:g}", "fewest_steps": int(steps[0]), "most_steps": int(steps[-1]),
            "gap_fewest": intervals.describe(big_gap.loc[steps[0]]),
            "gap_most": intervals.describe(big_gap.loc[steps[-1]]),
            **{f"per_doubling_{names[row.arm]}": intervals.format_interval(
                row.gain_per_doubling_db, row.gain_per_doubling_lo_db, row.gain_per_doubling_hi_db)
               for row in reach.itertuples()},
            **{f"reach_{names[row.arm]}": extrapolated_budget(row) for row in reach.itertuples()}}


def long_runs_reading(long: LongRuns, names: Mapping[str, str]) -> dict[str, object]:
    """What chapter 03's longer-runs paragraph glues (``names``: arm or test set -> glue suffix): per arm and
    test set, the gains on small / mild / big blur at the chapter's own networks' steps and at the most
    steps, the budgets as multiples of the chapter's steps (no step count to read as precision), whether
    in-distribution and transfer gains part, and the runs not read."""
    table, unread, chapter_steps = long.table, long.unread, long.chapter_steps
    said: dict[str, object] = {"long_unread": "; ".join(f"`{name}` ({why})" for name, why in unread.items())
                               or "none"}
    if table.empty:  # the prose still reads: every value it glues says so
        keys = [f"long_trend_{a}" for a in names.values()] + [f"long_{a}_on_{b}" for a in names.values()
                                                                for b in names.values()]
        return said | {"long_most": "no", "long_what": "No longer run is read in this profile."} | dict.fromkeys(
            keys, "not measured")
    first, most = chapter_steps, int(table.steps.max())
    budgets = ", ".join(f"{s / first:g}×" for s in sorted(table.steps.unique()))
    said |= {"long_most": f"{most / first:g}×",
             "long_what": f"One network per arm (run 0: the same draws as the chapter's first network, whose "
                          "weights it holds at the chapter's steps, weight for weight; a test checks it) trained on "
                          f"to {most / first:g}× the chapter's steps and kept its weights at each doubling "
                          f"({budgets} the chapter's steps)."}
    gains = table.set_index(["arm", "test_set", "steps", "family"]).gain_db
    for (arm, test_set), rows in table.groupby(["arm", "test_set"], sort=False):
        by = rows.set_index(["steps", "family"]).gain_db
        at = {steps: " / ".join(f"{by.get((steps, f), float('nan')):+.2f}" for f in FAMILIES)
              for steps in (first, most)}
        said[f"long_{names[arm]}_on_{names[test_set]}"] = (f"{at[first]} dB at 1× and {at[most]} dB at "
                                                           f"{most / first:g}×")

    def change(arm: str, test_set: str, family: str) -> float:  # from the chapter's steps to the most
        before, after = (gains.get((arm, test_set, steps, family), np.nan) for steps in (first, most))
        return after - before

    for arm in table.arm.unique():
        others = [test_set for test_set in table.test_set.unique() if test_set != arm]
        part = [f for f in FAMILIES if change(arm, arm, f) > 0 and others and change(arm, others[0], f) < 0]
        said[f"long_trend_{names[arm]}"] = (
            f"on {', '.join(part)} blur it gains more on its own kind of images and less on the other kind: "
            "there in-distribution and transfer gains part" if part else
            "its gains on its own kind of images and on the other kind do not part")
    return said
