"""A folder of photos streams through bounded memory (issue 16): training reads a photo when a crop needs
it and keeps a few in a cache, draws the very crops an in-memory list would give, refuses a hold-out too
small for a crop from the files' headers, and palettes read one photo at a time."""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest
import skimage.io
from train_helpers import TINY

from rstor_core.images.colours import PHOTO_PALETTES_PIXELS, photo_palettes
from rstor_core.images.photos import ImageFolder, random_crops
from rstor_core.networks.batches import StreamedPhotos, TrainingBatches
from rstor_core.settings.configs import ExperimentConfig


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """30 smooth photos of 400 x 300 (4 MB each as float32: 120 MB in memory, a few kB on disk)."""
    path = tmp_path_factory.mktemp("photos")
    yy, xx = np.mgrid[:400, :300] / 300.0
    for i in range(30):
        image = np.stack([np.sin(xx * (i + 1)), np.cos(yy * (i + 2)), xx * yy / 2], axis=-1) * 0.5 + 0.5
        skimage.io.imsave(path / f"photo_{i:02d}.png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    return path


def test_streamed_photos_give_the_crops_of_the_photos_in_memory(folder):
    images = ImageFolder(folder)
    streamed = StreamedPhotos(images, len(images), cache=3)
    in_memory = [images.image(i) for i in range(len(images))]
    a = random_crops(streamed, 40, 64, np.random.default_rng(1))
    b = random_crops(in_memory, 40, 64, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert len(streamed._cache) <= 3


def test_drawing_batches_from_a_folder_keeps_memory_bounded(folder):
    config = ExperimentConfig(**{**TINY, "data": "natural", "natural_images": str(folder), "crop": 64,
                                 "batch_size": 8})
    batches = TrainingBatches(config)
    assert isinstance(batches.photos, StreamedPhotos)
    tracemalloc.start()
    try:
        for step in range(40):  # 320 crops: every photo read, several times
            batches.batch(step)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_photo = 400 * 300 * 3 * 4
    assert peak < (batches.photos.cache_size + 4) * one_photo < 30 * one_photo


def test_a_worker_starts_with_an_empty_cache(folder):
    streamed = StreamedPhotos(ImageFolder(folder), 5)
    streamed[0], streamed[1]
    copy = pickle.loads(pickle.dumps(streamed))
    assert len(streamed._cache) == 2 and len(copy._cache) == 0
    np.testing.assert_array_equal(copy[1], streamed[1])


def test_a_held_out_part_too_small_for_a_crop_is_refused_from_the_headers(folder):
    with pytest.raises(ValueError, match=r"photo_00.png: its validation part is 40 x 300 pixels, smaller than the "
                                         r"crop \(64\) with val_holdout 0.1"):
        StreamedPhotos(ImageFolder(folder), 3, "validation", 0.1, crop=64)
    train, held = (StreamedPhotos(ImageFolder(folder), 3, part, 0.25, crop=64) for part in ("train", "validation"))
    assert train[0].shape[:2] == (300, 300) and held[0].shape[:2] == (100, 300)
    np.testing.assert_array_equal(np.concatenate([train[2], held[2]]), ImageFolder(folder).image(2))


def test_photo_palettes_of_a_folder_share_a_bounded_budget(folder):
    palettes = photo_palettes(str(folder))
    assert len(palettes) == 30
    assert all(len(p) == min(400 * 300, PHOTO_PALETTES_PIXELS // 30) for p in palettes)
