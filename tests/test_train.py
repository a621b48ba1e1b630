"""Training: resume after SIGKILL gives the same weights, NaN stops the run, DDP ranks agree, options
(loss, channels_last, grad_clip) train, every model reloads, a changed config retrains, CLI skips."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT
from train_helpers import TINY, flip_a_weight_byte

from rstor_core.__main__ import main
from rstor_core.networks.batches import TrainingBatches
from rstor_core.networks.checkpoints import MODEL_FILE, STATE_FILE, CheckpointError, load_model
from rstor_core.networks.models import StackedConv, UNet
from rstor_core.networks.runs import LOCK_FILE, RETRAIN_DIR, train_experiment
from rstor_core.networks.train import Trainer, TrainingDiverged
from rstor_core.settings.chapters import sections_naming
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.profiles import load_profile

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


def _logged_losses(path: Path) -> list[float]:
    with path.open() as file:
        return [float(row["loss"]) for row in csv.DictReader(file)]


def _fit(out_dir: Path, **overrides) -> Trainer:
    """A trainer fitted on the tiny config for 4 steps (``overrides``: ExperimentConfig fields), on the
    CPU: in float32, so runs that should agree do so to rounding (CUDA would train in bfloat16)."""
    trainer = Trainer(ExperimentConfig(**{**TINY, "steps": 4, **overrides}), out_dir, device=torch.device("cpu"),
                      progress=False)
    trainer.fit()
    return trainer


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1], ids=["batches between steps", "batches in a worker"])
def test_a_run_killed_with_sigkill_and_resumed_ends_with_the_uninterrupted_weights(tmp_path, workers):
    assert _run("train", str(tmp_path / "whole"), json.dumps({**TINY, "steps": 60})).wait(timeout=300) == 0
    config = json.dumps({**TINY, "steps": 60, "loader_workers": workers})

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
    assert {p.name for p in tmp_path.iterdir()} == {STATE_FILE, MODEL_FILE, "log.csv", LOCK_FILE}
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


@pytest.mark.parametrize("option", [{"loss": "l1"}, {"channels_last": True}, {"grad_clip": None}],
                         ids=["l1", "channels_last", "no_grad_clip"])
def test_each_training_option_trains_with_a_finite_loss_logged_at_every_step(tmp_path, option):
    _fit(tmp_path, **option)
    losses = _logged_losses(tmp_path / "log.csv")
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses), losses


def test_l1_and_mse_losses_end_with_different_weights(tmp_path):
    mse, l1 = _fit(tmp_path / "mse", loss="mse").model.state_dict(), _fit(tmp_path / "l1", loss="l1").model.state_dict()
    assert any(not torch.equal(mse[key], l1[key]) for key in mse)


def test_channels_last_ends_with_the_weights_of_a_contiguous_run(tmp_path):
    contiguous = _fit(tmp_path / "contiguous").model.state_dict()
    channels_last = _fit(tmp_path / "channels_last", channels_last=True).model.state_dict()
    for key in contiguous:
        torch.testing.assert_close(channels_last[key], contiguous[key], rtol=1e-3, atol=1e-4, msg=key)


@pytest.mark.parametrize("model, cls", [
    ({"name": "unet", "unet": {"width": 4, "levels": 1}}, UNet),
    ({"name": "stacked_conv", "stacked_conv": {"width": 4, "depth": 3}}, StackedConv),
], ids=["unet", "stacked_conv"])
def test_load_model_rebuilds_a_trained_network_of_its_class_with_its_outputs(tmp_path, model, cls):
    trainer = _fit(tmp_path, model=model)
    loaded = load_model(tmp_path / MODEL_FILE, device="cpu")
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert isinstance(loaded, cls) and torch.equal(loaded(x), trainer.model.eval()(x))


def test_a_folder_trained_with_another_config_is_retrained_with_the_new_one(tmp_path):
    train_experiment(ExperimentConfig(**{**TINY, "steps": 3}), tmp_path, progress=False)
    new = ExperimentConfig(**{**TINY, "steps": 5, "lr": 0.01})
    saved = torch.load(train_experiment(new, tmp_path, progress=False), weights_only=True)
    assert ExperimentConfig(**saved["config"]) == new and saved["step"] == 5
    assert {p.name for p in tmp_path.iterdir()} == {STATE_FILE, MODEL_FILE, "log.csv", LOCK_FILE}


@pytest.mark.parametrize("force", [False, True], ids=["changed config", "forced retraining"])
def test_an_interrupted_retraining_keeps_the_trained_model_and_resumes(tmp_path, monkeypatch, force):
    """Issue 12, item 1: retraining (a changed profile, or `--fresh`) used to delete model.pt, the optimiser
    state and the log before the new run started; a kill then lost the trained model."""
    from rstor_core.networks.batches import TrainingBatches

    old = ExperimentConfig(**{**TINY, "steps": 3, "checkpoint_every": 1})
    train_experiment(old, tmp_path, progress=False)
    before = {name: (tmp_path / name).read_bytes() for name in (MODEL_FILE, "log.csv")}
    new = old if force else dataclasses.replace(old, steps=4, lr=0.01)
    real_batch = TrainingBatches.batch

    def killed_at_step_2(self, step):
        if step == 2:
            raise KeyboardInterrupt("killed")
        return real_batch(self, step)

    monkeypatch.setattr(TrainingBatches, "batch", killed_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        train_experiment(new, tmp_path, force=force, progress=False)
    assert {name: (tmp_path / name).read_bytes() for name in before} == before  # the trained model is intact
    assert (tmp_path / RETRAIN_DIR / STATE_FILE).is_file()  # the replacement's own checkpoint
    monkeypatch.setattr(TrainingBatches, "batch", real_batch)
    saved = torch.load(train_experiment(new, tmp_path, progress=False), weights_only=True)
    assert ExperimentConfig(**saved["config"]) == new and saved["step"] == new.steps
    assert _logged_steps(tmp_path / "log.csv") == new.steps and not (tmp_path / RETRAIN_DIR).exists()


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


@pytest.fixture
def tiny_profile(tmp_path) -> Path:
    """A profile with one experiment, the tiny config trained for 3 steps, that every chapter names."""
    chapters = sections_naming("tiny_run")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**chapters, "experiments": {"tiny_run": {**TINY, "steps": 3}}}, sort_keys=False))
    assert load_profile(path).experiments.keys() == {"tiny_run"}
    return path


def test_train_cli_trains_then_skips(tiny_profile, tmp_path, capsys, caplog):
    command = ["train", "--profile", str(tiny_profile), "--experiment", "tiny_run", "--outputs", str(tmp_path)]
    assert main(command) == 0
    out = tmp_path / "tiny" / "checkpoints" / "tiny_run"
    assert capsys.readouterr().out == f"model: {out / MODEL_FILE}\n" and _logged_steps(out / "log.csv") == 3
    mtime = (out / MODEL_FILE).stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        assert main(command) == 0
    assert "already trained" in caplog.text and (out / MODEL_FILE).stat().st_mtime_ns == mtime


def test_train_cli_rejects_an_unknown_experiment_naming_the_available_ones(tiny_profile, tmp_path, capsys):
    assert main(["train", "--profile", str(tiny_profile), "--experiment", "x", "--outputs", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "no experiment 'x'; available: ['tiny_run']" in error and not (tmp_path / "tiny").exists()


def test_validation_input_psnr_is_the_psnr_of_the_degraded_validation_set():
    from rstor_core.networks.train import validation_input_psnr

    noisy = ExperimentConfig(data="dead_leaves", crop=32, noise=(25.0, 25.0), blur="none", val_images=4)
    assert validation_input_psnr(noisy) == pytest.approx(20 * math.log10(255 / 25), abs=0.3)  # PSNR of AWGN alone
    blurred = dataclasses.replace(noisy, noise=(0.0, 0.0), blur="big")
    assert validation_input_psnr(blurred) < validation_input_psnr(dataclasses.replace(blurred, blur="small"))


# --- issue 12, item 11: a checkpoint that cannot be used is one CheckpointError naming the file ---------------

class _Payload:
    """Unpickling this runs ``print``: what a malicious checkpoint does, and what weights_only loading refuses."""

    def __reduce__(self):
        return print, ("this checkpoint ran code",)


def _truncated(path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1000)}, "config": {}}, path)
    path.write_bytes(path.read_bytes()[:500])


def _text(path: Path) -> None:
    path.write_text("step,loss\n1,0.5\n")


def _foreign(path: Path) -> None:
    torch.save(UNet(width=4, levels=1).state_dict(), path)  # a plain state_dict: no config to rebuild from


def _other_architecture(path: Path) -> None:
    from rstor_core.networks.models import model_from_config

    narrow = ExperimentConfig(**TINY)
    wide = dataclasses.replace(narrow, model=dataclasses.replace(
        narrow.model, nafnet=dataclasses.replace(narrow.model.nafnet, width=8)))
    torch.save({"model": model_from_config(narrow.model).state_dict(), "config": dataclasses.asdict(wide)}, path)


def _refused_pickle(path: Path) -> None:
    torch.save({"model": {}, "config": dataclasses.asdict(ExperimentConfig(**TINY)), "extra": _Payload()}, path)


@pytest.mark.parametrize("write, problem", [
    (_truncated, "cut short"), (_text, "not a PyTorch checkpoint"), (_foreign, "not an rstor checkpoint"),
    (_other_architecture, "do not fit"), (_refused_pickle, "refused"),
], ids=["truncated", "text", "foreign state_dict", "other architecture", "refused pickle"])
def test_load_model_raises_one_checkpoint_error_naming_the_file_and_the_problem(tmp_path, write, problem):
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(CheckpointError) as caught:
        load_model(path, device="cpu")
    message = str(caught.value)
    assert str(path) in message and problem in message and "\n" not in message, message
    assert "weights_only=False" not in message and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("write", [_truncated, _foreign], ids=["truncated", "foreign"])
def test_a_corrupt_optimiser_state_on_resume_says_to_rerun_with_force_and_is_kept(tmp_path, write):
    config = ExperimentConfig(**{**TINY, "steps": 3})
    write(tmp_path / STATE_FILE)
    damaged = (tmp_path / STATE_FILE).read_bytes()
    with pytest.raises(CheckpointError, match=rf"{STATE_FILE}.*--force") as caught:
        train_experiment(config, tmp_path, progress=False)
    assert "\n" not in str(caught.value)
    assert (tmp_path / STATE_FILE).read_bytes() == damaged and not (tmp_path / MODEL_FILE).exists()
    saved = torch.load(train_experiment(config, tmp_path, force=True, progress=False), weights_only=True)
    assert saved["step"] == 3


# --- issue 12, item 6: one trainer at a time per experiment folder ----------------------------------------------

def test_a_second_trainer_on_the_same_folder_waits_then_skips_the_trained_model(tmp_path, monkeypatch, caplog):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rstor_core.networks.batches import TrainingBatches

    config = ExperimentConfig(**{**TINY, "steps": 4})
    mid_run, release = threading.Event(), threading.Event()
    real_batch = TrainingBatches.batch

    def pausing_at_step_2(self, step):
        if step == 2 and not release.is_set():
            mid_run.set()
            release.wait(timeout=30)
        return real_batch(self, step)

    monkeypatch.setattr(TrainingBatches, "batch", pausing_at_step_2)
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"), ThreadPoolExecutor(2) as pool:
        first = pool.submit(train_experiment, config, tmp_path, device="cpu", progress=False)
        assert mid_run.wait(timeout=30)
        second = pool.submit(train_experiment, config, tmp_path, device="cpu", progress=False)
        deadline = time.time() + 10
        while "waiting for another run" not in caplog.text and time.time() < deadline:
            time.sleep(0.02)
        release.set()
        assert first.result(timeout=60) == second.result(timeout=60) == tmp_path / MODEL_FILE
    assert f"waiting for another run training {tmp_path}" in caplog.text and "already trained" in caplog.text
    with (tmp_path / "log.csv").open() as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == [1, 2, 3, 4]


# --- issue 12, item 15: the progress bar redraws at tqdm's pace, not at every step ---------------------------------

def test_the_progress_bar_redraws_at_its_own_interval_rather_than_at_every_step(tmp_path, monkeypatch):
    """In a notebook every redraw is a widget message to the kernel's client: one per step cost 7 %
    of the smoke profile's training speed under papermill (benchmarks/train_in_kernel.py)."""
    import io

    from tqdm import tqdm as console_tqdm

    redraws = []

    class CountingBar(console_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "mininterval": 3600})

        def refresh(self, *args, **kwargs):
            redraws.append(self.n)
            return super().refresh(*args, **kwargs)

    monkeypatch.setattr("rstor_core.networks.train.tqdm", CountingBar)
    Trainer(ExperimentConfig(**{**TINY, "steps": 6}), tmp_path, device=torch.device("cpu"), progress=True).fit()
    assert len(redraws) <= 2, redraws


