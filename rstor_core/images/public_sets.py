"""Named public image sets (kodak24, div2k, flickr2k ...), fetched once through deepinv's dataset classes
into a cache (:func:`data_home`) and read from there as folders with no network.

A set is complete when its cache folder holds all its images (:func:`image_count` against
:attr:`PublicSet.count`); deepinv checks the md5s as it downloads. Sets whose images deepinv leaves in
several folders (BSDS500's splits, LSDIR's 85 shards) are gathered into one. Kept apart from
:mod:`~rstor_core.images.photos`, whose code decides evaluation rows (its source is fingerprinted), so a
new set does not invalidate every saved evaluation. No torch here (deepinv imports it, only on a download).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class PublicSet:
    """A public image set as deepinv's class ``dataset`` (in ``deepinv.datasets``) fetches it: its
    images end up in the folders ``images`` (glob patterns under the class's root, gathered into one in
    the cache), and ``archive`` names the download (a key of the class's ``_archive_urls``, or the
    address itself where the class has none)."""

    dataset: str
    images: tuple[str, ...]
    count: int  # images in the set: what a cached copy is checked against (deepinv checks md5s on download)
    archive: str
    options: tuple[tuple[str, object], ...] = ()  # more keyword arguments of the class
    needs: str = ""  # what the download needs beyond deepinv, said when it fails


PUBLIC_SETS = {
    "kodak24": PublicSet("Kodak24", ("Kodak-Lossless-True-Color-Image-Suite-master/PhotoCD_PCD0992",), 24,
                         "Kodak-Lossless-True-Color-Image-Suite-master.zip"),
    "cbsd68": PublicSet("CBSD68", ("png",), 68, "https://huggingface.co/datasets/deepinv/CBSD68",
                        needs="the `datasets` package"),
    "mcmaster": PublicSet("McMaster", ("McM",), 18, "McM.zip"),
    "set14": PublicSet("Set14HR", ("Set14_HR",), 14, "Set14_HR.tar.gz"),
    "urban100": PublicSet("Urban100HR", ("Urban100_HR",), 100, "Urban100_HR.tar.gz"),
    "div2k": PublicSet("DIV2K", ("DIV2K_train_HR",), 800, "DIV2K_train_HR.zip", (("mode", "train"),)),
    "div2k_valid": PublicSet("DIV2K", ("DIV2K_valid_HR",), 100, "DIV2K_valid_HR.zip", (("mode", "val"),)),
    # Training photos: Flickr2K's 2650 2K photos; BSDS500's train and test splits (its val split, a superset
    # of CBSD68, is left out so cbsd68 stays a test set); LSDIR's 84,991 training photos (gated on Hugging Face).
    "flickr2k": PublicSet("Flickr2kHR", ("Flickr2K",), 2650, "Flickr2K.zip"),
    "bsds500": PublicSet("BSDS500", ("BSDS500-master/BSDS500/data/images/train",
                                     "BSDS500-master/BSDS500/data/images/test"), 400,
                         "https://github.com/BIDS/BSDS500/archive/refs/heads/master.zip", needs="the `natsort` package"),
    "lsdir": PublicSet("LsdirHR", ("00[0-8][0-9]000",), 84991, "https://huggingface.co/ofsoundof/LSDIR",
                       (("mode", "train"),), needs="the `huggingface-hub` package and a Hugging Face login with "
                       "access to the gated repository (`hf auth login`)"),
}


class PublicSetUnavailable(FileNotFoundError):
    """A public set that is not in the cache and could not be fetched (offline, or a bad download)."""


def data_home() -> Path:
    """Where public sets are cached: ``$RSTOR_DATA``, else ``$XDG_CACHE_HOME/rstor`` (``~/.cache/rstor``)."""
    if os.environ.get("RSTOR_DATA"):
        return Path(os.environ["RSTOR_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rstor"


def public_set(name: str) -> Path:
    """The folder of public set ``name`` (its images only): the cached copy, or downloaded there
    first through deepinv's class, verified, and moved into place whole (a failed download leaves
    nothing). Raises :class:`PublicSetUnavailable` naming the set, its URL and the folder to fill by
    hand; one process downloads at a time."""
    spec, folder = PUBLIC_SETS[name], data_home() / name
    if image_count(folder) == spec.count:
        return folder
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{name}.lock"
    with FileLock(lock):
        count = image_count(folder)
        if count == spec.count:
            return folder
        if folder.exists():
            raise PublicSetUnavailable(f"public set {name!r}: {str(folder)!r} holds {count} images, the set has "
                                       f"{spec.count}; complete it, or remove it to download it again from "
                                       f"{source_url(spec)}")
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        try:
            images = _download(spec, staging)
            if image_count(images) != spec.count:
                raise ValueError(f"the download holds {image_count(images)} images, not {spec.count}")
            os.replace(images, folder)
        except Exception as err:  # any failure (network, checksum, archive) means: not available here
            lock.unlink(missing_ok=True)  # an offline try leaves nothing in the cache (a waiter fails alike)
            where = "" if spec.dataset == "CBSD68" else f", from {' and '.join(spec.images)}/ in the archive,"
            needs = f" (the download needs {spec.needs})" if spec.needs else ""
            raise PublicSetUnavailable(
                f"public set {name!r} is not in the cache and could not be downloaded ({root_cause(err)}){needs}: "
                f"download {source_url(spec)} and put its {spec.count} images{where} in {str(folder)!r}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("public set %s: %d images in %s", name, spec.count, folder)
    return folder


def source_url(spec: PublicSet) -> str:
    """Where deepinv's class downloads ``spec`` from (read from the class: one source of truth)."""
    import deepinv.datasets

    return getattr(getattr(deepinv.datasets, spec.dataset), "_archive_urls", {}).get(spec.archive, spec.archive)


