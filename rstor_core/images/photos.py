"""Photos the study reads, numpy only: the bundled scikit-image photographs, folders of images,
named public sets (:mod:`~rstor_core.images.public_sets`) read as folders, PNG/JPEG reading (8 or 16 bit)
and crops.

The default natural set is the handful of RGB photographs that ship inside scikit-image, so the
book runs with no network; split into folds (:data:`NATURAL_FOLDS`), each is a test photo of the
natural networks that never saw it. A profile may name a public set instead (:data:`PUBLIC_SETS`):
deepinv's dataset class downloads and verifies it once into a cache, and after that it
is a folder like any other. Images are (H, W, 3) float32 in [0, 1]. No torch and no matplotlib
here (deepinv, which imports torch, only when a set is downloaded), so the colour samplers, the
evaluation and the CLI can read photos without either.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import PIL.Image
import png
import skimage.data
import skimage.io
import skimage.util

from rstor_core.images.public_sets import IMAGE_SUFFIXES, PUBLIC_SETS, is_image_name, public_set

log = logging.getLogger(__name__)

# RGB photographs that load offline (skin, lily and eagle need a download: left out).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
# Folds of the bundled photos: natural run r trains on the photos outside fold r mod 3 and is tested
# on that fold, so every photo is a test photo of a network that never saw it. Fold 0 is the split the
# committed quick weights trained on (run 0). Near-duplicates share a fold; the motorcycle's right stereo
# view is left out altogether: as a test photo it would be scored by networks that trained on its twin,
# and as a training photo beside the left view it would change run 0's photos.
NATURAL_FOLDS = (("chelsea", "coffee"), ("astronaut", "motorcycle"), ("rocket",))


def natural_split(run: int) -> dict[str, tuple[str, ...]]:
    """The bundled photos natural run ``run`` trains on (``"train"``, in :data:`SKIMAGE_PHOTOS`'s order)
    and those it never saw (``"test"``: fold ``run`` mod 3 of :data:`NATURAL_FOLDS`); chapters 02-04.

    >>> natural_split(0)
    {'train': ('astronaut', 'rocket', 'motorcycle'), 'test': ('chelsea', 'coffee')}
    """
    if run < 0:
        raise ValueError(f"run must be >= 0, got {run}")
    test = NATURAL_FOLDS[run % len(NATURAL_FOLDS)]
    return {"train": tuple(name for name in SKIMAGE_PHOTOS if name not in test), "test": test}


NATURAL_SPLITS = natural_split(0)  # run 0's: what the committed quick weights trained on


def natural_images(source: str | Path = "skimage", split: str | None = None, *, run: int = 0) -> dict[str, np.ndarray]:
    """Name -> (H, W, 3) float32 image, from ``"skimage"`` (all five photos, or one split of run
    ``run``, :func:`natural_split`), a public set of :data:`PUBLIC_SETS` or a folder (every readable
    image, sorted by file name; sets and folders have no split)."""
    if str(source) == "skimage":
        if split is not None and split not in NATURAL_SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {list(NATURAL_SPLITS)}")
        names = natural_split(run)[split] if split else SKIMAGE_PHOTOS
        return {name: _as_rgb_float(_skimage_photo(name)) for name in names}
    folder = image_folder(source)
    images, broken = {}, []
    for i, name in enumerate(folder.names()):
        try:
            images[name] = folder.image(i)
        except ValueError as err:  # a header that reads over data that does not (a truncated file)
            broken.append(str(err))
    if broken:  # as the folder scan skips files whose header does not read
        log.warning("skipped %d image(s) that do not decode in %s: %s", len(broken), folder.folder, "; ".join(broken))
    if not images:
        raise ValueError(f"no image of folder {str(folder.folder)!r} decodes: {'; '.join(broken)}")
    return images


def test_photos(source: str | Path = "skimage") -> dict[str, np.ndarray]:
    """Every photo of a source a network may be tested on: the five bundled photos in fold order (so the
    first N, a chapter's ``n_images``, start with those run 0 never saw), or every image of a set or a
    folder. Which of them a natural network never saw: :func:`unseen_photos`."""
    photos = natural_images(source)
    if str(source) != "skimage":
        return photos
    return {name: photos[name] for fold in NATURAL_FOLDS for name in fold}


def unseen_photos(trained_on: str | Path, run: int, test_images: str | Path) -> tuple[str, ...] | None:
    """The photos of ``test_images`` that run ``run`` of a natural network trained on ``trained_on`` never
    saw: the run's fold when both are the bundled photos, ``None`` (every one) when they are different
    sources (:meth:`rstor_core.settings.configs.ExperimentConfig.unseen_photos` adds dead-leaves networks). A
    network tested on the very folder or set it trained on (no folds there) has no unseen photo: an
    error naming both."""
    trained_on, test_images = str(trained_on), str(test_images)
    if trained_on == test_images == "skimage":
        return natural_split(run)["test"]
    if trained_on == test_images or (trained_on not in PUBLIC_SETS and test_images not in PUBLIC_SETS
                                     and Path(trained_on).resolve() == Path(test_images).resolve()):
        raise ValueError(f"the natural network trained on every image of {trained_on!r}: testing it on "
                         f"{test_images!r} would score its training images; give other test images")
    return None


def image_folder(source: str | Path) -> "ImageFolder":
    """The images of a folder, or of a public set by name (fetched into the cache if need be): a
    name of :data:`PUBLIC_SETS` wins over a folder of that name (write ``./kodak24`` for the folder)."""
    return ImageFolder(public_set(str(source)) if str(source) in PUBLIC_SETS else source)


class ImageFolder:
    """The images of a folder (PNG, JPEG, TIFF, BMP; 8 or 16 bit; any mode PIL converts to RGB,
    alpha dropped), read lazily: a DIV2K-sized folder does not fit in memory as float32.

    Files that cannot be opened are skipped with one warning listing them, hidden ones (a writer's
    temporaries) are not images; a folder with no readable image is an error naming it.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if self.folder.is_file():
            raise ValueError(f"{str(self.folder)!r} is a file: give the folder that holds the images")
        if not self.folder.is_dir():
            raise FileNotFoundError(f"image folder {str(self.folder)!r} does not exist")
        candidates = sorted(p for p in self.folder.iterdir() if is_image_name(p))
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

    def names(self) -> list[str]:
        """One name per image: its stem, or its file name where two files share a stem
        (``photo.png`` and ``photo.jpg``), so no image is dropped from a table keyed by name."""
        stems = [path.stem for path in self.paths]
        names = [path.stem if stems.count(path.stem) == 1 else path.name for path in self.paths]
        for i, name in enumerate(names):
            if names.count(name) > 1:
                other = self.paths[names.index(name, i + 1)]
                raise ValueError(f"images {self.paths[i].name!r} and {other.name!r} in {str(self.folder)!r} would "
                                 f"both be named {name!r}; rename one")
        return names

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as (H, W, 3) float32 in [0, 1]."""
        return read_image(self.paths[index])

    def shape(self, index: int) -> tuple[int, int]:
        """Image ``index``'s (height, width), from its header: no decoding."""
        path = self.paths[index]
        if path.suffix.lower() == ".png":
            reader = png.Reader(filename=str(path))
            reader.preamble()
            return reader.height, reader.width
        with PIL.Image.open(path) as image:
            return image.height, image.width


def read_image(path: str | Path) -> np.ndarray:
    """One image file as (H, W, 3) float32 in [0, 1].

    8-bit files go through PIL's own conversion to RGB, which knows every mode (CMYK, palette,
    grey, Lab; alpha dropped); keeping three of four CMYK planes instead is wrong by half the range.
    Deeper files (16-bit PNG and TIFF) are read as numbers so they keep their bits: PIL would
    read a 16-bit RGB file as 8-bit.
    """
    path = Path(path)
    try:
        with PIL.Image.open(path) as image:
            if _bit_depth(path, image) <= 8:
                return _as_rgb_float(np.asarray(image.convert("RGB")))
            if image.format == "PNG":
                pixels, bits = _read_png(path)
                return _as_rgb_float(pixels.astype(np.float32) / np.float32(2 ** bits - 1))
        return _as_rgb_float(skimage.io.imread(path))
    except (OSError, ValueError, png.Error, PIL.Image.DecompressionBombError) as err:
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
    """Grey, grey + alpha, RGB or RGBA numbers as (H, W, 3) float32, alpha dropped."""
    image = skimage.util.img_as_float32(image)
    if image.ndim == 3 and image.shape[-1] in (1, 2):
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected a grey, RGB or RGBA image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3])


