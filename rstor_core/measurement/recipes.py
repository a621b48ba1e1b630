"""How the training recipe was chosen: the trials' table, the rule that picks one, and what the prose says.

Each trial is a network trained from a shell with one lever changed against the line it derives from
(its "change" is read off the configs, so it cannot disagree with what ran). The trials are *chosen* on
selection images that no chapter tests on and no run trains on (:mod:`rstor_core.networks.selection`
makes them: :data:`SELECTION_CROPS` crops of :data:`SELECTION_SIZE` px), each arm on its own kind; their
test-photo gains are shown after the choice, never read by it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement.intervals import describe
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.study import family_of, gain_over_input, metric_means

# What the trials are chosen on: crops of a photo that no trial trained on and no chapter tests on
# (matplotlib ships it) for the natural arm, dead leaves of a stream no training draws for the other;
# each blurred by kernels drawn afresh per family (never the test banks), plus the chapter's test noise.
SELECTION_PHOTO = "grace_hopper.jpg"
SELECTION_KEY = "recipe selection"
SELECTION_CROPS, SELECTION_SIZE = 32, 96


def config_changes(base: Any, other: Any) -> str:
    """What ``other`` (an :class:`~rstor_core.settings.configs.ExperimentConfig`) trains differently from ``base``,
    as ``field: value`` pairs (nested fields dotted): the recipe table's "change" column, read off the
    configs so it cannot disagree with what ran. Fields that only say how a run executes (``compare=False``)
    and which steps it keeps (``snapshots``) are left out."""
    def flat(config: Any, prefix: str = "") -> dict[str, Any]:
        values = {}
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if not f.compare or f.name == "snapshots":
                continue
            if dataclasses.is_dataclass(value):
                values.update(flat(value, f"{prefix}{f.name}."))
            else:
                values[f"{prefix}{f.name}"] = value
        return values

    before, after = flat(base), flat(other)
    changed = [f"{key}: {_short(after[key])}" for key in after if before.get(key) != after[key]]
    return "; ".join(changed) or "(the baseline)"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def training_minutes(log: pd.DataFrame, batch_size: int) -> float:
    """Wall minutes of a run from its ``log.csv`` (each row's step took ``batch_size / img_per_s`` s,
    compilation included): what the recipe table charges each trial."""
    return float((batch_size / log.img_per_s).sum() / 60)


def recipe_table(trials: Mapping[str, tuple[Any, pd.DataFrame]], gains: pd.DataFrame, *, baseline: Any,
                 input_psnr: Mapping[str, float], selection: pd.DataFrame) -> pd.DataFrame:
    """One row per recipe trial (chapter 03): what it changes against the ``baseline`` config, its steps and
    wall minutes from its log, its last validation PSNR as a gain over its blurred validation inputs
    (``input_psnr``), its gains per family on the selection images (``selection``: one row per trial, one
    column per family, dB; what the recipe is chosen on) and on the test photos (``gains``, alike; shown
    after the choice, never read by it). Negative results stay in; no trial, no row."""
    missing = sorted(set(trials) - set(gains.index) | set(trials) - set(selection.index))
    if missing:
        raise ValueError(f"recipe table: every trial needs selection and test gains (missing: {missing})")
    rows = []
    for name, (config, log) in trials.items():
        validated = log.dropna(subset=["val_psnr"])
        rows.append({"trial": name, "data": config.data, "change": config_changes(baseline, config),
                     "steps": int(log.step.max()), "minutes": training_minutes(log, config.batch_size),
                     "val_gain_db": float(validated.val_psnr.iloc[-1] - input_psnr[name]),
                     **{f"selection_{family}_gain_db": float(selection.loc[name, family]) for family in FAMILIES},
                     **{f"{family}_gain_db": float(gains.loc[name, family]) for family in FAMILIES}})
    return pd.DataFrame(rows, columns=["trial", "data", "change", "steps", "minutes", "val_gain_db",
                                       *(f"selection_{family}_gain_db" for family in FAMILIES),
                                       *(f"{family}_gain_db" for family in FAMILIES)])


def chosen_recipe(table: pd.DataFrame, data: str) -> str | None:
    """The trial chapter 03's rule picks among the ``data`` trials of :func:`recipe_table`, on the selection
    images only: the largest gain on big blur among those that do no harm on mild blur (None: no such
    trial). Test-photo columns are never read."""
    trials = table[(table.data == data) & (table.selection_mild_gain_db >= 0)]
    return None if trials.empty else str(trials.loc[trials.selection_big_gain_db.idxmax(), "trial"])


def gains_by_family(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR gain over the blurred input (dB) per model (rows) and family (columns) of
    :func:`~rstor_core.networks.evaluate.evaluate` rows on the motion banks: the recipe table's test columns."""
    means = metric_means(rows.assign(family=family_of(rows.blur)), ["model", "family"], ["psnr"]).psnr
    return gain_over_input(means.unstack("family").reindex(columns=list(FAMILIES)))