def test_training_removes_what_a_killed_run_left_in_its_folder(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a process that has ended: its temporaries are stale
    stale = tmp_path / f".last.opt.tmp-{process.pid}.pt"
    tmp_path.mkdir(exist_ok=True)
    stale.write_bytes(b"half a checkpoint")
    train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), tmp_path, device="cpu", progress=False)
    assert not stale.exists() and (tmp_path / MODEL_FILE).is_file()


# --- runs: several independently trained networks per experiment (issue 13, item 3) ----------------

def _initial_weights(config: ExperimentConfig) -> torch.Tensor:
    model = Trainer(config, "unused", device=torch.device("cpu"), progress=False).model
    return torch.cat([p.flatten() for p in model.state_dict().values()])


@pytest.mark.parametrize("data", ["dead_leaves", "natural"])
def test_run_0_draws_the_streams_of_a_config_without_runs(data):
    """The committed quick weights were trained before runs existed: run 0 must draw exactly those streams."""
    from rstor_core.images.photos import natural_images, random_crops
    from rstor_core.networks.batches import DeadLeavesDataset, degrade_batch
    from rstor_core.networks.models import model_from_config
    from rstor_core.settings.rng import stream, stream_seed

    config = ExperimentConfig(**{**TINY, "data": data, "blur": "motion", "run": 0})
    degraded, clean = TrainingBatches(config).batch(3)
    if data == "dead_leaves":
        leaves = DeadLeavesDataset(config.crop, config.dead_leaves, seed=config.seed, key="training")
        expected = torch.stack([leaves[3 * config.batch_size + i] for i in range(config.batch_size)])
    else:
        photos = natural_images("skimage")
        crops = random_crops([photos[n] for n in ("astronaut", "rocket", "motorcycle")], config.batch_size,
                             config.crop, stream(config.seed, "training", 3, 0))
        expected = torch.from_numpy(crops).permute(0, 3, 1, 2)
    torch.testing.assert_close(clean, expected, rtol=0, atol=0)
    torch.testing.assert_close(degraded, degrade_batch(clean, config, config.seed, "training", 3, 0), rtol=0, atol=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(config.seed, "initialisation"))
        expected_weights = torch.cat([p.flatten() for p in model_from_config(config.model).state_dict().values()])
    torch.testing.assert_close(_initial_weights(config), expected_weights, rtol=0, atol=0)


