"""The ``original_study`` dead-leaves preset: what the original study's networks trained on (512-pixel
images with colours from one natural photo per image, radii 1-400 px, 30 leaves per rendered pixel of side,
5x supersampling with a Gaussian low-pass, a (0.2, 0.4, 0.6) background; a training crop a window of one at
the same pixel scale), and the knobs it is made of, each usable on its own."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from rstor_core.images.colours import photo_palettes
from rstor_core.images.deadleaves import dead_leaves, render_leaves
from rstor_core.images.leaf_sampling import sample_leaves
from rstor_core.images.photos import natural_split
from rstor_core.images.sources import photos_unseen_by
from rstor_core.images.spectrum import radial_power_spectrum, spectral_slope
from rstor_core.networks.batches import TrainingBatches
from rstor_core.settings.configs import DEAD_LEAVES_PRESETS, DeadLeavesConfig, ExperimentConfig
from rstor_core.settings.profiles import ProfileError, load_profile


@pytest.fixture(scope="module")
def preset() -> DeadLeavesConfig:
    return DeadLeavesConfig.from_preset("original_study")


def test_the_preset_sets_what_defines_the_original_studys_sets(preset):
    assert preset.colour == "photo" and preset.ds_factor == 5 and preset.aa_sigma == pytest.approx(0.6)
    assert preset.background == (0.2, 0.4, 0.6) and (preset.r_min, preset.r_max) == (1.0, 400.0)
    assert preset.window_of == 512 and preset.radius_reference is None
    assert preset.leaf_density == 150.0 and not preset.swap_red_blue  # 30 per rendered pixel x 5; RGB kept
    assert DeadLeavesConfig.from_preset("original_study", ds_factor=2).ds_factor == 2  # a key given wins over it
    with pytest.raises(ValueError, match="unknown preset 'vibrant'; known: original_study"):
        DeadLeavesConfig.from_preset("vibrant")


def test_radii_scale_with_the_image_side_under_radius_reference(preset):
    shrunk = DeadLeavesConfig.from_preset("original_study", window_of=None, radius_reference=512)
    rng = np.random.default_rng(0)
    small, large = (sample_leaves(size, shrunk, rng, n=200_000).radii for size in (64, 512))
    assert small.min() >= 1.0 * 64 / 512 and small.max() <= 400.0 * 64 / 512
    assert large.max() > 300.0 and np.median(large) == pytest.approx(8 * np.median(small), rel=0.05)


def test_a_window_draws_the_whole_scenes_leaves_at_the_scenes_pixel_scale(preset):
    """Issue 31, item 8: the preset shrank the whole 512-pixel scene into the crop (64 px: 38 % of the pixels
    from leaves under 1 px); the original cropped its 512-pixel images at their own scale."""
    leaves = sample_leaves((40, 64), preset, np.random.default_rng(0))
    assert len(leaves) == 150 * 512 and leaves.radii.max() > 64  # the scene's leaves, radii in its pixels
    assert len(sample_leaves((40, 64), DeadLeavesConfig(), np.random.default_rng(0))) == 30 * 64
    background = [(dead_leaves(size, seed=0, params=preset, return_index=True)[1] < 0).mean() for size in (64, 256)]
    assert max(background) < 0.01
    with pytest.raises(ValueError, match="larger than the 512-pixel scene"):
        sample_leaves(600, preset, np.random.default_rng(0))
    for bad, match in (({"radius_reference": 512}, "drop radius_reference"), ({"until_covered": True}, "window")):
        with pytest.raises(ValueError, match=match):
            DeadLeavesConfig.from_preset("original_study", **bad)


@pytest.mark.parametrize("overrides", [{}, {"preset": "original_study"}], ids=["flat discs", "original_study"])
def test_a_window_is_the_crop_of_its_scene_pixel_for_pixel(overrides):
    """Painting only the window gives the scene's own pixels there: the same leaves, moved by the corner."""
    params = DeadLeavesConfig(**DeadLeavesConfig.expand({**overrides, "window_of": 96, "leaf_density": 30.0}))
    scene_params = DeadLeavesConfig(**DeadLeavesConfig.expand({**overrides, "window_of": None, "leaf_density": 30.0}))
    window = sample_leaves((24, 40), params, np.random.default_rng(3))
    scene = sample_leaves(96, scene_params, np.random.default_rng(3))  # the same draws, the corner left undrawn
    top, left = np.unique(np.round(scene.centres - window.centres), axis=0)[0].astype(int)
    assert 0 <= top <= 96 - 24 and 0 <= left <= 96 - 40 and (top, left) != (0, 0)
    image, index = render_leaves(window, (24, 40), params, return_index=True)
    whole, whole_index = render_leaves(scene, 96, scene_params, return_index=True)
    np.testing.assert_array_equal(index, whole_index[top:top + 24, left:left + 40])
    np.testing.assert_array_equal(image, whole[top:top + 24, left:left + 40])


def _rendered(size: int, params: DeadLeavesConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image and, per pixel, the radius (output pixels) of the leaf it shows (NaN: background)."""
    leaves = sample_leaves(size, params, np.random.default_rng(seed))
    image, index = render_leaves(leaves, size, params, return_index=True)
    return image, np.where(index >= 0, leaves.radii[index], np.nan)


def _slope(images: list[np.ndarray]) -> float:
    return float(np.mean([spectral_slope(*radial_power_spectrum(image.mean(axis=2))) for image in images]))


def test_the_presets_crops_look_like_windows_of_the_original_studys_512_pixel_images(preset):
    """Visible-leaf sizes and the spectrum slope of 64-pixel crops against 64-pixel windows of 512-pixel renders
    (issue 31: the shrunk scene's crops were largely sub-pixel leaves, their spectrum shallower)."""
    windows = [(image[top:top + 64, left:left + 64], radii[top:top + 64, left:left + 64])
               for image, radii in (_rendered(512, preset, seed) for seed in range(2))
               for top in (0, 200, 448) for left in (0, 300)]
    shrunk = DeadLeavesConfig.from_preset("original_study", window_of=None, radius_reference=512)
    crops, shrunk_crops = ([_rendered(64, params, seed) for seed in range(12)] for params in (preset, shrunk))

    def small_leaf_share(pairs: list) -> float:  # pixels showing a leaf of radius under 2 output pixels
        return float(np.nanmean(np.concatenate([radii.ravel() for _, radii in pairs]) < 2.0))

    assert small_leaf_share(crops) == pytest.approx(small_leaf_share(windows), abs=0.1)  # 0.08 and 0.14 here
    assert small_leaf_share(shrunk_crops) > small_leaf_share(windows) + 0.25  # 0.45
    assert _slope([image for image, _ in crops]) == pytest.approx(_slope([image for image, _ in windows]), abs=0.12)
    assert _slope([image for image, _ in shrunk_crops]) > _slope([image for image, _ in windows]) + 0.15


def test_red_and_blue_swap_on_request_as_the_original_studys_files_had_them(preset):
    image = dead_leaves(32, seed=2, params=preset)
    swapped = dead_leaves(32, seed=2, params=preset, swap_red_blue=True)
    np.testing.assert_array_equal(swapped, image[..., ::-1])


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
    assert photos_unseen_by(config, "skimage") == tuple(natural_split(1)["test"])
    assert photos_unseen_by(ExperimentConfig(crop=32), "skimage") is None  # uniform colours saw no photo


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
