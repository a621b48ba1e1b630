"""Batched evaluation: every model on the same degraded inputs, one tidy row per measurement.

:func:`evaluate` returns a pandas DataFrame with one row per (model, run, test set, image,
degradation, size): PSNR, SSIM, LPIPS and ST-LPIPS of the degraded input (model ``"input"``) and
of each model's output, so any table of chapters 02-04 is a ``groupby`` away. Each degradation is drawn
once per image from the seed (:func:`degrade_image`), so every model sees the very same inputs. ``python -m rstor_core
infer`` is the command-line twin (the original study's ``infer.py``) on any folder of images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rstor_core.degradation.degrade import bank_kernels, degrade, parse_blur_spec
from rstor_core.images.photos import centre_crop, test_photos
from rstor_core.images.sources import photos_unseen_by
from rstor_core.measurement.metrics import (ALEXNET_URL, LPIPS_MIN_SIZE, SSIM_MIN_SIZE, ST_LPIPS_MIN_SIZE,
                                            LPIPSWeightsMissing, lpips_distance, lpips_model, psnr, ssim,
                                            st_lpips_distance, st_lpips_model)
from rstor_core.measurement.rows import INPUT
from rstor_core.networks.batches import to_image, to_tensor
from rstor_core.networks.checkpoints import MODEL_FILE, load_model, read_checkpoint
from rstor_core.networks.device import pick_device
from rstor_core.networks.models import restore
from rstor_core.settings.configs import DECONVOLUTIONS
from rstor_core.settings.files import atomic_path
from rstor_core.settings.rng import stream_seed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Degradation:
    """One test degradation: a bank kernel address (``"big:3"``, ``"gaussian:0"``, or ``""`` for none) and a
    noise sigma in /255."""

    blur: str = ""
    sigma: float = 0.0

    @property
    def name(self) -> str:
        noise = f"sigma={self.sigma:g}"
        return f"{self.blur}, {noise}" if self.blur else noise


Classical = Callable[[torch.Tensor, "Degradation"], "torch.Tensor | None"]  # (1, C, H, W) degraded -> restored


def degradation_grid(sigmas: Sequence[float] = (), blurs: Sequence[str] = (), *,
                     blur_sigma: float = 0.0) -> list[Degradation]:
    """Noise-only degradations for ``sigmas``, then every bank kernel of ``blurs`` (``"small:0-7"``)
    with noise ``blur_sigma``."""
    grid = [Degradation("", float(s)) for s in sigmas]
    for spec in blurs:
        family, indices = parse_blur_spec(spec)
        grid += [Degradation(f"{family}:{i}", float(blur_sigma)) for i in indices]
    if not grid:
        raise ValueError("no degradation: give sigmas and/or blur specs")
    return grid


def evaluate(models: Mapping[str, torch.nn.Module | list[torch.nn.Module]], images: Mapping[str, np.ndarray],
             degradations: Sequence[Degradation], *, sizes: Sequence[int | None] = (None,), n_images: int | None = None,
             seed: int = 0, test_set: str = "test", lpips: bool = True, st_lpips: bool = True, batch_size: int = 4,
             classical: Mapping[str, Classical] | None = None, photos_of: Mapping[tuple[str, int], Collection[str]]
             | None = None, device: torch.device | str | None = None, save_images: str | Path | None = None,
             progress: bool = True) -> pd.DataFrame:
    """Degrade each image (centre-cropped to each size; None: whole image) with each degradation,
    restore with each model, and measure; one row per (model, run, test set, image, degradation, size).

    ``models`` maps a label to one network (run 0) or to a list of its independently trained runs
    (``[run 0, run 1, ...]``); the ``run`` column says which. ``photos_of`` tests network ``(label, run)``
    on the named images only (those it never saw: :meth:`rstor_core.book.chapter.ChapterRun.unseen_photos`);
    a network without an entry is tested on every image. The input and classical rows (run 0) are
    computed once per image, and every network sees those very inputs.
    ``classical`` methods (e.g. :func:`bm3d_denoiser`) also get the degradation's parameters and
    add rows where they apply. ``lpips=False``, or LPIPS weights missing, leaves the ``lpips``
    column NaN and says why in ``lpips_note``; ``st_lpips`` (ST-LPIPS, offline, about 0.25 s per 256 x 256
    output on a 2-core CPU) fills every row unless ``st_lpips=False`` leaves it NaN. ``save_images``
    writes every input and output as PNG.
    An image smaller than a crop size is skipped at that size with a warning, so ``size_px`` is always
    the side evaluated (whole images: the longer side). Images are degraded and scored on ``device``
    (default: :func:`~rstor_core.networks.device.pick_device`); each network runs on its own device
    (:func:`~rstor_core.networks.models.restore`).
    """
    clashes = sorted({INPUT, *(classical or {})} & set(models))
    if clashes:
        raise ValueError(f"model name(s) {clashes} clash with the degraded input's rows ({INPUT!r}) or a classical "
                         "method: their rows would merge; rename the model(s)")
    runs = _runs(models)
    photos_of = _checked_photos_of(photos_of or {}, runs, images)
    names = list(images)[:n_images]
    if not names:
        raise ValueError("no test image")
    device = pick_device(device)
    lpips_net, lpips_note = lpips_or_note(lpips, device)
    unusable = _unusable(images, names, sizes, lpips=lpips_net is not None, st_lpips=st_lpips)
    if len(unusable) == len(names) * len(sizes):
        raise ValueError(f"no test image can be scored: {'; '.join(dict.fromkeys(unusable.values()))}: give larger "
                         f"images or sizes, or leave out the metric that needs them (lpips=False, st_lpips=False)")
    for (name, size), why in unusable.items():  # said before any work, as each is skipped
        log.warning("%s: image %r (%d x %d) %s: skipped%s", test_set, name, *images[name].shape[:2], why,
                    f" at size {size}" if size else "")
    st_lpips_net = st_lpips_model(device=str(device)) if st_lpips else None
    rows = []
    total = len(names) * len(sizes) * len(degradations)
    with torch.inference_mode(), tqdm(total=total, desc=f"evaluate {test_set}", unit="input",
                                      disable=not progress) as bar:
        for size in sizes:
            for name in names:
                if (name, size) in unusable:
                    bar.update(len(degradations))
                    continue
                clean = to_tensor(centre_crop(images[name], size) if size else images[name])[None].to(device)
                inputs = _degrade_all(clean, degradations, seed=seed, image=name)
                results = [(INPUT, 0, inputs, list(degradations))]
                for label, networks in runs.items():
                    results += [(label, run, restore(model, inputs, batch_size=batch_size), list(degradations))
                                for run, model in enumerate(networks)
                                if (label, run) not in photos_of or name in photos_of[label, run]]
                for method, restorer in (classical or {}).items():
                    done = [(restorer(inputs[k:k + 1], d), d) for k, d in enumerate(degradations)]
                    done = [(out, d) for out, d in done if out is not None]
                    if done:
                        results.append((method, 0, torch.cat([out for out, _ in done]), [d for _, d in done]))
                for method, run, restored, applied in results:
                    scores = metric_scores(restored, clean, lpips_net, st_lpips_net)
                    for k, degradation in enumerate(applied):
                        rows.append({"model": method, "run": run, "test_set": test_set, "image": name,
                                     "degradation": degradation.name, "blur": degradation.blur or "none",
                                     "sigma_255": degradation.sigma, "size_px": size or max(clean.shape[-2:]),
                                     **{m: float(v[k]) for m, v in scores.items()}, "lpips_note": lpips_note})
                        if save_images is not None:
                            _save_png(restored[k], Path(save_images) / test_set / f"{name}_{size or 'full'}" /
                                      f"{degradation.name.replace(', ', '_').replace(':', '-')}_{method}"
                                      f"{f'.run{run}' if run else ''}.png")
                bar.update(len(degradations))
    return pd.DataFrame(rows)


def lpips_or_note(lpips: bool, device: torch.device) -> tuple[torch.nn.Module | None, str]:
    """LPIPS's network and an empty note, or None and why the ``lpips`` column is NaN (``lpips=False``, or
    AlexNet's weights missing: the full message goes to the log, the table keeps one line)."""
    if not lpips:
        return None, "skipped (lpips=False)"
    try:
        return lpips_model(device=str(device)), ""
    except LPIPSWeightsMissing as err:
        log.info("%s", err)
        return None, f"skipped: AlexNet weights ({Path(ALEXNET_URL).name}) missing from the torch hub cache"


