"""Training: a small Trainer in d2l's spirit, with checkpoints that survive being killed.

    python -m rstor_core train --profile smoke --experiment denoise_dead_leaves
    torchrun --nproc_per_node 2 -m rstor_core train --profile quick --experiment NAME   # DDP

One experiment (:class:`rstor_core.settings.configs.ExperimentConfig`) trains into its folder:
``last.opt.pt`` (model, optimiser, scheduler, step and RNG state: enough to resume; not
committed), ``model.pt`` (the final weights and config, a few MB: what the chapters load), the
weights at each of its ``snapshots`` steps (``model.step<N>.pt``, :func:`snapshot_file`) and
``log.csv`` (loss, learning rate, validation PSNR, throughput per step), also in TensorBoard when asked
(``tracking``: :mod:`rstor_core.networks.tracking`). Batches depend only on
(seed, run, step, rank) (:class:`rstor_core.networks.batches.TrainingBatches`), so a run killed at any point and
resumed from its last checkpoint ends with the very weights of an uninterrupted run. Where a run
trains, and whether it needs to, is :mod:`rstor_core.networks.runs`; the files' format :mod:`rstor_core.networks.checkpoints`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from rstor_core.measurement.metrics import psnr
from rstor_core.networks.batches import TrainingBatches
from rstor_core.networks.checkpoints import (LOG_FILE, MODEL_FILE, RESUME_ADVICE, STATE_FILE, CheckpointError,
                                             checksummed, one_line, read_checkpoint, snapshot_file, write_checkpoint)
from rstor_core.networks.device import pick_device
from rstor_core.networks.models import model_from_config
from rstor_core.networks.tracking import Tracker, Tracking, tracking_of
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.files import atomic_path, git_state
from rstor_core.settings.rng import stream_seed

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
LOG_COLUMNS = ("step", "loss", "lr", "val_psnr", "img_per_s")


def psnr_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Minus the PSNR (dB, peak 1) of each image, averaged: NAFNet's loss. Unlike the MSE, it weighs
    an image's error relative to its size, so nearly restored crops keep pulling."""
    mse = (output - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(mse + 1e-10).mean()


LOSSES = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss, "psnr": psnr_loss}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclasses.dataclass(frozen=True)
class Parent:
    """The network a run starts from: its weights (the optimiser state stays behind) and what the run
    records of it (``{"experiment": name, "sha256": of its weights file}``), so that a retrained parent
    retrains the child. Which parent, and whether it fits, is the experiment store's
    (:func:`rstor_core.networks.runs.load_parent`)."""

    record: dict[str, str]
    weights: dict[str, torch.Tensor]


class Trainer:
    """Fit one experiment into ``out_dir``; see the module docstring for the files it keeps. ``tracking``: a
    folder for its TensorBoard events, or a :class:`~rstor_core.networks.tracking.Tracking` (W&B offline too;
    rank 0 writes them), which needs the packages installed."""

    def __init__(self, config: ExperimentConfig, out_dir: str | Path, *, device: torch.device | None = None,
                 progress: bool = True, parent: Parent | None = None,
                 tracking: str | Path | Tracking | None = None) -> None:
        self.config, self.out_dir, self.progress = config, Path(out_dir), progress
        self.tracking, self.tracker = tracking_of(tracking), None
        if self.tracking is not None:
            self.tracking.check()  # a package missing: refused before any work
        self.parent = parent.record if parent is not None else None
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.device = pick_device(device)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
            torch.manual_seed(stream_seed(config.seed, *config.stream_keys("initialisation")))
            self.model = model_from_config(config.model).to(self.device)
        if parent is not None:
            self.model.load_state_dict(parent.weights)
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
        if self.tracking is not None and self.rank == 0:
            self.tracker = Tracker(self.tracking, self.step, config=dataclasses.asdict(self.config))
        tracking = self.tracker or nullcontext()  # closed on an error too: the events so far are kept
        with tqdm(total=self.config.steps, initial=self.step, desc=self.out_dir.name, unit="step",
                  disable=not self.progress or self.rank != 0) as bar, tracking:  # the bar's line ends on an error
            while self.step < self.config.steps:
                start = time.perf_counter()
                loss = self.train_step(*(t.to(self.device) for t in next(batches)))
                self.step += 1
                row = {"step": self.step, "loss": loss.item(), "lr": self.optimiser.param_groups[0]["lr"],
                       "val_psnr": "",
                       "img_per_s": self.config.batch_size * self.world_size / (time.perf_counter() - start)}
                if self.step % self.config.val_every == 0 or self.step == self.config.steps:
                    row["val_psnr"] = self.validate(*validation)
                    if self.tracker is not None:
                        self.tracker.restorations(self.model, *validation, self.step)
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
                    if self.tracker is not None:  # the events of the steps this state holds are on disk first
                        self.tracker.flush()
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
                        "what is trained)", one_line(err))
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
        write_checkpoint(checksummed(state), path)

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
            raise CheckpointError(f"{path}: its state does not fit this experiment ({one_line(err)}); "
                                  f"{RESUME_ADVICE}") from err
        self.step = int(state["step"])

    def save_model(self, path: Path) -> None:
        """The weights now (final, or a snapshot) with the config that rebuilds the network (no optimiser:
        a few MB)."""
        written = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        write_checkpoint(checksummed({"model": self.model.state_dict(), "config": dataclasses.asdict(self.config),
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
        if self.tracker is not None:
            self.tracker.scalars(row)

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


