"""The ``original_study`` dead-leaves preset: what the original study's stored training sets used (colours
from one natural photo per image, radii 1-400 px at 512 px scaled with the image, 30 leaves per rendered
pixel of side, 5x supersampling with a Gaussian low-pass, a (0.2, 0.4, 0.6) background), and the knobs
it is made of, each usable on its own."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from rstor_core.colours import photo_palettes
from rstor_core.configs import DEAD_LEAVES_PRESETS, DeadLeavesConfig, ExperimentConfig
from rstor_core.data import TrainingBatches
from rstor_core.deadleaves import dead_leaves, sample_leaves
from rstor_core.photos import natural_split
from rstor_core.profiles import ProfileError, load_profile


@pytest.fixture(scope="module")
def preset() -> DeadLeavesConfig:
    return DeadLeavesConfig.from_preset("original_study")


def test_the_preset_sets_what_defines_the_original_studys_sets(preset):
    assert preset.colour == "photo" and preset.ds_factor == 5 and preset.aa_sigma == pytest.approx(0.6)
    assert preset.background == (0.2, 0.4, 0.6) and (preset.r_min, preset.r_max) == (1.0, 400.0)
    assert preset.radius_reference == 512 and preset.leaf_density == 150.0  # 30 per rendered pixel x 5
    assert DeadLeavesConfig.from_preset("original_study", ds_factor=2).ds_factor == 2  # a key given wins over it
    with pytest.raises(ValueError, match="unknown preset 'vibrant'; known: original_study"):
        DeadLeavesConfig.from_preset("vibrant")


def test_radii_scale_with_the_image_side(preset):
    rng = np.random.default_rng(0)
    small, large = (sample_leaves(size, preset, rng, n=200_000).radii for size in (64, 512))
    assert small.min() >= 1.0 * 64 / 512 and small.max() <= 400.0 * 64 / 512
    assert large.max() > 300.0 and np.median(large) == pytest.approx(8 * np.median(small), rel=0.05)


def test_the_leaf_count_is_the_reference_images_whatever_the_size(preset):
    """A 64-pixel image is the 512-pixel one scaled down: same leaves, so the same coverage."""
    assert len(sample_leaves((40, 64), preset, np.random.default_rng(0))) == 150 * 512
    assert len(sample_leaves((40, 64), DeadLeavesConfig(), np.random.default_rng(0))) == 30 * 64
    background = [(dead_leaves(size, seed=0, params=preset, return_index=True)[1] < 0).mean() for size in (64, 256)]
    assert max(background) < 0.01


def test_each_image_takes_every_colour_from_one_photo(preset):
    palettes = photo_palettes("skimage", None)
    for seed in range(4):
        leaves = sample_leaves(64, preset, np.random.default_rng(seed))
        owners = [i for i, pixels in enumerate(palettes)
                  if np.isin(leaves.colours.view("f8,f8,f8"), pixels.view("f8,f8,f8")).all()
                  and np.isin(leaves.colours2.view("f8,f8,f8"), pixels.view("f8,f8,f8")).all()]
        assert len(owners) == 1, f"seed {seed}: colours from photos {owners}"


def test_an_rgb_background_shows_where_no_leaf_landed():
    image, index = dead_leaves(48, seed=0, n_leaves=2, r_min=1.0, r_max=2.0, background=(0.2, 0.4, 0.6),
                               return_index=True)
    np.testing.assert_allclose(image[index < 0], np.tile(np.float32([0.2, 0.4, 0.6]), ((index < 0).sum(), 1)))
    grey = dead_leaves(48, seed=0, n_leaves=2, r_min=1.0, r_max=2.0, background=0.25)
    assert (grey[index < 0] == np.float32(0.25)).all()


def test_the_preset_renders_a_valid_supersampled_image(preset):
    image = dead_leaves(64, seed=1, params=preset)
    assert image.shape == (64, 64, 3) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000  # the low-pass mixes colours at every edge


def test_a_training_run_draws_its_palette_from_its_own_training_photos_only():
    config = ExperimentConfig(crop=32, dead_leaves={"preset": "original_study"}, run=1)
    params = TrainingBatches(config).leaves.params
    assert params.palette_run == 1
    test_fold = set(natural_split(1)["test"])
    assert len(photo_palettes("skimage", 1)) == 5 - len(test_fold)
    assert config.unseen_photos("skimage") == tuple(natural_split(1)["test"])
    assert ExperimentConfig(crop=32).unseen_photos("skimage") is None  # uniform colours saw no photo


def test_a_profile_may_name_the_preset_and_override_one_of_its_keys(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"data_generation": {"dead_leaves": {"preset": "original_study",
                                                                          "background": 0.5}}}))
    leaves = load_profile(path).data_generation.dead_leaves
    assert leaves.colour == "photo" and leaves.background == 0.5
    path.write_text(yaml.safe_dump({"data_generation": {"dead_leaves": {"preset": "vibrant"}}}))
    with pytest.raises(ProfileError, match="preset.*'vibrant'.*original_study"):
        load_profile(path)
    path.write_text(yaml.safe_dump({"data_generation": {"dead_leaves": {"background": [0.1, 0.2]}}}))
    with pytest.raises(ProfileError, match="background"):
        load_profile(path)


def test_every_preset_builds_a_valid_config_equal_to_its_keys_written_out():
    for name, values in DEAD_LEAVES_PRESETS.items():
        assert DeadLeavesConfig.from_preset(name) == DeadLeavesConfig(**values)
        assert ExperimentConfig(dead_leaves={"preset": name}).dead_leaves == DeadLeavesConfig(**values)
