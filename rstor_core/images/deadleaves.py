"""Dead-leaves images: random shapes with power-law sizes, the first-sampled one on top.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) reproduces the occlusions and the
scale invariance of natural images; Achddou, Gousseau & Ladjal (SSVM 2021) showed a denoiser
trained on it alone transfers to photographs. Chapter 01 of the book explains the figures.

Sampling and rendering are separate: :func:`~rstor_core.images.leaf_sampling.sample_leaves` draws every
leaf on the host from a ``numpy.random.Generator``; :func:`render_leaves` only rasterises them, packed
(:mod:`rstor_core.images.leaf_packing`) for the one backend dispatcher here, on the CPU or with CUDA
(:mod:`rstor_core.images.leaf_kernels`), so both backends render the very same leaves. :func:`dead_leaves`
does both from a seed, and image ``i`` of a seeded set depends only on ``(seed, key, i)`` (:func:`image_rng`).
Anti-aliasing is :mod:`rstor_core.images.antialiasing`, a whole batch on the GPU
:mod:`rstor_core.images.device_rendering`.

>>> image = dead_leaves(64, seed=0)
>>> image.shape, image.dtype
((64, 64, 3), dtype('float32'))
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from rstor_core.images import leaf_kernels as K
from rstor_core.images.antialiasing import antialiased
from rstor_core.images.leaf_packing import (APOTHEM, KIND_OF_SHAPE, NORMALS, geometry_arrays, gradient_directions,
                                            look_arrays, texture_lattices, turn_directions)
from rstor_core.images.leaf_sampling import Leaves, Size, canvas_shape, sample_leaves
from rstor_core.settings.configs import DeadLeavesConfig
from rstor_core.settings.knobs import ConfigError
from rstor_core.settings.rng import stream

__all__ = ["BACKENDS", "MAX_COVER_ROUNDS", "dead_leaves", "dead_leaves_batch", "dead_leaves_test_set", "image_rng",
           "paint_index", "render_leaves"]

BACKENDS = ("cpu", "cuda")
MAX_COVER_ROUNDS = 10_000  # "until covered" gives up (an error) after this many batches of leaves
_SEED_LEAVES = DeadLeavesConfig()  # the default model, built once: validating it costs 25 us, a tenth of an image


def render_leaves(leaves: Leaves, size: Size, params: DeadLeavesConfig = DeadLeavesConfig(), *,
                  backend: str = "cpu", parallel: bool = True,
                  return_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Rasterise ``leaves``: (H, W, 3) float32 in [0, 1], and with ``return_index`` the (H, W)
    int32 map of which leaf each pixel shows (-1: background).

    With ``params.ds_factor`` = d > 1 the leaves are drawn d times larger, low-passed by a
    Gaussian of ``params.aa_sigma`` (default d / 2) rendered pixels, and decimated.
    """
    _check_backend(backend)
    if backend == "cpu":
        return _render_cpu(leaves, size, params, parallel=parallel, return_index=return_index)
    index = paint_index(leaves, size, params.ds_factor, backend=backend, parallel=parallel)
    return _finish(leaves, index, params, backend=backend, parallel=parallel, return_index=return_index)