def _download(spec: PublicSet, root: Path) -> Path:
    """Run deepinv's class with ``download=True`` into ``root/deepinv`` (it checks its md5s); the folder of
    the set's images. CBSD68 arrives as a Hugging Face table: its images are written out as PNGs. Images
    spread over several folders are moved into one (a name met twice is an error, not an overwrite)."""
    import deepinv.datasets

    dataset_class, source = getattr(deepinv.datasets, spec.dataset), root / "deepinv"
    with contextlib.redirect_stdout(io.StringIO()) as said:  # deepinv prints; the library logs
        dataset = dataset_class(root=str(source), download=True, use_dict_output=True, **dict(spec.options))
    log.info("%s: %s", spec.dataset, " ".join(said.getvalue().split()))
    if spec.dataset == "CBSD68":
        (source / spec.images[0]).mkdir()
        for i in range(len(dataset)):
            dataset[i]["x"].convert("RGB").save(source / spec.images[0] / f"{i + 1:02d}.png")
    folders = sorted({folder for pattern in spec.images for folder in source.glob(pattern) if folder.is_dir()})
    if len(folders) == 1:
        return folders[0]
    gathered = root / "images"
    gathered.mkdir()
    for folder in folders:
        for path in folder.iterdir():
            if is_image_name(path):
                if (gathered / path.name).exists():
                    raise ValueError(f"two images are named {path.name!r} in the download")
                os.replace(path, gathered / path.name)
    return gathered


def root_cause(err: BaseException) -> str:
    """The innermost exception behind ``err``, on one line ("Name or service not known", not three
    layers of requests' wrapping that repeat the URL)."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return " ".join(str(err).split()) or type(err).__name__


def image_count(folder: Path) -> int:
    """Image files in ``folder`` (0 when it does not exist): a cached set is complete when it has them all."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if is_image_name(p))


def is_image_name(path: Path) -> bool:
    """An image file's name; hidden files are not (a writer's temporary ``.000005.tmp-123.png``, a half-written
    image a killed run left, is never read as data)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
