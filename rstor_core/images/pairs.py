"""Paired real-blur test sets: a blurred photo beside the sharp one it should become, numpy only.

A pairs folder holds ``blurred/NAME.png`` beside ``sharp/NAME.png`` (any image suffix
:mod:`~rstor_core.images.photos` reads; the names match by stem, the two images of a pair have one size):
RealBlur or a user's own shots, laid out so. GoPro's test folder is read as it unpacks, a folder of
sequences each holding ``blur/NAME.png`` beside ``sharp/NAME.png`` (its ``blur_gamma/`` left out): a pair
is then named ``SEQUENCE/NAME``. ``kohler`` names Köhler et al.'s recorded camera
shake (ECCV 2012, 48 blurred shots of 4 printouts under 12 trajectories), fetched once through deepinv's
``Kohler`` class into ``$RSTOR_DATA/kohler/`` and written there in that layout.

Köhler's sharp reference is not the printout: each blurred shot comes with a video of about 200 sharp
frames taken under the same camera motion, and the original benchmark scores against every frame after
aligning each. Here the reference is the frame deepinv's ``frames="middle"`` selects (frame (n + 1) // 2
of the n of that shot), as deepinv documents it for a single-reference test: a score is against one
frame, not the benchmark's best over aligned frames, so it does not compare with the paper's numbers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import PIL.Image

from rstor_core.images.photos import ImageFolder, read_image
from rstor_core.images.public_sets import (IMAGE_SUFFIXES, PublicSetUnavailable, data_home, image_count, is_image_name,
                                           root_cause)

log = logging.getLogger(__name__)

PAIRS_LAYOUT = "blurred/NAME.png beside sharp/NAME.png (or GoPro's SEQUENCE/blur/NAME.png beside SEQUENCE/sharp/NAME.png)"
BLURRED_SIDES = ("blurred", "blur")  # the blurred side's folder: ours, GoPro's
KOHLER = "kohler"  # the name of Köhler's set: a name wins over a folder of that name (write ./kohler for it)
KOHLER_FRAMES = "middle"  # deepinv's choice of the sharp frame each blurred shot is scored against
KOHLER_SHOTS = [(printout, trajectory) for printout in range(1, 5) for trajectory in range(1, 13)]


class PairsFolder:
    """The (blurred, sharp) pairs of a folder laid out as :data:`PAIRS_LAYOUT`, checked when made (headers
    only): every blurred image has its sharp one and the other way round, both read and have one size.
    A name is the shared stem; pairs are sorted by it and read one at a time (:meth:`pair`)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"pairs folder {str(self.folder)!r} does not exist; expected {PAIRS_LAYOUT}")
        sequences = [] if (self.folder / "blurred").is_dir() or (self.folder / "sharp").is_dir() else sorted(
            d for d in self.folder.iterdir() if d.is_dir() and (d / "blur").is_dir() and (d / "sharp").is_dir())
        self.paths = {}
        for sequence in sequences or [self.folder]:
            prefix = f"{sequence.name}/" if sequences else ""
            self.paths.update({prefix + name: paths for name, paths in _pairs_in(sequence).items()})
        self.names = sorted(self.paths)
        self.shapes = {}
        for name, (blurred, sharp) in self.paths.items():
            shapes = [_header_shape(path) for path in (blurred, sharp)]
            self.shapes[name] = shapes[1]
            if shapes[0] != shapes[1]:
                raise ValueError(f"pairs folder {str(self.folder)!r}: {str(blurred)!r} is {shapes[0][0]} x "
                                 f"{shapes[0][1]} but {str(sharp)!r} is {shapes[1][0]} x {shapes[1][1]}; a pair "
                                 "has one size")

    def __len__(self) -> int:
        return len(self.names)

    def shape(self, name: str) -> tuple[int, int]:
        """Pair ``name``'s (height, width), from the headers."""
        return self.shapes[name]

    def pair(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``name`` as (blurred, sharp), each (H, W, 3) float32 in [0, 1]."""
        blurred, sharp = (read_image(path) for path in self.paths[name])
        return blurred, sharp


def _pairs_in(folder: Path) -> dict[str, tuple[Path, Path]]:
    """``{stem: (blurred, sharp)}`` of one folder of pairs (``blurred/`` or ``blur/`` beside ``sharp/``): an
    image without its other half is an error naming it."""
    blurred = next((side for side in BLURRED_SIDES if (folder / side).is_dir()), BLURRED_SIDES[0])
    sides = {"blurred": _side(folder, blurred), "sharp": _side(folder, "sharp")}
    for side, other in (("blurred", "sharp"), ("sharp", "blurred")):
        alone = sorted(set(sides[side]) - set(sides[other]))
        if alone:
            raise ValueError(f"pairs folder {str(folder)!r}: {str(sides[side][alone[0]])!r} has no "
                             f"{other} image of its name in {str(folder / (blurred if other == 'blurred' else other))!r}"
                             f"{f' ({len(alone) - 1} more unmatched)' if len(alone) > 1 else ''}")
    return {name: (sides["blurred"][name], sides["sharp"][name]) for name in sides["blurred"]}


def _side(pairs: Path, side: str) -> dict[str, Path]:
    """``{stem: path}`` of ``pairs/side``; a missing or empty side, an unreadable file or two files of one stem
    are errors naming them."""
    folder = pairs / side
    if not folder.is_dir():
        raise FileNotFoundError(f"pairs folder {str(pairs)!r} has no {side}/ folder; expected {PAIRS_LAYOUT}")
    paths = sorted(p for p in folder.iterdir() if is_image_name(p))
    if not paths:
        raise ValueError(f"pairs folder {str(folder)!r} holds no image (looked for {', '.join(IMAGE_SUFFIXES)})")
    images = ImageFolder(folder)  # warns of, and leaves out, files whose header does not read
    unreadable = sorted(set(paths) - set(images.paths))
    if unreadable:
        raise ValueError(f"pairs folder: {str(unreadable[0])!r} is not a readable image")
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise ValueError(f"pairs folder: {str(stems[path.stem])!r} and {str(path)!r} share the name "
                             f"{path.stem!r}; rename one")
        stems[path.stem] = path
    return stems


def _header_shape(path: Path) -> tuple[int, int]:
    """An image file's (height, width), from its header."""
    with PIL.Image.open(path) as image:
        return image.height, image.width


def pairs_folder(source: str | Path) -> PairsFolder:
    """The pairs of ``source``: :data:`KOHLER` (fetched into the cache if need be: :func:`kohler_pairs`) or a
    folder laid out as :data:`PAIRS_LAYOUT`."""
    return PairsFolder(kohler_pairs() if str(source) == KOHLER else source)


def kohler_urls() -> list[str]:
    """The archives deepinv's ``Kohler`` class downloads (read from the class: one source of truth)."""
    from deepinv.datasets import Kohler

    return list(Kohler._archive_urls)


def kohler_pairs() -> Path:
    """The folder of Köhler's 48 pairs in :data:`PAIRS_LAYOUT` (``$RSTOR_DATA/kohler``): the cached copy; else
    written from deepinv's extracted archives found there (``Kohler(download=False)``); else downloaded
    through deepinv's class (it checks each archive's md5) into a staging folder, written, and moved into
    place whole. Each pair is ``i{printout}_k{trajectory}``, its sharp image deepinv's middle frame.
    Raises :class:`~rstor_core.images.public_sets.PublicSetUnavailable` naming the URLs and the folder, leaving
    nothing behind."""
    folder = data_home() / KOHLER
    if _complete(folder):
        return folder
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{KOHLER}.lock"
    with FileLock(lock):
        if _complete(folder):
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{KOHLER}-", dir=folder.parent))
        try:
            if folder.is_dir():  # the archives extracted there by hand: read with no network
                _write_pairs(folder, staging / "pairs", download=False)
                for side in ("sharp", "blurred"):
                    shutil.rmtree(folder / side, ignore_errors=True)
                    os.replace(staging / "pairs" / side, folder / side)
            else:
                _write_pairs(staging / "deepinv", staging / "pairs", download=True)
                os.replace(staging / "pairs", folder)
        except Exception as err:  # network, checksum, archive or a missing file: not available here
            lock.unlink(missing_ok=True)
            raise PublicSetUnavailable(
                f"paired set {KOHLER!r} is not in the cache and could not be "
                f"{'read from the archives there' if folder.is_dir() else 'downloaded'} ({root_cause(err)}): "
                f"download {' '.join(kohler_urls())} and extract them into {str(folder)!r}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("paired set %s: %d pairs in %s", KOHLER, len(KOHLER_SHOTS), folder)
    return folder


def _complete(folder: Path) -> bool:
    """Whether ``folder`` holds all of Köhler's pairs in :data:`PAIRS_LAYOUT`."""
    return all(image_count(folder / side) == len(KOHLER_SHOTS) for side in ("blurred", "sharp"))


def _write_pairs(root: Path, out: Path, *, download: bool) -> None:
    """Deepinv's ``Kohler`` at ``root`` (downloading its archives first if ``download``), each shot and its
    middle sharp frame written as ``out/blurred/NAME.png`` and ``out/sharp/NAME.png`` (lossless)."""
    from deepinv.datasets import Kohler

    with contextlib.redirect_stdout(io.StringIO()) as said:  # deepinv and torchvision print; the library logs
        dataset = Kohler(root=str(root), frames=KOHLER_FRAMES, download=download, use_dict_output=True)
    if said.getvalue().strip():
        log.info("Kohler: %s", " ".join(said.getvalue().split()))
    for side in ("blurred", "sharp"):
        (out / side).mkdir(parents=True)
    for printout, trajectory in KOHLER_SHOTS:
        sharp, blurred = dataset.get_item(printout, trajectory, frames=KOHLER_FRAMES)
        name = f"i{printout}_k{trajectory}.png"
        blurred.save(out / "blurred" / name)
        sharp.save(out / "sharp" / name)
