"""Whether this machine has the images a config names, and which of them a trained network never saw.

Configs only name sources (``"skimage"``, a public set, a folder: fields marked ``source=True``); reading
the disk, or fetching a public set, happens here, when the data is about to be used, so the runner and
the CLI refuse a missing source before any work starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rstor_core.images.pairs import pairs_folder
from rstor_core.images.photos import ImageFolder, unseen_photos
from rstor_core.images.public_sets import PUBLIC_SETS, PublicSetUnavailable, public_set
from rstor_core.settings.chapters import CHAPTER_SECTIONS, Profile
from rstor_core.settings.configs import PALETTE_SAMPLERS, ExperimentConfig


def missing_sources(config: Any, where: str = "") -> list[str]:
    """Why the image sources a config names are unavailable here: one message per ``source`` field
    (nested configs included) that is neither ``"skimage"``, a public set that is cached (or fetched
    now) nor an existing folder, and per ``pairs`` field whose pairs do not read; empty when all are."""
    problems = []
    for f in dataclasses.fields(config):
        value, key = getattr(config, f.name), f"{where}{f.name}"
        if dataclasses.is_dataclass(value):
            problems += missing_sources(value, f"{key}.")
        elif isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item):
                    problems += missing_sources(item, f"{key}.{name}.")
        elif f.metadata.get("source") and value != "skimage":
            problems += [f"{key}: {problem}" for problem in _unavailable_source(value)]
        elif f.metadata.get("pairs") and value:
            problems += [f"{key}: {problem}" for problem in _unavailable_pairs(value)]
    return problems


def _unavailable_source(value: str) -> list[str]:
    """Why a source other than ``"skimage"`` cannot be read here: a public set by name that is neither
    cached nor downloadable (fetching it is the check, so the data is there before any work), or a
    folder that does not exist or holds no readable image (its headers are read, not its pixels)."""
    try:
        folder = public_set(value) if value in PUBLIC_SETS else Path(value) if Path(value).is_dir() else None
        if folder is not None:
            ImageFolder(folder)
            return []
    except (PublicSetUnavailable, ValueError) as err:
        return [str(err)]
    return [f"folder {value!r} does not exist; give 'skimage' (the bundled photos), a public set "
            f"({', '.join(PUBLIC_SETS)}) or a folder of images"]


def _unavailable_pairs(value: str) -> list[str]:
    """Why recorded-blur pairs cannot be read here: ``kohler`` neither cached nor downloadable (fetching it is
    the check), or a folder that does not exist or is not laid out as pairs (headers only)."""
    try:
        pairs_folder(value)
    except (PublicSetUnavailable, ValueError, FileNotFoundError) as err:
        return [str(err)]
    return []


def photos_unseen_by(experiment: ExperimentConfig, test_images: str) -> tuple[str, ...] | None:
    """The photos of ``test_images`` the network ``experiment`` trains never sees, ``None`` for every one
    (:func:`~rstor_core.images.photos.unseen_photos`: a natural run on the bundled photos never sees its
    fold; a dead-leaves run whose colours are pixels of photos never sees those photos' fold either)."""
    if experiment.data == "natural":
        return unseen_photos(experiment.natural_images, experiment.run, test_images)
    if experiment.dead_leaves.colour in PALETTE_SAMPLERS:
        return unseen_photos(experiment.dead_leaves.palette, experiment.run, test_images)
    return None


def experiment_missing_data(experiment: ExperimentConfig) -> list[str]:
    """:func:`missing_sources` of what an experiment reads: the photos of a natural run, the palette of a
    dead-leaves run that draws natural colours."""
    if experiment.data == "natural":
        return [p for p in missing_sources(experiment) if p.startswith("natural_images")]
    if experiment.dead_leaves.colour in PALETTE_SAMPLERS:
        return missing_sources(experiment.dead_leaves, "dead_leaves.")
    return []


def chapter_missing_data(profile: Profile, chapter: str) -> list[str]:
    """:func:`missing_sources` of a chapter, by key path: its section's images and those of the
    experiments it names (which it may train). The runner asks before any chapter starts, so a public
    set is fetched, or refused, before any work."""
    key = CHAPTER_SECTIONS[chapter][0]
    problems = [f"{key}.{problem}" for problem in missing_sources(profile.section(chapter))]
    for name in sorted(profile.chapter_experiments(chapter)):
        problems += [f"experiments.{name}.{problem}" for problem in experiment_missing_data(profile.experiments[name])]
    return problems
