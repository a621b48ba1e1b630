"""``init_from``: an experiment that starts from another's trained weights (pre-training then fine-tuning,
chapter 05). The child starts from the parent's weights with a fresh optimiser, resumes after a kill like
any run, and retrains when its parent changes; a profile naming a parent that cannot serve is refused.
``snapshots`` and ``name@step``: a run keeps its weights at chosen steps, the very weights of a shorter run,
and a child or a chapter starts from or loads them."""

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
from test_train import _logged_steps, _run, _weights
from train_helpers import TINY, Killed, kill_at_step

from rstor_core.__main__ import main
from rstor_core.networks.checkpoints import MODEL_FILE, STATE_FILE, snapshot_file
from rstor_core.networks.runs import RETRAIN_DIR, ExperimentStore, load_parent, parent_weights, train_experiment
from rstor_core.networks.train import Trainer
from rstor_core.settings.chapters import sections_naming
from rstor_core.settings.configs import ExperimentConfig
from rstor_core.settings.knobs import ConfigError
from rstor_core.settings.profiles import ProfileError, load_profile

PARENT = ExperimentConfig(**{**TINY, "steps": 3})
CHILD = ExperimentConfig(**{**TINY, "steps": 4, "seed": 2, "noise": [10.0, 20.0], "init_from": "parent"})


