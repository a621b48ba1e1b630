"""Reading photos: every image of a folder under its own name, and every pixel mode read as PIL
converts it to RGB (CMYK, palette, grey with alpha), 16-bit files keeping their 16 bits."""

from __future__ import annotations

import numpy as np
import PIL.Image
import png as pypng
import pytest
import tifffile

from rstor_core.photos import ImageFolder, natural_images, read_image


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