# PIL modes whose samples are wider than 8 bits (16-bit grey, 32-bit integer or float).
_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _bit_depth(path: Path, image: PIL.Image.Image) -> int:
    """Bits per sample of an opened file; PIL's mode hides them for 16-bit RGB PNGs and TIFFs."""
    if image.mode in _DEEP_MODES:
        return 16
    if image.format == "PNG":
        reader = png.Reader(filename=str(path))
        reader.preamble()
        return reader.bitdepth
    if image.format == "TIFF":
        return int(np.max(image.tag_v2.get(258, 8)))  # BitsPerSample, one per channel
    return 8


def read_png(path: str | Path) -> np.ndarray:
    """An 8- or 16-bit PNG as uint8 or uint16 (H, W, C); pypng, since Pillow reads 16-bit RGB as 8-bit."""
    return _read_png(path)[0]


def _read_png(path: str | Path) -> tuple[np.ndarray, int]:
    """A PNG's samples and their bit depth (after pypng applies the palette, tRNS and sBIT)."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    dtype = np.uint16 if info["bitdepth"] > 8 else np.uint8
    pixels = np.vstack([np.asarray(row, dtype=dtype) for row in rows]).reshape(height, width, info["planes"])
    return pixels, info["bitdepth"]


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


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window of an (H, W, ...) image (the whole side if smaller)."""
    height, width = image.shape[:2]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[top:top + size, left:left + size]
