"""Training speed from the CLI against the same training inside a Jupyter kernel under papermill.

    .venv/bin/python benchmarks/train_in_kernel.py [--profile smoke] [--experiment denoise_dead_leaves]
        [--steps 100] [--rounds 3] [--threads 0 1 2] [--wait-policy PASSIVE] [--ways cli kernel kernel_no_bar]

Issue 12, item 15: training inside a chapter was once measured 3-6x slower than from the CLI. Each
round trains the profile's experiment from scratch once per way, the ways in turn (so a busy
machine slows every way alike): ``cli`` is ``python -m rstor_core train``; ``kernel`` is a
notebook executed by papermill exactly as the book runner does (kernel ``python3``,
``log_output=False``), calling :func:`rstor_core.networks.runs.train_experiment` as a chapter does, with
its tqdm widget. The table gives the median and the 10-90 % range of the per-step ``img_per_s``
that ``log.csv`` records (the step alone: batch, forward, backward, Adam), the wall time of the
training call, its CPU seconds, the runner's own CPU seconds (papermill, in this process), the
load average when it started, and the thread counts each process ran with.

Measured on the 2-core machine, other jobs running (issue 12, item 15), quick's
denoise_dead_leaves, 20 steps, 3 rounds, img/s: with torch's default 2 threads, cli 3.5-78 and
kernel 10-69, by the load of the moment (69-78 at load 1.5; step CPU time up to 10x that of
one thread when loaded: OpenMP threads spin while their partner waits for a core); with
``--threads 1``, cli 35-59 and kernel 50-55 whatever the load. Smoke, 1 thread, 4 rounds: cli 189-207,
kernel 191-206 (183-191 before the bar stopped redrawing at every step), kernel_no_bar 192-201.
The kernel is not slower than the CLI; two intra-op threads on two shared cores are, anywhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import yaml

ROOT = Path(__file__).resolve().parents[1]
KERNEL_CELLS = ["""
import json, os, time, numba, torch
from rstor_core.settings.profiles import load_profile
from rstor_core.networks.runs import train_experiment

config = load_profile(profile).experiments[experiment]
start, cpu = time.perf_counter(), time.process_time()
train_experiment(config, out_dir, device="cpu", progress=progress)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
with open(report, "w") as file:
    json.dump({"seconds": seconds, "cpu_s": cpu, "torch_threads": torch.get_num_threads(),
               "numba_threads": numba.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "-")},
              file)