@pytest.mark.parametrize("data", ["dead_leaves", "natural"])
def test_runs_0_1_and_2_draw_different_batches_validation_and_initial_weights(data):
    configs = [ExperimentConfig(**{**TINY, "data": data, "run": run}) for run in range(3)]
    draws = [(TrainingBatches(c).batch(0)[1], TrainingBatches(c).validation()[0], _initial_weights(c)) for c in configs]
    for i, j in ((0, 1), (0, 2), (1, 2)):
        for a, b in zip(draws[i], draws[j]):
            assert not torch.equal(a, b), (i, j)


def test_stream_keys_prefix_every_run_but_run_0():
    assert ExperimentConfig(run=0).stream_keys("training", 3) == ("training", 3)
    assert ExperimentConfig(run=2).stream_keys("training", 3) == ("run", 2, "training", 3)


def test_an_old_checkpoint_without_run_loads_as_run_0_and_is_not_retrained(tmp_path, caplog):
    from rstor_core.networks.checkpoints import read_checkpoint

    config = ExperimentConfig(**{**TINY, "steps": 2})
    path = train_experiment(config, tmp_path, progress=False)
    state = torch.load(path, weights_only=True)
    state["config"].pop("run")  # as written before runs existed (and checksums)
    del state["sha256"]
    torch.save(state, path)
    assert read_checkpoint(path)[1] == config and config.run == 0
    mtime = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        train_experiment(config, tmp_path, progress=False)
    assert "already trained" in caplog.text and path.stat().st_mtime_ns == mtime


