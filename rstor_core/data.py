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
import PIL.Image
import png
import skimage.data
import skimage.io
import skimage.util
import torch
from tqdm.auto import tqdm

from rstor_core.deadleaves import DeadLeavesParams, dead_leaves, image_rng
from rstor_core.degrade import degrade, gaussian_blur_kernels, motion_blur_kernels, noise_levels
from rstor_core.params import ExperimentConfig
from rstor_core.files import atomic_path, write_json

log = logging.getLogger(__name__)
ENDLESS = 2**31 - 1  # length of an endless dataset: any index a sampler may ask for

# RGB photographs that load offline (skin, lily and eagle need a download: left out).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
# The default natural set's fixed split: networks train on crops of the first three and are
# tested on the last two (different scenes; the motorcycle's right stereo view is left out, it
# would leak the left one). Chapter 01 uses all five for spectra.
NATURAL_SPLITS = {"train": ("astronaut", "rocket", "motorcycle"), "test": ("chelsea", "coffee")}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def natural_images(source: str | Path = "skimage", split: str | None = None) -> dict[str, np.ndarray]:
    """Name -> (H, W, 3) float32 image, from ``"skimage"`` (all five photos, or one split of
    :data:`NATURAL_SPLITS`) or a folder (every readable image, sorted by file name)."""
    if str(source) == "skimage":
        if split is not None and split not in NATURAL_SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {list(NATURAL_SPLITS)}")
        names = NATURAL_SPLITS[split] if split else SKIMAGE_PHOTOS
        return {name: _as_rgb_float(_skimage_photo(name)) for name in names}
    folder = ImageFolder(source)
    return {path.stem: folder.image(i) for i, path in enumerate(folder.paths)}


class ImageFolder:
    """The images of a folder (PNG, JPEG, TIFF, BMP; 8 or 16 bit; grey becomes RGB, alpha is
    dropped), read lazily: a DIV2K-sized folder does not fit in memory as float32.

    Files that cannot be opened are skipped with one warning listing them; a folder with no
    readable image is an error naming it.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"image folder {str(self.folder)!r} does not exist")
        candidates = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.paths, bad = [], []
        for path in candidates:
            (self.paths if _opens(path) else bad).append(path)
        if bad:
            log.warning("skipped %d unreadable image(s) in %s: %s", len(bad), self.folder,
                        ", ".join(p.name for p in bad))
        if not self.paths:
            raise ValueError(f"no readable image in folder {str(self.folder)!r} (looked for {', '.join(IMAGE_SUFFIXES)})")

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as (H, W, 3) float32 in [0, 1]."""
        return read_image(self.paths[index])


def read_image(path: str | Path) -> np.ndarray:
    """One image file as (H, W, 3) float32 in [0, 1]; 16-bit PNGs keep their 16 bits."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".png":
            pixels = read_png(path)
            image = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
            return _as_rgb_float(image[..., 0] if image.shape[-1] == 1 else image)
        return _as_rgb_float(skimage.io.imread(path))
    except (OSError, ValueError, png.Error) as err:
        raise ValueError(f"cannot read image {path.name!r} in {str(path.parent)!r}: {err}") from err


def random_crops(images: list[np.ndarray], n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random ``size``² crops, each from a random image, randomly flipped and rotated by
    a multiple of 90°: (n, size, size, 3). Images smaller than ``size`` are an error."""
    crops = np.empty((n, size, size, 3), dtype=np.float32)
    for i in range(n):
        image = images[rng.integers(len(images))]
        height, width = image.shape[:2]
        if min(height, width) < size:
            raise ValueError(f"crop {size} is larger than an image of {height} x {width}")
        top, left = rng.integers(height - size + 1), rng.integers(width - size + 1)
        crop = np.rot90(image[top:top + size, left:left + size], k=rng.integers(4))
        crops[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return crops


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


def _opens(path: Path) -> bool:
    """Whether an image file's header reads (cheap: no decoding), for the folder scan."""
    try:
        if path.suffix.lower() == ".png":
            png.Reader(filename=str(path)).preamble()
        else:
            with PIL.Image.open(path) as image:
                image.verify()
        return True
    except Exception:  # any decoder error means "cannot use this file"
        return False


def _readable(path: Path, shape: tuple[int, ...], dtype: type) -> bool:
    if not path.is_file():
        return False
    try:
        image = read_png(path)
    except (OSError, ValueError, png.Error):
        return False
    return image.shape == shape and image.dtype == dtype


# --- training batches: clean crops, then the degradation, batched (the "collate" step) ------------

VALIDATION_STREAM = 2**20  # seeds the validation set far from every training step's stream


class TrainingBatches:
    """(degraded, clean) batches of an experiment, each drawn only from (seed, step, rank).

    A batch never depends on what ran before it, so a resumed run sees exactly the batches an
    uninterrupted one would, and each DDP rank gets its own. The degradation is applied to the
    whole batch at once (:func:`degrade_batch`), after the crops are stacked.
    """

    def __init__(self, config: ExperimentConfig, *, rank: int = 0, world_size: int = 1) -> None:
        self.config, self.rank, self.world_size = config, rank, world_size
        if config.data == "dead_leaves":
            self.leaves = DeadLeavesDataset(config.crop, config.dead_leaves, seed=config.seed)
            self.validation_leaves = DeadLeavesDataset(config.crop, config.dead_leaves,
                                                       seed=config.seed + VALIDATION_STREAM)
        elif str(config.natural_images) == "skimage":
            self.photos = list(natural_images("skimage", split="train").values())
        else:
            folder = ImageFolder(config.natural_images)
            self.photos = [folder.image(i) for i in range(len(folder))]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s (degraded, clean), each (batch_size, 3, crop, crop)."""
        n = self.config.batch_size
        if self.config.data == "dead_leaves":
            first = (step * self.world_size + self.rank) * n
            clean = torch.stack([self.leaves[first + i] for i in range(n)])
        else:
            clean = self._photo_crops(n, np.random.default_rng([self.config.seed, step, self.rank]))
        return degrade_batch(clean, self.config, seed=_seed(self.config.seed, step, self.rank)), clean

    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed validation set: the same crops and degradations at every call and on every rank."""
        n = self.config.val_images
        if self.config.data == "dead_leaves":
            clean = torch.stack([self.validation_leaves[i] for i in range(n)])
        else:
            clean = self._photo_crops(n, np.random.default_rng([self.config.seed, VALIDATION_STREAM]))
        return degrade_batch(clean, self.config, seed=_seed(self.config.seed, VALIDATION_STREAM, 0)), clean


    def _photo_crops(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.stack([to_tensor(crop) for crop in random_crops(self.photos, n, self.config.crop, rng)])


def degrade_batch(clean: torch.Tensor, config: ExperimentConfig, *, seed: int) -> torch.Tensor:
    """The experiment's degradation of a batch: blur (per-sample kernels) then noise (per-sample sigma)."""
    n = len(clean)
    sigma = noise_levels(n, config.noise, seed=seed)["sigma"]
    if config.blur == "none":
        kernels = None
    elif config.blur == "gaussian":
        kernels = gaussian_blur_kernels(n, sigma_range=config.gaussian_sigma, seed=seed + 1)["filter"]
    else:
        kernels = motion_blur_kernels(n, "all" if config.blur == "motion" else config.blur, seed=seed + 1)["filter"]
    return degrade(clean, kernels=kernels, sigma=sigma, seed=seed + 2)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])
