"""Chapter 03's evidence beyond its main table: the Gaussian pair, compute scaling and longer runs, and the
recipe trials.

Both evaluate networks the way the chapter evaluates its own (same photos, banks, noise and seed), so
their gains sit on the chapter's scale: the scaling budgets are each arm's networks at the steps they
keep (a constant learning rate makes those shorter runs), the trials are networks trained from a
shell, read here and never trained (:meth:`~rstor_core.book.chapter.ChapterRun.logged_trials`). The trials
are *chosen* on selection images that no chapter tests on (:func:`selection_images`), each arm on its own
kind; their test-photo gains are shown after the choice, never read by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rstor_core.book.chapter import ChapterRun
from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement import intervals, recipes, scaling, study
from rstor_core.measurement.recipes import SELECTION_CROPS, SELECTION_SIZE
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.scaling import TARGET_DB, extrapolated_budget
from rstor_core.networks.checkpoints import load_model
from rstor_core.networks.evaluate import Degradation, degradation_grid
from rstor_core.networks.runs import weights_file
from rstor_core.networks.selection import selection_gains
from rstor_core.networks.train import validation_input_psnr


def _natural_rows(chapter: ChapterRun, name: str, models: Mapping, photos: Mapping, banks: list[Degradation],
                  photos_of: Mapping) -> pd.DataFrame:
    """Extra networks scored as the chapter scores its own on the natural photos (``photos_of``: those each
    network never saw), PSNR and SSIM only, their rows kept as ``name`` (:meth:`ChapterRun.evaluate`)."""
    return chapter.evaluate(name, models, photos, banks, test_set="natural", lpips=False, st_lpips=False,
                            photos_of=photos_of)


def gaussian_pair(chapter: ChapterRun, arms: Mapping[str, str], models: Mapping, photos: Mapping,
                  anchors: Mapping) -> tuple[pd.DataFrame, dict[str, float]]:
    """The Gaussian-blur pair (``arms``: label -> experiment, ``models``: their networks) on the first
    ``n_kernels`` of the Gaussian bank, on the natural photos each never saw, beside the non-blind
    ``anchors``: the table (``03_gaussian_table.csv``; rows ``03_gaussian_rows.csv``) and the prose's gains."""
    config = chapter.config
    bank = degradation_grid(blurs=[f"gaussian:0-{config.n_kernels - 1}"], blur_sigma=config.sigma)
    rows = chapter.evaluate("03_gaussian", models, photos, bank, test_set="natural", lpips=config.lpips,
                            st_lpips=False, classical=anchors,
                            photos_of=chapter.unseen_photos(arms, config.runs, config.test_images))
    chapter.save_table(rows, "03_gaussian_rows.csv")
    gains = intervals.gain_over_input_with_interval(rows).set_index("model")  # paired per photo, 95 % interval
    shown = gains[["psnr_gain", "psnr_gain_lo", "psnr_gain_hi"]].set_axis(
        ["psnr_gain_db", "psnr_gain_lo_db", "psnr_gain_hi_db"], axis="columns")
    table = study.single_bank_table(rows, n_kernels=config.n_kernels).merge(
        shown, left_on="model", right_index=True, how="left")
    table = chapter.save_table(table, "03_gaussian_table.csv")
    gap = intervals.paired_difference(rows, "natural", "dead leaves").iloc[0]
    return table, {"gaussian_gain_dl": intervals.describe(gains.loc["dead leaves"], "psnr_gain"),
                   "gaussian_gain_nat": intervals.describe(gains.loc["natural"], "psnr_gain"),
                   "gaussian_gap": intervals.describe(gap)}


#: The trial table read as three narrower ones (:func:`rstor_core.book.tables.show`): what each trial changes, its
#: gains on the selection images that choose, and on the test photos, shown after the choice.
TRIAL_TABLE_PARTS = {"what each changes": "^(change|steps|val_gain)",
                     "gain on selection images (the choice)": "^selection_", "gain on test photos": "^(small|mild|big)_gain"}