def test_the_committed_quick_weights_are_run_0_of_the_quick_experiments():
    from rstor_core.networks.checkpoints import read_checkpoint

    experiments = load_profile("quick").experiments
    committed = sorted((ROOT / "outputs" / "quick" / "checkpoints").glob(f"*/{MODEL_FILE}"))
    run_0 = [p for p in committed if p.parent.name in experiments]
    assert run_0, "no committed quick weights"
    for path in run_0:
        assert read_checkpoint(path)[1] == experiments[path.parent.name], path


def test_a_longer_runs_snapshot_at_the_chapters_steps_is_the_chapters_first_network_weight_for_weight():
    """Chapter 03's longer runs extend its run 0: the same batches at a constant lr, so the weights they keep at
    the chapter's steps are the chapter's first network's (two trainings, one result)."""
    from rstor_core.networks.checkpoints import read_checkpoint, snapshot_file

    folder = ROOT / "outputs" / "quick" / "checkpoints"
    quick = load_profile("quick")
    for long, chapter in zip(quick.deblur_study.long_runs, quick.deblur_study.motion_arms.values()):
        steps = quick.experiments[chapter].steps
        snapshot = read_checkpoint(folder / long / snapshot_file(steps))[0]["model"]
        weights = read_checkpoint(folder / chapter / MODEL_FILE)[0]["model"]
        assert snapshot.keys() == weights.keys() and all(torch.equal(snapshot[k], weights[k]) for k in weights), long