def metric_scores(restored: torch.Tensor, clean: torch.Tensor, lpips_net: torch.nn.Module | None,
                  st_lpips_net: torch.nn.Module | None) -> dict[str, torch.Tensor]:
    """Each of :data:`~rstor_core.measurement.rows.METRICS` of the (N, 3, H, W) ``restored`` against the one
    (1, 3, H, W) ``clean`` image, N values each; a distance whose network is None is NaN."""
    target = clean.expand_as(restored)
    return {"psnr": psnr(restored, target), "ssim": ssim(restored, target),
            **{metric: distance(restored, clean, model=net) if net is not None  # clean: one target
               else torch.full((len(restored),), float("nan"))
               for metric, distance, net in (("lpips", lpips_distance, lpips_net),
                                             ("st_lpips", st_lpips_distance, st_lpips_net))}}


def _runs(models: Mapping[str, torch.nn.Module | list[torch.nn.Module]]) -> dict[str, list[torch.nn.Module]]:
    """``{label: [run 0, run 1, ...]}``: a list or tuple holds a label's runs, anything else is its run 0."""
    runs = {label: list(value) if isinstance(value, (list, tuple)) else [value] for label, value in models.items()}
    empty = [label for label, networks in runs.items() if not networks]
    if empty:
        raise ValueError(f"model(s) {empty} have no network: give a network or a non-empty list of runs")
    return runs


