"""Chapter 03's evidence on its training recipe: compute scaling and the recipe trials.

Both evaluate networks the way the chapter evaluates its own (same photos, banks, noise and seed), so
their gains sit on the chapter's scale: the scaling budgets are each arm's networks at the steps they
keep (a constant learning rate makes those shorter runs), the trials are networks trained from a
shell, read here and never trained (:meth:`~rstor_core.chapter.ChapterRun.logged_trials`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from rstor_core import intervals, study
from rstor_core.chapter import ChapterRun
from rstor_core.evaluate import INPUT, Degradation
from rstor_core.train import validation_input_psnr

TARGET_DB = 1.5  # the big-blur gain the scaling figure asks about: "where would +1.5 dB be reached?"


def _natural_rows(chapter: ChapterRun, name: str, models: Mapping, photos: Mapping, banks: list[Degradation],
                  photos_of: Mapping) -> pd.DataFrame:
    """Extra networks scored as the chapter scores its own on the natural photos (``photos_of``: those each
    network never saw), PSNR and SSIM only, their rows kept as ``name`` (:meth:`ChapterRun.evaluate`)."""
    return chapter.evaluate(name, models, photos, banks, test_set="natural", lpips=False, st_lpips=False,
                            photos_of=photos_of)


@dataclass(frozen=True)
class Scaling:
    table: pd.DataFrame  # study.scaling_table: gain per arm, steps and family
    gaps: pd.DataFrame  # study.scaling_gaps: natural minus dead leaves at each budget
    reach: pd.DataFrame  # study.steps_to_reach: per arm, the line through its big-blur gains


def compute_scaling(chapter: ChapterRun, arms: Mapping[str, str], results: pd.DataFrame, photos: Mapping,
                    banks: list[Degradation], curves: pd.DataFrame,
                    gap: tuple[str, str] = ("natural", "dead leaves")) -> Scaling:
    """Each arm (``{label: experiment}``, ``config.runs`` networks) at ``config.scaling_steps`` and at its
    final weights (``results``: the chapter's evaluation rows, reused rather than recomputed), tested on the
    natural ``photos`` each network never saw; wall minutes per step from ``curves`` (the chapter's
    training logs, labelled ``"motion, <arm>"``); ``gap``: the arms whose difference is paired at each budget."""
    config = chapter.config
    unseen = chapter.unseen_photos(arms, config.runs, config.test_images)
    budgets = {f"{label} @{step}": (label, step) for label in arms for step in config.scaling_steps}
    snapshots = {model: chapter.trained_models(f"{arms[label]}@{step}", config.runs)
                 for model, (label, step) in budgets.items()}
    rows = _natural_rows(chapter, "03_scaling_rows", snapshots, photos, banks,
                         {(model, run): unseen[label, run] for model, (label, _) in budgets.items()
                          for run in range(config.runs) if (label, run) in unseen})
    final = results[(results.test_set == "natural") & results.model.isin(list(arms))]
    steps = {label: chapter.experiment(name).steps for label, name in arms.items()}
    budgets |= {f"{label} @{steps[label]}": (label, steps[label]) for label in arms}
    rows = pd.concat([rows, final.assign(model=final.model + final.model.map(lambda m: f" @{steps[m]}"))])
    minutes_per_step = {label: study.training_minutes(curves[curves.experiment == f"motion, {label}"],
                                                      chapter.experiment(name).batch_size)
                        / (config.runs * steps[label]) for label, name in arms.items()}
    table = chapter.save_table(study.scaling_table(rows, budgets, minutes_per_step),
                               "03_compute_scaling.csv")
    gaps = study.scaling_gaps(rows, budgets, first=gap[0], second=gap[1])
    return Scaling(table, chapter.save_table(gaps, "03_compute_scaling_gap.csv"),
                   chapter.save_table(study.steps_to_reach(rows, budgets, TARGET_DB), "03_steps_to_1p5db.csv"))


def scaling_prose(scaling: Scaling, names: Mapping[str, str]) -> dict[str, object]:
    """The values chapter 03's scaling paragraph glues (``names``: each arm's glue suffix)."""
    steps = sorted(scaling.table.steps.unique())
    big_gap = scaling.gaps[scaling.gaps.family == "big"].set_index("steps")
    return {"scaling_fractions": ", ".join(f"{s / steps[-1]:.3g}" for s in steps[:-1]), "n_budgets": len(steps),
            "budget_span": f"{steps[-1] / steps[0]:g}", "fewest_steps": int(steps[0]), "most_steps": int(steps[-1]),
            "gap_fewest": intervals.describe(big_gap.loc[steps[0]]),
            "gap_most": intervals.describe(big_gap.loc[steps[-1]]),
            **{f"per_doubling_{names[row.arm]}": intervals.format_interval(row.gain_per_doubling_db, row.gain_per_doubling_lo_db,
                                                                         row.gain_per_doubling_hi_db)
               for row in scaling.reach.itertuples()},
            **{f"reach_{names[row.arm]}": study.extrapolated_budget(row) for row in scaling.reach.itertuples()}}


@dataclass(frozen=True)
class Trials:
    table: pd.DataFrame  # study.recipe_table
    untrained: dict[str, str]  # trials not read, and why (with the command that trains them)
    photos: list[str]  # the test photos: those no trial saw


def recipe_trials(chapter: ChapterRun, photos: Mapping, banks: list[Degradation]) -> Trials:
    """Run 0 of each of ``config.recipe_trials`` (the first: the baseline its changes are read against),
    tested on the ``photos`` that none of them saw; the table is saved as ``03_recipe_trials.csv``."""
    config = chapter.config
    trials, untrained = chapter.logged_trials(config.recipe_trials)
    labels = {name: name for name in trials}
    unseen = chapter.unseen_photos(labels, 1, config.test_images)
    tested = chapter.comparable_photos(photos, unseen, labels, 1)
    rows = _natural_rows(chapter, "03_recipe_trial_rows", {name: models[0] for name, (_, _, models) in trials.items()},
                         tested, banks, unseen)
    inputs = {name: validation_input_psnr(trial) for name, (trial, _, _) in trials.items()}
    baseline = chapter.experiment(config.recipe_trials[0]) if config.recipe_trials else None
    table = study.recipe_table({name: (trial, log) for name, (trial, log, _) in trials.items()},
                               study.gains_by_family(rows), baseline=baseline, input_psnr=inputs)
    return Trials(chapter.save_table(table, "03_recipe_trials.csv"), untrained, list(tested))


def first_recipe_change(chapter: ChapterRun, arms: Mapping[str, str], results: pd.DataFrame, photos: Mapping,
                        banks: list[Degradation]) -> tuple[pd.DataFrame, dict[str, str]]:
    """What the chapter's recipe changed: each arm's networks (``results``, labelled as in ``arms``) minus the
    first recipe's (``config.first_recipe``: one experiment per arm, in the order of ``arms``, its
    ``config.runs`` networks read, never trained), paired per photo and family on the chapter's natural
    test photos (saved as ``03_recipe_change.csv``); and the experiments not read, with why."""
    config = chapter.config
    first, untrained = chapter.logged_trials(config.first_recipe, config.runs)
    before = {f"{label}, first recipe": name for label, name in zip(arms, config.first_recipe) if name in first}
    if not before:
        return chapter.save_table(pd.DataFrame(), "03_recipe_change.csv"), untrained
    unseen = chapter.unseen_photos(before, config.runs, config.test_images)
    rows = _natural_rows(chapter, "03_first_recipe_rows", {label: first[name][2] for label, name in before.items()},
                         photos, banks, unseen)
    rows = pd.concat([rows[rows.model != INPUT], results[results.test_set == "natural"]])
    rows = rows.assign(family=study.family_of(rows.blur))
    change = [intervals.paired_difference(rows, label.removesuffix(", first recipe"), label, ["family"])
              for label in before]
    return chapter.save_table(pd.concat(change, ignore_index=True), "03_recipe_change.csv"), untrained


def trials_prose(chapter: ChapterRun, trials: Trials, results: pd.DataFrame) -> dict[str, object]:
    """The values chapter 03's recipe paragraphs glue: the trials, the best one (on the baseline's data, the
    largest gain on big blur among those that do no harm on mild blur), what the chapter's own networks change against the baseline, and how far apart one recipe's
    networks land (``results``: the chapter's evaluation rows, its dead-leaves networks on other seeds)."""
    config = chapter.config
    spread = study.run_spread(results[results.test_set == "natural"], "dead leaves")
    gains = trials.table.set_index("trial").filter(like="_gain_db").drop(columns="val_gain_db", errors="ignore")
    baseline = config.recipe_trials[0] if config.recipe_trials else None
    if baseline and len(gains):  # the trials on the baseline's data: the other arm's gains are another scale
        data = chapter.experiment(baseline).data
        gains_same = gains[[chapter.experiment(name).data == data for name in gains.index]]
    else:
        gains_same = gains
    harmless = gains_same[gains_same.mild_gain_db >= 0]  # the two goals: no harm on mild, the most on big
    best = harmless.big_gain_db.idxmax() if len(harmless) else "none"
    changes = (study.config_changes(chapter.experiment(baseline), chapter.experiment(config.dead_leaves_experiment))
               if baseline else "no baseline")
    below = (gains.big_gain_db < gains.big_gain_db.get(baseline, float("nan"))) if len(gains) else gains
    harm = gains.index[gains.mild_gain_db < 0] if len(gains) else []
    return {"trial_photos": ", ".join(trials.photos) or "no photos", "n_trials": len(trials.table),
            "recipe_baseline": baseline or "none", "best_trial": best, "main_changes": changes,
            "below_baseline_big": ", ".join(below.index[below]) if len(gains) else "none",
            "harm_mild": ", ".join(harm) or "none",
            "run_spread_big": float(spread["big"]),
            "untrained": "; ".join(f"`{name}` ({why})" for name, why in trials.untrained.items()) or "none"}


def change_prose(change: pd.DataFrame, unread: Mapping[str, str], names: Mapping[str, str]) -> dict[str, object]:
    """The values chapter 03's "what the recipe changed" sentence glues: each arm's paired change on mild and
    big blur (``names``: each arm's glue suffix), and the first recipe's experiments that were not read."""
    said = {(row.a, row.family): intervals.describe(row._asdict()) for row in change.itertuples()} if len(change) else {}
    return {f"change_{names[arm]}_{family}": said.get((arm, family), "not measured")
            for arm in ("dead leaves", "natural") for family in ("mild", "big")} | {
        "change_unread": "; ".join(f"`{name}` ({why})" for name, why in unread.items()) or "none"}
