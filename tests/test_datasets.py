"""Live and saved dead-leaves datasets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rstor_core.data import DeadLeavesDataset, read_png, save_dead_leaves, to_image, to_tensor
from rstor_core.deadleaves import DeadLeavesParams, dead_leaves, image_rng

from conftest import ROOT


def test_dataset_items_are_seeded_per_index_and_differ_between_indices():
    dataset = DeadLeavesDataset(32, seed=5, length=4)
    torch.testing.assert_close(dataset[2], DeadLeavesDataset(32, seed=5)[2], rtol=0, atol=0)
    assert not torch.equal(dataset[1], dataset[2])
    assert dataset[0].shape == (3, 32, 32) and dataset[0].dtype == torch.float32


def test_dataloader_gives_the_same_images_whatever_the_worker_count():
    dataset = DeadLeavesDataset(24, DeadLeavesParams(shapes={"disc": 1.0, "bar": 1.0}), seed=2, length=8)
    batches = {}
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=workers)
        batches[workers] = torch.cat(list(loader))
    torch.testing.assert_close(batches[0], batches[2], rtol=0, atol=0)


def test_endless_dataset_rejects_negative_indices_and_bad_length():
    with pytest.raises(IndexError):
        DeadLeavesDataset(16, length=3)[3]
    with pytest.raises(ValueError, match="length"):
        DeadLeavesDataset(16, length=0)


def test_tensor_conversion_round_trips():
    image = dead_leaves(20, seed=1)
    np.testing.assert_array_equal(to_image(to_tensor(image)), image)


@pytest.mark.parametrize("bits", [8, 16])
def test_saved_set_matches_the_live_images_and_records_its_parameters(tmp_path, bits):
    assert save_dead_leaves(tmp_path, 3, 32, seed=4, bits=bits, progress=False) == 3
    saved = read_png(tmp_path / "000002.png") / (2**bits - 1)
    np.testing.assert_allclose(saved, dead_leaves(32, image_rng(4, 2)), atol=0.5 / (2**bits - 1) + 1e-7)
    record = json.loads((tmp_path / "params.json").read_text())
    assert record["bits"] == bits and record["n"] == 3 and record["params"]["alpha"] == 3.0


def test_save_resumes_and_rewrites_only_missing_or_broken_files(tmp_path):
    save_dead_leaves(tmp_path, 4, 24, progress=False)
    (tmp_path / "000001.png").unlink()
    (tmp_path / "000003.png").write_bytes(b"truncated")
    assert save_dead_leaves(tmp_path, 5, 24, progress=False) == 3  # two repaired, one new
    assert json.loads((tmp_path / "params.json").read_text())["n"] == 5


def test_save_refuses_to_mix_two_sets_in_one_folder(tmp_path):
    save_dead_leaves(tmp_path, 1, 24, progress=False)
    with pytest.raises(ValueError, match="another set"):
        save_dead_leaves(tmp_path, 1, 24, DeadLeavesParams(alpha=2.0), progress=False)


def test_cli_saves_a_set_and_rejects_bad_input(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "rstor_core", "deadleaves", "save", *a],  # noqa: E731
                                    cwd=ROOT, capture_output=True, text=True)
    ok = run("--n", "2", "--size", "16", "--out", str(tmp_path / "set"), "--profile", "smoke")
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["000000.png", "000001.png", "params.json"]
    bad = run("--n", "0", "--size", "16", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--n" in bad.stderr and not (tmp_path / "bad").exists()
