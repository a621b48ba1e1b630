"""Blind deblurring's test bench and the networks it scores, each function returning tables that the chapter
saves and :mod:`rstor_core.measurement` reads (no file written here).

The test bench (:func:`bench_of`) is the natural photos every arm can be compared on, the dead-leaves network's
own kind of images, the motion-blur banks and the non-blind methods told the kernel; :func:`deblurring_rows`
scores a chapter's arms on it. Beyond the arms, the same photos, banks, noise and seed score snapshots of the
arms at fewer steps (compute scaling) and networks trained from a shell, read and never trained here
(:meth:`~rstor_core.book.chapter.ChapterRun.logged_trials`: longer runs, recipe trials, the first recipe). The
recipe trials are *chosen* on selection images that no chapter tests on, each arm on its own kind; their
test-photo gains are shown after the choice, never read by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rstor_core.book import figures
from rstor_core.book.chapter import ChapterRun
from rstor_core.degradation.degrade import FAMILIES
from rstor_core.images.deadleaves import dead_leaves_test_set
from rstor_core.images.pairs import pairs_folder
from rstor_core.images.photos import centre_crop, test_photos
from rstor_core.measurement import intervals, recipes, scaling, study
from rstor_core.measurement.rows import INPUT
from rstor_core.measurement.scaling import TARGET_DB
from rstor_core.networks.checkpoints import load_model
from rstor_core.networks.evaluate import Degradation, bank_degraders, degradation_grid, non_blind_anchors
from rstor_core.networks.runs import weights_file
from rstor_core.networks.selection import selection_gains
from rstor_core.networks.train import validation_input_psnr


def motion_banks(n_kernels: int, sigma: float) -> list[Degradation]:
    """The first ``n_kernels`` kernels of each motion-blur family's bank, with the camera's noise ``sigma``
    (/255): what every blind deblurring comparison is tested on."""
    return degradation_grid(blurs=[f"{family}:0-{n_kernels - 1}" for family in FAMILIES], blur_sigma=sigma)


@dataclass(frozen=True)
class Bench:
    """What a deblurring chapter tests its arms on (:func:`bench_of`)."""

    photos: dict  # the natural test photos every arm can be compared on
    unseen: dict  # (arm, run) -> the photos that network never saw
    figure_photos: dict  # those no first network (run 0) saw: where a figure shows one network per arm
    test_sets: dict  # {"natural": photos, "dead leaves": the dead-leaves arm's own kind of images}
    banks: list[Degradation]  # motion_banks
    anchors: dict  # the non-blind methods, told the true kernel


def bench_of(chapter: ChapterRun, arms: Mapping[str, str]) -> Bench:
    """The test bench of the section's settings for ``arms`` (``{"dead leaves": ..., "natural": ...}``): each
    natural network is tested on the photos it never saw, every network on ``n_dead_leaves`` images of the
    dead-leaves arm's own generator."""
    config = chapter.config
    unseen = chapter.unseen_photos(arms, config.runs, config.test_images)
    photos = chapter.comparable_photos(test_photos(config.test_images), unseen, arms, config.runs)
    leaves = dead_leaves_test_set(config.n_dead_leaves, config.dead_leaves_size,
                                  chapter.experiment(arms["dead leaves"]).dead_leaves, seed=config.seed)
    anchors = non_blind_anchors(config.classical, balance=config.wiener_balance, iterations=config.rl_iterations)
    return Bench(photos, unseen, chapter.comparable_photos(photos, unseen, arms, 1),
                 {"natural": photos, "dead leaves": leaves}, motion_banks(config.n_kernels, config.sigma), anchors)