def run_spread(rows: pd.DataFrame, model: str) -> pd.Series:
    """Per family, how far apart the gains over the input of ``model``'s networks (its runs) lie: the
    largest minus the smallest, dB. What one network per trial cannot resolve."""
    networks = rows[rows.model == model]
    per_run = gains_by_family(pd.concat([rows[rows.model == INPUT],
                                         networks.assign(model=model + " run " + networks.run.astype(str))]))
    return per_run.max() - per_run.min()


#: The trial table read as three narrower ones (:func:`rstor_core.book.tables.show`): what each trial changes,
#: its gains on the selection images that choose, and on the test photos, shown after the choice.
TRIAL_TABLE_PARTS = {"what each changes": "^(change|steps|val_gain)",
                     "gain on selection images (the choice)": "^selection_",
                     "gain on test photos": "^(small|mild|big)_gain"}


@dataclass(frozen=True)
class Trials:
    """The recipe trials as a chapter read them, beside the networks they are set against."""

    table: pd.DataFrame  # recipe_table
    configs: dict[str, Any]  # each trial read, and the baseline, by name (ExperimentConfig)
    arms: dict[str, Any]  # the chapter's arms, label -> config; the dead-leaves one is the chapter's recipe
    baseline: str | None  # the trial the others' changes are read against
    untrained: dict[str, str]  # trials not read, and why (with the command that trains them)
    photos: list[str]  # the test photos: those no trial saw
    spread_big: float  # run_spread of the chapter's dead-leaves networks on big blur, dB

    def tables(self, prefix: str) -> dict[str, pd.DataFrame]:
        """``{file: table}`` for a chapter to save."""
        return {f"{prefix}recipe_trials.csv": self.table}


def trials_reading(trials: Trials, names: Mapping[str, str]) -> dict[str, object]:
    """What chapter 03's recipe paragraphs glue (``names``: arm label -> glue suffix): the images that chose,
    each arm's choice (:func:`chosen_recipe` on its own kind of selection images) and how the chapter's
    networks differ from it, the trials below the baseline on big blur or harmful on mild blur, the trials
    not read, and how far apart one recipe's networks land."""
    table, configs, arms, baseline = trials.table, trials.configs, trials.arms, trials.baseline
    photos, untrained, spread_big = trials.photos, trials.untrained, trials.spread_big
    said: dict[str, object] = {}
    for label, arm in arms.items():
        chosen = chosen_recipe(table, arm.data) if len(table) else None
        said[f"chosen_{names[label]}"] = chosen or "none (no trial does no harm on mild blur)"
        said[f"chosen_differs_{names[label]}"] = config_changes(configs[chosen], arm) if chosen else "not compared"
    gains = table.set_index("trial") if len(table) else table
    below: Any = []
    if baseline in gains.index:  # within the baseline's arm: another arm's selection images are another scale
        same = gains[gains.data == gains.data[baseline]]
        below = same.index[same.selection_big_gain_db < same.selection_big_gain_db[baseline]]
    harm = gains.index[gains.selection_mild_gain_db < 0] if len(gains) else []
    photo = f"{SELECTION_CROPS} crops of {SELECTION_SIZE} px from matplotlib's bundled portrait of Grace Hopper"
    return {"selection_dead_leaves": f"{SELECTION_CROPS} dead-leaves images of {SELECTION_SIZE} px from a stream "
                                     "no training draws", "selection_natural": photo,
            "trial_photos": ", ".join(photos) or "no photos", "n_trials": len(table),
            "recipe_baseline": baseline or "none", **said,
            "main_changes": (config_changes(configs[baseline], arms["dead leaves"]) if baseline
                             else "no baseline"),
            "below_baseline_big": ", ".join(below) or "none", "harm_mild": ", ".join(harm) or "none",
            "run_spread_big": spread_big,
            "untrained": "; ".join(f"`{name}` ({why})" for name, why in untrained.items()) or "none"}


def change_reading(change: pd.DataFrame, unread: Mapping[str, str], names: Mapping[str, str]) -> dict[str, object]:
    """What chapter 03's "what the recipe changed" sentence glues: each arm's paired change (``change``:
    :func:`~rstor_core.measurement.intervals.paired_difference` rows per family) on mild and big blur
    (``names``: arm -> glue suffix), and the first recipe's experiments that were not read (``unread``)."""
    said = {(row.a, row.family): describe(row._asdict()) for row in change.itertuples()} if len(change) else {}
    return {f"change_{names[arm]}_{family}": said.get((arm, family), "not measured")
            for arm in names for family in ("mild", "big")} | {
        "change_unread": "; ".join(f"`{name}` ({why})" for name, why in unread.items()) or "none"}
