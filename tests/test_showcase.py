"""Chapter 01's galleries (rstor_core.images.showcase) and example degradations: each changes one thing
on the same draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rstor_core.degradation import degrade as D
from rstor_core.degradation.examples import example_degradations
from rstor_core.images import showcase
from rstor_core.images.deadleaves import dead_leaves, dead_leaves_batch
from rstor_core.images.leaf_sampling import APPEARANCES, SHAPES
from rstor_core.settings.configs import COLOUR_SAMPLERS, DEAD_LEAVES_PRESETS, DeadLeavesConfig


def test_described_shows_every_field_in_lines_that_fit():
    text = showcase.described(DeadLeavesConfig(alpha=2.5), width=60)
    assert all(len(line) <= 60 for line in text.splitlines()) and len(text.splitlines()) > 1
    assert "alpha=2.5" in text.replace("\n", " ") and "colour='uniform'" in text.replace("\n", " ")


def test_preset_images_are_the_draws_of_the_profiles_image_0_under_each_preset():
    images = showcase.preset_images(32, 3)
    assert list(images) == [f"preset {name}" for name in DEAD_LEAVES_PRESETS]
    for name in DEAD_LEAVES_PRESETS:
        batch = dead_leaves_batch(1, 32, seed=3, params=DeadLeavesConfig.from_preset(name))
        assert np.array_equal(images[f"preset {name}"], batch[0])


def test_one_at_a_time_changes_one_feature_on_the_same_layout():
    galleries = showcase.one_at_a_time(48, 1, DeadLeavesConfig(), r_min=4.0)
    assert {k: list(v) for k, v in galleries.items()} == {
        "primitives": list(SHAPES), "looks": list(APPEARANCES), "colours": list(COLOUR_SAMPLERS)}
    # the default model is flat uniform discs: each gallery's default entry is the same image
    disc = galleries["primitives"]["disc"]
    assert np.array_equal(disc, galleries["looks"]["flat"]) and np.array_equal(disc, galleries["colours"]["uniform"])
    assert not np.array_equal(disc, galleries["primitives"]["square"])
    assert not np.array_equal(disc, dead_leaves(48, 1))  # r_min=4 leaves: not the default's r_min=1


def test_antialiasing_images_blend_more_colours_as_the_factor_grows():
    images = showcase.antialiasing_images(64, 2, DeadLeavesConfig())
    assert list(images) == ["ds_factor = 1", "ds_factor = 2", "ds_factor = 4"]
    assert np.array_equal(images["ds_factor = 1"], dead_leaves(64, 2))
    colours = [len(np.unique(image.reshape(-1, 3), axis=0)) for image in images.values()]
    assert colours[1] > 2 * colours[0] and colours[2] > 2 * colours[0]  # edges blend neighbouring leaves


def test_leaf_index_maps_cover_the_canvas_under_the_same_leaves():
    sparse = DeadLeavesConfig(leaf_density=2.0)  # few leaves: the fixed count leaves holes
    maps = showcase.leaf_index_maps(48, 0, sparse, 3)
    assert list(maps) == [False, True] and all(len(m) == 3 for m in maps.values())
    assert any((index < 0).any() for index in maps[False])
    for fixed, covered in zip(maps[False], maps[True]):
        assert (covered >= 0).all()
        shown = fixed >= 0  # later leaves go under the first ones: what was shown stays shown
        assert np.array_equal(covered[shown], fixed[shown])


def test_example_crops_are_a_dead_leaves_image_and_the_first_photos_centre():
    photo = np.arange(10 * 12 * 3, dtype=np.float32).reshape(10, 12, 3)
    crops = showcase.example_crops(4, 5, DeadLeavesConfig(), {"first": photo, "second": photo + 1})
    assert list(crops) == ["dead leaves", "first"]
    assert np.array_equal(crops["dead leaves"], dead_leaves(4, 5))
    assert np.array_equal(crops["first"], photo[3:7, 4:8])


def test_example_degradations_blur_with_each_banks_first_kernel_and_add_seeded_noise():
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    degradations = example_degradations(7)
    assert list(degradations) == ["small:0", "mild:0", "big:0", "Gaussian 2.0/0.7 px", "noise 25/255"]
    for name in ("small:0", "mild:0", "big:0"):
        assert torch.equal(degradations[name](x), D.blur(x, D.bank_kernels(name)))
    gaussian = degradations["Gaussian 2.0/0.7 px"](x)
    assert gaussian.shape == x.shape and gaussian.std() < x.std()  # a low-pass smooths white noise
    noise = degradations["noise 25/255"]
    assert torch.equal(noise(x), noise(x)) and not torch.equal(noise(x), example_degradations(8)["noise 25/255"](x))
    assert (noise(x) - x).std().item() == pytest.approx(25 / 255, rel=0.1)