def deblurring_rows(chapter: ChapterRun, name: str, models: Mapping, bench: Bench) -> pd.DataFrame:
    """``models`` (``{arm: networks}``) and the anchors scored on each test set of ``bench``, kept as
    ``<name>_<test set>``, with a ``family`` column; ST-LPIPS on the photos only (a quarter of a second per
    output on a CPU), each natural network on the photos it never saw."""
    rows = pd.concat([chapter.evaluate(
        f"{name}_{test_set.replace(' ', '_')}", models, images, bench.banks, test_set=test_set,
        lpips=chapter.config.lpips, st_lpips=test_set == "natural", classical=bench.anchors,
        photos_of=bench.unseen if test_set == "natural" else None) for test_set, images in bench.test_sets.items()])
    return rows.assign(family=study.family_of(rows.blur))


def _natural_rows(chapter: ChapterRun, name: str, models: Mapping, photos: Mapping, banks: list[Degradation],
                  photos_of: Mapping) -> pd.DataFrame:
    """Extra networks scored as the chapter scores its own on the natural photos (``photos_of``: those each
    network never saw), PSNR and SSIM only, their rows kept as ``name`` (:meth:`ChapterRun.evaluate`)."""
    return chapter.evaluate(name, models, photos, banks, test_set="natural", lpips=False, st_lpips=False,
                            photos_of=photos_of)


def family_grid(chapter: ChapterRun, bench: Bench, shown: Mapping) -> tuple[str, Any]:
    """The first photo no first network saw, a ``zoom`` crop blurred by kernel ``grid_kernel`` of each family's
    bank (columns) plus the test noise, restored by the networks ``shown`` (rows): ``(photo, figure)``."""
    config = chapter.config
    first = next(iter(bench.figure_photos))
    columns = bank_degraders(FAMILIES, config.grid_kernel, config.sigma, seed=config.seed, image=first)
    grid, _ = figures.restoration_grid({first: centre_crop(bench.photos[first], config.zoom)}, columns, shown,
                                       input_label="blurred input")
    return first, grid


@dataclass(frozen=True)
class RealBlur:
    """The motion arms on recorded blur (``source``: the section's ``real_pairs``): their evaluation rows and
    :func:`~rstor_core.measurement.study.single_bank_table`, both None where the profile names no pairs."""

    source: str
    rows: pd.DataFrame | None = None
    table: pd.DataFrame | None = None

    def tables(self, prefix: str) -> dict[str, pd.DataFrame]:
        """``{file: table}`` for a chapter to save (none without pairs)."""
        if self.rows is None:
            return {}
        return {f"{prefix}real_blur_rows.csv": self.rows, f"{prefix}real_blur_table.csv": self.table}


def real_blur(chapter: ChapterRun, models: Mapping) -> RealBlur:
    """``models`` (``{arm: networks}``) on the pairs of the section's ``real_pairs`` (Köhler's or a folder),
    each pair centre-cropped to ``eval_size``, kept as ``evaluations/03_real_blur``; the blurred shot is the
    input. No pairs named: an empty :class:`RealBlur` (the chapter says how to get some)."""
    config = chapter.config
    if not config.real_pairs:
        return RealBlur("")
    rows = chapter.evaluate_pairs("03_real_blur", models, pairs_folder(config.real_pairs), lpips=config.lpips)
    return RealBlur(config.real_pairs, rows, study.single_bank_table(rows, test_set=rows.test_set.iloc[0]))


@dataclass(frozen=True)
class GaussianPair:
    """The Gaussian-blur pair on the first ``n_kernels`` of the Gaussian bank: its evaluation rows and
    :func:`~rstor_core.measurement.study.single_bank_table`."""

    rows: pd.DataFrame
    table: pd.DataFrame

    def tables(self, prefix: str) -> dict[str, pd.DataFrame]:
        """``{file: table}`` for a chapter to save."""
        return {f"{prefix}gaussian_rows.csv": self.rows, f"{prefix}gaussian_table.csv": self.table}


