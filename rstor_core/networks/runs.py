"""The experiment store: where each run of an experiment trains, whether it needs to, and what it
starts from.

Run r of experiment ``name`` lives in :func:`experiment_dir` under a profile's ``checkpoints/``;
:func:`train_experiment` trains it unless its ``model.pt`` already holds this configuration (and this
parent, for an ``init_from`` child: :func:`parent_weights`), one run at a time per folder (a lock), a
replacement training beside the old weights until it is complete, an interrupted run resumed.
:class:`ExperimentStore` is the one place references (``name``, ``name@step``) and chains of
``init_from`` parents are followed, for the chapters and the CLI alike (the profile only checks that a
chain exists and ends: :func:`rstor_core.settings.configs.lineage_of`). The loop itself is
:class:`rstor_core.networks.train.Trainer`; the file format :mod:`rstor_core.networks.checkpoints`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from filelock import FileLock, Timeout

from rstor_core.images.sources import experiment_missing_data
from rstor_core.networks.checkpoints import (LOG_FILE, MODEL_FILE, RESUME_ADVICE, STATE_FILE, CheckpointError,
                                             read_checkpoint, snapshot_file)
from rstor_core.networks.device import pick_device
from rstor_core.networks.tracking import Tracking, tracking_of
from rstor_core.networks.train import Parent, Trainer
from rstor_core.settings.configs import ExperimentConfig, lineage_of, split_reference
from rstor_core.settings.files import remove_stale_temporaries

log = logging.getLogger(__name__)
RETRAIN_DIR = ".retrain"  # where a replacement trains until it is complete (train_experiment)
LOCK_FILE = ".train.lock"  # held by the one run training a folder (train_experiment); left in place, git-ignored


def experiment_dir(checkpoints: str | Path, name: str, run: int = 0) -> Path:
    """Where run ``run`` of experiment ``name`` trains under ``checkpoints``: ``<name>/`` for run 0 (the
    folder of every network trained before runs existed), ``<name>.run<r>/`` beside it for the others.
    Siblings, not subfolders: a run's folder holds one run's files, lock, ``.retrain/`` and log."""
    return Path(checkpoints) / (f"{name}.run{run}" if run else name)


def weights_file(config: ExperimentConfig, step: int | None = None) -> str:
    """``model.pt``, or the snapshot at ``step`` (which ``config`` must keep)."""
    if step is None:
        return MODEL_FILE
    if step not in config.kept_steps:
        raise ValueError(f"this experiment keeps no weights at step {step}; the snapshots it reaches: "
                         f"{list(config.kept_steps)}")
    return snapshot_file(step)


def parent_weights(config: ExperimentConfig, checkpoints: str | Path) -> Path | None:
    """The weights experiment ``config`` starts from (its ``init_from``, same run) under ``checkpoints``:
    the parent's ``model.pt``, or its snapshot for ``name@step``; ``None`` when it starts from scratch.
    The caller trains that parent first."""
    if config.init_from is None:
        return None
    name, step = split_reference(config.init_from, "init_from")
    return experiment_dir(checkpoints, name, config.run) / (MODEL_FILE if step is None else snapshot_file(step))


def parent_record(config: ExperimentConfig, init_weights: str | Path | None) -> dict[str, str] | None:
    """What a child run records of its parent (``init_from``): the experiment's name and the sha256 of the
    weights file it started from, so that a retrained parent retrains the child; ``None`` without one.
    A child without its parent's weights, or weights without ``init_from``, is an error before any work."""
    if config.init_from is None:
        if init_weights is not None:
            raise ValueError(f"init_weights={str(init_weights)!r} given but init_from is not set: a run starts "
                             "from another's weights only when its config says so")
        return None
    if init_weights is None:
        raise ValueError(f"this experiment starts from experiment {config.init_from!r} (init_from): pass its "
                         "trained model.pt as init_weights")
    path = Path(init_weights)
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path} to start from: train experiment {config.init_from!r} first")
    return {"experiment": config.init_from, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def load_parent(config: ExperimentConfig, init_weights: str | Path | None,
                device: torch.device | str | None = None) -> Parent | None:
    """The :class:`~rstor_core.networks.train.Parent` a run of ``config`` starts from (:func:`parent_record`,
    and its weights, which must build this experiment's network); ``None`` without ``init_from``."""
    record = parent_record(config, init_weights)
    if record is None:
        return None
    path = Path(init_weights)
    state, parent = read_checkpoint(path, device=device, advice=f"retrain experiment {config.init_from!r}")
    if parent.model != config.model:
        raise CheckpointError(f"{path}: its network ({parent.model.name} {parent.model.chosen}) does not match "
                              f"this experiment's ({config.model.name} {config.model.chosen}): the weights cannot "
                              "be loaded")
    return Parent(record, state["model"])


def train_experiment(config: ExperimentConfig, out_dir: str | Path, *, force: bool = False,
                     device: torch.device | str | None = None, progress: bool = True,
                     init_weights: str | Path | None = None, tracking: str | Path | Tracking | None = None) -> Path:
    """Train unless ``out_dir/model.pt`` already holds this experiment (``force``: start over); ``tracking``: a
    folder for the training's TensorBoard events, or a :class:`~rstor_core.networks.tracking.Tracking`.

    A trained model is never deleted before its replacement exists: when ``model.pt`` holds another
    configuration, or ``force`` asks for a retraining, the new run trains (and resumes, if killed) in
    ``out_dir/.retrain/`` and its files replace the old ones only once it is complete.

    One run at a time trains a folder: a second one waits for the first (``out_dir/.train.lock``),
    then finds the model trained and skips. A damaged checkpoint raises :class:`CheckpointError`.
    An experiment with ``init_from`` starts from ``init_weights`` (:func:`parent_weights`) and is retrained
    when those weights change.
    """
    out_dir = Path(out_dir)
    tracking = tracking_of(tracking)
    if tracking is not None:
        tracking.check()  # a package missing: refused before any work
    parent = parent_record(config, init_weights)
    problems = experiment_missing_data(config)
    if problems:
        raise FileNotFoundError(f"cannot train {out_dir.name}: {'; '.join(problems)}")
    with _one_run_at_a_time(out_dir):
        remove_stale_temporaries(out_dir)  # what a killed run of this folder left half-written
        return _train_or_skip(config, out_dir, force=force, device=device, progress=progress,
                              init_weights=init_weights, parent=parent, tracking=tracking)


@contextmanager
def _one_run_at_a_time(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir``'s lock while training it; wait, saying so, while another run holds it.

    Waiting rather than failing: a second run (another chapter, another terminal) then reuses the
    model the first one trains. The OS drops the lock when its process dies, so it never goes stale.
    Under torchrun only rank 0 takes it: the other ranks wait for rank 0 in the process group anyway.
    """
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("waiting for another run training %s (it holds %s)", out_dir, lock.lock_file)
        lock.acquire()
    try:
        yield
    except BaseException:
        if created and [p.name for p in out_dir.iterdir()] == [LOCK_FILE]:  # refused before writing anything:
            (out_dir / LOCK_FILE).unlink()  # leave no folder holding only a lock behind
            out_dir.rmdir()
        raise
    finally:
        lock.release()


def _train_or_skip(config: ExperimentConfig, out_dir: Path, *, force: bool, device: torch.device | str | None,
                   progress: bool, init_weights: str | Path | None, parent: dict[str, str] | None,
                   tracking: Tracking | None) -> Path:
    model_path = out_dir / MODEL_FILE
    replacing = model_path.is_file()
    if replacing and not force:
        saved, saved_config = read_checkpoint(model_path, keys=("model", "config", "step"),
                                              advice="rerun with --force (in the book: --fresh) to retrain it")
        if saved_config == config and saved.get("parent") != parent:
            log.info("%s was trained from another version of its parent: its parent %r changed; retraining",
                     out_dir, config.init_from)
        elif saved_config == config and (missing := _missing_snapshots(config, out_dir)):
            log.info("%s lacks its weights at step %s: retraining", out_dir, ", ".join(map(str, missing)))
        elif saved_config == config:
            log.info("%s is already trained (%d steps): skipped", out_dir, saved["step"])
            shutil.rmtree(out_dir / RETRAIN_DIR, ignore_errors=True)  # an abandoned replacement
            return model_path
        else:
            log.info("%s was trained with another configuration: retraining; the old model stays until the "
                     "new one is complete", out_dir)
    run_dir = out_dir / RETRAIN_DIR if replacing else out_dir
    if force or not _resumable(run_dir / STATE_FILE, config, parent):
        if not force:
            log.warning("%s holds an interrupted run of another configuration: starting over", run_dir)
        for path in [run_dir / name for name in (STATE_FILE, MODEL_FILE, LOG_FILE)] + _snapshots_in(run_dir):
            path.unlink(missing_ok=True)
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        device = pick_device(device)
        trained = Trainer(config, run_dir, device=device, progress=progress,
                          parent=load_parent(config, init_weights, device), tracking=tracking).fit(resume=True)
        if run_dir != out_dir and (not dist.is_initialized() or dist.get_rank() == 0):
            for path in _snapshots_in(out_dir):  # the old run's: the new one keeps its own
                path.unlink()
            for path in [*_snapshots_in(run_dir), *(run_dir / name for name in (LOG_FILE, STATE_FILE, MODEL_FILE))]:
                os.replace(path, out_dir / path.name)  # the model last: it marks the run complete
            run_dir.rmdir()
            trained = model_path
        return trained
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _snapshots_in(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("model.step*.pt"))


def _missing_snapshots(config: ExperimentConfig, out_dir: Path) -> list[int]:
    return [step for step in config.kept_steps if not (out_dir / snapshot_file(step)).is_file()]


def _resumable(state_path: Path, config: ExperimentConfig, parent: dict[str, str] | None) -> bool:
    """Whether ``state_path`` is an interrupted run of ``config`` from ``parent`` (a state of another config
    or parent is dropped; a damaged one is a :class:`CheckpointError`, never silently started over)."""
    if not state_path.is_file():
        return True
    state, saved = read_checkpoint(state_path, advice=RESUME_ADVICE)
    return saved == config and state.get("parent") == parent


@dataclass
class ExperimentStore:
    """A profile's experiments and the folders their runs train in: what a chapter or the CLI asks for
    trained weights, by reference (``name``, or ``name@step`` for the weights it keeps at that step).

    ``fresh`` retrains every experiment (``True``) or those named, each run once per store (a chapter run
    or a command), so two arms sharing a parent do not retrain it twice. ``tracking``: where each run trained
    is tracked, in a subfolder named as its own (:func:`experiment_dir`; a folder: TensorBoard only).
    """

    checkpoints: Path
    experiments: Mapping[str, ExperimentConfig]
    device: torch.device | str | None = None
    fresh: bool | Collection[str] = False
    progress: bool = True
    where: str = "the profile"  # names the profile in errors
    tracking: Path | Tracking | None = None
    _trained: set[tuple[str, int]] = field(default_factory=set, repr=False)  # (experiment, run) trained here

    def config(self, reference: str, run: int = 0) -> ExperimentConfig:
        """Run ``run`` of the referenced experiment (a profile holds run 0)."""
        name = split_reference(reference)[0]
        if name not in self.experiments:
            raise KeyError(f"{self.where}: no experiment {name!r}; defined: {sorted(self.experiments)}")
        return dataclasses.replace(self.experiments[name], run=run)

    def folder(self, reference: str, run: int = 0) -> Path:
        """Where run ``run`` of the referenced experiment trains (:func:`experiment_dir`)."""
        return experiment_dir(self.checkpoints, split_reference(reference)[0], run)

    def lineage(self, reference: str) -> list[str]:
        """The referenced experiment after those it starts from, oldest first: the order they train in."""
        self.config(reference)
        return lineage_of(self.experiments, split_reference(reference)[0])

    def steps(self, reference: str) -> list[int]:
        """Training steps of the referenced weights (its ``steps``, or the ``@step``) and of each network it
        starts from, oldest first: what a fine-tuned network is compared at."""
        steps = []
        while reference is not None:
            name, step = split_reference(reference)
            steps.insert(0, step or self.config(name).steps)
            reference = self.config(name).init_from
        return steps

    def train(self, reference: str, run: int = 0) -> Path:
        """Train run ``run`` of the referenced experiment, or reuse it (:func:`train_experiment`), after the
        network it starts from (``init_from``, recursively, same run); the path of its weights: final, or at
        the reference's step."""
        name, step = split_reference(reference)
        config = self.config(name, run)
        init = None
        if config.init_from is not None:
            log.info("%s starts from %s: training (or reusing) that first", name, config.init_from)
            init = self.train(config.init_from, run)
        wanted = self.fresh is True or (self.fresh is not False and name in self.fresh)
        folder = self.folder(name, run)
        path = train_experiment(config, folder, force=wanted and (name, run) not in self._trained,
                                device=self.device, progress=self.progress, init_weights=init,
                                tracking=self.tracking and tracking_of(self.tracking).of_run(folder.name))
        self._trained.add((name, run))
        return path.with_name(weights_file(config, step))