def _render_cpu(leaves: Leaves, size: Size, params: DeadLeavesConfig, *, parallel: bool,
                return_index: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pack, paint and shade in one CPU kernel (straight into float32 at ``ds_factor`` 1, where packing,
    separate calls and a second pass were half of a training image's cost), then anti-alias."""
    height, width = canvas_shape(size)
    d = params.ds_factor
    index = np.full((height * d, width * d), -1, dtype=np.int32)
    out = np.empty((height * d, width * d, 3), dtype=np.float32 if d == 1 else np.float64)
    rgb = isinstance(params.background, tuple)  # the kernel paints a grey level; an RGB one is set after
    arrays = (leaves.centres, leaves.radii, leaves.kinds, KIND_OF_SHAPE, leaves.aspects, leaves.sides,
              turn_directions(leaves), leaves.colours, leaves.colours2, gradient_directions(leaves), leaves.modes,
              leaves.texture_rows, NORMALS, APOTHEM, texture_lattices(leaves.textures),
              float(params.texture_amplitude), 0.0 if rgb else float(params.background), d, index, out)
    if parallel:
        K.render_cpu(*arrays, numba.get_num_threads())  # a chunk of leaves per thread to pack and bin
    else:
        K.render_cpu_serial(*arrays)
    if rgb:
        out[index < 0] = params.background
    return antialiased(out, index, params, parallel=parallel, return_index=return_index)


def paint_index(leaves: Leaves, size: Size, scale: int = 1, *, index: np.ndarray | None = None, start: int = 0,
                backend: str = "cpu", parallel: bool = True) -> np.ndarray:
    """Leaf-index map at ``scale`` x ``size``; pixels of ``index`` already >= 0 are kept, and only
    leaves from ``start`` on are painted (the "until covered" rounds paint under earlier leaves)."""
    _check_backend(backend)
    height, width = canvas_shape(size)
    if index is None:
        index = np.full((height * scale, width * scale), -1, dtype=np.int32)
    geom, ints = geometry_arrays(leaves, scale, index.shape)
    return _launch("paint", backend, parallel, (geom, ints, NORMALS, APOTHEM), index, (start,))


def dead_leaves(size: Size, seed: int | np.random.Generator = 0, *, params: DeadLeavesConfig | None = None,
                backend: str = "cpu", parallel: bool = True, return_index: bool = False,
                **overrides) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One dead-leaves image, (H, W, 3) float32 in [0, 1]; ``overrides`` are fields of
    :class:`DeadLeavesConfig` (e.g. ``alpha=2.5, shapes={"disc": 1, "bar": 1}``), applied on top
    of ``params`` (default: the seed's flat discs).

    The same seed gives the same bits, on either backend. With ``until_covered=True`` further
    leaves are drawn, under the earlier ones, until no background pixel is left.
    """
    params = _params(params or _SEED_LEAVES, overrides)
    _check_backend(backend)
    rng = np.random.default_rng(seed)
    leaves = sample_leaves(size, params, rng)
    if not params.until_covered:
        return render_leaves(leaves, size, params, backend=backend, parallel=parallel, return_index=return_index)
    index = paint_index(leaves, size, params.ds_factor, backend=backend, parallel=parallel)
    rounds = 0
    while (index < 0).any():  # until covered: more leaves, under the earlier ones
        rounds += 1
        if rounds > MAX_COVER_ROUNDS:
            raise RuntimeError(f"canvas still not covered after {MAX_COVER_ROUNDS} rounds of leaves")
        start, leaves = len(leaves), leaves + sample_leaves(size, params, rng)
        index = paint_index(leaves, size, params.ds_factor, index=index, start=start, backend=backend,
                            parallel=parallel)
    return _finish(leaves, index, params, backend=backend, parallel=parallel, return_index=return_index)


def dead_leaves_batch(n: int, size: Size, seed: int = 0, *, key: str = "images", **overrides) -> np.ndarray:
    """``n`` independent images, (n, H, W, 3); image ``i`` depends only on ``(seed, key, i)``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return np.stack([dead_leaves(size, image_rng(seed, i, key), **overrides) for i in range(n)])


def dead_leaves_test_set(n: int, size: Size, params: DeadLeavesConfig, *, seed: int) -> dict[str, np.ndarray]:
    """The dead-leaves test images of chapters 03 and 04, ``{"leaves i": image}``, from the stream
    ``"test dead leaves"``, which training never draws from."""
    return {f"leaves {i}": dead_leaves(size, image_rng(seed, i, "test dead leaves"), params=params) for i in range(n)}


def image_rng(seed: int, index: int, key: str = "images") -> np.random.Generator:
    """The generator of image ``index`` of the seeded set ``key`` (:func:`rstor_core.settings.rng.stream`):
    independent of how many are drawn, or by whom, and of every other set."""
    return stream(seed, key, index)


def _finish(leaves: Leaves, index: np.ndarray, params: DeadLeavesConfig, *, backend: str, parallel: bool,
            return_index: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    image = _shade(leaves, index, params, backend=backend, parallel=parallel)
    return antialiased(image, index, params, parallel=parallel, return_index=return_index)


def _shade(leaves: Leaves, index: np.ndarray, params: DeadLeavesConfig, *, backend: str,
           parallel: bool) -> np.ndarray:
    geom, _ = geometry_arrays(leaves, params.ds_factor, index.shape)
    look, look_ints, textures = look_arrays(leaves)
    arrays = (index, geom, look, look_ints, texture_lattices(textures))
    out = np.empty(index.shape + (3,), dtype=np.float64)
    rgb = isinstance(params.background, tuple)  # the kernels paint a grey level; an RGB one is set after
    out = _launch("shade", backend, parallel, arrays, out,
                  (float(params.texture_amplitude), 0.0 if rgb else float(params.background)))
    if rgb:
        out[index < 0] = params.background
    return out


def _launch(stage: str, backend: str, parallel: bool, arrays: tuple[np.ndarray, ...], out: np.ndarray,
            scalars: tuple) -> np.ndarray:
    """The one backend dispatcher: run kernel ``stage`` ("paint" or "shade") on ``arrays`` into
    ``out`` (paint: the index map, updated in place) with the CPU kernels (row threads, or one thread
    for DataLoader workers) or the CUDA ones (a thread per pixel, copies to and from the device)."""
    _check_backend(backend)
    if backend == "cpu":
        kernel = {("paint", True): K.paint_cpu, ("paint", False): K.paint_cpu_serial,
                  ("shade", True): K.shade_cpu, ("shade", False): K.shade_cpu_serial}[stage, parallel]
        if stage == "paint":
            kernel(*arrays, out, *scalars)
        else:
            kernel(*arrays, *scalars, out)
        return out
    from rstor_core.images import leaf_kernels_cuda as KC

    cuda = KC.cuda
    device_arrays = [cuda.to_device(a) for a in arrays]
    device_out = cuda.to_device(out)
    grid, block = KC.launch_shape(*out.shape[:2])
    if stage == "paint":
        KC.paint[grid, block](*device_arrays, device_out, *scalars)
    else:
        KC.shade[grid, block](*device_arrays, *scalars, device_out)
    return device_out.copy_to_host()


def _params(base: DeadLeavesConfig, overrides: dict) -> DeadLeavesConfig:
    allowed = {f.name for f in dataclasses.fields(DeadLeavesConfig)}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise TypeError(f"unknown dead-leaves parameter {unknown[0]!r}; allowed: {sorted(allowed)}")
    try:
        return dataclasses.replace(base, **overrides) if overrides else base
    except ConfigError as err:
        raise ValueError(f"dead leaves: {err}") from None


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
