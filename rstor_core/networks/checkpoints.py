"""The checkpoint format: how a run's weights and state are written, read, verified and loaded.

A checkpoint is a ``torch.save`` dict of tensors and plain values (never pickled objects), read back
with ``weights_only=True``; it carries its experiment's config (the network it rebuilds) and a sha256 of
its other entries (:func:`checksummed`), so a flipped byte is refused instead of scored. Every way a
file can fail is one :class:`CheckpointError` line naming the file and what to do. The file names of a
run's folder are here too: ``last.opt.pt`` (enough to resume), ``model.pt`` (the final weights),
``model.step<N>.pt`` (snapshots) and ``log.csv``.
"""

from __future__ import annotations

import errno
import pickle
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from rstor_core.networks.device import pick_device
from rstor_core.networks.models import model_from_config
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.files import atomic_path

STATE_FILE, MODEL_FILE, LOG_FILE = "last.opt.pt", "model.pt", "log.csv"
RESUME_ADVICE = "rerun with --force (in the book: --fresh) to start this experiment over"
DAMAGED_ADVICE = "retrain it (train --force; in the book: --fresh) or restore the file (git checkout for committed weights)"
CHECKSUM = "sha256"  # the entry holding the digest of a checkpoint's other entries (checksummed)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, refused, foreign, or not fitting its own config.

    One type and one line naming the file, so the CLI prints it and exits 2; torch raises a
    different type for each kind of damage, and its refusal message advises ``weights_only=False``,
    which must not reach someone holding an untrusted file.
    """


def write_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` into ``path`` atomically (the previous file stays whole until the new one is), a failed
    write an :class:`OSError`: torch reports a full disk as "[enforce fail at inline_container.cc] unexpected
    pos", a RuntimeError the command line would print as a traceback."""
    with atomic_path(path) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as err:
            free = shutil.disk_usage(path.parent).free
            raise OSError(errno.ENOSPC if free < 2 ** 20 else errno.EIO,
                          f"could not write {path} ({one_line(err, 80)}; {free / 2 ** 20:.1f} MiB free there)") from err


def checksummed(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its :data:`CHECKSUM` entry: the digest of every other entry (tensors by dtype, shape and
    bytes), which :func:`read_checkpoint` recomputes. Why: a flipped byte inside a tensor leaves a file torch
    reads without complaint, and its network scores or resumes with a changed weight."""
    from rstor_core.measurement.memo import fingerprint

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
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({one_line(err)}){tail}") from err
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
        raise CheckpointError(f"{path}: its stored config is not a valid experiment ({one_line(err)}){tail}") from err
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
    (default: :func:`~rstor_core.networks.device.pick_device`, the device training would use).

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
                              f"builds ({one_line(err)})") from err
    return model.to(device).eval(), config


def snapshot_file(step: int) -> str:
    """The file of a run's weights at ``step`` (its ``snapshots``), beside ``model.pt``."""
    return f"model.step{step}.pt"


def one_line(err: BaseException, limit: int = 200) -> str:
    """An exception's text on one line, cut at ``limit`` characters (torch's can run to pages)."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
