"""Reading photos: every image of a folder under its own name, and every pixel mode read as PIL
converts it to RGB (CMYK, palette, grey with alpha), 16-bit files keeping their 16 bits."""

from __future__ import annotations

import numpy as np
import PIL.Image
import png as pypng
import pytest
import tifffile

from rstor_core.images.photos import ImageFolder, natural_images, read_image
from rstor_core.images.sources import photos_unseen_by


@pytest.fixture
def rgb(rng) -> np.ndarray:
    """A smooth 8-bit RGB image (JPEG keeps it within a few levels)."""
    y, x = np.mgrid[0:32, 0:40] / 40.0
    base = np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], axis=-1)
    return (np.clip(base + 0.02 * rng.random(base.shape), 0, 1) * 255).astype(np.uint8)


def _write_png_16(path, pixels: np.ndarray, **kind) -> None:
    height, width, planes = pixels.shape
    with open(path, "wb") as file:
        pypng.Writer(width, height, bitdepth=16, **kind).write(file, pixels.reshape(height, width * planes))


# --- names (issue 12, item 7) ---------------------------------------------------------------

def test_images_sharing_a_stem_are_both_kept_under_their_file_names(tmp_path, rgb):
    PIL.Image.fromarray(rgb).save(tmp_path / "photo.png")
    PIL.Image.fromarray(rgb[::-1]).save(tmp_path / "photo.jpg", quality=95)
    PIL.Image.fromarray(rgb[:, ::-1]).save(tmp_path / "other.png")
    images = natural_images(tmp_path)
    assert sorted(images) == ["other", "photo.jpg", "photo.png"]
    np.testing.assert_allclose(images["photo.png"], rgb / 255, atol=1e-6)
    np.testing.assert_allclose(images["photo.jpg"], rgb[::-1] / 255, atol=0.05)


def test_a_stem_equal_to_another_file_name_is_refused_naming_both(tmp_path, rgb):
    for name in ("photo.png", "photo.jpg", "photo.png.jpg"):
        PIL.Image.fromarray(rgb).save(tmp_path / name)
    with pytest.raises(ValueError, match=r"'photo.png'.*'photo.png.jpg'"):
        natural_images(tmp_path)


# --- pixel modes (issue 12, item 9) ---------------------------------------------------------

def test_a_cmyk_jpeg_reads_as_pil_converts_it_not_as_its_first_three_channels(tmp_path, rgb):
    path = tmp_path / "cmyk.jpg"
    PIL.Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    image = read_image(path)
    with PIL.Image.open(path) as stored:
        assert stored.mode == "CMYK"
        converted, cmyk = np.asarray(stored.convert("RGB")) / 255, np.asarray(stored) / 255
    np.testing.assert_allclose(image, converted, atol=1e-6)
    assert np.abs(image - rgb / 255).mean() < 0.02  # JPEG's loss only
    assert np.abs(image - cmyk[..., :3]).mean() > 0.2  # not the C, M, Y planes read as R, G, B


def test_a_grey_png_with_alpha_reads_as_grey_rgb_in_a_folder(tmp_path, rgb):
    grey = rgb[..., 0]
    PIL.Image.fromarray(np.stack([grey, 255 - grey], axis=-1), mode="LA").save(tmp_path / "grey_alpha.png")
    image = natural_images(tmp_path)["grey_alpha"]
    np.testing.assert_allclose(image, np.repeat(grey[..., None] / 255, 3, axis=-1), atol=1e-6)


def test_a_palette_png_reads_as_its_colours(tmp_path, rgb):
    path = tmp_path / "palette.png"
    PIL.Image.fromarray(rgb).quantize(16).save(path)
    with PIL.Image.open(path) as stored:
        assert stored.mode == "P"
        expected = np.asarray(stored.convert("RGB")) / 255
    np.testing.assert_allclose(read_image(path), expected, atol=1e-6)


@pytest.mark.parametrize("alpha", [False, True])
def test_a_16_bit_grey_png_keeps_its_16_bits_with_or_without_alpha(tmp_path, rng, alpha):
    pixels = (rng.random((6, 7, 1 + alpha)) * 65535).astype(np.uint16)
    _write_png_16(tmp_path / "deep.png", pixels, greyscale=True, alpha=alpha)
    image = read_image(tmp_path / "deep.png")
    np.testing.assert_allclose(image, np.repeat(pixels[..., :1] / 65535, 3, axis=-1), atol=1e-6)


def test_a_16_bit_rgba_png_keeps_its_16_bits_and_drops_alpha(tmp_path, rng):
    pixels = (rng.random((6, 7, 4)) * 65535).astype(np.uint16)
    _write_png_16(tmp_path / "deep.png", pixels, greyscale=False, alpha=True)
    np.testing.assert_allclose(read_image(tmp_path / "deep.png"), pixels[..., :3] / 65535, atol=1e-6)