def gaussian_pair(chapter: ChapterRun, arms: Mapping[str, str], bench: Bench) -> GaussianPair:
    """The Gaussian-blur pair (``arms``: label -> experiment) on the first ``n_kernels`` of the Gaussian bank,
    on the natural photos of ``bench`` each network never saw, beside its non-blind anchors
    (:meth:`~rstor_core.book.chapter.ChapterRun.compare_arms`)."""
    config = chapter.config
    bank = degradation_grid(blurs=[f"gaussian:0-{config.n_kernels - 1}"], blur_sigma=config.sigma)
    rows = chapter.compare_arms("03_gaussian", arms, bank, photos=bench.photos, lpips=config.lpips,
                                st_lpips=False, classical=bench.anchors)
    return GaussianPair(rows, study.single_bank_table(rows, n_kernels=config.n_kernels))


def compute_scaling(chapter: ChapterRun, arms: Mapping[str, str], results: pd.DataFrame, bench: Bench,
                    curves: pd.DataFrame,
                    gap: tuple[str, str] = ("natural", "dead leaves")) -> scaling.Budgets:
    """Each arm (``{label: experiment}``, the arms ``bench`` was made for, ``config.runs`` networks each) at
    ``config.scaling_steps`` and at its final weights (``results``: the chapter's evaluation rows, reused
    rather than recomputed), tested on the natural photos of ``bench`` each network never saw; wall minutes
    per step from ``curves`` (the chapter's training logs, labelled ``"motion, <arm>"``); ``gap``: the arms
    whose difference is paired at each budget."""
    config, unseen = chapter.config, bench.unseen
    budgets = {f"{label} @{step}": (label, step) for label in arms for step in config.scaling_steps}
    snapshots = {model: chapter.trained_models(f"{arms[label]}@{step}", config.runs)
                 for model, (label, step) in budgets.items()}
    rows = _natural_rows(chapter, "03_scaling_rows", snapshots, bench.photos, bench.banks,
                         {(model, run): unseen[label, run] for model, (label, _) in budgets.items()
                          for run in range(config.runs) if (label, run) in unseen})
    final = results[(results.test_set == "natural") & results.model.isin(list(arms))]
    steps = {label: chapter.experiment(name).steps for label, name in arms.items()}
    budgets |= {f"{label} @{steps[label]}": (label, steps[label]) for label in arms}
    rows = pd.concat([rows, final.assign(model=final.model + final.model.map(lambda m: f" @{steps[m]}"))])
    minutes_per_step = {label: recipes.training_minutes(curves[curves.experiment == f"motion, {label}"],
                                                        chapter.experiment(name).batch_size)
                        / (config.runs * steps[label]) for label, name in arms.items()}
    return scaling.Budgets(scaling.scaling_table(rows, budgets, minutes_per_step),
                           scaling.scaling_gaps(rows, budgets, first=gap[0], second=gap[1]),
                           scaling.steps_to_reach(rows, budgets, TARGET_DB))


def long_runs(chapter: ChapterRun, arms: Mapping[str, str], bench: Bench) -> scaling.LongRuns:
    """Run 0 of each arm's longer run (``config.long_runs``: one experiment per arm of ``arms``, in their order,
    trained from a shell and only read here) at every step it keeps, tested on each test set of ``bench``
    (photos only where the network never saw them), PSNR only. An arm's label names its own kind of test set
    ("dead leaves", "natural"): the in-distribution line against the transfer line. The budgets are said in
    units of the steps of the chapter's own dead-leaves networks."""
    chapter_steps = chapter.experiment(arms["dead leaves"]).steps
    arms = dict(zip(arms, chapter.config.long_runs))
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
    if not models:
        return scaling.LongRuns(pd.DataFrame(), unread, chapter_steps)
    unseen = chapter.unseen_photos({label: arms[label] for label in minutes_per_step}, 1,
                                   chapter.config.test_images)
    photos_of = {(model, 0): unseen[label, 0] for model, (label, _) in budgets.items() if (label, 0) in unseen}
    parts = []
    for test_set, images in bench.test_sets.items():  # photos: only those each network never saw
        rows = chapter.evaluate(f"03_long_runs_{test_set.replace(' ', '_')}", models, images, bench.banks,
                                test_set=test_set, lpips=False, st_lpips=False,
                                photos_of=photos_of if test_set == "natural" else None)
        parts.append(scaling.scaling_table(rows, budgets, minutes_per_step).assign(test_set=test_set))
    return scaling.LongRuns(pd.concat(parts, ignore_index=True), unread, chapter_steps)


