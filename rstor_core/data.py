"""Images the study reads: the natural photos bundled with scikit-image, or a folder of images.

No dataset can be downloaded at run time, so the default natural set is the handful of RGB
photographs that ship inside scikit-image; readers with DIV2K or Kodak point a profile at a
folder instead. Images are float32 (H, W, 3) in [0, 1] (the numpy side of DESIGN.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
import skimage.io
import skimage.util

# RGB photographs that load offline (skin, lily and eagle need a download: left out).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def natural_images(source: str | Path = "skimage") -> dict[str, np.ndarray]:
    """Name -> (H, W, 3) float32 image, from ``"skimage"`` or a folder (sorted by file name)."""
    if str(source) == "skimage":
        return {name: _as_rgb_float(_skimage_photo(name)) for name in SKIMAGE_PHOTOS}
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    images = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            images[path.stem] = _as_rgb_float(skimage.io.imread(path))
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read image {path.name!r} in {str(folder)!r}: {err}") from err
    if not images:
        raise ValueError(f"no readable image in folder {str(folder)!r} "
                         f"(looked for {', '.join(IMAGE_SUFFIXES)})")
    return images


def _skimage_photo(name: str) -> np.ndarray:
    if name == "motorcycle":  # the left view of the stereo pair
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def _as_rgb_float(image: np.ndarray) -> np.ndarray:
    image = skimage.util.img_as_float32(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected a grey, RGB or RGBA image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3])