"""]


def _profile(folder: Path, profile: str, experiment: str, steps: int) -> Path:
    """A copy of ``profile`` whose experiment trains ``steps`` steps (the CLI has no --steps)."""
    raw = yaml.safe_load((ROOT / "parameters" / f"{profile}.yaml").read_text())
    experiments = {name: {**spec, "steps": steps} for name, spec in raw["experiments"].items() if name == experiment}
    raw["experiments"] = {**raw["experiments"], **experiments}
    path = folder / f"bench_{profile}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _cli(profile: Path, experiment: str, outputs: Path) -> dict:
    code = ("import json, os, sys, time, numba, torch\n"
            "import rstor_core.networks.train\n"
            "from rstor_core.__main__ import main\n"
            "start, cpu = time.perf_counter(), time.process_time()\n"
            "code = main(sys.argv[1:])\n"
            "print(json.dumps({'seconds': time.perf_counter() - start, 'cpu_s': time.process_time() - cpu,"
            " 'torch_threads': torch.get_num_threads(),"
            " 'numba_threads': numba.get_num_threads(), 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '-')}))\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code, "train", "--profile", str(profile), "--experiment", experiment,
                           "--outputs", str(outputs), "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _kernel(profile: Path, experiment: str, outputs: Path, folder: Path, *, progress: bool) -> dict:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("profile = experiment = out_dir = report = progress = None",
                                                metadata={"tags": ["parameters"]})]
    notebook.cells += [nbformat.v4.new_code_cell(cell) for cell in KERNEL_CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, report = folder / "bench.ipynb", folder / "kernel.json"
    nbformat.write(notebook, source)
    out_dir = outputs / profile.stem / "checkpoints" / experiment
    runner_cpu = resource.getrusage(resource.RUSAGE_SELF)
    papermill.execute_notebook(source, folder / "bench.out.ipynb", kernel_name="python3", cwd=str(ROOT),
                               progress_bar=False, log_output=False,
                               parameters={"profile": str(profile), "experiment": experiment,
                                           "out_dir": str(out_dir), "report": str(report), "progress": progress})
    after = resource.getrusage(resource.RUSAGE_SELF)
    runner = after.ru_utime + after.ru_stime - runner_cpu.ru_utime - runner_cpu.ru_stime
    return {**json.loads(report.read_text()), "runner_cpu_s": runner}


WAYS = {"cli": lambda profile, experiment, outputs, folder: _cli(profile, experiment, outputs),
        "kernel": lambda *args: _kernel(*args, progress=True),
        "kernel_no_bar": lambda *args: _kernel(*args, progress=False)}


def speed_rows(profile: str, experiment: str, steps: int, rounds: int, ways: list[str],
               threads: list[int | None]) -> pd.DataFrame:
    """One row per (round, threads, way): img/s from the training log, seconds and thread counts.

    ``threads``: values of ``OMP_NUM_THREADS`` (``None``: unset), which the CLI process and the
    kernel inherit; the order of the runs flips every round.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="rstor-bench-") as tmp:
        folder = Path(tmp)
        path = _profile(folder, profile, experiment, steps)
        for round_ in range(rounds):
            runs = [(n, way) for n in threads for way in ways]
            for n, way in runs if round_ % 2 == 0 else runs[::-1]:
                if n is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = str(n)
                outputs = folder / f"{way}{n}_{round_}"
                load = os.getloadavg()[0]
                run = WAYS[way](path, experiment, outputs, folder)
                log = pd.read_csv(outputs / path.stem / "checkpoints" / experiment / "log.csv")
                speed = log["img_per_s"].to_numpy()[5:]  # the first steps warm up
                rows.append({"round": round_, "way": way, "img_s_median": np.median(speed),
                             "img_s_p10": np.percentile(speed, 10), "img_s_p90": np.percentile(speed, 90),
                             "train_s": run["seconds"], "cpu_s": run["cpu_s"],
                             "runner_cpu_s": run.get("runner_cpu_s", float("nan")), "load_1min": load,
                             "torch_threads": run["torch_threads"],
                             "numba_threads": run["numba_threads"], "OMP_NUM_THREADS": run["OMP_NUM_THREADS"]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--experiment", default="denoise_dead_leaves")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="values of OMP_NUM_THREADS to compare (0: unset, torch's own choice)")
    parser.add_argument("--wait-policy", choices=["ACTIVE", "PASSIVE"],
                        help="OMP_WAIT_POLICY for every run (default: unset: OpenMP threads spin a while when idle)")
    parser.add_argument("--ways", nargs="+", choices=sorted(WAYS), default=["cli", "kernel"])
    args = parser.parse_args()
    logging.getLogger("papermill").setLevel(logging.ERROR)  # "Passed unknown parameter" per run
    if args.wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.wait_policy
    start = time.time()
    table = speed_rows(args.profile, args.experiment, args.steps, args.rounds, args.ways,
                       [n or None for n in args.threads])
    print(f"{args.profile}/{args.experiment}, {args.steps} steps, {args.rounds} rounds, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')} ({time.time() - start:.0f} s)")
    print(table.to_markdown(index=False, floatfmt=".1f"))
    summary = table.groupby(["torch_threads", "way"])[["img_s_median", "train_s", "cpu_s"]].agg(["median", "min", "max"])
    print(summary.to_markdown(floatfmt=".1f"))


if __name__ == "__main__":
    main()
