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
