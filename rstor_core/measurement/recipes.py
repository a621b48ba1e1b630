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
from typing import Any

import pandas as pd

from rstor_core.degradation.degrade import FAMILIES
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