@dataclass(frozen=True)
class Scaling:
    table: pd.DataFrame  # scaling.scaling_table: gain per arm, steps and family
    gaps: pd.DataFrame  # scaling.scaling_gaps: natural minus dead leaves at each budget
    reach: pd.DataFrame  # scaling.steps_to_reach: per arm, the line through its big-blur gains


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
    minutes_per_step = {label: recipes.training_minutes(curves[curves.experiment == f"motion, {label}"],
                                                      chapter.experiment(name).batch_size)
                        / (config.runs * steps[label]) for label, name in arms.items()}
    table = chapter.save_table(scaling.scaling_table(rows, budgets, minutes_per_step),
                               "03_compute_scaling.csv")
    gaps = scaling.scaling_gaps(rows, budgets, first=gap[0], second=gap[1])
    return Scaling(table, chapter.save_table(gaps, "03_compute_scaling_gap.csv"),
                   chapter.save_table(scaling.steps_to_reach(rows, budgets, TARGET_DB), "03_steps_to_1p5db.csv"))


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
            **{f"reach_{names[row.arm]}": extrapolated_budget(row) for row in scaling.reach.itertuples()}}


@dataclass(frozen=True)
class LongRuns:
    table: pd.DataFrame  # scaling.scaling_table per test set, with a test_set column
    unread: dict[str, str]  # the longer runs not read, and why (with the command that trains them)
    chapter_steps: int  # the steps of the chapter's own networks: the budgets are said as multiples of it


def long_runs(chapter: ChapterRun, arms: Mapping[str, str], test_sets: Mapping[str, Mapping],
              banks: list[Degradation]) -> LongRuns:
    """Run 0 of each arm's longer run (``arms``: label -> experiment, trained from a shell and only read here)
    at every step it keeps, tested on each of ``test_sets`` (``{test set: images}``; photos only where the
    network never saw them), PSNR only; saved as ``03_long_runs.csv``. An arm's label names its own kind of
    test set ("dead leaves", "natural"): the in-distribution line against the transfer line."""
    read, unread = chapter.logged_trials(list(arms.values()))
    budgets, models, minutes_per_step = {}, {}, {}
    for label, name in arms.items():
        if name not in read:
            continue
        config, log, _ = read[name]
        minutes_per_step[label] = recipes.training_minutes(log, config.batch_size) / config.steps
        for step in sorted({*config.snapshots, config.steps}):
            budgets[f"{label} @{step}"] = (label, step)
            path = chapter.checkpoint_dir(name) / weights_file(config, None if step == config.steps else step)
            models[f"{label} @{step}"] = load_model(path, device=chapter.device)
    chapter_steps = chapter.experiment(chapter.config.dead_leaves_experiment).steps
    if not models:  # the table the prose links to says why it holds no gain
        reasons = [why.replace("`", "") for why in unread.values()]  # a table cell shows no code span
        why = pd.DataFrame({"experiment": list(unread) or ["none"],
                            "not_read": reasons or ["the profile names no longer run"]})
        chapter.save_table(why, "03_long_runs.csv")
        return LongRuns(pd.DataFrame(), unread, chapter_steps)
    unseen = chapter.unseen_photos({label: arms[label] for label in minutes_per_step}, 1, chapter.config.test_images)
    photos_of = {(model, 0): unseen[label, 0] for model, (label, _) in budgets.items() if (label, 0) in unseen}
    parts = []
    for test_set, images in test_sets.items():  # photos: only those each network never saw
        rows = chapter.evaluate(f"03_long_runs_{test_set.replace(' ', '_')}", models, images, banks, test_set=test_set,
                                lpips=False, st_lpips=False, photos_of=photos_of if test_set == "natural" else None)
        parts.append(scaling.scaling_table(rows, budgets, minutes_per_step).assign(test_set=test_set))
    table = chapter.save_table(pd.concat(parts, ignore_index=True), "03_long_runs.csv")
    return LongRuns(table, unread, chapter_steps)


