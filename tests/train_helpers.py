"""Scripts the training tests run in subprocesses (killed runs, torchrun), and their tiny config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TINY = {"data": "dead_leaves", "crop": 16, "noise": [0.0, 30.0], "steps": 30, "batch_size": 2, "val_every": 10,
        "val_images": 2, "checkpoint_every": 3, "seed": 1,
        "model": {"name": "nafnet", "nafnet": {"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1],
                                                "dec_blk_nums": [1]}}}


def flip_a_weight_byte(path: Path) -> None:
    """Change one byte inside the largest weight's data, where torch reads the file without complaint (the
    probe's flipped byte changed a weight by 14.9 and `infer` scored it)."""
    import torch

    weights = torch.load(path, weights_only=True)["model"]
    data = max(weights.values(), key=torch.Tensor.numel).numpy().tobytes()
    raw = bytearray(path.read_bytes())
    start = bytes(raw).find(data)
    assert start >= 0 and bytes(raw).find(data, start + 1) < 0  # found once: the flip lands in that tensor
    raw[start + len(data) // 8 * 4 + 3] ^= 0x40  # the high byte of a float32 weight mid-tensor
    path.write_bytes(bytes(raw))


class Killed(Exception):
    """Raised in place of a kill, in the test's own process (:func:`kill_at_step`)."""


def kill_at_step(monkeypatch, step: int) -> None:
    """Make the Trainer stop at ``step`` as if killed: before it logs, snapshots or checkpoints that step."""
    from rstor_core.networks.train import Trainer

    log_row = Trainer._log

    def killed(self, row):
        if row["step"] == step:
            raise Killed
        log_row(self, row)

    monkeypatch.setattr(Trainer, "_log", killed)


def train(out_dir: str, config_json: str, init_weights: str | None = None) -> None:
    """Train (resuming if possible) the config given as JSON into ``out_dir`` (from ``init_weights``: a
    child run's parent weights)."""
    import torch

    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    torch.set_num_threads(1)  # the same arithmetic in every process
    train_experiment(ExperimentConfig(**json.loads(config_json)), out_dir, progress=False, init_weights=init_weights)


def ddp_rank_weights(out_dir: str, config_json: str) -> None:
    """Under torchrun: train with DDP (gloo), then every rank saves its own copy of the weights."""
    import torch
    import torch.distributed as dist

    from rstor_core.networks.train import Trainer
    from rstor_core.settings.configs import ExperimentConfig

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    trainer = Trainer(ExperimentConfig(**json.loads(config_json)), out_dir, progress=False)
    trainer.fit(resume=False)
    torch.save(trainer.model.state_dict(), Path(out_dir) / f"rank{dist.get_rank()}.pt")
    first = trainer.batches.batch(0)[1]
    torch.save(first, Path(out_dir) / f"batch0_rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    {"train": train, "ddp": ddp_rank_weights}[sys.argv[1]](*sys.argv[2:])
