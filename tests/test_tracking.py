"""Tracking in TensorBoard (issue 34): a tracked training's events, read back, are its log.csv rows and its
validation restorations; a resumed run's events are those of the steps it kept; tracking off writes no event;
without TensorBoard, asking for it is one error line before any work."""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from train_helpers import TINY, Killed, kill_at_step

from rstor_core.__main__ import main
from rstor_core.networks.batches import TrainingBatches
from rstor_core.networks.checkpoints import load_model
from rstor_core.networks.runs import train_experiment
from rstor_core.networks.tracking import INSTALL, TrackingUnavailable
from rstor_core.networks.train import Trainer
from rstor_core.settings.chapters import sections_naming
from rstor_core.settings.configs import ExperimentConfig

EVENTS = "events.out.tfevents.*"


def _config(**overrides) -> ExperimentConfig:
    return ExperimentConfig(**{**TINY, "steps": 6, "val_every": 3, **overrides})


def _fit(config: ExperimentConfig, out_dir: Path, tracking: Path | None) -> None:
    Trainer(config, out_dir, device=torch.device("cpu"), progress=False, tracking=tracking).fit()


def _events(path: Path) -> EventAccumulator:
    """Every scalar and image of ``path`` (a folder, or one event file), with TensorBoard's purges applied."""
    events = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def _log(out_dir: Path) -> list[dict[str, str]]:
    with (out_dir / "log.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def _scalars(events: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in events.Scalars(tag)]


def _logged(rows: list[dict[str, str]], column: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[column])) for r in rows if r[column] != ""]


def test_a_tracked_training_writes_its_logs_rows_and_validation_restorations(tmp_path):
    config = _config()
    _fit(config, tmp_path / "run", tmp_path / "tb")
    events, rows = _events(tmp_path / "tb"), _log(tmp_path / "run")
    assert sorted(events.Tags()["scalars"]) == ["train/img_per_s", "train/loss", "train/lr", "val/psnr"]
    for tag, column in (("train/loss", "loss"), ("train/lr", "lr"), ("train/img_per_s", "img_per_s"),
                        ("val/psnr", "val_psnr")):
        logged, tracked = _logged(rows, column), _scalars(events, tag)
        assert [step for step, _ in tracked] == [step for step, _ in logged], tag
        np.testing.assert_allclose([v for _, v in tracked], [v for _, v in logged], rtol=1e-6, err_msg=tag)
    assert [step for step, _ in _scalars(events, "val/psnr")] == [3, 6]
    assert [step for step, _ in _scalars(events, "train/loss")] == [1, 2, 3, 4, 5, 6]

    images = events.Images("val/restorations")
    assert [image.step for image in images] == [3, 6]
    grid = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB")) / 255
    side, n = config.crop, config.val_images  # a row per validation image (2 here): degraded | restored | clean
    assert grid.shape == (n * (side + 1) + 1, 3 * (side + 1) + 1, 3)
    degraded, clean = TrainingBatches(config).validation()
    with torch.inference_mode():  # the last grid shows the final weights' restorations
        restored = load_model(tmp_path / "run" / "model.pt", device="cpu")(degraded)
    for i in range(n):
        top = 1 + i * (side + 1)
        for c, image in enumerate((degraded, restored, clean)):
            panel = grid[top:top + side, 1 + c * (side + 1):1 + c * (side + 1) + side]
            expected = image[i].clamp(0, 1).numpy().transpose(1, 2, 0)
            np.testing.assert_allclose(panel, np.broadcast_to(expected, panel.shape), atol=1.01 / 255)


def test_a_resumed_run_appends_and_its_events_are_the_steps_it_kept(tmp_path, monkeypatch):
    """Killed at step 8 after its checkpoint at 6, the run had logged step 7 to TensorBoard; resumed at 6, it
    writes a second event file whose purge marker hides that step 7: read back, each step once, the log's."""
    config, out, tb = _config(steps=10, val_every=5, checkpoint_every=3), tmp_path / "run", tmp_path / "tb"
    kill_at_step(monkeypatch, 8)
    with pytest.raises(Killed):
        _fit(config, out, tb)
    [first] = tb.glob(EVENTS)
    assert [step for step, _ in _scalars(_events(first), "train/loss")] == [1, 2, 3, 4, 5, 6, 7]
    monkeypatch.undo()

    _fit(config, out, tb)
    assert len(list(tb.glob(EVENTS))) == 2 and first.is_file()
    events, rows = _events(tb), _log(out)
    tracked, logged = _scalars(events, "train/loss"), _logged(rows, "loss")
    assert [step for step, _ in tracked] == [step for step, _ in logged] == list(range(1, 11))
    np.testing.assert_allclose([v for _, v in tracked], [v for _, v in logged], rtol=1e-6)
    assert [image.step for image in events.Images("val/restorations")] == [5, 10]


