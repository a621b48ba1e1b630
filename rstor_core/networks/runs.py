"""The experiment store: where each run of an experiment trains, and whether it needs to.

Run r of experiment ``name`` lives in :func:`experiment_dir` under a profile's ``checkpoints/``;
:func:`train_experiment` trains it unless its ``model.pt`` already holds this configuration (and this
parent, for an ``init_from`` child: :func:`parent_weights`), one run at a time per folder (a lock), a
replacement training beside the old weights until it is complete, an interrupted run resumed. The
loop itself is :class:`rstor_core.networks.train.Trainer`; the file format :mod:`rstor_core.networks.checkpoints`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist
from filelock import FileLock, Timeout

from rstor_core.images.sources import experiment_missing_data
from rstor_core.networks.checkpoints import (LOG_FILE, MODEL_FILE, RESUME_ADVICE, STATE_FILE, read_checkpoint,
                                             snapshot_file)
from rstor_core.networks.models import pick_device
from rstor_core.networks.train import Trainer, parent_record
from rstor_core.settings.configs import ExperimentConfig, split_reference
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


def train_experiment(config: ExperimentConfig, out_dir: str | Path, *, force: bool = False,
                     device: torch.device | str | None = None, progress: bool = True,
                     init_weights: str | Path | None = None) -> Path:
    """Train unless ``out_dir/model.pt`` already holds this experiment (``force``: start over).

    A trained model is never deleted before its replacement exists: when ``model.pt`` holds another
    configuration, or ``force`` asks for a retraining, the new run trains (and resumes, if killed) in
    ``out_dir/.retrain/`` and its files replace the old ones only once it is complete.

    One run at a time trains a folder: a second one waits for the first (``out_dir/.train.lock``),
    then finds the model trained and skips. A damaged checkpoint raises :class:`CheckpointError`.
    An experiment with ``init_from`` starts from ``init_weights`` (:func:`parent_weights`) and is retrained
    when those weights change.
    """
    out_dir = Path(out_dir)
    parent = parent_record(config, init_weights)
    problems = experiment_missing_data(config)
    if problems:
        raise FileNotFoundError(f"cannot train {out_dir.name}: {'; '.join(problems)}")
    with _one_run_at_a_time(out_dir):
        remove_stale_temporaries(out_dir)  # what a killed run of this folder left half-written
        return _train_or_skip(config, out_dir, force=force, device=device, progress=progress,
                              init_weights=init_weights, parent=parent)


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
                   progress: bool, init_weights: str | Path | None, parent: dict[str, str] | None) -> Path:
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
        trained = Trainer(config, run_dir, device=pick_device(device), progress=progress,
                          init_weights=init_weights).fit(resume=True)
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