def recipe_trials(chapter: ChapterRun, arms: Mapping[str, str], results: pd.DataFrame,
                  bench: Bench) -> recipes.Trials:
    """Run 0 of each of ``config.recipe_trials`` (the first: the baseline its changes are read against),
    scored on its arm's selection images (:func:`selection_gains`: what the choice reads) and, after the
    choice, on the test photos of ``bench`` that none of them saw; beside the chapter's ``arms`` (label -> experiment)
    and how far apart their networks land (``results``: the chapter's evaluation rows)."""
    config = chapter.config
    trials, untrained = chapter.logged_trials(config.recipe_trials)
    labels = {name: name for name in trials}
    unseen = chapter.unseen_photos(labels, 1, config.test_images)
    tested = chapter.comparable_photos(bench.photos, unseen, labels, 1)
    networks = {name: models[0] for name, (_, _, models) in trials.items()}
    rows = _natural_rows(chapter, "03_recipe_trial_rows", networks, tested, bench.banks, unseen)
    selection = selection_gains(networks, {name: trial for name, (trial, _, _) in trials.items()},
                                sigma=config.sigma, seed=config.seed)  # what the choice reads
    inputs = {name: validation_input_psnr(trial) for name, (trial, _, _) in trials.items()}
    baseline = chapter.experiment(config.recipe_trials[0]) if config.recipe_trials else None
    table = recipes.recipe_table({name: (trial, log) for name, (trial, log, _) in trials.items()},
                                 recipes.gains_by_family(rows), baseline=baseline, input_psnr=inputs,
                                 selection=selection)
    configs = {name: trial for name, (trial, _, _) in trials.items()}
    if baseline is not None:
        configs[config.recipe_trials[0]] = baseline
    spread = recipes.run_spread(results[results.test_set == "natural"], "dead leaves")
    return recipes.Trials(table, configs, {label: chapter.experiment(name) for label, name in arms.items()},
                          config.recipe_trials[0] if config.recipe_trials else None, untrained, list(tested),
                          float(spread["big"]))


def first_recipe_change(chapter: ChapterRun, arms: Mapping[str, str], results: pd.DataFrame,
                        bench: Bench) -> tuple[pd.DataFrame, dict[str, str]]:
    """What the chapter's recipe changed: each arm's networks (``results``, labelled as in ``arms``) minus the
    first recipe's (``config.first_recipe``: one experiment per arm, in the order of ``arms``, its
    ``config.runs`` networks read, never trained), paired per photo and family on the chapter's natural
    test photos; and the experiments not read, with why."""
    config = chapter.config
    first, untrained = chapter.logged_trials(config.first_recipe, config.runs)
    before = {f"{label}, first recipe": name for label, name in zip(arms, config.first_recipe) if name in first}
    if not before:
        return pd.DataFrame(), untrained
    unseen = chapter.unseen_photos(before, config.runs, config.test_images)
    rows = _natural_rows(chapter, "03_first_recipe_rows",
                         {label: first[name][2] for label, name in before.items()}, bench.photos, bench.banks,
                         unseen)
    rows = pd.concat([rows[rows.model != INPUT], results[results.test_set == "natural"]])
    rows = rows.assign(family=study.family_of(rows.blur))
    change = [intervals.paired_difference(rows, label.removesuffix(", first recipe"), label, ["family"])
              for label in before]
    return pd.concat(change, ignore_index=True), untrained