def _plain(config: ExperimentConfig) -> dict:
    """The config as YAML and JSON can write it (lists for tuples)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


@pytest.fixture
def parent(tmp_path) -> Path:
    return train_experiment(PARENT, tmp_path / "parent", progress=False)


def test_a_child_starts_from_its_parents_weights_with_a_fresh_optimiser(parent, tmp_path):
    trainer = Trainer(CHILD, tmp_path / "child", device=torch.device("cpu"), progress=False,
                      parent=load_parent(CHILD, parent))
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
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        train_experiment(CHILD, tmp_path / "child", init_weights=parent, progress=False)
    assert child.stat().st_mtime_ns == mtime and "already trained" in caplog.text

    train_experiment(dataclasses.replace(PARENT, lr=0.01), tmp_path / "parent", progress=False)  # a new parent
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
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
    chapters = sections_naming("parent")
    experiments = experiments or {"parent": _plain(PARENT), "child": {**_plain(CHILD), **child}}
    path = tmp_path / "lineage.yaml"
    path.write_text(yaml.safe_dump({**chapters, "experiments": experiments}, sort_keys=False))
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


# --- snapshots and name@step ---------------------------------------------------------------------

LONG = ExperimentConfig(**{**TINY, "steps": 5, "snapshots": [2, 4], "checkpoint_every": 1})


def test_a_snapshot_holds_the_weights_of_a_run_that_stopped_there(tmp_path):
    train_experiment(LONG, tmp_path / "long", progress=False)
    short = train_experiment(dataclasses.replace(LONG, steps=2, snapshots=()), tmp_path / "short", progress=False)
    kept, stopped = _weights(tmp_path / "long" / snapshot_file(2)), _weights(short)
    assert all(torch.equal(kept[key], stopped[key]) for key in stopped)
    assert torch.load(tmp_path / "long" / snapshot_file(4), weights_only=True)["step"] == 4
    final = _weights(tmp_path / "long" / MODEL_FILE)
    assert not all(torch.equal(kept[key], final[key]) for key in final)


def test_a_child_of_name_at_step_starts_from_that_snapshot(tmp_path):
    train_experiment(LONG, tmp_path / "parent", progress=False)
    child = dataclasses.replace(CHILD, init_from="parent@2")
    path = parent_weights(child, tmp_path)
    assert path == tmp_path / "parent" / snapshot_file(2)
    trainer = Trainer(child, tmp_path / "child", device=torch.device("cpu"), progress=False,
                      parent=load_parent(child, path))
    kept = _weights(path)
    assert all(torch.equal(trainer.model.state_dict()[key], kept[key]) for key in kept)


def test_snapshots_a_shorter_run_does_not_reach_are_not_missing(tmp_path, caplog):
    short = dataclasses.replace(LONG, steps=3)  # keeps 2; 4 lies beyond its steps
    assert short.kept_steps == (2,)
    train_experiment(short, tmp_path, progress=False)
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        train_experiment(short, tmp_path, progress=False)
    assert "already trained" in caplog.text and not (tmp_path / snapshot_file(4)).exists()


def test_a_run_missing_a_snapshot_retrains_and_a_replacement_brings_its_own(tmp_path, caplog):
    train_experiment(LONG, tmp_path / "run", progress=False)
    (tmp_path / "run" / snapshot_file(2)).unlink()
    with caplog.at_level(logging.INFO, logger="rstor_core.networks"):
        train_experiment(LONG, tmp_path / "run", progress=False)
    assert "lacks its weights at step 2: retraining" in caplog.text
    assert (tmp_path / "run" / snapshot_file(2)).is_file() and not (tmp_path / "run" / RETRAIN_DIR).exists()

    train_experiment(dataclasses.replace(LONG, snapshots=(3,)), tmp_path / "run", progress=False)  # another config
    assert sorted(p.name for p in (tmp_path / "run").glob("model*.pt")) == [MODEL_FILE, snapshot_file(3)]


def test_a_killed_run_resumes_with_the_snapshots_it_had_kept(tmp_path, monkeypatch):
    kill_at_step(monkeypatch, 3)
    with pytest.raises(Killed):
        train_experiment(LONG, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert (tmp_path / "run" / snapshot_file(2)).is_file() and not (tmp_path / "run" / MODEL_FILE).exists()
    early = _weights(tmp_path / "run" / snapshot_file(2))
    train_experiment(LONG, tmp_path / "run", progress=False)
    train_experiment(LONG, tmp_path / "whole", progress=False)
    for name in (snapshot_file(2), snapshot_file(4), MODEL_FILE):
        resumed, whole = _weights(tmp_path / "run" / name), _weights(tmp_path / "whole" / name)
        assert all(torch.equal(resumed[key], whole[key]) for key in whole), name
    assert all(torch.equal(early[key], value) for key, value in _weights(tmp_path / "run" / snapshot_file(2)).items())


@pytest.mark.parametrize("fields, problem", [
    ({"snapshots": [3, 2]}, "snapshots: expected increasing steps"),
    ({"snapshots": [0]}, "snapshots: 0 is out of range"),
    ({"init_from": "parent@x"}, "init_from: 'parent@x': expected"),
], ids=["unsorted", "zero", "no step number"])
def test_bad_snapshots_and_references_are_refused(fields, problem):
    with pytest.raises(ConfigError, match=problem):
        ExperimentConfig(**{**TINY, "steps": 5, **fields})


def test_a_reference_to_a_step_the_parent_does_not_keep_is_refused(tmp_path):
    with pytest.raises((ConfigError, ProfileError), match="keeps no weights at step 2: add 2 to its snapshots"):
        load_profile(_profile(tmp_path, init_from="parent@2"))
    beyond = {"parent": {**_plain(PARENT), "snapshots": [2, 3]}, "child": {**_plain(CHILD), "init_from": "parent@3"}}
    with pytest.raises((ConfigError, ProfileError), match="keeps no weights at step 3: .* below its 3 steps"):
        load_profile(_profile(tmp_path, beyond))  # its last step is model.pt: name the final weights
    experiments = {"parent": {**_plain(PARENT), "snapshots": [2]}, "child": {**_plain(CHILD), "init_from": "parent@2"}}
    profile = load_profile(_profile(tmp_path, experiments))
    assert profile.lineage("child") == ["parent", "child"]
    assert profile.chapter_experiments("02_denoise_study") == {"parent"}


def test_train_cli_starts_a_child_from_its_parents_snapshot(tmp_path):
    experiments = {"parent": {**_plain(PARENT), "snapshots": [2]}, "child": {**_plain(CHILD), "init_from": "parent@2"}}
    out = tmp_path / "out"
    assert main(["train", "--profile", str(_profile(tmp_path, experiments)), "--experiment", "child",
                 "--outputs", str(out)]) == 0
    checkpoints = out / "lineage" / "checkpoints"
    recorded = torch.load(checkpoints / "child" / MODEL_FILE, weights_only=True)["parent"]
    import hashlib
    assert recorded == {"experiment": "parent@2",
                        "sha256": hashlib.sha256((checkpoints / "parent" / snapshot_file(2)).read_bytes()).hexdigest()}


# --- the experiment store: the one place references and parents are followed -----------------------

def test_the_store_trains_a_childs_parent_first_and_returns_the_referenced_weights(tmp_path):
    store = ExperimentStore(tmp_path, {"parent": LONG, "child": dataclasses.replace(CHILD, init_from="parent@2")},
                            device="cpu", progress=False)
    assert store.train("child") == tmp_path / "child" / MODEL_FILE
    assert _logged_steps(tmp_path / "parent" / "log.csv") == 5  # trained first, whole
    assert store.train("parent@4") == tmp_path / "parent" / snapshot_file(4)
    assert store.steps("child") == [2, 4] and store.steps("parent") == [5]
    assert store.lineage("child") == ["parent", "child"]


def test_a_fresh_store_retrains_the_named_experiment_once_and_reuses_its_parent(tmp_path):
    experiments = {"parent": PARENT, "child": CHILD}
    ExperimentStore(tmp_path, experiments, device="cpu", progress=False).train("child")
    before = {name: (tmp_path / name / MODEL_FILE).stat().st_mtime_ns for name in experiments}
    store = ExperimentStore(tmp_path, experiments, device="cpu", progress=False, fresh={"child"})
    store.train("child")
    once = (tmp_path / "child" / MODEL_FILE).stat().st_mtime_ns
    store.train("child")  # the same store: not a second time
    assert (tmp_path / "parent" / MODEL_FILE).stat().st_mtime_ns == before["parent"]
    assert before["child"] != once == (tmp_path / "child" / MODEL_FILE).stat().st_mtime_ns


def test_the_store_names_its_profile_when_asked_for_an_experiment_it_lacks(tmp_path):
    store = ExperimentStore(tmp_path, {"parent": PARENT}, where="parameters/mine.yaml")
    with pytest.raises(KeyError, match="parameters/mine.yaml: no experiment 'child'; defined: \\['parent'\\]"):
        store.config("child@3", run=1)
    assert store.config("parent", run=2).run == 2 and store.folder("parent@2", 2) == tmp_path / "parent.run2"
