"""Power spectra, natural photos and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.io
import torch

from rstor_core.images.photos import SKIMAGE_PHOTOS, natural_images
from rstor_core.images.spectrum import radial_power_spectrum, spectral_slope
from rstor_core.settings.files import atomic_path, save_table


def _noise_with_spectral_slope(slope: float, size: int, rng: np.random.Generator) -> np.ndarray:
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = f ** (slope / 2) * np.exp(2j * np.pi * rng.random((size, size)))
    return np.real(np.fft.ifft2(spectrum))


@pytest.mark.parametrize("slope", [-1.0, -2.0, -3.0])
def test_spectral_slope_recovers_the_slope_of_synthetic_noise(rng, slope):
    f, power = radial_power_spectrum(_noise_with_spectral_slope(slope, 256, rng))
    assert spectral_slope(f, power) == pytest.approx(slope, abs=0.15)


def test_spectrum_frequencies_are_in_cycles_per_pixel(rng):
    f, power = radial_power_spectrum(rng.random((64, 80, 3)))
    assert f.shape == power.shape and 0 < f.min() and f.max() <= 0.5


def test_spectrum_rejects_a_tiny_image():
    with pytest.raises(ValueError, match="at least 8x8"):
        radial_power_spectrum(np.zeros((4, 4)))


def test_bundled_natural_photos_load_as_float_rgb():
    photos = natural_images("skimage")
    assert tuple(photos) == SKIMAGE_PHOTOS
    for image in photos.values():
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] == 3
        assert 0.0 <= image.min() and image.max() <= 1.0


def test_folder_of_images_loads_sorted_by_name(tmp_path, rng):
    for name in ("b", "a"):
        skimage.io.imsave(tmp_path / f"{name}.png", (rng.random((12, 10, 3)) * 255).astype(np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert list(natural_images(tmp_path)) == ["a", "b"]


def test_folder_without_images_is_an_error_naming_it(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=f"no readable image in folder '{tmp_path}'"):
        natural_images(tmp_path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_write_replaces_the_file_on_success(tmp_path):
    import pandas as pd

    save_table(pd.DataFrame({"a": [1]}), tmp_path / "sub" / "t.csv")
    assert (tmp_path / "sub" / "t.csv").read_text() == "a\n1\n"


@pytest.mark.parametrize("run, names", [(0, ("astronaut", "rocket", "motorcycle")),
                                        (1, ("chelsea", "coffee", "rocket")),
                                        (2, ("astronaut", "chelsea", "coffee", "motorcycle"))])
def test_a_natural_run_trains_on_the_bundled_photos_outside_its_fold(run, names):
    from rstor_core.networks.batches import TrainingBatches
    from rstor_core.settings.configs import ExperimentConfig

    photos = natural_images("skimage")
    trained = TrainingBatches(ExperimentConfig(data="natural", run=run)).photos
    assert len(trained) == len(names)
    for image, name in zip(trained, names):
        np.testing.assert_array_equal(image, photos[name])


def test_every_run_of_a_natural_network_trains_on_every_image_of_a_folder(tmp_path, rng):
    from rstor_core.networks.batches import TrainingBatches
    from rstor_core.settings.configs import ExperimentConfig

    for name in ("a", "b"):
        skimage.io.imsave(tmp_path / f"{name}.png", (rng.random((40, 40, 3)) * 255).astype(np.uint8))
    for run in range(3):
        config = ExperimentConfig(data="natural", natural_images=str(tmp_path), crop=16, run=run)
        assert len(TrainingBatches(config).photos) == 2


def test_n_photos_keeps_the_first_training_photos_of_the_bundled_set_or_a_folder(tmp_path, rng):
    from rstor_core.networks.batches import TrainingBatches
    from rstor_core.settings.configs import ExperimentConfig

    trained = TrainingBatches(ExperimentConfig(data="natural", run=1, n_photos=1)).photos
    assert len(trained) == 1 and np.array_equal(trained[0], natural_images("skimage")["chelsea"])
    for name in ("a", "b", "c"):
        skimage.io.imsave(tmp_path / f"{name}.png", (rng.random((40, 40, 3)) * 255).astype(np.uint8))
    config = ExperimentConfig(data="natural", natural_images=str(tmp_path), crop=16, n_photos=2)
    assert len(TrainingBatches(config).photos) == 2


def test_a_pool_renders_each_of_its_images_once_and_repeats_them(monkeypatch):
    import rstor_core.networks.batches as data
    from rstor_core.networks.batches import DeadLeavesDataset

    calls = []
    real = data.dead_leaves
    monkeypatch.setattr(data, "dead_leaves", lambda *a, **k: calls.append(1) or real(*a, **k))
    pooled = DeadLeavesDataset(16, seed=1, pool=3)
    images = [pooled[i] for i in range(7)]
    assert len(calls) == 3 and torch.equal(images[0], images[3]) and torch.equal(images[1], images[4])
    assert not torch.equal(images[0], images[1])
    assert torch.equal(images[2], DeadLeavesDataset(16, seed=1)[2])  # the pool's images are the live set's first


def test_a_pool_too_big_for_memory_is_refused_before_any_work():
    from rstor_core.settings.configs import ExperimentConfig
    from rstor_core.settings.knobs import ConfigError

    with pytest.raises(ConfigError, match="dead_leaves_pool.*GiB in memory"):
        ExperimentConfig(crop=512, dead_leaves_pool=100_000)