def long_runs_prose(runs: LongRuns, names: Mapping[str, str]) -> dict[str, object]:
    """The values chapter 03's longer-runs paragraph glues (``names``: arm or test set -> glue suffix): per arm
    and test set, the gains on small / mild / big blur at the chapter's own networks' steps and at the most
    steps, the budgets as multiples of the chapter's steps (no step count to read as precision)."""
    table, first_steps = runs.table, runs.chapter_steps
    said: dict[str, object] = {"long_unread": "; ".join(f"`{name}` ({why})" for name, why in runs.unread.items())
                               or "none"}
    if table.empty:  # the prose still reads: every value it glues says so
        keys = [f"long_trend_{a}" for a in names.values()] + [f"long_{a}_on_{b}" for a in names.values()
                                                                for b in names.values()]
        return said | {"long_most": "no", "long_what": "No longer run is read in this profile."} | dict.fromkeys(
            keys, "not measured")
    most = int(table.steps.max())
    budgets = ", ".join(f"{s / first_steps:g}×" for s in sorted(table.steps.unique()))
    said |= {"long_most": f"{most / first_steps:g}×",
             "long_what": f"One network per arm (run 0: the same draws as the chapter's first network, whose "
                          "weights it holds at the chapter's steps, weight for weight; a test checks it) trained on "
                          f"to {most / first_steps:g}× the chapter's steps and kept its weights at each doubling "
                          f"({budgets} the chapter's steps)."}
    gains = table.set_index(["arm", "test_set", "steps", "family"]).gain_db
    for (arm, test_set), rows in table.groupby(["arm", "test_set"], sort=False):
        by = rows.set_index(["steps", "family"]).gain_db

        def at(steps: int) -> str:
            return " / ".join(f"{by.get((steps, f), float('nan')):+.2f}" for f in FAMILIES)
        said[f"long_{names[arm]}_on_{names[test_set]}"] = (f"{at(first_steps)} dB at 1× and {at(most)} dB at "
                                                           f"{most / first_steps:g}×")
    def change(arm: str, test_set: str, family: str) -> float:  # from the chapter's steps to the most
        before, after = (gains.get((arm, test_set, steps, family), np.nan) for steps in (first_steps, most))
        return after - before

    for arm in table.arm.unique():
        others = [test_set for test_set in table.test_set.unique() if test_set != arm]
        part = [f for f in FAMILIES if change(arm, arm, f) > 0 and others and change(arm, others[0], f) < 0]
        said[f"long_trend_{names[arm]}"] = (
            f"on {', '.join(part)} blur it gains more on its own kind of images and less on the other kind: "
            "there in-distribution and transfer gains part" if part else
            "its gains on its own kind of images and on the other kind do not part")
    return said


@dataclass(frozen=True)
class Trials:
    table: pd.DataFrame  # recipes.recipe_table
    untrained: dict[str, str]  # trials not read, and why (with the command that trains them)
    photos: list[str]  # the test photos: those no trial saw


def recipe_trials(chapter: ChapterRun, photos: Mapping, banks: list[Degradation]) -> Trials:
    """Run 0 of each of ``config.recipe_trials`` (the first: the baseline its changes are read against),
    scored on its arm's selection images (:func:`selection_gains`: what the choice reads) and, after the
    choice, on the test ``photos`` that none of them saw; the table is saved as ``03_recipe_trials.csv``."""
    config = chapter.config
    trials, untrained = chapter.logged_trials(config.recipe_trials)
    labels = {name: name for name in trials}
    unseen = chapter.unseen_photos(labels, 1, config.test_images)
    tested = chapter.comparable_photos(photos, unseen, labels, 1)
    networks = {name: models[0] for name, (_, _, models) in trials.items()}
    rows = _natural_rows(chapter, "03_recipe_trial_rows", networks, tested, banks, unseen)
    selection = selection_gains(networks, {name: trial for name, (trial, _, _) in trials.items()},
                                sigma=config.sigma, seed=config.seed)  # what the choice reads
    inputs = {name: validation_input_psnr(trial) for name, (trial, _, _) in trials.items()}
    baseline = chapter.experiment(config.recipe_trials[0]) if config.recipe_trials else None
    table = recipes.recipe_table({name: (trial, log) for name, (trial, log, _) in trials.items()},
                               recipes.gains_by_family(rows), baseline=baseline, input_psnr=inputs,
                               selection=selection)
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