def test_an_experiment_folder_is_the_experiment_name_for_run_0_and_a_sibling_for_the_others(tmp_path):
    from rstor_core.networks.runs import experiment_dir

    assert experiment_dir(tmp_path, "denoise_natural") == tmp_path / "denoise_natural"
    assert experiment_dir(tmp_path, "denoise_natural", 2) == tmp_path / "denoise_natural.run2"


def test_train_cli_trains_run_r_into_its_own_folder(tiny_profile, tmp_path, capsys):
    from rstor_core.networks.checkpoints import read_checkpoint

    command = ["train", "--profile", str(tiny_profile), "--experiment", "tiny_run", "--outputs", str(tmp_path)]
    assert main([*command, "--run", "1"]) == 0
    out = tmp_path / "tiny" / "checkpoints" / "tiny_run.run1"
    assert capsys.readouterr().out == f"model: {out / MODEL_FILE}\n"
    assert read_checkpoint(out / MODEL_FILE)[1].run == 1
    assert not (tmp_path / "tiny" / "checkpoints" / "tiny_run").exists()


@pytest.mark.parametrize("run", ["-1", "10"])
def test_train_cli_refuses_a_run_out_of_range_before_any_work(tiny_profile, tmp_path, capsys, run):
    command = ["train", "--profile", str(tiny_profile), "--experiment", "tiny_run", "--outputs", str(tmp_path)]
    assert main([*command, "--run", run]) == 2
    assert f"--run {run}" in capsys.readouterr().err and not (tmp_path / "tiny").exists()


def test_a_profile_experiment_other_than_run_0_is_refused(tiny_profile):
    from rstor_core.settings.profiles import ProfileError

    profile = yaml.safe_load(tiny_profile.read_text())
    profile["experiments"]["tiny_run"]["run"] = 1
    tiny_profile.write_text(yaml.safe_dump(profile, sort_keys=False))
    with pytest.raises(ProfileError, match="experiments.tiny_run.run: must be 0 in a profile, got 1"):
        load_profile(tiny_profile)


