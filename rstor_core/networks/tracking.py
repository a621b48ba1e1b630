"""Tracking a training in TensorBoard and, optionally, Weights & Biases offline: extras
(``pip install 'rstor_core[tracking]'``, ``'rstor_core[wandb]'``), off by default.

    python -m rstor_core train --profile smoke --experiment denoise_dead_leaves --tensorboard runs/ [--wandb]
    tensorboard --logdir runs/
    wandb sync runs/denoise_dead_leaves/wandb/offline-run-*    # later, from a machine with a network

:class:`Tracker` writes what :class:`rstor_core.networks.train.Trainer` puts in ``log.csv`` as scalars
(``train/loss``, ``train/lr``, ``train/img_per_s`` at every logged step, ``val/psnr`` at each validation)
and, at each validation, ``val/restorations``: a grid of a few validation images, one per row, degraded |
restored | clean. Each experiment's run writes to its own folder (``<DIR>/<experiment>``,
``<DIR>/<experiment>.run<R>``: :meth:`rstor_core.networks.runs.ExperimentStore.train`). A resumed run
starts its events with TensorBoard's purge marker at the step it resumes from, so the steps a killed run
logged past its checkpoint are hidden, as ``log.csv`` drops them, and the events are on disk before each
checkpoint, so none of the steps it holds is missing: the events read back are the log's rows.
An experiment already trained is skipped and writes nothing. ``benchmarks/tracking_overhead.py`` times
what it costs a step.

With ``wandb`` (:class:`Tracking`), the same scalars and image grids also go to a W&B run in offline mode
(nothing leaves the machine; ``wandb sync`` uploads it), written under the run's folder. A resumed run is the
same W&B run (its id is kept in the folder, ``wandb_id``); W&B has no purge, so the steps a killed run logged
past its checkpoint keep the values it logged (the same batches: the same numbers up to float noise).
"""

from __future__ import annotations

import dataclasses
import importlib
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

INSTALL = "pip install 'rstor_core[tracking]'"
WANDB_INSTALL = "pip install 'rstor_core[wandb]'"
IMAGES = 3  # validation images in the grid
WANDB_ID = "wandb_id"  # the file in a run's tracking folder that names its W&B run across resumes


class TrackingUnavailable(ValueError):
    """Tracking was asked for and TensorBoard is not installed: raised before any work (the CLI's exit 2)."""


def summary_writer() -> type:
    """torch's ``SummaryWriter``, or :class:`TrackingUnavailable` saying what to install."""
    try:
        importlib.import_module("tensorboard")  # torch.utils.tensorboard needs it, and may be imported already
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise TrackingUnavailable(f"TensorBoard tracking needs the tensorboard package ({err}): {INSTALL} "
                                  "(in a checkout: pip install -e '.[tracking]')") from None
    return SummaryWriter


def wandb_module() -> ModuleType:
    """The ``wandb`` package, or :class:`TrackingUnavailable` saying what to install."""
    try:
        return importlib.import_module("wandb")
    except ImportError as err:
        raise TrackingUnavailable(f"W&B tracking needs the wandb package ({err}): {WANDB_INSTALL} "
                                  "(in a checkout: pip install -e '.[wandb]')") from None


@dataclasses.dataclass(frozen=True)
class Tracking:
    """Where a training is tracked: TensorBoard events in ``folder`` and, with ``wandb``, an offline W&B run
    there too (in ``folder/wandb``)."""

    folder: Path
    wandb: bool = False

    def of_run(self, name: str) -> Tracking:
        """The tracking of one run among several: a subfolder named as the run's own."""
        return dataclasses.replace(self, folder=self.folder / name)

    def check(self) -> None:
        """:class:`TrackingUnavailable` before any work when a package it needs is missing."""
        summary_writer()
        if self.wandb:
            wandb_module()


def tracking_of(value: str | Path | Tracking | None) -> Tracking | None:
    """A folder given alone means TensorBoard only."""
    return value if value is None or isinstance(value, Tracking) else Tracking(Path(value))


class Tracker:
    """TensorBoard events (and an offline W&B run, :class:`Tracking`) of one run, from the step after ``step``
    (the one it resumes from); ``config``: the run's settings, W&B's run config."""

    def __init__(self, tracking: Tracking, step: int = 0, config: dict[str, Any] | None = None) -> None:
        # purge_step: events a killed run wrote at this step or later are hidden by TensorBoard's readers.
        # max_queue: a step queues its scalars instead of waiting for the writer's thread (5 µs an add_scalar
        # here, not 22); flush_secs: on disk within 30 s, and all of them when the run ends or fails.
        self.writer = summary_writer()(log_dir=str(tracking.folder), purge_step=step + 1, max_queue=1000,
                                       flush_secs=30)
        self.wandb = _wandb_run(tracking.folder, config or {}) if tracking.wandb else None

    def scalars(self, row: dict[str, Any]) -> None:
        """A ``log.csv`` row: loss, learning rate, throughput and, when validated, the validation PSNR."""
        step, logged = row["step"], {}
        for tag, key in (("train/loss", "loss"), ("train/lr", "lr"), ("train/img_per_s", "img_per_s"),
                         ("val/psnr", "val_psnr")):
            if row[key] != "":
                self.writer.add_scalar(tag, row[key], step)
                logged[tag] = row[key]
        if self.wandb is not None:
            self.wandb.log(logged, step=step)

    @torch.inference_mode()
    def restorations(self, model: torch.nn.Module, degraded: torch.Tensor, clean: torch.Tensor, step: int) -> None:
        """The first validation images, one per row: degraded | restored | clean (clamped to [0, 1])."""
        from torchvision.utils import make_grid

        model.eval()
        degraded, clean = degraded[:IMAGES], clean[:IMAGES]
        restored = model(degraded).float()
        panels = torch.stack([degraded, restored, clean], dim=1).flatten(0, 1).clamp(0, 1).cpu()
        grid = make_grid(panels, nrow=3, padding=1)
        self.writer.add_image("val/restorations", grid, step)
        if self.wandb is not None:
            image = wandb_module().Image(grid.permute(1, 2, 0).numpy(), caption="degraded | restored | clean")
            self.wandb.log({"val/restorations": image}, step=step)

    def flush(self) -> None:
        """Write the events queued so far to disk (before a checkpoint: a run resumed from it lacks none)."""
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()
        if self.wandb is not None:
            self.wandb.finish(exit_code=1 if failed else 0)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type | None, *error: object) -> None:
        self.close(failed=kind is not None)


def _wandb_run(folder: Path, config: dict[str, Any]) -> Any:
    """An offline W&B run in ``folder/wandb``, named as the folder; its id is read from (or first written to)
    ``folder/wandb_id``, so a resumed training continues the run it started."""
    wandb = wandb_module()
    folder.mkdir(parents=True, exist_ok=True)
    id_file = folder / WANDB_ID
    if not id_file.is_file():
        id_file.write_text(secrets.token_hex(4))
    return wandb.init(dir=str(folder), mode="offline", project="rstor", name=folder.name, id=id_file.read_text(),
                      resume="allow", config=config, settings=wandb.Settings(console="off", silent=True))