def trials_prose(chapter: ChapterRun, trials: Trials, results: pd.DataFrame, arms: Mapping[str, str],
                 names: Mapping[str, str]) -> dict[str, object]:
    """The values chapter 03's recipe paragraphs glue: the trials, the images that chose among them, each
    arm's choice (:func:`~rstor_core.measurement.recipes.chosen_recipe` on its own kind of selection images) and how the
    chapter's networks of that arm (``arms``: label -> experiment; ``names``: label -> glue suffix) differ
    from it, and how far apart one recipe's networks land (``results``: the chapter's evaluation rows)."""
    config = chapter.config
    spread = recipes.run_spread(results[results.test_set == "natural"], "dead leaves")
    table = trials.table
    said: dict[str, object] = {}
    for label, name in arms.items():
        data = chapter.experiment(name).data
        chosen = recipes.chosen_recipe(table, data) if len(table) else None
        said[f"chosen_{names[label]}"] = chosen or "none (no trial does no harm on mild blur)"
        said[f"chosen_differs_{names[label]}"] = (
            recipes.config_changes(chapter.experiment(chosen), chapter.experiment(name)) if chosen else "not compared")
    baseline = config.recipe_trials[0] if config.recipe_trials else None
    gains = table.set_index("trial") if len(table) else table
    if baseline in gains.index:  # within the baseline's arm: another arm's selection images are another scale
        same = gains[gains.data == gains.data[baseline]]
        below = same.index[same.selection_big_gain_db < same.selection_big_gain_db[baseline]]
    else:
        below = []
    harm = gains.index[gains.selection_mild_gain_db < 0] if len(gains) else []
    photo = f"{SELECTION_CROPS} crops of {SELECTION_SIZE} px from matplotlib's bundled portrait of Grace Hopper"
    return {"selection_dead_leaves": f"{SELECTION_CROPS} dead-leaves images of {SELECTION_SIZE} px from a stream "
                                     "no training draws", "selection_natural": photo,
            "trial_photos": ", ".join(trials.photos) or "no photos", "n_trials": len(table),
            "recipe_baseline": baseline or "none", **said,
            "main_changes": (recipes.config_changes(chapter.experiment(baseline),
                                                  chapter.experiment(config.dead_leaves_experiment))
                             if baseline else "no baseline"),
            "below_baseline_big": ", ".join(below) or "none", "harm_mild": ", ".join(harm) or "none",
            "run_spread_big": float(spread["big"]),
            "untrained": "; ".join(f"`{name}` ({why})" for name, why in trials.untrained.items()) or "none"}


def change_prose(change: pd.DataFrame, unread: Mapping[str, str], names: Mapping[str, str]) -> dict[str, object]:
    """The values chapter 03's "what the recipe changed" sentence glues: each arm's paired change on mild and
    big blur (``names``: each arm's glue suffix), and the first recipe's experiments that were not read."""
    said = {(row.a, row.family): intervals.describe(row._asdict()) for row in change.itertuples()} if len(change) else {}
    return {f"change_{names[arm]}_{family}": said.get((arm, family), "not measured")
            for arm in ("dead leaves", "natural") for family in ("mild", "big")} | {
        "change_unread": "; ".join(f"`{name}` ({why})" for name, why in unread.items()) or "none"}