def test_loader_workers_build_the_very_batches_of_a_run_without_them(tmp_path):
    """Batches depend only on the step, so building them in a worker process changes no weight."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the worker (_one_thread), for this test only: the other tests keep theirs
    try:
        here, workers = _fit(tmp_path / "here"), _fit(tmp_path / "workers", loader_workers=1)
    finally:
        torch.set_num_threads(threads)
    for key, value in here.model.state_dict().items():
        assert torch.equal(value, workers.model.state_dict()[key]), key
    assert _logged_steps(tmp_path / "workers" / "log.csv") == 4


def test_runtime_options_are_the_same_experiment_and_retrain_nothing(tmp_path, caplog):
    config = ExperimentConfig(**{**TINY, "steps": 2})
    path = train_experiment(config, tmp_path, progress=False)
    mtime = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        train_experiment(dataclasses.replace(config, loader_workers=2, compile=True), tmp_path, progress=False)
    assert path.stat().st_mtime_ns == mtime and "already trained" in caplog.text


def test_where_torch_compile_fails_the_run_trains_without_it_and_says_so(tmp_path, monkeypatch, caplog):
    def broken_compile(module):
        def fails(*args, **kwargs):
            raise RuntimeError("InductorError: CppCompileError: no C++ compiler found")
        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="rstor_core.networks"):
        fallen_back = _fit(tmp_path / "compile", compile=True)
    assert "torch.compile failed here (InductorError: CppCompileError" in caplog.text
    plain = _fit(tmp_path / "plain")
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, fallen_back.model.state_dict()[key]), key


@pytest.mark.slow
def test_a_compiled_network_trains_and_its_weights_load_into_the_plain_class(tmp_path):
    trainer = _fit(tmp_path, compile=True)
    assert not any(key.startswith("_orig_mod") for key in trainer.model.state_dict())
    restored = load_model(tmp_path / MODEL_FILE, device="cpu")
    image = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        assert torch.allclose(restored(image), trainer.model.eval()(image))


# --- issue 30, item 2: damaged checkpoints are refused, not scored or resumed from --------------------------

def test_a_model_with_a_flipped_byte_is_refused_naming_the_damage_and_what_to_do(tmp_path):
    path = train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), tmp_path, progress=False)
    load_model(path, device="cpu")  # intact: loads
    flip_a_weight_byte(path)
    assert torch.load(path, weights_only=True)["step"] == 2  # torch itself reads it
    with pytest.raises(CheckpointError, match="damaged.*checksum.*retrain it.*restore") as caught:
        load_model(path, device="cpu")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_with_nan_weights_is_refused_naming_the_weight(tmp_path):
    """Its rows were NaN PSNR, exit 0, no warning."""
    from rstor_core.networks.checkpoints import checksummed

    path = train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), tmp_path, progress=False)
    state = torch.load(path, weights_only=True)
    name = next(iter(state["model"]))
    state["model"][name][0] = float("nan")
    torch.save(checksummed(state), path)  # a consistent file: the checksum alone would pass it
    with pytest.raises(CheckpointError, match=f"{name}.*NaN or infinite"):
        load_model(path, device="cpu")
    del state["sha256"]  # and a file written before checksums
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=f"{name}.*NaN or infinite"):
        load_model(path, device="cpu")


def test_a_damaged_optimiser_state_is_not_resumed_from(tmp_path):
    """One flipped byte in last.opt.pt, and training resumed from it, exit 0, with other weights than an
    uninterrupted run's."""
    config = ExperimentConfig(**{**TINY, "steps": 4, "checkpoint_every": 2})
    real_batch = TrainingBatches.batch

    def killed_at_step_3(self, step):
        if step == 3:
            raise KeyboardInterrupt("killed")
        return real_batch(self, step)

    TrainingBatches.batch = killed_at_step_3
    try:
        with pytest.raises(KeyboardInterrupt):
            train_experiment(config, tmp_path, progress=False)
    finally:
        TrainingBatches.batch = real_batch
    flip_a_weight_byte(tmp_path / STATE_FILE)
    damaged = (tmp_path / STATE_FILE).read_bytes()
    with pytest.raises(CheckpointError, match=rf"{STATE_FILE}.*damaged.*--force"):
        train_experiment(config, tmp_path, progress=False)
    assert (tmp_path / STATE_FILE).read_bytes() == damaged and not (tmp_path / MODEL_FILE).exists()


def test_a_training_refused_in_a_new_folder_leaves_no_folder_holding_only_its_lock(tmp_path):
    """Issue 30, item 7: a refused training left `.train.lock` (in a folder it had just made)."""
    parent = train_experiment(ExperimentConfig(**{**TINY, "steps": 2}), tmp_path / "parent", progress=False)
    flip_a_weight_byte(parent)
    child = ExperimentConfig(**{**TINY, "steps": 2, "init_from": "parent"})
    with pytest.raises(CheckpointError, match="damaged"):
        train_experiment(child, tmp_path / "child", progress=False, init_weights=parent)
    assert not (tmp_path / "child").exists()
    (tmp_path / "kept").mkdir()  # a folder that was there before stays, lock and all
    with pytest.raises(CheckpointError, match="damaged"):
        train_experiment(child, tmp_path / "kept", progress=False, init_weights=parent)
    assert (tmp_path / "kept").is_dir()
