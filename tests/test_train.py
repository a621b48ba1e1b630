"""Training: resume after SIGKILL gives the same weights, NaN stops the run, DDP ranks agree, CLI skips."""

from __future__ import annotations

import dataclasses
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rstor_core.params import ExperimentConfig
from rstor_core.train import MODEL_FILE, STATE_FILE, Trainer, TrainingDiverged, load_model, train_experiment

from conftest import ROOT
from train_helpers import TINY

HELPER = Path(__file__).with_name("train_helpers.py")


def _run(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.Popen([sys.executable, str(HELPER), *args], cwd=ROOT, env=env, **kwargs)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def _logged_steps(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open() as file:
        return sum(1 for _ in csv.DictReader(file))


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    config = json.dumps({**TINY, "steps": 60})
    assert _run("train", str(tmp_path / "whole"), config).wait(timeout=300) == 0

    killed = tmp_path / "killed"
    process = _run("train", str(killed), config)
    deadline = time.time() + 120
    while _logged_steps(killed / "log.csv") < 20 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / MODEL_FILE).exists(), "the run finished before it was killed: make it longer"
    assert (killed / STATE_FILE).is_file()
    assert _run("train", str(killed), config).wait(timeout=300) == 0

    whole, resumed = _weights(tmp_path / "whole" / MODEL_FILE), _weights(killed / MODEL_FILE)
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    assert _logged_steps(killed / "log.csv") == 60


def test_training_writes_checkpoint_model_and_log_and_a_rerun_skips(tmp_path):
    config = ExperimentConfig(**{**TINY, "steps": 4})
    path = train_experiment(config, tmp_path, progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {STATE_FILE, MODEL_FILE, "log.csv"}
    assert _logged_steps(tmp_path / "log.csv") == 4
    mtime = path.stat().st_mtime_ns
    train_experiment(config, tmp_path, progress=False)
    assert path.stat().st_mtime_ns == mtime
    assert load_model(path)(torch.rand(1, 3, 20, 20)).shape == (1, 3, 20, 20)


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(ExperimentConfig(**{**TINY, "steps": 10}), tmp_path, progress=False)
    original = trainer.batches.batch

    def poisoned(step):
        degraded, clean = original(step)
        return (degraded * float("nan"), clean) if step == 7 else (degraded, clean)

    monkeypatch.setattr(trainer.batches, "batch", poisoned)
    with pytest.raises(TrainingDiverged, match="at step 8.*last good checkpoint"):
        trainer.fit()
    assert torch.load(tmp_path / STATE_FILE, weights_only=True)["step"] == 6
    assert not (tmp_path / MODEL_FILE).exists()


def test_resuming_with_another_configuration_is_refused(tmp_path):
    Trainer(ExperimentConfig(**{**TINY, "steps": 3}), tmp_path, progress=False).fit()
    with pytest.raises(ValueError, match="another configuration"):
        Trainer(ExperimentConfig(**{**TINY, "steps": 3, "lr": 0.01}), tmp_path, progress=False).fit()


def test_checkpoints_load_with_weights_only(tmp_path):
    Trainer(ExperimentConfig(**{**TINY, "steps": 3}), tmp_path, progress=False).fit()
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    assert {"model", "optimiser", "scheduler", "step", "rng", "config"} <= set(state)


@pytest.mark.slow
def test_two_ddp_processes_on_gloo_end_with_identical_weights(tmp_path):
    config = json.dumps({**TINY, "steps": 6})
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29531", str(HELPER), "ddp", str(tmp_path), config],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    batches = [torch.load(tmp_path / f"batch0_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert not torch.equal(*batches), "each rank must see its own data"


def test_train_cli_trains_then_skips(tmp_path):
    command = [sys.executable, "-m", "rstor_core", "train", "--profile", "smoke", "--experiment",
               "denoise_dead_leaves", "--outputs", str(tmp_path)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "smoke" / "checkpoints" / "denoise_dead_leaves"
    assert (out / MODEL_FILE).is_file() and (out / "log.csv").is_file()
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert "already trained" in second.stderr


def test_train_cli_rejects_an_unknown_experiment():
    result = subprocess.run([sys.executable, "-m", "rstor_core", "train", "--profile", "smoke", "--experiment", "x"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "denoise_dead_leaves" in result.stderr


def test_validation_input_psnr_is_the_psnr_of_the_degraded_validation_set():
    from rstor_core.train import validation_input_psnr

    noisy = ExperimentConfig(data="dead_leaves", crop=32, noise=(25.0, 25.0), blur="none", val_images=4)
    assert validation_input_psnr(noisy) == pytest.approx(20.17, abs=0.3)  # sigma = 25/255
    blurred = dataclasses.replace(noisy, noise=(0.0, 0.0), blur="big")
    assert validation_input_psnr(blurred) < validation_input_psnr(dataclasses.replace(blurred, blur="small"))
