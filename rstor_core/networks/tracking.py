"""Tracking a training in TensorBoard: an optional extra (``pip install 'rstor_core[tracking]'``), off by default.

    python -m rstor_core train --profile smoke --experiment denoise_dead_leaves --tensorboard runs/
    tensorboard --logdir runs/

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
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

INSTALL = "pip install 'rstor_core[tracking]'"
IMAGES = 3  # validation images in the grid


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


class Tracker:
    """TensorBoard events of one run in ``folder``, from the step after ``step`` (the one it resumes from)."""

    def __init__(self, folder: str | Path, step: int = 0) -> None:
        # purge_step: events a killed run wrote at this step or later are hidden by TensorBoard's readers.
        # max_queue: a step queues its scalars instead of waiting for the writer's thread (5 µs an add_scalar
        # here, not 22); flush_secs: on disk within 30 s, and all of them when the run ends or fails.
        self.writer = summary_writer()(log_dir=str(folder), purge_step=step + 1, max_queue=1000, flush_secs=30)

    def scalars(self, row: dict[str, Any]) -> None:
        """A ``log.csv`` row: loss, learning rate, throughput and, when validated, the validation PSNR."""
        step = row["step"]
        for tag, key in (("train/loss", "loss"), ("train/lr", "lr"), ("train/img_per_s", "img_per_s"),
                         ("val/psnr", "val_psnr")):
            if row[key] != "":
                self.writer.add_scalar(tag, row[key], step)

    @torch.inference_mode()
    def restorations(self, model: torch.nn.Module, degraded: torch.Tensor, clean: torch.Tensor, step: int) -> None:
        """The first validation images, one per row: degraded | restored | clean (clamped to [0, 1])."""
        from torchvision.utils import make_grid

        model.eval()
        degraded, clean = degraded[:IMAGES], clean[:IMAGES]
        restored = model(degraded).float()
        panels = torch.stack([degraded, restored, clean], dim=1).flatten(0, 1).clamp(0, 1).cpu()
        self.writer.add_image("val/restorations", make_grid(panels, nrow=3, padding=1), step)

    def flush(self) -> None:
        """Write the events queued so far to disk (before a checkpoint: a run resumed from it lacks none)."""
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *error: object) -> None:
        self.close()
