"""Resident memory of training on a folder of many large photos: streamed (what the Trainer does) against
the photos held in memory (what it did before issue 16).

    .venv/bin/python benchmarks/photo_memory.py [--photos 1000] [--side 2040] [--steps 50] [--set flickr2k]

A folder of ``--photos`` files of ``--side`` x 2/3 ``--side`` pixels is made in a temporary folder: ten
distinct generated photos, hard-linked to the rest (each file is read on its own, as distinct photos
would be). In a fresh process each way builds the natural training batches of a DIV2K-like experiment
(crop 256, batch 8) and draws ``--steps`` batches; the table gives the peak resident memory and the
memory the photos would take as float32. ``--set NAME`` puts the folder where the public set ``NAME``
is cached (a temporary ``$RSTOR_DATA``, as many photos as the set has) and trains on the set by name,
as a profile naming ``natural_images: flickr2k`` does. Run it on an idle machine.

Measured here (2026-11-28): 1000 photos of 2040 x 1360, 50 steps, streamed: peak resident memory
1503 MiB (torch and numba included; eight decoded photos cached), against 31,750 MiB for the photos
as float32 in memory.
Named training sets (2026-12-05, same sizes, 50 steps, streamed): ``--set flickr2k`` (2650 photos) peaks
at 1199 MiB against 84,139 MiB as float32; ``--set lsdir`` (84,991 photos) at 1253 MiB against 2,698,506 MiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.io


def _make_folder(folder: Path, photos: int, side: int) -> None:
    from rstor_core.images.deadleaves import dead_leaves

    folder.mkdir(parents=True, exist_ok=True)
    height = side * 2 // 3
    for i in range(photos):
        path = folder / f"photo_{i:04d}.png"
        if i < 10:
            image = dead_leaves((height, side), seed=i, colour="natural")
            skimage.io.imsave(path, (image * 255).astype(np.uint8), check_contrast=False)
        else:
            os.link(folder / f"photo_{i % 10:04d}.png", path)


def _child(source: str, way: str, steps: int) -> None:
    from rstor_core.images.photos import image_folder
    from rstor_core.networks.batches import TrainingBatches
    from rstor_core.settings.configs import ExperimentConfig

    config = ExperimentConfig(data="natural", natural_images=source, crop=256, batch_size=8, noise=(0.0, 50.0))
    batches = TrainingBatches(config)
    if way == "in memory":
        images = image_folder(source)
        batches.photos = [images.image(i) for i in range(len(images))]
    for step in range(steps):
        batches.batch(step)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10)  # MiB (Linux reports kB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--side", type=int, default=2040)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--ways", nargs="+", default=["streamed"],
                        help="streamed, in memory (only for folders that fit in RAM: 1000 2K photos take 33 GB)")
    parser.add_argument("--set", help="a public set's name (flickr2k, lsdir ...): the photos are its cached copy")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], args.child[1], int(args.child[2]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source, photos, env = tmp, args.photos, dict(os.environ)
        if args.set:
            from rstor_core.images.public_sets import PUBLIC_SETS

            source, photos, env["RSTOR_DATA"] = args.set, PUBLIC_SETS[args.set].count, tmp
        _make_folder(Path(tmp) / (args.set or ""), photos, args.side)
        for way in args.ways:
            out = subprocess.run([sys.executable, __file__, "--child", source, way, str(args.steps)], check=True,
                                 capture_output=True, text=True, env=env).stdout
            rows.append({"way": way, "source": args.set or "folder", "photos": photos, "side_px": args.side,
                         "steps": args.steps, "peak_rss_mib": float(out.split()[-1]),
                         "photos_as_float32_mib": photos * args.side * (args.side * 2 // 3) * 12 / 2 ** 20})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".0f"))


if __name__ == "__main__":
    main()