@pytest.mark.parametrize("channels", [(), (3,)])
def test_a_16_bit_tiff_keeps_its_16_bits(tmp_path, rng, channels):
    pixels = (rng.random((6, 7, *channels)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", pixels, photometric="rgb" if channels else "minisblack")
    expected = pixels / 65535 if channels else np.repeat(pixels[..., None] / 65535, 3, axis=-1)
    np.testing.assert_allclose(read_image(tmp_path / "deep.tif"), expected, atol=1e-6)


def test_a_4_bit_grey_png_spans_the_full_range(tmp_path):
    """Sub-byte PNGs are scaled to [0, 1], not divided by 255 as if they were 8 bits."""
    levels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    with open(tmp_path / "four.png", "wb") as file:
        pypng.Writer(4, 4, greyscale=True, bitdepth=4).write(file, levels)
    np.testing.assert_allclose(read_image(tmp_path / "four.png")[..., 0], levels / 15, atol=1e-6)


def test_a_lab_tiff_reads_as_rgb_not_as_its_lab_numbers(tmp_path, rgb):
    path = tmp_path / "lab.tif"
    PIL.Image.fromarray(rgb).convert("LAB").save(path)
    assert np.abs(read_image(path) - rgb / 255).mean() < 0.02


def test_an_image_folder_keeps_every_mode_it_can_convert(tmp_path, rgb):
    PIL.Image.fromarray(rgb).convert("CMYK").save(tmp_path / "a.jpg")
    PIL.Image.fromarray(rgb).convert("LA").save(tmp_path / "b.png")
    PIL.Image.fromarray(rgb).convert("P").save(tmp_path / "c.png")
    folder = ImageFolder(tmp_path)
    assert all(folder.image(i).shape == (32, 40, 3) for i in range(len(folder)))


# --- folds of the bundled photos (issue 13, items 1 and 3) -------------------------------------------

def test_every_bundled_photo_is_unseen_by_exactly_one_natural_run_of_three():
    from rstor_core.images.photos import SKIMAGE_PHOTOS, natural_split

    splits = [natural_split(run) for run in range(3)]
    for name in SKIMAGE_PHOTOS:
        assert sum(name in split["test"] for split in splits) == 1, name
    for split in splits:
        assert set(split["train"]) | set(split["test"]) == set(SKIMAGE_PHOTOS)
        assert not set(split["train"]) & set(split["test"])
    assert natural_split(3) == natural_split(0) and natural_split(5) == natural_split(2)


def test_run_0_trains_on_the_photos_and_in_the_order_of_the_committed_weights():
    """Crops pick a photo by index: the same names in another order would change run 0's batches."""
    from rstor_core.images.photos import NATURAL_SPLITS, natural_split

    assert natural_split(0) == NATURAL_SPLITS
    assert natural_split(0) == {"train": ("astronaut", "rocket", "motorcycle"), "test": ("chelsea", "coffee")}
    assert list(natural_images("skimage", split="train", run=1)) == ["chelsea", "coffee", "rocket"]


def test_the_motorcycle_stays_in_one_fold_and_its_right_view_is_never_used():
    from rstor_core.images.photos import NATURAL_FOLDS, SKIMAGE_PHOTOS

    assert sum("motorcycle" in fold for fold in NATURAL_FOLDS) == 1
    assert sorted(name for fold in NATURAL_FOLDS for name in fold) == sorted(SKIMAGE_PHOTOS)
    import skimage.data
    import skimage.util

    left, right = (skimage.util.img_as_float32(view) for view in skimage.data.stereo_motorcycle()[:2])
    photos = [natural_images("skimage", split=split, run=run) for run in range(3) for split in ("train", "test")]
    assert all(len(set(p) - set(SKIMAGE_PHOTOS)) == 0 for p in photos)
    np.testing.assert_array_equal(natural_images("skimage")["motorcycle"], left)
    assert not np.array_equal(left, right)


def test_the_test_photos_of_the_bundled_set_are_all_five_with_run_0s_unseen_ones_first():
    from rstor_core.images.photos import test_photos

    assert tuple(test_photos("skimage")) == ("chelsea", "coffee", "astronaut", "motorcycle", "rocket")


def test_a_natural_network_is_unseen_on_its_fold_and_a_dead_leaves_one_on_every_photo(tmp_path, rgb):
    from rstor_core.settings.configs import ExperimentConfig

    PIL.Image.fromarray(rgb).save(tmp_path / "a.png")
    natural = [ExperimentConfig(data="natural", run=run) for run in range(3)]
    assert [photos_unseen_by(c, "skimage") for c in natural] == [("chelsea", "coffee"), ("astronaut", "motorcycle"),
                                                             ("rocket",)]
    assert photos_unseen_by(ExperimentConfig(data="dead_leaves", run=1), "skimage") is None
    assert photos_unseen_by(natural[1], str(tmp_path)) is None  # another source: every photo
    assert photos_unseen_by(ExperimentConfig(data="natural", natural_images=str(tmp_path)), "skimage") is None


def test_a_network_tested_on_the_folder_it_trained_on_is_refused(tmp_path):
    from rstor_core.images.photos import unseen_photos

    with pytest.raises(ValueError, match="its training images"):
        unseen_photos(tmp_path, 0, tmp_path / ".")
    with pytest.raises(ValueError, match="its training images"):
        unseen_photos("kodak24", 1, "kodak24")
