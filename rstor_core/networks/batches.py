"""Torch datasets of the study: live and saved dead leaves, and the training batches of an
experiment (clean crops, then its degradation).

Images are float32 in [0, 1]: numpy (H, W, 3) at the numba and photo boundary
(:mod:`rstor_core.images.photos`), torch (3, H, W) in datasets; :func:`to_tensor` and :func:`to_image`
are the one place they convert.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import png
import torch
from tqdm.auto import tqdm

from rstor_core.degradation.degrade import (FAMILIES, degrade, gaussian_blur_kernels, identity_kernel,
                                            motion_blur_kernels, noise_levels)
from rstor_core.images.deadleaves import dead_leaves, image_rng
from rstor_core.images.device_rendering import render_batch
from rstor_core.images.leaf_sampling import sample_leaves
from rstor_core.images.photos import ImageFolder, image_folder, natural_images, random_crops, read_png
from rstor_core.settings.configs import DeadLeavesConfig, ExperimentConfig
from rstor_core.settings.files import atomic_path, remove_stale_temporaries, write_json
from rstor_core.settings.options import physical_memory
from rstor_core.settings.rng import Key, stream, stream_seed

log = logging.getLogger(__name__)
ENDLESS = 2**31 - 1  # length of an endless dataset: any index a sampler may ask for
# Bytes per rendered pixel while one dead-leaves image is painted and finished: the int32 leaf index and
# the float64 RGB shading (28; tracemalloc measured 48-61 at 256-512 px when anti-aliasing also made a
# full-size low-pass copy, which rstor_core.images.antialiasing.decimate_gaussian no longer makes: kept as the
# bound). No config bounds memory, so save_dead_leaves compares this with the machine's.
RENDER_BYTES_PER_PIXEL = 64

def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) numpy -> (C, H, W) float32 torch."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """(C, H, W) torch -> (H, W, C) float32 numpy."""
    return tensor.detach().cpu().permute(1, 2, 0).numpy().astype(np.float32)


class DeadLeavesDataset(torch.utils.data.Dataset):
    """Live dead leaves, (3, H, W) tensors; item ``i`` depends only on ``(seed, key, i)``.

    So any number of DataLoader workers, in any order, gives the same images, and every index a
    different one. ``key`` names the set, or is a tuple of stream keys (a training run's,
    :meth:`~rstor_core.settings.configs.ExperimentConfig.stream_keys`). ``length=None`` is endless (for
    step-based training). Rendering uses the serial CPU kernel: in a training loop torch already
    uses the cores (DESIGN.md).
    """

    def __init__(self, size: int | tuple[int, int], params: DeadLeavesConfig | None = None, *, seed: int = 0,
                 length: int | None = None, key: Key | tuple[Key, ...] = "images", pool: int | None = None) -> None:
        if length is not None and length < 1:
            raise ValueError(f"length must be >= 1 or None (endless), got {length}")
        if pool is not None and pool < 1:
            raise ValueError(f"pool must be >= 1 or None (a new image at every index), got {pool}")
        self.size, self.params, self.seed, self.key, self.pool = size, params or DeadLeavesConfig(), seed, key, pool
        self.length = ENDLESS if length is None else length
        self._kept: dict[int, torch.Tensor] = {}  # pool: the images rendered so far (each process its own)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} images")
        if self.pool is not None:  # a stored set: index i shows image i mod pool, rendered once
            index %= self.pool
            if index in self._kept:
                return self._kept[index]
        image = to_tensor(dead_leaves(self.size, self._rng(index), params=self.params, parallel=False))
        if self.pool is not None:
            self._kept[index] = image
        return image

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """Items ``indices``, (B, 3, H, W) on ``device``. On a GPU, live leaves (no pool, no anti-aliasing,
        not until covered) render there in one launch (:func:`~rstor_core.images.device_rendering.render_batch`),
        the very images of the CPU; otherwise one by one on the CPU, then moved."""
        device = torch.device(device)
        params = self.params
        if device.type == "cuda" and self.pool is None and params.ds_factor == 1 and not params.until_covered:
            if any(not 0 <= i < self.length for i in indices):
                raise IndexError(f"indices out of range for {self.length} images")
            leaves = [sample_leaves(self.size, params, self._rng(i)) for i in indices]
            return render_batch(leaves, self.size, params).to(device)
        return torch.stack([self[i] for i in indices]).to(device)

    def _rng(self, index: int) -> np.random.Generator:
        keys = self.key if isinstance(self.key, tuple) else (self.key,)
        return stream(self.seed, *keys, index)  # image_rng(seed, index, key) for a single key


def save_dead_leaves(out: str | Path, n: int, size: int, params: DeadLeavesConfig | None = None, *, seed: int = 0,
                     bits: int = 8, progress: bool = True) -> int:
    """Write images ``0..n-1`` of a seeded dead-leaves set as PNGs in ``out``; return how many were written.

    Each file is written atomically; a rerun skips the files that already read back with the
    right shape, so an interrupted save resumes. ``params.json`` records what made the set, and a
    rerun with other parameters is refused rather than mixing two sets in one folder, as is a
    non-empty folder without ``params.json`` (someone's own images). An image that would not fit in this
    machine's memory (:data:`RENDER_BYTES_PER_PIXEL`) is refused before anything is written.
    """
    if n < 1 or size < 1 or bits not in (8, 16):
        raise ValueError(f"expected n >= 1, size >= 1 and bits in (8, 16), got n={n}, size={size}, bits={bits}")
    params = params or DeadLeavesConfig()
    needed, available = (size * params.ds_factor) ** 2 * RENDER_BYTES_PER_PIXEL, physical_memory()
    if available is not None and needed > available:
        raise ValueError(f"size {size} (rendered at {size * params.ds_factor} px, ds_factor {params.ds_factor}) "
                         f"needs about {needed / 2**30:.1f} GiB of memory per image; this machine has "
                         f"{available / 2**30:.1f} GiB")
    out = Path(out)
    record = {"size": size, "seed": seed, "bits": bits, "params": dataclasses.asdict(params)}
    record_path = out / "params.json"
    previous = json.loads(record_path.read_text()) if record_path.is_file() else None
    if previous is None and out.is_dir() and any(p.name != ".DS_Store" for p in out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no params.json: it is not a set this command wrote, and "
                         "its files could be overwritten; give an empty or new folder")
    if previous is not None and {k: previous.get(k) for k in record} != json.loads(json.dumps(record)):
        raise ValueError(f"{record_path} describes another set (size, seed, bits or params differ): "
                         "use another folder")
    write_json({**record, "n": max(n, (previous or {}).get("n", 0))}, record_path)
    remove_stale_temporaries(out)  # half-written images of a killed save
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


def _readable(path: Path, shape: tuple[int, ...], dtype: type) -> bool:
    if not path.is_file():
        return False
    try:
        image = read_png(path)
    except (OSError, ValueError, png.Error):
        return False
    return image.shape == shape and image.dtype == dtype


# --- training batches: clean crops, then the degradation, batched (the "collate" step) ------------

class TrainingBatches:
    """(degraded, clean) batches of an experiment, each drawn only from (seed, run, step, rank).

    A batch never depends on what ran before it, so a resumed run sees exactly the batches an
    uninterrupted one would, and each DDP rank gets its own. Each run of an experiment draws its
    own streams (:meth:`~rstor_core.settings.configs.ExperimentConfig.stream_keys`; run 0 those of a config
    without runs) and, from the bundled photos, trains outside its fold
    (:func:`~rstor_core.images.photos.natural_split`). The degradation is applied to the whole batch at
    once (:func:`degrade_batch`), after the crops are stacked, on ``device``: on a GPU, live dead
    leaves render there too (:meth:`DeadLeavesDataset.batch`), so the GPU does not wait on the host.
    """

    def __init__(self, config: ExperimentConfig, *, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu") -> None:
        self.config, self.rank, self.world_size, self.device = config, rank, world_size, torch.device(device)
        if config.data == "dead_leaves":
            # Colours from photos come from this run's training photos only, never its test fold.
            leaves = dataclasses.replace(config.dead_leaves, palette_run=config.run)
            self.leaves = DeadLeavesDataset(config.crop, leaves, seed=config.seed, key=config.stream_keys("training"),
                                            pool=config.dead_leaves_pool)
            self.validation_leaves = DeadLeavesDataset(config.crop, leaves, seed=config.seed,
                                                       key=config.stream_keys("validation"))
        else:
            if str(config.natural_images) == "skimage":
                photos = list(natural_images("skimage", split="train", run=config.run).values())[:config.n_photos]
                self.photos, self.validation_photos = _hold_out(photos, config.val_holdout, config.crop)
            else:  # a folder (or a public set) streams: DIV2K is 27 GB as float32
                folder = image_folder(config.natural_images)
                n = min(len(folder), config.n_photos or len(folder))
                self.photos = StreamedPhotos(folder, n, "train", config.val_holdout, config.crop)
                self.validation_photos = (StreamedPhotos(folder, n, "validation", config.val_holdout, config.crop)
                                          if config.val_holdout else self.photos)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s (degraded, clean), each (batch_size, 3, crop, crop)."""
        n, keys = self.config.batch_size, self.config.stream_keys("training", step, self.rank)
        if self.config.data == "dead_leaves":
            first = (step * self.world_size + self.rank) * n
            clean = self.leaves.batch(range(first, first + n), self.device)
        else:
            clean = self._photo_crops(self.photos, n, stream(self.config.seed, *keys)).to(self.device)
        return degrade_batch(clean, self.config, self.config.seed, *keys, progress=step / self.config.steps), clean

    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed validation set: the same crops and degradations at every call and on every rank."""
        n, keys = self.config.val_images, self.config.stream_keys("validation")
        if self.config.data == "dead_leaves":
            clean = torch.stack([self.validation_leaves[i] for i in range(n)])
        else:
            clean = self._photo_crops(self.validation_photos, n, stream(self.config.seed, *keys))
        return degrade_batch(clean, self.config, self.config.seed, *keys), clean

    def _photo_crops(self, photos: list[np.ndarray], n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.stack([to_tensor(crop) for crop in random_crops(photos, n, self.config.crop, rng)])


class StreamedPhotos(collections.abc.Sequence):
    """The first ``n`` photos of a folder, read when a crop needs one and kept in a small cache
    (``cache`` photos, least recently used out), so memory stays bounded whatever the folder's size;
    DataLoader workers (``loader_workers``) each keep their own. ``part`` "train" or "validation":
    the rows :func:`_hold_out` gives that part with ``share`` held out ("train" with 0: whole photos).
    Every part must hold a crop: checked from the files' headers before any training."""

    def __init__(self, folder: ImageFolder, n: int, part: str = "train", share: float = 0.0, crop: int = 1,
                 cache: int = 8) -> None:
        self.folder, self.n, self.part, self.share, self.cache_size = folder, n, part, share, cache
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        for i in range(n):
            height, width = folder.shape(i)
            rows = _held_rows(height, share)
            rows = height - rows if part == "train" else rows
            if min(rows, width) < crop:
                raise ValueError(f"{folder.paths[i].name}: its {part} part is {rows} x {width} pixels, smaller than "
                                 f"the crop ({crop})" + (f" with val_holdout {share}" if share else ""))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.n:
            raise IndexError(index)
        if index in self._cache:
            self._cache.move_to_end(index)
        else:
            self._cache[index] = self.folder.image(index)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        photo = self._cache[index]
        rows = _held_rows(len(photo), self.share)
        return photo if not self.share else photo[:-rows] if self.part == "train" else photo[-rows:]

    def __getstate__(self) -> dict:  # a worker starts with an empty cache, not a copy of the parent's
        return {**self.__dict__, "_cache": collections.OrderedDict()}


def _held_rows(height: int, share: float) -> int:
    """Rows held out for validation at the bottom of a photo of ``height`` rows (none with ``share`` 0)."""
    return max(1, round(share * height)) if share else 0


def _hold_out(photos: list[np.ndarray], share: float, crop: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training, validation) parts of the photos: with ``share`` > 0, the bottom ``share`` of each
    photo's rows validates and the rest trains, so no validation crop overlaps a training crop;
    with 0, both are the whole photos. A part smaller than a crop is an error before any training."""
    if not share:
        return photos, photos
    rows = [_held_rows(photo.shape[0], share) for photo in photos]
    parts = [photo[:-r] for photo, r in zip(photos, rows)], [photo[-r:] for photo, r in zip(photos, rows)]
    small = [part.shape[:2] for part in (*parts[0], *parts[1]) if min(part.shape[:2]) < crop]
    if small:
        raise ValueError(f"val_holdout {share} leaves a part of {small[0][0]} x {small[0][1]} pixels, smaller "
                         f"than the crop ({crop}): hold out another share or use a smaller crop")
    return parts


def degrade_batch(clean: torch.Tensor, config: ExperimentConfig, seed: int, *keys: Key,
                  progress: float | None = None) -> torch.Tensor:
    """The experiment's degradation of a batch: blur (per-sample kernels) then noise (per-sample
    sigma), each drawn from its own stream of ``(seed, *keys)`` (e.g. ``"training", step, rank``).
    ``progress`` (the share of training done; ``None``: validation) sets the motion-blur families of
    a ``curriculum``; an ``identity_fraction`` of the crops is left sharp."""
    n = len(clean)
    sigma = noise_levels(n, config.noise, seed=stream_seed(seed, *keys, "noise level"))["sigma"]
    kernel_seed = stream_seed(seed, *keys, "blur kernel")
    if config.blur == "none":
        kernels = None
    elif config.blur == "gaussian":
        kernels = gaussian_blur_kernels(n, sigma_range=config.gaussian_sigma, seed=kernel_seed)["filter"]
    else:
        kernels = motion_blur_kernels(n, _families(config, progress), seed=kernel_seed)["filter"]
    if kernels is not None and config.identity_fraction:
        sharp = stream(seed, *keys, "sharp").random(n) < config.identity_fraction
        kernels[torch.from_numpy(sharp)] = identity_kernel(1)[0]
    return degrade(clean, kernels=kernels, sigma=sigma, seed=stream_seed(seed, *keys, "noise"))


def _families(config: ExperimentConfig, progress: float | None) -> str | tuple[str, ...]:
    """The motion-blur families a batch draws from: ``config.blur``'s, narrowed early in a curriculum
    (small over its first half, small and mild over its second; every family after it)."""
    if config.blur != "motion":
        return config.blur
    if progress is None or progress >= config.curriculum:
        return "all"
    return tuple(FAMILIES)[:1 if progress < config.curriculum / 2 else 2]
