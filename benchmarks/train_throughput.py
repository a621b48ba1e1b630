"""Training throughput of the Trainer itself (batch generation, step, logging) under each way to run it.

    .venv/bin/python benchmarks/train_throughput.py [--profile quick] [--experiments denoise_dead_leaves deblur_dead_leaves]
        [--steps 60] [--warmup 15] [--rounds 1] [--ways baseline threads1 channels_last workers1 compile ...]

Issue 15, item 2: more steps in the same minutes on the 2-core CPU. Each way trains the profile's
experiment from scratch for ``warmup + steps`` steps in a fresh process (so thread settings and
compilation start clean) and reports the median img/s of the last ``steps`` steps that ``log.csv``
records (batch, forward, backward, Adam: what one training step costs), the wall time of the whole run,
and, for ``compile``, the compile time the first steps paid. Ways, in one run so they share the
machine's state: ``baseline`` (the plain eager trainer, the profile's experiment otherwise), ``threads1`` (one torch thread), ``channels_last``,
``workers1`` (batches built in one DataLoader worker while the network steps), ``compile``
(``torch.compile``), and their combinations joined by ``+``. With ``--rounds R`` every way runs R
times, the ways in turn (a machine whose speed drifts slows every way alike), and the table gives the
median over rounds. Run it on an otherwise idle machine.

Measured here (2 cores, idle, one round, 2026-11-28), median img/s and speed-up over the baseline:
denoise_dead_leaves 66.7 baseline, compile 85.4 (1.28x, 48 s to compile once, then cached on disk),
channels_last 73.1 (1.10x), workers1 71.5 (1.07x), threads1 57.1 (0.86x); deblur_dead_leaves 32.7
baseline, channels_last 40.4 (1.23x), compile 38.2 (1.17x), workers1 34.3 (1.05x), threads1 24.4 (0.75x).
A second run a few minutes later measured the baselines at 80.0 and 36.6 img/s and compile +
channels_last + workers1 at 1.20x (denoise) and 0.95x (deblur): single rounds drift by 20 %, more than
most of these gains, hence --rounds. No way reaches 1.5x; one torch thread is always slower.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

WAYS = ("baseline", "threads1", "channels_last", "workers1", "compile", "workers1+threads1", "compile+workers1",
        "compile+workers1+threads1")


def _options(way: str) -> tuple[dict, int | None]:
    """Config overrides and the torch thread count of a way: each part switches one way on over the plain
    eager trainer (``baseline``: no compile, channels_last or loader workers, whatever the profile says), so
    the baseline row is the "before" of every "after"."""
    overrides, threads = {"compile": False, "channels_last": False, "loader_workers": 0}, None
    for part in way.split("+"):
        if part == "threads1":
            threads = 1
        elif part == "channels_last":
            overrides["channels_last"] = True
        elif part == "workers1":
            overrides["loader_workers"] = 1
        elif part == "compile":
            overrides["compile"] = True
        elif part != "baseline":
            raise SystemExit(f"unknown way {part!r}; known: baseline, threads1, channels_last, workers1, compile")
    return overrides, threads


def _child(config_json: str, out_dir: str, threads: str) -> None:
    """In a fresh process: train the config into ``out_dir`` (the way's thread count first)."""
    import torch

    from rstor_core.networks.runs import train_experiment
    from rstor_core.settings.configs import ExperimentConfig

    if threads != "none":
        torch.set_num_threads(int(threads))
    train_experiment(ExperimentConfig(**json.loads(config_json)), out_dir, progress=False, device="cpu")


def measure(profile: str, experiment: str, way: str, *, steps: int, warmup: int) -> dict:
    from rstor_core.settings.profiles import load_profile

    overrides, threads = _options(way)
    base = load_profile(profile).experiments[experiment]
    # From scratch, no snapshots: a step costs the same warm or cold, and the profile's snapshots lie past these steps.
    config = dataclasses.replace(base, steps=warmup + steps, val_every=warmup + steps, checkpoint_every=warmup + steps,
                                 snapshots=(), init_from=None, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", json.dumps(dataclasses.asdict(config)), tmp,
                        str(threads or "none")], check=True)
        wall = time.perf_counter() - start
        log = pd.read_csv(Path(tmp) / "log.csv")
    timed = log[log.step > warmup]
    first = log[log.step <= warmup]
    step_s = config.batch_size / timed.img_per_s
    return {"experiment": experiment, "way": way, "img_per_s": float(timed.img_per_s.median()),
            "img_per_s_p10": float(timed.img_per_s.quantile(0.1)), "img_per_s_p90": float(timed.img_per_s.quantile(0.9)),
            "warmup_s": float((config.batch_size / first.img_per_s).sum()), "steady_step_ms": 1e3 * float(step_s.median()),
            "wall_s": wall}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--experiments", nargs="+", default=["denoise_dead_leaves", "deblur_dead_leaves"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1, help="runs of every way, the ways in turn (median)")
    parser.add_argument("--ways", nargs="+", default=list(WAYS))
    args = parser.parse_args()
    rows = [measure(args.profile, experiment, way, steps=args.steps, warmup=args.warmup)
            for _ in range(args.rounds) for experiment in args.experiments for way in args.ways]
    table = (pd.DataFrame(rows).groupby(["experiment", "way"], sort=False).median().reset_index()
             .assign(rounds=args.rounds))
    base = table[table.way == "baseline"].set_index("experiment").img_per_s
    table["speedup"] = table.img_per_s / table.experiment.map(base)
    print(f"profile {args.profile}; {args.warmup} warm-up + {args.steps} timed steps per way, each in a fresh process; "
          f"median of {args.rounds} round(s)")
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
