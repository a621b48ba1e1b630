"""The device a run computes on, chosen once: training, evaluation, the chapters and the widgets take it
from here, and the runner records it in the manifest.

Kept apart from the networks so that choosing a device does not import an architecture (and so that a
change here is not mistaken for a change of how rows are scored: :data:`rstor_core.measurement.memo.SCORING_MODULES`).
"""

from __future__ import annotations

import torch


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """The device of a run: ``name`` when given (``--device cpu``), else ``cuda`` when available, else
    ``cpu``. Chosen once per run and used by training, evaluation, the chapters and the widgets."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device here; use 'cpu'")
    return device
