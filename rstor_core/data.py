"""Images the study reads: live or saved dead leaves, and natural photos (bundled or a folder).

No dataset can be downloaded at run time, so the default natural set is the handful of RGB
photographs that ship inside scikit-image; readers with DIV2K or Kodak point a profile at a
folder instead. Images are float32 in [0, 1]: numpy (H, W, 3) at the numba boundary, torch
(3, H, W) in datasets; :func:`to_tensor` and :func:`to_image` are the one place they convert.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import png
import skimage.data
import skimage.io
import skimage.util
import torch
from tqdm.auto import tqdm

from rstor_core.deadleaves import DeadLeavesParams, dead_leaves, image_rng
from rstor_core.files import atomic_path, write_json

log = logging.getLogger(__name__)
ENDLESS = 2**31 - 1  # length of an endless dataset: any index a sampler may ask for

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


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) numpy -> (C, H, W) float32 torch."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """(C, H, W) torch -> (H, W, C) float32 numpy."""
    return tensor.detach().cpu().permute(1, 2, 0).numpy().astype(np.float32)


class DeadLeavesDataset(torch.utils.data.Dataset):
    """Live dead leaves, (3, H, W) tensors; item ``i`` depends only on ``(seed, i)``.

    So any number of DataLoader workers, in any order, gives the same images, and every index a
    different one. ``length=None`` is endless (for step-based training). Rendering uses the
    serial CPU kernel: in a training loop torch already uses the cores (DESIGN.md).
    """

    def __init__(self, size: int | tuple[int, int], params: DeadLeavesParams | None = None, *, seed: int = 0,
                 length: int | None = None) -> None:
        if length is not None and length < 1:
            raise ValueError(f"length must be >= 1 or None (endless), got {length}")
        self.size, self.params, self.seed = size, params or DeadLeavesParams(), seed
        self.length = ENDLESS if length is None else length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} images")
        return to_tensor(dead_leaves(self.size, image_rng(self.seed, index), params=self.params, parallel=False))


def save_dead_leaves(out: str | Path, n: int, size: int, params: DeadLeavesParams | None = None, *, seed: int = 0,
                     bits: int = 8, progress: bool = True) -> int:
    """Write images ``0..n-1`` of a seeded dead-leaves set as PNGs in ``out``; return how many were written.

    Each file is written atomically; a rerun skips the files that already read back with the
    right shape, so an interrupted save resumes. ``params.json`` records what made the set, and a
    rerun with other parameters is refused rather than mixing two sets in one folder.
    """
    if n < 1 or size < 1 or bits not in (8, 16):
        raise ValueError(f"expected n >= 1, size >= 1 and bits in (8, 16), got n={n}, size={size}, bits={bits}")
    params = params or DeadLeavesParams()
    out = Path(out)
    record = {"size": size, "seed": seed, "bits": bits, "params": dataclasses.asdict(params)}
    record_path = out / "params.json"
    previous = json.loads(record_path.read_text()) if record_path.is_file() else None
    if previous is not None and {k: previous.get(k) for k in record} != json.loads(json.dumps(record)):
        raise ValueError(f"{record_path} describes another set (size, seed, bits or params differ): "
                         "use another folder")
    write_json({**record, "n": max(n, (previous or {}).get("n", 0))}, record_path)
    dtype, scale = (np.uint8, 255) if bits == 8 else (np.uint16, 65535)
    written = 0
    for i in tqdm(range(n), desc=f"dead leaves -> {out}", unit="img", disable=not progress):
        path = out / f"{i:06d}.png"
        if _readable(path, (size, size, 3), dtype):
            continue
        image = dead_leaves(size, image_rng(seed, i), params=params)
        pixels = np.round(image * scale).astype(dtype)
        with atomic_path(path) as tmp, open(tmp, "wb") as file:  # pypng: Pillow cannot write 16-bit RGB
            png.Writer(size, size, greyscale=False, bitdepth=bits).write(file, pixels.reshape(size, -1))
        written += 1
    log.info("%d images written, %d already there, in %s", written, n - written, out)
    return written


def read_png(path: str | Path) -> np.ndarray:
    """An 8- or 16-bit PNG as uint8 or uint16 (H, W, C); pypng, since Pillow reads 16-bit RGB as 8-bit."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    dtype = np.uint16 if info["bitdepth"] > 8 else np.uint8
    return np.vstack([np.asarray(row, dtype=dtype) for row in rows]).reshape(height, width, info["planes"])


def _readable(path: Path, shape: tuple[int, ...], dtype: type) -> bool:
    if not path.is_file():
        return False
    try:
        image = read_png(path)
    except (OSError, ValueError, png.Error):
        return False
    return image.shape == shape and image.dtype == dtype
