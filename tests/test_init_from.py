"""``init_from``: an experiment that starts from another's trained weights (pre-training then fine-tuning,
chapter 05). The child starts from the parent's weights with a fresh optimiser, resumes after a kill like
any run, and retrains when its parent changes; a profile naming a parent that cannot serve is refused."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import time
from pathlib import Path

import pytest
import torch
import yaml

from rstor_core.__main__ import main
from rstor_core.configs import CHAPTER_SECTIONS, ConfigError, ExperimentConfig, experiment_fields
from rstor_core.profiles import ProfileError, load_profile
from rstor_core.train import MODEL_FILE, STATE_FILE, Trainer, train_experiment

from test_train import _logged_steps, _run, _weights
from train_helpers import TINY

PARENT = ExperimentConfig(**{**TINY, "steps": 3})
CHILD = ExperimentConfig(**{**TINY, "steps": 4, "seed": 2, "noise": [10.0, 20.0], "init_from": "parent"})


def _plain(config: ExperimentConfig) -> dict:
    """The config as YAML and JSON can write it (lists for tuples)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


@pytest.fixture
def parent(tmp_path) -> Path:
    return train_experiment(PARENT, tmp_path / "parent", progress=False)


def test_a_child_starts_from_its_parents_weights_with_a_fresh_optimiser(parent, tmp_path):
    trainer = Trainer(CHILD, tmp_path / "child", device=torch.device("cpu"), progress=False, init_weights=parent)
    start, inherited = trainer.model.state_dict(), _weights(parent)
    assert all(torch.equal(start[key], inherited[key]) for key in inherited)
    assert trainer.optimiser.state_dict()["state"] == {}  # nothing of the parent's Adam moments
    fresh = Trainer(dataclasses.replace(CHILD, init_from=None), tmp_path / "x", device=torch.device("cpu"), progress=False)
    assert not all(torch.equal(fresh.model.state_dict()[key], inherited[key]) for key in inherited)

    saved = torch.load(train_experiment(CHILD, tmp_path / "child", init_weights=parent, progress=False),
                       weights_only=True)
    assert saved["config"]["init_from"] == "parent" and saved["parent"]["experiment"] == "parent"
    assert len(saved["parent"]["sha256"]) == 64


def test_a_child_is_skipped_while_its_parent_is_unchanged_and_retrained_when_it_changes(parent, tmp_path, caplog):
    child = train_experiment(CHILD, tmp_path / "child", init_weights=parent, progress=False)
    first, mtime = _weights(child), child.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="rstor_core.train"):
        train_experiment(CHILD, tmp_path / "child", init_weights=parent, progress=False)
    assert child.stat().st_mtime_ns == mtime and "already trained" in caplog.text

    train_experiment(dataclasses.replace(PARENT, lr=0.01), tmp_path / "parent", progress=False)  # a new parent
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rstor_core.train"):
        train_experiment(CHILD, tmp_path / "child", init_weights=parent, progress=False)
    assert "its parent 'parent' changed" in caplog.text
    assert not all(torch.equal(first[key], value) for key, value in _weights(child).items())
    assert torch.load(child, weights_only=True)["parent"]["sha256"] != ""


def test_a_child_without_its_parents_weights_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="starts from experiment 'parent'.*init_weights"):
        train_experiment(CHILD, tmp_path / "child", progress=False)
    with pytest.raises(FileNotFoundError, match="train experiment 'parent' first"):
        train_experiment(CHILD, tmp_path / "child", init_weights=tmp_path / "nowhere" / MODEL_FILE, progress=False)
    with pytest.raises(ValueError, match="init_from is not set"):
        train_experiment(PARENT, tmp_path / "child", init_weights=tmp_path / "x.pt", progress=False)
    assert not (tmp_path / "child" / MODEL_FILE).exists()


def test_parent_weights_that_do_not_fit_the_childs_network_are_refused(tmp_path):
    wide = train_experiment(dataclasses.replace(PARENT, model={"name": "nafnet", "nafnet": {
        "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}}), tmp_path / "wide", progress=False)
    with pytest.raises(ValueError, match="network.*does not match"):
        train_experiment(CHILD, tmp_path / "child", init_weights=wide, progress=False)


@pytest.mark.slow
def test_a_child_killed_with_sigkill_resumes_to_the_weights_of_an_uninterrupted_child(parent, tmp_path):
    config = json.dumps({**_plain(CHILD), "steps": 60, "checkpoint_every": 3})
    assert _run("train", str(tmp_path / "whole"), config, str(parent)).wait(timeout=300) == 0
    killed = tmp_path / "killed"
    process = _run("train", str(killed), config, str(parent))
    deadline = time.time() + 120
    while _logged_steps(killed / "log.csv") < 20 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / MODEL_FILE).exists() and (killed / STATE_FILE).is_file()
    assert _run("train", str(killed), config, str(parent)).wait(timeout=300) == 0
    whole, resumed = _weights(tmp_path / "whole" / MODEL_FILE), _weights(killed / MODEL_FILE)
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)


def _profile(tmp_path: Path, experiments: dict | None = None, **child) -> Path:
    """Every chapter names the parent; ``child`` overrides the child's fields."""
    chapters = {key: dict.fromkeys(experiment_fields(section()), "parent") for key, section in CHAPTER_SECTIONS.values()}
    experiments = experiments or {"parent": _plain(PARENT), "child": {**_plain(CHILD), **child}}
    path = tmp_path / "lineage.yaml"
    path.write_text(yaml.safe_dump({**chapters, "experiments": experiments}))
    return path


@pytest.mark.parametrize("child, problem", [
    ({"init_from": "nobody"}, "no experiment 'nobody'"),
    ({"init_from": "child"}, "starts from itself"),
    ({"model": {"name": "unet"}}, "network differs from experiment 'parent'"),
], ids=["unknown", "itself", "another network"])
def test_a_profile_whose_child_cannot_start_from_its_parent_is_refused(tmp_path, child, problem):
    with pytest.raises((ConfigError, ProfileError), match=problem):
        load_profile(_profile(tmp_path, **child))


def test_a_cycle_of_parents_is_refused(tmp_path):
    path = _profile(tmp_path, {"parent": {**_plain(CHILD), "init_from": "child"},
                               "child": _plain(CHILD)})
    with pytest.raises((ConfigError, ProfileError), match="cycle"):
        load_profile(path)


def test_train_cli_trains_the_parent_first_then_the_child(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "--profile", str(_profile(tmp_path)), "--experiment", "child", "--outputs", str(out)]) == 0
    checkpoints = out / "lineage" / "checkpoints"
    assert _logged_steps(checkpoints / "parent" / "log.csv") == 3 and _logged_steps(checkpoints / "child" / "log.csv") == 4
    parent_sha = torch.load(checkpoints / "child" / MODEL_FILE, weights_only=True)["parent"]["sha256"]
    import hashlib
    assert parent_sha == hashlib.sha256((checkpoints / "parent" / MODEL_FILE).read_bytes()).hexdigest()
