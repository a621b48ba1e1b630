"""Training: a small Trainer in d2l's spirit, with checkpoints that survive being killed.

    python -m rstor_core train --profile smoke --experiment denoise_dead_leaves
    torchrun --nproc_per_node 2 -m rstor_core train --profile quick --experiment NAME   # DDP

One experiment (:class:`rstor_core.configs.ExperimentConfig`) trains into its folder:
``last.opt.pt`` (model, optimiser, scheduler, step and RNG state: enough to resume; not
committed), ``model.pt`` (the final weights and config, a few MB: what the chapters load), the
weights at each of its ``snapshots`` steps (``model.step<N>.pt``, :func:`snapshot_file`) and
``log.csv`` (loss, learning rate, validation PSNR, throughput per step). Batches depend only on
(seed, run, step, rank) (:class:`rstor_core.data.TrainingBatches`), so a run killed at any point and
resumed from its last checkpoint ends with the very weights of an uninterrupted run. Run r > 0 of
an experiment (``--run R``; independent draws, another fold of the bundled photos) trains into
its own folder (:func:`experiment_dir`). Chapters 02 and 03 call :func:`train_experiment`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import os
import pickle
import re
import shutil
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from rstor_core.data import TrainingBatches
from rstor_core.files import atomic_path, git_state, remove_stale_temporaries
from rstor_core.metrics import psnr
from rstor_core.rng import stream_seed
from rstor_core.models import model_from_config, pick_device
from rstor_core.configs import ExperimentConfig, split_reference

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
STATE_FILE, MODEL_FILE, LOG_FILE = "last.opt.pt", "model.pt", "log.csv"
RETRAIN_DIR = ".retrain"  # where a replacement trains until it is complete (train_experiment)
LOG_COLUMNS = ("step", "loss", "lr", "val_psnr", "img_per_s")
LOCK_FILE = ".train.lock"  # held by the one run training a folder (train_experiment); left in place, git-ignored
RESUME_ADVICE = "rerun with --force (in the book: --fresh) to start this experiment over"
DAMAGED_ADVICE = "retrain it (train --force; in the book: --fresh) or restore the file (git checkout for committed weights)"
CHECKSUM = "sha256"  # the entry holding the digest of a checkpoint's other entries (checksummed)


def psnr_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Minus the PSNR (dB, peak 1) of each image, averaged: NAFNet's loss. Unlike the MSE, it weighs
    an image's error relative to its size, so nearly restored crops keep pulling."""
    mse = (output - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(mse + 1e-10).mean()


LOSSES = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss, "psnr": psnr_loss}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, refused, foreign, or not fitting its own config.

    One type and one line naming the file, so the CLI prints it and exits 2; torch raises a
    different type for each kind of damage, and its refusal message advises ``weights_only=False``,
    which must not reach someone holding an untrusted file.
    """


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


class Trainer:
    """Fit one experiment into ``out_dir``; see the module docstring for the files it keeps."""

    def __init__(self, config: ExperimentConfig, out_dir: str | Path, *, device: torch.device | None = None,
                 progress: bool = True, init_weights: str | Path | None = None) -> None:
        self.config, self.out_dir, self.progress = config, Path(out_dir), progress
        self.parent = parent_record(config, init_weights)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.device = pick_device(device)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
            torch.manual_seed(stream_seed(config.seed, *config.stream_keys("initialisation")))
            self.model = model_from_config(config.model).to(self.device)
        if init_weights is not None:  # the parent's weights; its optimiser state stays behind
            self.model.load_state_dict(_parent_weights(config, init_weights, self.device))
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        optimiser = torch.optim.AdamW if config.optimiser == "adamw" else torch.optim.Adam
        self.optimiser = optimiser(self.model.parameters(), lr=config.lr, betas=config.betas,
                                   weight_decay=config.weight_decay)
        if config.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimiser, T_max=config.steps,
                                                                        eta_min=config.lr_min)
        elif config.schedule == "constant":  # a snapshot at step N is then a run of N steps (compute scaling)
            self.scheduler = torch.optim.lr_scheduler.ConstantLR(self.optimiser, factor=1.0, total_iters=0)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimiser, mode="max", factor=config.plateau_factor, patience=config.plateau_patience)
        self.plain = torch.nn.parallel.DistributedDataParallel(self.model) if self.distributed else self.model
        self.network = self.plain  # what the training steps call
        if config.compile:  # the training steps only; validation and the saved weights use self.model
            self.network = torch.compile(self.plain)
        # On a GPU without loader workers, dead leaves render and every batch degrades on the GPU itself;
        # workers build CPU batches, pinned for the copy.
        self.batches = TrainingBatches(config, rank=self.rank, world_size=self.world_size,
                                       device="cpu" if config.loader_workers else self.device)
        self.step = 0

    # --- the loop ---------------------------------------------------------------------------

    def fit(self, *, resume: bool = True) -> Path:
        """Train to ``config.steps`` (resuming from ``last.opt.pt`` when asked); return ``model.pt``."""
        if resume and (self.out_dir / STATE_FILE).is_file():
            self.load_state(self.out_dir / STATE_FILE)
            log.info("resuming %s at step %d", self.out_dir, self.step)
        elif self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._trim_log()
        validation = tuple(t.to(self.device) for t in self.batches.validation())
        batches = self._batches_from(self.step)
        with tqdm(total=self.config.steps, initial=self.step, desc=self.out_dir.name, unit="step",
                  disable=not self.progress or self.rank != 0) as bar:  # closed on an error too: its line ends
            while self.step < self.config.steps:
                start = time.perf_counter()
                loss = self.train_step(*(t.to(self.device) for t in next(batches)))
                self.step += 1
                row = {"step": self.step, "loss": loss.item(), "lr": self.optimiser.param_groups[0]["lr"],
                       "val_psnr": "",
                       "img_per_s": self.config.batch_size * self.world_size / (time.perf_counter() - start)}
                if self.step % self.config.val_every == 0 or self.step == self.config.steps:
                    row["val_psnr"] = self.validate(*validation)
                    if self.config.schedule == "plateau":
                        self.scheduler.step(row["val_psnr"])
                self._log(row)
                if self.step in self.config.kept_steps and self.rank == 0:  # before the state that passes it
                    self.save_model(self.out_dir / snapshot_file(self.step))
                # No redraw of its own: update() redraws at tqdm's interval. In a notebook each redraw is a
                # widget message, and one per step cost 7 % of smoke's speed (benchmarks/train_in_kernel.py).
                bar.set_postfix(loss=f"{row['loss']:.4g}", psnr=row["val_psnr"] and f"{row['val_psnr']:.2f}",
                                img_s=f"{row['img_per_s']:.1f}", refresh=False)
                bar.update(1)
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    self.save_state(self.out_dir / STATE_FILE)
        if self.rank == 0:
            self.save_model(self.out_dir / MODEL_FILE)
        return self.out_dir / MODEL_FILE

    def train_step(self, degraded: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """One optimisation step on a batch already on the device; returns its loss. :meth:`fit`'s body, apart
        from the data and the bookkeeping, so that ``benchmarks/gpu_train.py`` times the steps alone."""
        if self.config.channels_last:
            degraded = degraded.contiguous(memory_format=torch.channels_last)
        self.model.train()
        loss_fn = LOSSES[self.config.loss]
        try:
            loss = self._backward(loss_fn, degraded, clean)
        except TrainingDiverged:
            raise
        except Exception as err:  # torch.compile's backend fails in a different type for each cause
            if self.network is self.plain:
                raise
            log.warning("torch.compile failed here (%s): training without it (it changes the speed, not "
                        "what is trained)", _one_line(err))
            self.network = self.plain
            loss = self._backward(loss_fn, degraded, clean)
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimiser.step()
        if self.config.schedule != "plateau":
            self.scheduler.step()
        return loss

    def _backward(self, loss_fn: Any, degraded: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The loss of one batch, its gradients computed (the optimiser has not stepped yet)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss = loss_fn(self.network(degraded).float(), clean)
        self._check_finite(loss)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    def _batches_from(self, step: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of steps ``step``, ``step + 1`` ...: built here between steps, or by ``loader_workers``
        processes while the network steps (one torch thread each, so they do not fight the step's)."""
        if not self.config.loader_workers:
            return (self.batches.batch(s) for s in range(step, self.config.steps))
        return iter(torch.utils.data.DataLoader(_Steps(self.batches, step, self.config.steps), batch_size=None,
                                                num_workers=self.config.loader_workers, prefetch_factor=2,
                                                worker_init_fn=_one_thread, pin_memory=self.device.type == "cuda"))

    @torch.inference_mode()
    def validate(self, degraded: torch.Tensor, clean: torch.Tensor, batch_size: int = 16) -> float:
        """Mean PSNR (dB) of the model on the fixed validation set."""
        self.model.eval()
        scores = [psnr(self.model(degraded[i:i + batch_size]).float().clamp(0, 1), clean[i:i + batch_size])
                  for i in range(0, len(clean), batch_size)]
        return float(torch.cat(scores).mean())

    # --- checkpoints --------------------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        """Everything needed to resume, written atomically (rank 0 only)."""
        if self.rank != 0:
            return
        state = {"model": self.model.state_dict(), "optimiser": self.optimiser.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "step": self.step,
                 "rng": {"torch": torch.get_rng_state()}, "config": dataclasses.asdict(self.config),
                 "parent": self.parent}
        _write_checkpoint(checksummed(state), path)

    def load_state(self, path: Path) -> None:
        """Resume from ``path``; a damaged state is a :class:`CheckpointError` saying to start over."""
        state, config = read_checkpoint(path, device=self.device, advice=RESUME_ADVICE,
                                        keys=("model", "config", "optimiser", "scheduler", "step", "rng"))
        if config != self.config:
            raise CheckpointError(f"{path} was written by another configuration; use a new folder or --force")
        try:
            self.model.load_state_dict(state["model"])
            self.optimiser.load_state_dict(state["optimiser"])
            self.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"]["torch"])
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: its state does not fit this experiment ({_one_line(err)}); "
                                  f"{RESUME_ADVICE}") from err
        self.step = int(state["step"])

    def save_model(self, path: Path) -> None:
        """The weights now (final, or a snapshot) with the config that rebuilds the network (no optimiser:
        a few MB)."""
        written = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        _write_checkpoint(checksummed({"model": self.model.state_dict(), "config": dataclasses.asdict(self.config),
                                       "step": self.step, "parent": self.parent,
                                       "provenance": {**git_state(), "written": written}}), path)

    # --- helpers ------------------------------------------------------------------------------

    def _check_finite(self, loss: torch.Tensor) -> None:
        finite = torch.tensor(float(torch.isfinite(loss)), device=self.device)
        if self.distributed:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)  # every rank stops together
        if finite.item() < 1:
            last = self.out_dir / STATE_FILE
            kept = f"the last good checkpoint {last} is kept" if last.is_file() else "no checkpoint was written yet"
            raise TrainingDiverged(f"non-finite loss ({loss.item()}) at step {self.step + 1}; {kept}")

    def _log(self, row: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        path = self.out_dir / LOG_FILE
        new = not path.is_file()
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=LOG_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _trim_log(self) -> None:
        """Drop log rows past the resumed step: those steps run again."""
        path = self.out_dir / LOG_FILE
        if self.rank != 0 or not path.is_file():
            return
        with path.open(newline="") as file:
            rows = [r for r in csv.DictReader(file) if int(r["step"]) <= self.step]
        with atomic_path(path) as tmp, tmp.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


class _Steps(torch.utils.data.Dataset):
    """Item i: the batch of step ``start + i`` (pure in the step: any worker may build it)."""

    def __init__(self, batches: TrainingBatches, start: int, stop: int) -> None:
        self.batches, self.start, self.stop = batches, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batches.batch(self.start + i)


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def read_log(out_dir: str | Path) -> pd.DataFrame:
    """An experiment's ``log.csv`` as a DataFrame (validation PSNR NaN between validations)."""
    import pandas as pd

    path = Path(out_dir) / LOG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}")
    return pd.read_csv(path)