def _checked_photos_of(photos_of: Mapping[tuple[str, int], Collection[str]], runs: Mapping[str, list],
                       images: Mapping[str, np.ndarray]) -> dict[tuple[str, int], set[str]]:
    """``photos_of`` as sets, refused when it names a network or an image that is not there: a misspelt
    key would silently test a network on every image, a misspelt name on fewer."""
    networks = {(label, run) for label, models in runs.items() for run in range(len(models))}
    unknown = [key for key in photos_of if key not in networks]
    if unknown:
        raise ValueError(f"photos_of names network(s) {unknown} that are not evaluated; known (label, run): "
                         f"{sorted(networks)}")
    for key, names in photos_of.items():
        missing = sorted(set(names) - set(images))
        if missing:
            raise ValueError(f"photos_of{key} names image(s) {missing} that are not test images; test images: "
                             f"{list(images)}")
    return {key: set(names) for key, names in photos_of.items()}


Degrader = Callable[[torch.Tensor], torch.Tensor]  # (1, C, H, W) clean -> degraded


def restoration_panels(images: Mapping[str, np.ndarray], degradations: Mapping[str, Degrader],
                       models: Mapping[str, Callable] | None = None, *, input_label: str = "degraded"
                       ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """Each image (H, W, 3) degraded by each degradation (columns) and restored by each model (rows under
    the degraded row), for a figure to show: ``({row: {column: output}}, {row: {column: PSNR}}, {row:
    clean})``. Rows are ``input_label`` and the model names for one image, ``"image"`` and ``"image,
    model"`` for several. A figure of a few crops, not a measurement: the tables come from :func:`evaluate`."""
    models = models or {}
    rows: dict[str, dict[str, torch.Tensor]] = {}
    scores: dict[str, dict[str, float]] = {}
    cleans: dict[str, torch.Tensor] = {}
    for image_name, image in images.items():
        clean = to_tensor(image)[None]
        name = (lambda row: row) if len(images) == 1 else (lambda row: image_name if row == input_label
                                                           else f"{image_name}, {row}")
        for row in (input_label, *models):
            rows[name(row)], scores[name(row)], cleans[name(row)] = {}, {}, clean
        for column, degrade_fn in degradations.items():
            degraded = degrade_fn(clean)
            outputs = {input_label: degraded.clamp(0, 1),
                       **{m: restore(model, degraded) for m, model in models.items()}}
            for row, out in outputs.items():
                rows[name(row)][column] = out
                scores[name(row)][column] = float(psnr(out, clean)[0])
    return rows, scores, cleans


def score_checkpoints(checkpoints: Sequence[str | Path], images: str, degradations: Sequence[Degradation], *,
                      device: torch.device | str | None = None, **options: Any) -> pd.DataFrame:
    """:func:`evaluate` of the networks saved at ``checkpoints`` (each named by its folder:
    :func:`model_names`) on ``images``, a folder, ``"skimage"`` or a public set (``test_set`` is its name):
    what ``python -m rstor_core infer`` writes. A network trained on some of those photos is scored only on
    those its run never saw (:func:`~rstor_core.images.sources.photos_unseen_by`)."""
    names, device = model_names(checkpoints), pick_device(device)
    photos = test_photos(images)  # a public set is fetched (or refused) before any checkpoint is read
    unseen = {(name, 0): photos_unseen_by(read_checkpoint(path)[1], images) for name, path in zip(names, checkpoints)}
    models = {name: load_model(path, device=device) for name, path in zip(names, checkpoints)}
    return evaluate(models, photos, degradations, device=device, test_set=Path(images).name,
                    photos_of={key: photos for key, photos in unseen.items() if photos is not None}, **options)


def model_names(checkpoints: Sequence[str | Path], *, reserved: Collection[str] = (INPUT,)) -> list[str]:
    """The ``model`` column's name of each checkpoint file: its folder for ``.../NAME/model.pt`` (else its
    stem), lengthened by parent folders (``a/net``, ``b/net``) until no other checkpoint and no
    ``reserved`` name (:data:`INPUT`) shares it, so two runs are never merged nor one dropped.

    >>> model_names(["a/net/model.pt", "b/net/model.pt", "solo/model.pt", "runs/input/model.pt"])
    ['a/net', 'b/net', 'solo', 'runs/input']
    """
    keys = [_path_parts(Path(p)) for p in checkpoints]
    names = []
    for path, parts in zip(checkpoints, keys):
        others = [k for k in keys if k is not parts]
        if parts in others:
            raise ValueError(f"checkpoint {str(path)!r} is given twice")
        name = next(("/".join(parts[-n:]) for n in range(1, len(parts) + 1)
                     if "/".join(parts[-n:]) not in reserved and all(k[-n:] != parts[-n:] for k in others)), None)
        if name is None:
            raise ValueError(f"checkpoint {str(path)!r} would be named {'/'.join(parts)!r}, a reserved name "
                             f"({sorted(reserved)}): move it into another folder")
        names.append(name)
    return names


def _path_parts(path: Path) -> list[str]:
    """The folders (from the root, ``..`` resolved without following links) and name a checkpoint is known by."""
    path = Path(os.path.abspath(path))
    return [*path.parent.parts[1:], *([] if path.name == MODEL_FILE else [path.stem])]


def bm3d_denoiser(sigmas: Sequence[float] | None = None) -> Classical:
    """BM3D (the ``bm3d`` package, RGB), told the true noise sigma: the anchor a practitioner
    has without training. Applies to noise-only degradations (with ``sigmas``: only those)."""
    def run(degraded: torch.Tensor, degradation: Degradation) -> torch.Tensor | None:
        if degradation.blur or degradation.sigma <= 0 or (sigmas is not None and degradation.sigma not in sigmas):
            return None
        import bm3d  # compiled library: imported only when used

        out = bm3d.bm3d_rgb(to_image(degraded[0]).astype(np.float64), degradation.sigma / 255.0)
        return to_tensor(np.clip(out, 0.0, 1.0).astype(np.float32))[None].to(degraded.device)

    return run


def deconvolution(method: str = "wiener", *, balance: float = 0.01, iterations: int = 30) -> Classical:
    """Non-blind deconvolution (scikit-image) told the true bank kernel: the anchor a practitioner
    has without learning, and an upper reference for the blind networks, which are not told it.

    ``wiener``: ``skimage.restoration.wiener`` with regularisation ``balance``; ``richardson_lucy``:
    ``iterations`` of Richardson-Lucy. The image is padded symmetrically by one kernel support and
    cropped back, so the FFT's wrap-around does not ring at the borders. Applies to blurred
    degradations only (motion or Gaussian bank addresses).
    """
    if method not in DECONVOLUTIONS:
        raise ValueError(f"unknown deconvolution {method!r}; allowed: {list(DECONVOLUTIONS)}")
    if balance <= 0 or iterations < 1:
        raise ValueError(f"need balance > 0 and iterations >= 1, got {balance} and {iterations}")

    def run(degraded: torch.Tensor, degradation: Degradation) -> torch.Tensor | None:
        if not degradation.blur:
            return None
        import skimage.restoration

        kernel = bank_kernels(degradation.blur)[0, 0].double().numpy()
        pad = kernel.shape[0]
        image = np.pad(to_image(degraded[0]).astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
        if method == "wiener":
            out = np.stack([skimage.restoration.wiener(image[..., c], kernel, balance, clip=False)
                            for c in range(image.shape[-1])], -1)
        else:  # all channels in one 3-D call with a flat kernel: the same result, half the time
            out = skimage.restoration.richardson_lucy(image.clip(0, 1), kernel[..., None], num_iter=iterations,
                                                      clip=False)
        out = out[pad:-pad, pad:-pad]
        return to_tensor(np.clip(out, 0.0, 1.0).astype(np.float32))[None].to(degraded.device)

    return run


def non_blind_anchors(method: str, *, balance: float = 0.01, iterations: int = 30) -> dict[str, Classical]:
    """``{label: deconvolution(method)}`` for a table's rows, the label saying what the method is told that the
    blind networks are not; ``{}`` for ``"none"``."""
    if method == "none":
        return {}
    label = f"{method.replace('_', '-').title()} (non-blind, knows the kernel)"
    return {label: deconvolution(method, balance=balance, iterations=iterations)}


def bank_degraders(families: Collection[str], index: int, sigma: float, *, seed: int,
                   image: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """``{family: clean -> degraded}``: kernel ``index`` of each family's bank at noise ``sigma`` (/255), the
    very inputs :func:`evaluate` gives image ``image`` (:func:`degrade_image`), for a figure's columns."""
    return {family: (lambda clean, d=Degradation(f"{family}:{index}", sigma): degrade_image(clean, d, seed=seed,
                                                                                          image=image))
            for family in families}


def degrade_image(clean: torch.Tensor, degradation: Degradation, *, seed: int, image: str) -> torch.Tensor:
    """(1, C, H, W) ``clean`` image ``image`` under one test degradation, its noise from the stream
    ``("evaluation noise", image, degradation)`` of ``seed``: the same draw for an image and a
    degradation in every chapter and every grid of degradations."""
    kernels = bank_kernels(degradation.blur).to(clean) if degradation.blur else None
    return degrade(clean, kernels=kernels, sigma=degradation.sigma / 255.0,
                   seed=stream_seed(seed, "evaluation noise", image, degradation.name))


def _unusable(images: Mapping[str, np.ndarray], names: Sequence[str], sizes: Sequence[int | None], *, lpips: bool,
              st_lpips: bool) -> dict[tuple[str, int | None], str]:
    """``{(image, size): why}`` for the images that cannot be scored at a size, found before any work (a 1 x 1
    image failed SSIM after the others were scored, and the run ended without its table): smaller than the
    crop (a smaller crop would carry a false size label), or narrower than a metric needs."""
    needs = {"SSIM": SSIM_MIN_SIZE, "ST-LPIPS": ST_LPIPS_MIN_SIZE if st_lpips else 0,
             "LPIPS": LPIPS_MIN_SIZE if lpips else 0}
    metric, minimum = max(needs.items(), key=lambda item: item[1])
    unusable = {}
    for size in sizes:
        for name in names:
            side = min(images[name].shape[:2])
            if size is not None and side < size:
                unusable[name, size] = f"is smaller than the {size}-pixel crop"
            elif (size or side) < minimum:
                unusable[name, size] = f"is narrower than the {minimum} px a side {metric} needs"
    return unusable


def _degrade_all(clean: torch.Tensor, degradations: Sequence[Degradation], *, seed: int, image: str) -> torch.Tensor:
    """(D, C, H, W): each degradation of one image (:func:`degrade_image`)."""
    return torch.cat([degrade_image(clean, d, seed=seed, image=image) for d in degradations])


def _save_png(image: torch.Tensor, path: Path) -> None:
    import skimage.io

    pixels = (to_image(image).clip(0, 1) * 255 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        skimage.io.imsave(tmp, pixels, check_contrast=False)
