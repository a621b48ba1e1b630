"""Networks scored on recorded blur: each restores the blurred image of each pair, measured against its
sharp image, in the very rows :func:`~rstor_core.networks.evaluate.evaluate` writes.

The blurred input is the :data:`~rstor_core.measurement.rows.INPUT` model, so a gain is a paired
difference as for synthetic degradations; the degradation is :data:`RECORDED` (its kernel and noise
are unknown: ``blur`` is ``"recorded"``, ``sigma_255`` NaN). ``python -m rstor_core infer --pairs`` writes
:func:`score_pair_checkpoints`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rstor_core.images.pairs import PairsFolder, pairs_folder
from rstor_core.images.photos import centre_crop
from rstor_core.measurement.metrics import st_lpips_model
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.batches import to_tensor
from rstor_core.networks.checkpoints import load_model
from rstor_core.networks.device import pick_device
from rstor_core.networks.evaluate import _runs, _save_png, _unusable, lpips_or_note, metric_scores, model_names
from rstor_core.networks.models import restore

log = logging.getLogger(__name__)

RECORDED = "recorded blur"  # the degradation column of a pair: blurred by a camera, not by a bank kernel


def evaluate_pairs(models: Mapping[str, torch.nn.Module | list[torch.nn.Module]], pairs: PairsFolder, *,
                   test_set: str, sizes: Sequence[int | None] = (None,), n_images: int | None = None,
                   lpips: bool = True, st_lpips: bool = True, device: torch.device | str | None = None,
                   save_images: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Each model (or each run of a list of networks) restores each pair's blurred image (centre-cropped to
    each size, the sharp one alike; None: whole); PSNR, SSIM, LPIPS and ST-LPIPS against the sharp image,
    the blurred input as model :data:`INPUT`. One row per (model, run, image, size),
    :func:`~rstor_core.networks.evaluate.evaluate`'s columns. A pair smaller than a size, or than a metric
    needs, is skipped with a warning; none usable is an error. ``lpips=False`` or AlexNet's weights missing
    leave ``lpips`` NaN with a note."""
    if INPUT in models:
        raise ValueError(f"a model named {INPUT!r} would merge with the blurred input's rows; rename it")
    runs = _runs(models)
    names = pairs.names[:n_images]
    device = pick_device(device)
    lpips_net, lpips_note = lpips_or_note(lpips, device)
    shapes = {name: pairs.shape(name) for name in names}  # from the headers: no image is read to check sizes
    unusable = _unusable({name: np.broadcast_to(np.float32(0), (*shape, 3)) for name, shape in shapes.items()},
                         names, sizes, lpips=lpips_net is not None, st_lpips=st_lpips)
    for (name, size), why in unusable.items():
        log.warning("%s: pair %r (%d x %d) %s: skipped%s", test_set, name, *shapes[name], why,
                    f" at size {size}" if size else "")
    usable = [(name, size) for size in sizes for name in names if (name, size) not in unusable]
    if not usable:
        raise ValueError(f"no pair of {test_set!r} can be scored at sizes {list(sizes)}: "
                         f"{'; '.join(dict.fromkeys(unusable.values()))}; give larger pairs or sizes")
    st_lpips_net = st_lpips_model(device=str(device)) if st_lpips else None
    rows = []
    with torch.inference_mode():
        for name, size in tqdm(usable, desc=f"pairs {test_set}", unit="pair", disable=not progress):
            blurred, sharp = ((to_tensor(centre_crop(image, size) if size else image)[None].to(device))
                              for image in pairs.pair(name))
            outputs = [(INPUT, 0, blurred.clamp(0, 1))]
            outputs += [(label, run, restore(model, blurred)) for label, networks in runs.items()
                        for run, model in enumerate(networks)]
            for label, run, restored in outputs:
                scores = metric_scores(restored, sharp, lpips_net, st_lpips_net)
                rows.append({"model": label, "run": run, "test_set": test_set, "image": name, "degradation": RECORDED,
                             "blur": "recorded", "sigma_255": float("nan"), "size_px": size or max(sharp.shape[-2:]),
                             **{m: float(v[0]) for m, v in scores.items()}, "lpips_note": lpips_note})
                if save_images is not None:
                    _save_png(restored[0], Path(save_images) / test_set / f"{name}_{size or 'full'}" /
                              f"{label}{f'.run{run}' if run else ''}.png")
    return pd.DataFrame(rows)


def score_pair_checkpoints(checkpoints: Sequence[str | Path], pairs: str | Path, *,
                           device: torch.device | str | None = None, **options: Any) -> pd.DataFrame:
    """:func:`evaluate_pairs` of the networks saved at ``checkpoints`` (named by their folders:
    :func:`~rstor_core.networks.evaluate.model_names`) on ``pairs``, ``"kohler"`` or a pairs folder (its
    name is the ``test_set``): what ``python -m rstor_core infer --pairs`` writes. The pairs are checked
    (or fetched) before any checkpoint is read."""
    names, device = model_names(checkpoints), pick_device(device)
    folder = pairs_folder(pairs)
    models = {name: load_model(path, device=device) for name, path in zip(names, checkpoints)}
    return evaluate_pairs(models, folder, test_set=Path(pairs).name, device=device, **options)