def validation_input_psnr(config: ExperimentConfig) -> float:
    """Mean PSNR (dB) of the degraded validation inputs themselves: the level the network's
    validation PSNR must beat to have restored anything (the log's ``val_psnr`` baseline)."""
    degraded, clean = TrainingBatches(config).validation()
    return float(psnr(degraded, clean).mean())


def _write_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` into ``path`` atomically (the previous file stays whole until the new one is), a failed
    write an :class:`OSError`: torch reports a full disk as "[enforce fail at inline_container.cc] unexpected
    pos", a RuntimeError the command line would print as a traceback."""
    with atomic_path(path) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as err:
            free = shutil.disk_usage(path.parent).free
            raise OSError(errno.ENOSPC if free < 2 ** 20 else errno.EIO,
                          f"could not write {path} ({_one_line(err, 80)}; {free / 2 ** 20:.1f} MiB free there)") from err


def checksummed(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its :data:`CHECKSUM` entry: the digest of every other entry (tensors by dtype, shape and
    bytes), which :func:`read_checkpoint` recomputes. Why: a flipped byte inside a tensor leaves a file torch
    reads without complaint, and its network scores or resumes with a changed weight."""
    from rstor_core.memo import fingerprint

    return {**state, CHECKSUM: fingerprint({key: value for key, value in state.items() if key != CHECKSUM})}


def read_checkpoint(path: str | Path, *, device: torch.device | str | None = "cpu",
                    keys: tuple[str, ...] = ("model", "config"),
                    advice: str = "") -> tuple[dict[str, Any], ExperimentConfig]:
    """A checkpoint's entries and the experiment config stored in it, loaded with ``weights_only=True``.

    Every way a file can fail (cut short, not a torch file, refused by the safe unpickler, written by
    something else, contents that no longer match the checksum written with them, non-finite weights, a
    config this version cannot rebuild) is one :class:`CheckpointError` on one line naming the file,
    followed by ``advice`` (default: retrain or restore it). Files written before checksums (the quick
    profile's committed weights) are checked for finite weights only.
    """
    path = Path(path)
    tail = f"; {advice or DAMAGED_ADVICE}"
    damage = _not_a_torch_file(path)
    if damage:
        raise CheckpointError(f"{path}: {damage}{tail}")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says what matters
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_one_line(err)}){tail}") from err
        found = re.search(r"GLOBAL (\S+)", str(err))
        raise CheckpointError(f"{path}: refused: loading it would call {found.group(1) if found else 'Python code'}"
                              f", while a checkpoint holds only tensors and plain values; do not trust this file"
                              f"{tail}") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror or err}){tail}") from err
    except Exception as err:  # torch raises RuntimeError, KeyError, EOFError ... depending on the damage
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated, or not written by "
                              f"torch.save: {type(err).__name__}){tail}") from err
    missing = [key for key in keys if key not in state] if isinstance(state, dict) else list(keys)
    if missing:
        found = sorted(map(str, state))[:5] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not an rstor checkpoint: no {', '.join(map(repr, missing))} entry "
                              f"(it holds {found}){tail}")
    if CHECKSUM in state and checksummed(state)[CHECKSUM] != state[CHECKSUM]:
        raise CheckpointError(f"{path}: damaged: its contents no longer match the checksum written with them "
                              f"(a changed byte){tail}")
    weights = state["model"] if isinstance(state.get("model"), dict) else {}
    bad = next((name for name, value in weights.items() if isinstance(value, torch.Tensor)
                and value.is_floating_point() and not bool(torch.isfinite(value).all())), None)
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad!r} holds NaN or infinite values; scoring or resuming it "
                              f"would give NaN{tail}")
    try:
        config = ExperimentConfig(**state["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its stored config is not a valid experiment ({_one_line(err)}){tail}") from err
    return state, config


def _not_a_torch_file(path: Path) -> str | None:
    """What is wrong with a file that cannot be a torch.save checkpoint, from its first bytes (None: it may be).
    Why: torch reports a cut-short archive as "Invalid argument", and random bytes as a pickle that would call
    Python code."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError:
        return None  # torch.load's own error says it
    if head.startswith(b"PK\x03\x04"):  # torch.save's zip archive
        return None if zipfile.is_zipfile(path) else "cut short: its zip archive has no end (a truncated copy or write)"
    if head[:1] == b"\x80":  # a pickle: the format torch.save wrote before 1.6
        return None
    return "not a PyTorch checkpoint: torch.save writes a zip archive, and this file is none"


def load_model(path: str | Path, *, device: torch.device | str | None = None) -> torch.nn.Module:
    """Rebuild a trained network from ``model.pt`` (or ``last.opt.pt``), in eval mode, on ``device``
    (default: :func:`~rstor_core.models.pick_device`, the device training would use).

    A file that is not such a checkpoint raises :class:`CheckpointError` (a ``ValueError``).
    """
    return load_trained(path, device=device)[0]


def load_trained(path: str | Path, *, device: torch.device | str | None = None) -> tuple[torch.nn.Module,
                                                                                        ExperimentConfig]:
    """:func:`load_model` and the experiment config it was trained with, from one read of the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train it with `python -m rstor_core train`")
    device = pick_device(device)
    state, config = read_checkpoint(path, device=device)
    model = model_from_config(config.model)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path}: its weights do not fit the {config.model.name} network its stored config "
                              f"builds ({_one_line(err)})") from err
    return model.to(device).eval(), config


def experiment_dir(checkpoints: str | Path, name: str, run: int = 0) -> Path:
    """Where run ``run`` of experiment ``name`` trains under ``checkpoints``: ``<name>/`` for run 0 (the
    folder of every network trained before runs existed), ``<name>.run<r>/`` beside it for the others.
    Siblings, not subfolders: a run's folder holds one run's files, lock, ``.retrain/`` and log."""
    return Path(checkpoints) / (f"{name}.run{run}" if run else name)


def snapshot_file(step: int) -> str:
    """The file of a run's weights at ``step`` (its ``snapshots``), beside ``model.pt``."""
    return f"model.step{step}.pt"


def weights_file(config: ExperimentConfig, step: int | None = None) -> str:
    """``model.pt``, or the snapshot at ``step`` (which ``config`` must keep)."""
    if step is None:
        return MODEL_FILE
    if step not in config.kept_steps:
        raise ValueError(f"this experiment keeps no weights at step {step}; the snapshots it reaches: "
                         f"{list(config.kept_steps)}")
    return snapshot_file(step)


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


def parent_weights(config: ExperimentConfig, checkpoints: str | Path) -> Path | None:
    """The weights experiment ``config`` starts from (its ``init_from``, same run) under ``checkpoints``:
    the parent's ``model.pt``, or its snapshot for ``name@step``; ``None`` when it starts from scratch.
    The caller trains that parent first."""
    if config.init_from is None:
        return None
    name, step = split_reference(config.init_from, "init_from")
    return experiment_dir(checkpoints, name, config.run) / (MODEL_FILE if step is None else snapshot_file(step))


def _parent_weights(config: ExperimentConfig, path: str | Path, device: torch.device) -> dict[str, torch.Tensor]:
    state, parent = read_checkpoint(path, device=device, advice=f"retrain experiment {config.init_from!r}")
    if parent.model != config.model:
        raise CheckpointError(f"{path}: its network ({parent.model.name} {parent.model.chosen}) does not match "
                              f"this experiment's ({config.model.name} {config.model.chosen}): the weights cannot "
                              "be loaded")
    return state["model"]


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
    problems = config.missing_data()
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


def _one_line(err: BaseException, limit: int = 200) -> str:
    """An exception's text on one line, cut at ``limit`` characters (torch's can run to pages)."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
