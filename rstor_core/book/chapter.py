"""The chapter opener: the one call at the top of every chapter of the book.

A chapter's ``parameters`` cell lists its knobs, with the ``quick`` profile's values as defaults
(a test keeps them equal), so ``papermill book/03_deblur_study.ipynb out.ipynb -p n_kernels 8`` and
JupyterLab both work; the runner (:mod:`rstor_core.book.runner`) injects the chosen profile's section.
:func:`open_chapter` then turns those values into the chapter's typed section, checked exactly
like a profile (a bad ``-p`` value is the same :class:`~rstor_core.settings.profiles.ProfileError`), checks
that the images and experiments it names exist, picks the device, and returns a
:class:`ChapterRun` that trains or loads networks and writes figures and tables under
``outputs/<profile>/`` (under the runner, into its staging folder first: they are published only
if the whole chapter runs; by hand, into ``outputs/scratch/<profile>/`` unless ``publish=True``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rstor_core.degradation.degrade import bank_kernels
from rstor_core.images.pairs import PairsFolder
from rstor_core.images.photos import test_photos
from rstor_core.images.sources import missing_sources, photos_unseen_by
from rstor_core.measurement.memo import (PAIR_SCORING_MODULES, file_digest, fingerprint, read_rows, scoring_code,
                                         write_rows)
from rstor_core.measurement.metrics import alexnet_weights_path
from rstor_core.networks.checkpoints import load_model, load_trained
from rstor_core.networks.device import pick_device
from rstor_core.networks.evaluate import evaluate
from rstor_core.networks.models import count_parameters, model_from_config
from rstor_core.networks.pair_scoring import evaluate_pairs
from rstor_core.networks.runs import ExperimentStore
from rstor_core.networks.train import read_log, validation_input_psnr
from rstor_core.settings.chapters import CHAPTER_SECTIONS, Profile, unknown_experiments, unnamed_arms
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.files import project_root, save_table
from rstor_core.settings.profiles import ProfileError, load_profile, section_from_parameters

# What the runner injects besides the section, with the defaults a chapter's parameters cell gives them.
RUNNER_PARAMETERS = {"profile": "quick", "output_dir": "outputs/quick", "fresh": False, "live_widgets": True,
                     "device": None, "staging_dir": None, "publish": False}
# Where a chapter run outside the runner (JupyterLab, papermill by hand) writes its figures and tables unless
# asked to publish: the committed outputs change only through the runner or on purpose (git-ignored).
SCRATCH_DIR = Path("outputs/scratch")


@dataclass
class ChapterRun:
    """One run of a chapter: its typed section (``config``), the profile's experiments, the device,
    and where its outputs go.

    Figures and tables go to ``staging_dir``: the runner's (it publishes them into ``output_dir`` once
    every cell ran, so a failed chapter leaves the previous ones), or :data:`SCRATCH_DIR` ``/<profile>``
    for a chapter run by hand (JupyterLab, papermill), unless its ``publish`` parameter is true: then
    straight into ``output_dir``. Checkpoints always go to ``output_dir``.
    """

    name: str
    config: Any
    profile: Profile
    output_dir: Path
    device: torch.device
    fresh: bool | frozenset[str] = False  # True: retrain every experiment; a set: only those (the runner's)
    live_widgets: bool = True
    staging_dir: Path | None = None

    @property
    def figures(self) -> Path:
        return (self.staging_dir or self.output_dir) / "figures"

    @property
    def tables(self) -> Path:
        return (self.staging_dir or self.output_dir) / "tables"

    @property
    def ours(self) -> str:
        """Our rows' ``source`` beside a published study's: the profile and the test photos."""
        return f"ours ({self.profile.name}, {getattr(self.config, 'test_images', 'test images')})"

    def trained_arms(self, arms: Mapping[str, str], runs: int) -> dict[str, list[torch.nn.Module]]:
        """``{label: runs 0 .. runs - 1}`` of ``{label: experiment}`` (:meth:`trained_models`)."""
        return {label: self.trained_models(name, runs) for label, name in arms.items()}

    @functools.cached_property
    def store(self) -> ExperimentStore:
        """The profile's experiments under ``output_dir/checkpoints/``, trained on the chapter's device;
        ``fresh`` ones retrained once per chapter run."""
        return ExperimentStore(self.output_dir / "checkpoints", self.profile.experiments, device=self.device,
                               fresh=self.fresh, where=str(self.profile.path))

    def experiment(self, name: str, run: int = 0) -> ExperimentConfig:
        """Run ``run`` of the profile's experiment ``name`` (``name@step``: the same experiment, which keeps
        its weights at that step)."""
        return self.store.config(name, run)

    def checkpoint_dir(self, name: str, run: int = 0) -> Path:
        """``checkpoints/<name>/`` for run 0, ``checkpoints/<name>.run<r>/`` beside it for run r
        (:func:`~rstor_core.networks.runs.experiment_dir`); ``name@step`` is ``name``'s."""
        return self.store.folder(name, run)

    def trained_model(self, name: str, run: int = 0) -> torch.nn.Module:
        """Run ``run`` of experiment ``name`` on the chapter's device: trained once, after the network it
        starts from (again with ``fresh``, once per chapter run), or loaded from its :meth:`checkpoint_dir`'s
        ``model.pt``; ``name@step``: the same run's weights at that step (a snapshot it keeps)."""
        return load_model(self.store.train(name, run), device=self.device)

    def trained_models(self, name: str, runs: int) -> list[torch.nn.Module]:
        """Runs ``0 .. runs - 1`` of experiment ``name`` (:meth:`trained_model`): independently trained
        networks, each from its own draws and, natural ones on the bundled photos, outside its own fold."""
        return [self.trained_model(name, run) for run in range(runs)]

    def lineage_steps(self, reference: str, *, total: bool = True) -> int | list[int]:
        """Training steps of an experiment's weights and of those it starts from
        (:meth:`~rstor_core.networks.runs.ExperimentStore.steps`): their sum (``total``), or each, oldest
        first; what a fine-tuned network is compared at."""
        steps = self.store.steps(reference)
        return sum(steps) if total else steps

    def unseen_photos(self, experiments: Mapping[str, str], runs: int,
                      test_images: str) -> dict[tuple[str, int], tuple[str, ...]]:
        """``{(label, run): photos}`` for :func:`~rstor_core.networks.evaluate.evaluate`'s ``photos_of``: the photos of
        ``test_images`` that each run of ``{label: experiment}`` never saw
        (:func:`~rstor_core.images.sources.photos_unseen_by`), for the networks that saw some; the
        others are tested on every photo."""
        unseen = {(label, run): photos_unseen_by(self.experiment(name, run), test_images)
                  for label, name in experiments.items() for run in range(runs)}
        return {key: photos for key, photos in unseen.items() if photos is not None}

    def comparable_photos(self, photos: Mapping[str, Any], unseen: Mapping[tuple[str, int], Sequence[str]],
                          experiments: Mapping[str, str], runs: int) -> dict[str, Any]:
        """The photos of ``photos`` on which every arm of ``{label: experiment}`` has at least one network
        that never saw it (``unseen``: :meth:`unseen_photos`), in their order: the photos a comparison
        of the arms may average over. With one run per arm, the natural network's fold; with one run per
        fold, every photo. ``runs=1``: the photos no first network saw, where a figure or widget showing one
        network per arm may show them all."""
        def tested(label: str) -> set[str]:
            return set().union(*(unseen.get((label, run), photos) for run in range(runs)))

        keep = set(photos).intersection(*(tested(label) for label in experiments))
        return {name: image for name, image in photos.items() if name in keep}

    def arm_photos(self, arms: Mapping[str, str], runs: int | None = None) -> dict[str, Any]:
        """The section's test photos that a comparison of ``arms`` (``{label: experiment}``, ``runs`` networks
        each, the section's ``runs`` by default) may average over (:meth:`comparable_photos`); ``runs=1``: those
        no first network saw, where a figure or widget shows one network per arm."""
        runs = self.config.runs if runs is None else runs
        unseen = self.unseen_photos(arms, runs, self.config.test_images)
        return self.comparable_photos(test_photos(self.config.test_images), unseen, arms, runs)

    def compare_arms(self, name: str, arms: Mapping[str, str], degradations: Sequence[Any], *,
                     models: Mapping[str, Any] | None = None, runs: int | None = None,
                     photos: Mapping[str, Any] | None = None, test_set: str = "natural",
                     **options: Any) -> pd.DataFrame:
        """The networks of ``arms`` (``{label: experiment}``, runs ``0 .. runs - 1``, the section's ``runs`` by
        default; ``models``: those networks, when the chapter holds them already) scored by :meth:`evaluate` as
        ``name``, each network only on the test photos it never saw (``photos_of``), among the photos every arm
        can be compared on (:meth:`arm_photos`, unless ``photos`` are given). Why one method: a comparison of
        arms averages over the same photos with the same networks' folds in every chapter that makes one.
        ``options`` reach :meth:`evaluate` in their order, ``photos_of`` last: the rows' fingerprint reads them
        in order, so the same call finds the same rows again."""
        runs = self.config.runs if runs is None else runs
        unseen = self.unseen_photos(arms, runs, self.config.test_images)
        if photos is None:
            photos = self.comparable_photos(test_photos(self.config.test_images), unseen, arms, runs)
        models = self.trained_arms(arms, runs) if models is None else models
        return self.evaluate(name, models, photos, degradations, test_set=test_set, **options, photos_of=unseen)


    def logged_trials(self, names: Sequence[str], runs: int = 1) -> tuple[
            dict[str, tuple[ExperimentConfig, pd.DataFrame, list[torch.nn.Module]]], dict[str, str]]:
        """Runs ``0 .. runs - 1`` of each experiment of ``names`` as trained from a shell, never trained here
        (a fresh book leaves them alone): ``({name: (config, run 0's log, networks)}, {name: why it is not
        read})``. An experiment with a run whose weights are missing or were trained with another
        configuration is left out, with the command that trains it."""
        read, left_out = {}, {}
        for name in names:
            problems, networks = [], []
            for run in range(runs):
                config, path = self.experiment(name, run), self.checkpoint_dir(name, run) / "model.pt"
                command = f"python -m rstor_core train --profile {self.profile.name} --experiment {name} --run {run}"
                if not path.is_file():
                    problems.append(f"not trained: `{command}`")
                    continue
                network, trained_with = load_trained(path, device=self.device)
                if trained_with != config:
                    problems.append(f"trained with another configuration: `{command}` retrains it")
                networks.append(network)
            if problems:
                left_out[name] = "; ".join(problems)
            else:
                read[name] = (self.experiment(name), read_log(self.checkpoint_dir(name)), networks)
        return read, left_out

    def evaluate(self, name: str, models: Mapping[str, Any], images: Mapping[str, Any], degradations: Sequence[Any],
                 **options: Any) -> pd.DataFrame:
        """:func:`~rstor_core.networks.evaluate.evaluate` on the chapter's device, with its section's test settings
        (``eval_size``, ``n_images``, ``seed``, where it has them; ``options`` override) and no progress bar,
        its rows kept as ``evaluations/<name>`` under their :func:`~rstor_core.measurement.memo.fingerprint` (weights,
        images, degradations and their kernels' bytes, options, device, scoring code): a later run with the
        same inputs reads them back instead of recomputing them; a ``fresh`` run always recomputes."""
        options = {**self._test_settings(), "seed": getattr(self.config, "seed", 0), **options}
        if options.get("save_images") is not None:  # its side effect is the point: nothing to reuse
            return evaluate(models, images, degradations, device=self.device, **options)
        kernels = [bank_kernels(d.blur) for d in degradations if getattr(d, "blur", "")]  # their bytes, not addresses
        return self._kept(name, lambda: evaluate(models, images, degradations, device=self.device, **options),
                          (), options, models, images, degradations, kernels)

    def evaluate_pairs(self, name: str, models: Mapping[str, Any], pairs: PairsFolder, **options: Any) -> pd.DataFrame:
        """:func:`~rstor_core.networks.pair_scoring.evaluate_pairs` as :meth:`evaluate` runs ``evaluate``: the
        section's ``eval_size`` and ``n_images``, the rows kept under a fingerprint of the pairs' files' bytes
        (not their pixels: a real-blur set does not fit in memory as float32)."""
        options = {**self._test_settings(), "test_set": pairs.folder.name, **options}
        files = {name: [file_digest(path) for path in paths] for name, paths in pairs.paths.items()}
        return self._kept(name, lambda: evaluate_pairs(models, pairs, device=self.device, **options),
                          PAIR_SCORING_MODULES, options, models, files)

    def _test_settings(self) -> dict[str, Any]:
        return {"sizes": [getattr(self.config, "eval_size", None)], "n_images": getattr(self.config, "n_images", None),
                "progress": False}

    def _kept(self, name: str, score: Any, modules: Sequence[str], options: Mapping[str, Any],
              *inputs: Any) -> pd.DataFrame:
        """``score()``'s rows, or those kept as ``evaluations/<name>`` under the fingerprint of ``inputs``, the
        options but the progress bar, whether LPIPS can load, the device and the scoring code (``modules``
        beside the common ones)."""
        settings = {key: value for key, value in options.items() if key != "progress"}
        lpips_weights = bool(options.get("lpips", True)) and alexnet_weights_path().is_file()
        key = fingerprint(scoring_code(*modules), self.device.type, lpips_weights, *inputs, settings)
        folder = self.output_dir / "evaluations"
        rows = None if self.fresh else read_rows(folder, name, key)
        if rows is None:
            rows = score()
            write_rows(rows, folder, name, key)
        return rows

    def training_facts(self, name: str, prefix: str = "") -> dict[str, str | int]:
        """What a chapter's prose says of experiment ``name``'s training, for :meth:`glue` (each key after
        ``prefix``): ``steps``, ``batch``, ``crop``, ``noise_max`` (the noise's upper sigma, /255),
        ``blur_sigma`` (the Gaussian blur's per-axis range, px) and the network's ``parameters``."""
        config = self.experiment(name)
        facts = {"steps": config.steps, "batch": config.batch_size, "crop": config.crop,
                 "noise_max": f"{config.noise[1]:g}", "blur_sigma": "{:g}-{:g}".format(*config.gaussian_sigma),
                 "parameters": f"{count_parameters(model_from_config(config.model)):,}"}
        return {prefix + key: value for key, value in facts.items()}

    def validation_baselines(self, experiments: Mapping[str, str], runs: int = 1) -> dict[tuple[str, int], float]:
        """``{(label, run): PSNR of the degraded validation inputs}`` of runs ``0 .. runs - 1`` of ``{label:
        experiment}``: the line each network's training curve must rise above
        (:func:`~rstor_core.networks.train.validation_input_psnr`). Per run: each run validates on its own draws."""
        return {(label, run): validation_input_psnr(self.experiment(name, run))
                for label, name in experiments.items() for run in range(runs)}

    def training_curves(self, experiments: Mapping[str, str], runs: int = 1) -> pd.DataFrame:
        """The training logs of runs ``0 .. runs - 1`` of ``{label: experiment}``, stacked with an
        ``experiment`` column (the label) and a ``run`` column."""
        return pd.concat([read_log(self.checkpoint_dir(name, run)).assign(experiment=label, run=run)
                          for label, name in experiments.items() for run in range(runs)], ignore_index=True)

    def save_table(self, frame: pd.DataFrame, file: str) -> pd.DataFrame:
        """Write ``frame`` as ``tables/<file>`` (atomically) and return it, to show it below the cell.

        An all-empty column (a metric that could not be computed here, LPIPS without its weights; an
        interval from a single network) is left out of the CSV, where a note column or the prose says
        why, once; the returned frame keeps it, so the chapter's code reads the same columns on every
        profile (:func:`rstor_core.book.tables.table_view` drops it from what is shown)."""
        save_table(frame.dropna(axis="columns", how="all"), self.tables / file)
        return frame

    def save_tables(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """:meth:`save_table` each ``{file: frame}``: the tables one analysis makes, saved where the chapter
        shows it."""
        for file, frame in frames.items():
            self.save_table(frame, file)

    def glue(self, **values: Any) -> None:
        """Glue each value under its name for the chapter's prose (``{glue:text}`name```); not shown. Text is
        also glued as Markdown, for ``{glue:md}`name``` where it holds a code span (a command): as plain
        text its backticks would show and Sphinx would turn its ``--`` into en-dashes."""
        from myst_nb import glue  # the book's dependency, not the library's

        for key, value in values.items():
            glue(key, _Prose(value) if isinstance(value, str) else value, display=False)

    def publish(self, key: str, fig: Any, file: str) -> None:
        """Write a figure as ``figures/<file>`` and glue it as ``key`` for the chapter's caption."""
        from rstor_core.book.figures import publish_figure

        publish_figure(key, fig, self.figures / file)


class _Prose(str):
    """A glued string that is both plain text (``{glue:text}``, as a ``str`` is) and Markdown (``{glue:md}``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def open_chapter(name: str, parameters: Mapping[str, Any]) -> ChapterRun:
    """Open chapter ``name`` from the values of its parameters cell (``globals()`` of the notebook).

    Runs from the repository root (relative paths mean the same in JupyterLab, which starts in
    ``book/``, and under papermill), and raises :class:`ProfileError` before any work when a value is
    out of range, names an unknown experiment, or names a folder that does not exist.
    """
    os.chdir(project_root())
    values = {**RUNNER_PARAMETERS, **{k: v for k, v in parameters.items() if not k.startswith("_")}}
    profile = load_profile(values["profile"])
    where = f"parameters of chapter {name}"
    config = section_from_parameters(name, values, where=where)
    unknown = unknown_experiments(config, profile.experiments)
    problems = [f"{where}: {key}: {problem}" for key, problem in unknown.items()]
    problems += [f"{where}: {problem}" for problem in missing_sources(config)]
    problems += [f"{where}: {key}: names no network to compare: add {{label: experiment}} lines under the "
                 f"profile's {CHAPTER_SECTIONS[name][0]}.{key}" for key in unnamed_arms(config)]
    if problems:
        raise ProfileError("\n".join(problems))
    try:
        device = pick_device(values["device"])
    except ValueError as err:
        raise ProfileError(f"{where}: device: {err}") from None
    staging = (Path(values["staging_dir"]) if values["staging_dir"] else
               None if values["publish"] else SCRATCH_DIR / profile.name)
    return ChapterRun(name=name, config=config, profile=profile, output_dir=Path(values["output_dir"]), device=device,
                      fresh=_fresh(values["fresh"]), live_widgets=bool(values["live_widgets"]), staging_dir=staging)


def _fresh(value: Any) -> bool | frozenset[str]:
    """The ``fresh`` parameter: a bool (every experiment, or none), or the names of the experiments to
    retrain (the runner's, so that an experiment an earlier chapter retrained is not retrained again)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(map(str, value))
    return bool(value)
