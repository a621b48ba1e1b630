"""Live and saved dead-leaves datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rstor_core.__main__ import main
from rstor_core.images.deadleaves import dead_leaves, image_rng
from rstor_core.images.photos import image_folder, read_png
from rstor_core.networks.batches import DeadLeavesDataset, save_dead_leaves, to_image, to_tensor
from rstor_core.settings.configs import DeadLeavesConfig


def test_dataset_items_are_seeded_per_index_and_differ_between_indices():
    dataset = DeadLeavesDataset(16, seed=5, length=4)
    torch.testing.assert_close(dataset[2], DeadLeavesDataset(16, seed=5)[2], rtol=0, atol=0)
    assert not torch.equal(dataset[1], dataset[2])
    assert dataset[0].shape == (3, 16, 16) and dataset[0].dtype == torch.float32


def test_dataloader_gives_the_same_images_whatever_the_worker_count():
    dataset = DeadLeavesDataset(24, DeadLeavesConfig(shapes={"disc": 1.0, "bar": 1.0}), seed=2, length=8)
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
    params = DeadLeavesConfig(alpha=2.5, shapes={"disc": 1.0, "square": 1.0})
    assert save_dead_leaves(tmp_path, 3, 32, params, seed=4, bits=bits, progress=False) == 3
    saved = read_png(tmp_path / "000002.png") / (2**bits - 1)
    np.testing.assert_allclose(saved, dead_leaves(32, image_rng(4, 2), params=params), atol=0.5 / (2**bits - 1) + 1e-7)
    record = json.loads((tmp_path / "params.json").read_text())
    assert record["bits"] == bits and record["n"] == 3 and DeadLeavesConfig(**record["params"]) == params


def test_save_resumes_and_rewrites_only_missing_or_broken_files(tmp_path):
    save_dead_leaves(tmp_path, 4, 24, progress=False)
    (tmp_path / "000001.png").unlink()
    (tmp_path / "000003.png").write_bytes(b"truncated")
    assert save_dead_leaves(tmp_path, 5, 24, progress=False) == 3  # two repaired, one new
    assert json.loads((tmp_path / "params.json").read_text())["n"] == 5


def test_save_refuses_to_mix_two_sets_in_one_folder(tmp_path):
    save_dead_leaves(tmp_path, 1, 24, progress=False)
    with pytest.raises(ValueError, match="another set"):
        save_dead_leaves(tmp_path, 1, 24, DeadLeavesConfig(alpha=2.0), progress=False)


def test_save_refuses_a_non_empty_folder_it_did_not_write(tmp_path):
    """Issue 12, item 3: a folder of someone's photos holding 000000.png was overwritten silently."""
    photo = tmp_path / "000000.png"
    photo.write_bytes(b"someone's photo")
    with pytest.raises(ValueError, match="not empty and holds no params.json"):
        save_dead_leaves(tmp_path, 2, 16, progress=False)
    assert photo.read_bytes() == b"someone's photo" and not (tmp_path / "params.json").exists()


def test_cli_saves_a_set_from_a_profile(tmp_path):
    assert main(["deadleaves", "save", "--n", "2", "--size", "16", "--out", str(tmp_path), "--profile", "smoke"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000001.png", "params.json"]


def test_cli_rejects_a_bad_count_naming_it_before_writing(tmp_path, capsys):
    assert main(["deadleaves", "save", "--n", "0", "--size", "16", "--out", str(tmp_path / "bad")]) == 2
    assert "--n" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_image_folder_reads_8_and_16_bit_grey_and_rgba_and_skips_bad_files_with_one_warning(tmp_path, caplog):
    import png as pypng
    import skimage.io

    from rstor_core.images.photos import ImageFolder, natural_images

    rng = np.random.default_rng(0)
    skimage.io.imsave(tmp_path / "a_rgb.png", (rng.random((10, 12, 3)) * 255).astype(np.uint8))
    skimage.io.imsave(tmp_path / "b_grey.png", (rng.random((10, 12)) * 255).astype(np.uint8))
    skimage.io.imsave(tmp_path / "c_rgba.png", (rng.random((10, 12, 4)) * 255).astype(np.uint8))
    deep = (rng.random((10, 12, 3)) * 65535).astype(np.uint16)
    with open(tmp_path / "d_16bit.png", "wb") as file:
        pypng.Writer(12, 10, greyscale=False, bitdepth=16).write(file, deep.reshape(10, -1))
    skimage.io.imsave(tmp_path / "e_photo.jpg", (rng.random((10, 12, 3)) * 255).astype(np.uint8))
    (tmp_path / "f_broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "g_text.jpg").write_text("not a jpeg")
    with caplog.at_level("WARNING"):
        folder = ImageFolder(tmp_path)
    assert [p.name for p in folder.paths] == ["a_rgb.png", "b_grey.png", "c_rgba.png", "d_16bit.png", "e_photo.jpg"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "f_broken.png" in warnings[0].message and "g_text.jpg" in warnings[0].message
    images = natural_images(tmp_path)
    assert all(im.shape == (10, 12, 3) and im.dtype == np.float32 for im in images.values())
    np.testing.assert_allclose(images["d_16bit"], deep / 65535, atol=1e-6)  # all 16 bits kept


def test_natural_split_is_fixed_and_disjoint():
    from rstor_core.images.photos import NATURAL_SPLITS, natural_images

    assert not set(NATURAL_SPLITS["train"]) & set(NATURAL_SPLITS["test"])
    assert list(natural_images("skimage", split="test")) == list(NATURAL_SPLITS["test"])


def test_training_batches_depend_only_on_seed_step_and_rank():
    from rstor_core.networks.batches import TrainingBatches
    from rstor_core.settings.configs import ExperimentConfig

    config = ExperimentConfig(data="natural", crop=24, batch_size=3, blur="motion", noise=(0.0, 2.0))
    a, b = TrainingBatches(config), TrainingBatches(config)
    for x, y in zip(a.batch(4), b.batch(4)):
        assert torch.equal(x, y)
    assert not torch.equal(a.batch(4)[1], a.batch(5)[1])
    assert not torch.equal(a.batch(4)[1], TrainingBatches(config, rank=1, world_size=2).batch(4)[1])
    assert torch.equal(a.validation()[0], b.validation()[0])


def test_a_resumed_save_removes_the_half_written_image_a_killed_save_left(tmp_path, dead_pid):
    """Issue 30, item 4: a save killed while writing left .000001.tmp-PID.png, which no resume removed."""
    save_dead_leaves(tmp_path, 1, 16, progress=False)
    leftover = tmp_path / f".000001.tmp-{dead_pid}.png"
    leftover.write_bytes((tmp_path / "000000.png").read_bytes()[:60])  # a PNG header, then nothing
    assert save_dead_leaves(tmp_path, 2, 16, progress=False) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000001.png", "params.json"]


def test_a_folder_holding_a_writers_temporary_reads_only_its_images(tmp_path):
    """Issue 30, item 4: `infer --images` and natural training read .000005.tmp-PID.png as an image."""
    save_dead_leaves(tmp_path, 2, 16, progress=False)
    (tmp_path / ".000002.tmp-4242.png").write_bytes((tmp_path / "000000.png").read_bytes()[:60])
    folder = image_folder(tmp_path)
    assert folder.names() == ["000000", "000001"] and folder.image(1).shape == (16, 16, 3)
