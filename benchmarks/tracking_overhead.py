"""What tracking costs a training step: the same CPU training without tracking, with ``--tensorboard`` and
(``--ways off tensorboard wandb``) with ``--tensorboard --wandb`` (an offline W&B run too).

    .venv/bin/python benchmarks/tracking_overhead.py [--profile smoke] [--experiment denoise_dead_leaves]
        [--steps 100] [--val-every N] [--rounds 5] [--threads 1] [--ways off tensorboard wandb]

Each round trains the profile's experiment from scratch once per way
(:mod:`rstor_core.networks.tracking`), in turn, the order rotated every round (so a busy machine
slows all alike), with ``torch.compile`` off (it changes the step, not what tracking adds). A step's
time runs from one ``log.csv`` row to the next: the batch, the step, the validation when there is one
(and the tracked run's grid of restored images), the CSV row and the tracked run's scalars. The table
gives, per way, the median over rounds of the median step, the mean step (validations included), the
median validation step and the median time writing a step's row (``row_ms``: the CSV row, and the
tracked run's scalars), in ms, the training's seconds and CPU seconds (all its threads, the event
writer's included); and the overhead of tracking over the untracked run of the same round
(the median of the per-round overheads).

Measured on the project's 2-core CPU while a book run kept it busy (load average 3), 1 torch thread:
smoke's denoise_dead_leaves (100 steps of 4 x 32², 21-24 ms each), five runs of 6-10 rounds: the
median step 0.4, 1.0, 2.6, 3.4 and 3.8 % slower tracked (the mean step 0.3 to 4.7 %), within the
spread of one round to the next (1-3 ms of either way's median); what tracking itself adds is
0.14 ms writing a row (0.24 -> 0.38 ms) and 7-8 ms a validation step (the image grid), 2 of 100
here; its training's CPU seconds 2 % more (2.37 -> 2.41). Batching the scalars 20 rows at a time
changed nothing (2.3 %). quick's denoise_dead_leaves (8 x 64², about 200 ms a step), 60 steps, a
validation every 30, 4 rounds: median step +0.9 %, mean +1.1 %, row 0.32 -> 0.52 ms, validation
step +43 ms (16 images validated, 3 drawn in the grid; quick validates every 250 steps).

W&B offline beside TensorBoard (``--ways off tensorboard wandb``, 2026-12-05, idle machine, 1 thread):
a row costs 1.1-1.6 ms instead of 0.2-0.3 (W&B's ``log`` hands each row to its core process). On quick
(60 steps, 4 rounds): median step +2.2 % (TensorBoard alone +0.2 %), mean +2.8 % (+1.1 %). On smoke's
16 ms steps (100 steps, 6 rounds) the same millisecond is +8.9 % (TensorBoard alone +3.9 %): W&B is
for real trainings, whose steps are far longer than smoke's.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rstor_core.networks.tracking import Tracking
from rstor_core.networks.train import Trainer
from rstor_core.settings.profiles import load_profile


class TimedTrainer(Trainer):
    """A Trainer noting the time of each ``log.csv`` row (its step's bookkeeping included once it returns)."""

    def _log(self, row: dict) -> None:
        start = time.perf_counter()
        super()._log(row)
        self.times.append((start, time.perf_counter() - start, row["val_psnr"] != ""))


def step_times(config, folder: Path, way: str) -> dict[str, float]:
    tracked = way != "off"
    trainer = TimedTrainer(config, folder / "run", device=torch.device("cpu"), progress=False,
                           tracking=Tracking(folder / "tb", wandb=way == "wandb") if tracked else None)
    trainer.times = []
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if tracked:
        assert list((folder / "tb").glob("events.out.tfevents.*")), "the tracked run wrote no event file"
    stamps, logging, validated = (np.array(column) for column in zip(*trainer.times))
    spans = np.diff(stamps) * 1e3  # ms from one row to the next: steps 2 .. N, with the bookkeeping of 1 .. N-1
    validated = validated[1:]
    return {"median_ms": float(np.median(spans[3:])), "mean_ms": float(spans[3:].mean()),  # the first steps warm up
            "val_step_ms": float(np.median(spans[validated])) if validated.any() else float("nan"),
            "row_ms": 1e3 * float(np.median(logging)), "fit_s": seconds, "cpu_s": cpu}


def overhead_rows(config, rounds: int, ways: list[str]) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rstor-tracking-") as tmp:
        for round_ in range(rounds):
            for way in ways[round_ % len(ways):] + ways[:round_ % len(ways)]:
                folder = Path(tmp) / f"{round_}_{way}"
                rows.append({"round": round_, "way": way, **step_times(config, folder, way)})
    return pd.DataFrame(rows)


def summary(rows: pd.DataFrame, ways: list[str]) -> pd.DataFrame:
    wide = rows.pivot(index="round", columns="way")
    table = rows.groupby("way")[["median_ms", "mean_ms", "val_step_ms", "row_ms", "fit_s", "cpu_s"]].median()
    for name in ("median_ms", "mean_ms"):  # each round's tracked way over its untracked run
        table[f"{name}_overhead_%"] = [float(np.median(100 * (wide[(name, way)] / wide[(name, "off")] - 1)))
                                       for way in table.index]
    return table.loc[ways]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--experiment", default="denoise_dead_leaves")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--val-every", type=int, help="steps between validations (default: the profile's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady on a shared CPU)")
    parser.add_argument("--ways", nargs="+", default=["off", "tensorboard"], choices=["off", "tensorboard", "wandb"],
                        help="wandb: TensorBoard and an offline W&B run (needs pip install 'rstor_core[wandb]')")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_profile(args.profile).experiments[args.experiment]
    config = dataclasses.replace(config, steps=args.steps, snapshots=(), compile=False,
                                 val_every=args.val_every or config.val_every)
    start = time.time()
    ways = ["off", *(way for way in args.ways if way != "off")]
    rows = overhead_rows(config, args.rounds, ways)
    print(f"{args.profile}/{args.experiment}: {args.steps} steps of batch {config.batch_size} x {config.crop}², "
          f"validation every {config.val_every} ({config.val_images} images), {args.rounds} rounds, "
          f"{args.threads} torch thread(s), CPU ({time.time() - start:.0f} s)")
    print(rows.to_markdown(index=False, floatfmt=".2f"))
    print(summary(rows, ways).to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