def test_the_events_of_the_steps_a_checkpoint_holds_are_on_disk_when_it_is_written(tmp_path, monkeypatch):
    """A run killed (SIGKILL: no flush at exit) and resumed from its checkpoint lacks no step in TensorBoard, even
    where the writer's thread lags (a slow disk, here each event written 20 ms late)."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    on_disk, save_state, write = {}, Trainer.save_state, RecordWriter.write
    monkeypatch.setattr(RecordWriter, "write", lambda self, data: (time.sleep(0.02), write(self, data)))

    def reading_the_events(self, path):
        save_state(self, path)
        on_disk[self.step] = [step for step, _ in _scalars(_events(tmp_path / "tb"), "train/loss")]

    monkeypatch.setattr(Trainer, "save_state", reading_the_events)
    _fit(_config(checkpoint_every=2), tmp_path / "run", tmp_path / "tb")
    assert on_disk == {2: [1, 2], 4: [1, 2, 3, 4], 6: [1, 2, 3, 4, 5, 6]}


def test_tracking_off_writes_no_event_file(tmp_path):
    _fit(_config(steps=2), tmp_path / "run", None)
    assert (tmp_path / "run" / "model.pt").is_file()
    assert list(tmp_path.rglob("events.out.tfevents*")) == []


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**sections_naming("run"), "experiments": {"run": {**TINY, "steps": 3}}},
                                  sort_keys=False))  # arms keep their order
    return path


def test_train_cli_tracks_each_run_in_a_folder_named_as_its_own(tmp_path):
    tb = tmp_path / "tb"
    assert main(["train", "--profile", str(_profile(tmp_path)), "--experiment", "run", "--run", "1",
                 "--outputs", str(tmp_path / "out"), "--device", "cpu", "--tensorboard", str(tb)]) == 0
    assert [p.name for p in tb.iterdir()] == ["run.run1"]
    events = _events(tb / "run.run1")
    assert [step for step, _ in _scalars(events, "train/loss")] == [1, 2, 3]
    assert [image.step for image in events.Images("val/restorations")] == [3]


@pytest.fixture
def no_tensorboard(monkeypatch):
    """TensorBoard as if not installed (torch.utils.tensorboard may be imported already: it needs it too)."""
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


def test_without_tensorboard_the_cli_refuses_tracking_before_any_work(tmp_path, capsys, no_tensorboard):
    out, tb = tmp_path / "out", tmp_path / "tb"
    assert main(["train", "--profile", str(_profile(tmp_path)), "--experiment", "run", "--outputs", str(out),
                 "--device", "cpu", "--tensorboard", str(tb)]) == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("error: TensorBoard tracking needs the tensorboard package") and INSTALL in error
    assert not out.exists() and not tb.exists()


def test_without_tensorboard_the_library_refuses_tracking_before_any_work(tmp_path, no_tensorboard):
    with pytest.raises(TrackingUnavailable, match=r"rstor_core\[tracking\]"):
        train_experiment(_config(), tmp_path / "run", device="cpu", progress=False, tracking=tmp_path / "tb")
    with pytest.raises(TrackingUnavailable):
        Trainer(_config(), tmp_path / "run", device=torch.device("cpu"), tracking=tmp_path / "tb")
    assert list(tmp_path.iterdir()) == []
    _fit(_config(steps=1), tmp_path / "run", None)  # untracked, it trains without TensorBoard
    assert (tmp_path / "run" / "model.pt").is_file()


# --- W&B, offline -----------------------------------------------------------------------------------

def wandb_history(run_dir: Path) -> list[dict]:
    """The history rows (one per ``log`` call) of an offline W&B run folder, read from its ``run-*.wandb``
    file: a LevelDB-style log of protobuf records, 32 KiB blocks after a 7-byte header (wandb 0.31 ships no
    Python reader; its Go core writes the file)."""
    import json

    from wandb.proto import wandb_internal_pb2

    data = next(run_dir.glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, rows = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a record header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        pending, pos = pending + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
        elif kind == 0 and length == 0:  # zeros: the end of what was written
            break
    return rows


def _wandb_scalars(rows: list[dict], tag: str) -> list[tuple[int, float]]:
    return [(row["_step"], row[tag]) for row in rows if tag in row]


def test_with_wandb_an_offline_run_holds_the_logs_rows_and_the_restorations(tmp_path, monkeypatch):
    from rstor_core.networks.tracking import WANDB_ID, Tracking

    monkeypatch.setenv("WANDB_MODE", "online")  # the Tracker asks for offline itself; nothing may leave anyway
    import socket

    connect = socket.socket.connect  # W&B talks to its own core through a Unix socket; nothing else is allowed

    def local_only(sock, address):
        assert sock.family == socket.AF_UNIX, f"a network connection was attempted: {address}"
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    _fit(_config(), tmp_path / "run", Tracking(tmp_path / "tb", wandb=True))
    [run_dir] = (tmp_path / "tb" / "wandb").glob("offline-run-*")
    assert (run_dir / f"run-{(tmp_path / 'tb' / WANDB_ID).read_text()}.wandb").is_file()
    rows, logged = wandb_history(run_dir), _log(tmp_path / "run")
    for tag, column in (("train/loss", "loss"), ("train/lr", "lr"), ("val/psnr", "val_psnr")):
        tracked, expected = _wandb_scalars(rows, tag), _logged(logged, column)
        assert [s for s, _ in tracked] == [s for s, _ in expected], tag
        np.testing.assert_allclose([v for _, v in tracked], [v for _, v in expected], rtol=1e-6, err_msg=tag)
    images = [(row["_step"], row["val/restorations/path"]) for row in rows if "val/restorations/path" in row]
    assert [step for step, _ in images] == [3, 6]
    config = _config()
    side, n = config.crop, config.val_images
    grid = Image.open(run_dir / "files" / images[-1][1])
    assert grid.size == (3 * (side + 1) + 1, n * (side + 1) + 1)  # degraded | restored | clean, a row each
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))  # TensorBoard too


def test_a_resumed_run_continues_its_wandb_run(tmp_path, monkeypatch):
    from rstor_core.networks.tracking import WANDB_ID, Tracking

    config, out, tracking = _config(steps=10, val_every=5, checkpoint_every=3), tmp_path / "run", Tracking(
        tmp_path / "tb", wandb=True)
    kill_at_step(monkeypatch, 8)
    with pytest.raises(Killed):
        _fit(config, out, tracking)
    monkeypatch.undo()
    _fit(config, out, tracking)
    runs = sorted((tmp_path / "tb" / "wandb").glob("offline-run-*"), key=lambda run: wandb_history(run)[0]["_step"])
    run_id = (tmp_path / "tb" / WANDB_ID).read_text()
    assert len(runs) == 2 and all((run / f"run-{run_id}.wandb").is_file() for run in runs)  # one W&B run, resumed
    assert [s for s, _ in _wandb_scalars(wandb_history(runs[0]), "train/loss")] == list(range(1, 8))
    assert [s for s, _ in _wandb_scalars(wandb_history(runs[1]), "train/loss")] == list(range(7, 11))


def test_wandb_without_tensorboard_dir_or_without_the_package_is_refused_before_any_work(tmp_path, capsys,
                                                                                          monkeypatch):
    from rstor_core.networks.tracking import WANDB_INSTALL, Tracking

    out = tmp_path / "out"
    args = ["train", "--profile", str(_profile(tmp_path)), "--experiment", "run", "--outputs", str(out),
            "--device", "cpu", "--wandb"]
    assert main(args) == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error == "error: --wandb needs --tensorboard DIR: its offline run is written beside the TensorBoard events"
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert main([*args, "--tensorboard", str(tmp_path / "tb")]) == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("error: W&B tracking needs the wandb package") and WANDB_INSTALL in error
    with pytest.raises(TrackingUnavailable):
        Trainer(_config(), tmp_path / "run", device=torch.device("cpu"), tracking=Tracking(tmp_path / "tb", True))
    assert not out.exists() and not (tmp_path / "tb").exists() and not (tmp_path / "run").exists()
