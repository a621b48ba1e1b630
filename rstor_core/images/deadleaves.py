"""Dead-leaves images: random shapes with power-law sizes, the first-sampled one on top.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) reproduces the occlusions and the
scale invariance of natural images; Achddou, Gousseau & Ladjal (SSVM 2021) showed a denoiser
trained on it alone transfers to photographs. Chapter 01 of the book explains the figures.

Sampling and rendering are separate: :func:`sample_leaves` draws every leaf (kind, centre,
size, angle, anisotropy, colours, gradient direction, texture) on the host from a
``numpy.random.Generator``; :func:`render_leaves` only rasterises them, on the CPU or with
CUDA (:mod:`rstor_core.images.leaf_kernels`), so both backends render the very same leaves.

>>> image = dead_leaves(64, seed=0)
>>> image.shape, image.dtype
((64, 64, 3), dtype('float32'))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from rstor_core.images import leaf_kernels as K
from rstor_core.images.antialiasing import antialiased
from rstor_core.images.colours import colour_doubles, pick_photo, sample_colours, skip_colours
from rstor_core.settings.configs import MAX_POLYGON_SIDES, AppearanceWeights, DeadLeavesConfig, ShapeWeights
from rstor_core.settings.knobs import ConfigError
from rstor_core.settings.rng import skip_doubles, stream

if TYPE_CHECKING:
    import torch

__all__ = ["APPEARANCES", "BACKENDS", "SHAPES", "DeadLeavesConfig", "Leaves", "dead_leaves", "dead_leaves_batch",
           "dead_leaves_test_set", "power_law_cdf", "power_law_pdf", "power_law_radii", "render_batch",
           "render_leaves", "sample_leaves"]

Size = int | tuple[int, int]
SHAPES = tuple(f.name for f in dataclasses.fields(ShapeWeights))  # disc, ellipse, square, ...
APPEARANCES = tuple(f.name for f in dataclasses.fields(AppearanceWeights))  # flat, gradient, texture
BACKENDS = ("cpu", "cuda")
MAX_COVER_ROUNDS = 10_000  # "until covered" gives up (an error) after this many batches of leaves
_GEOMETRY = {"disc": K.DISC, "ellipse": K.ELLIPSE, "square": K.RECT, "rectangle": K.RECT,
             "diamond": K.DIAMOND, "polygon": K.POLYGON, "bar": K.RECT}
_KIND_OF_SHAPE = np.array([_GEOMETRY[name] for name in SHAPES], dtype=np.int32)
_NORMALS, _APOTHEM = K.polygon_tables(MAX_POLYGON_SIDES)
# Appearance and gradient kind as 2 x look + radial -> mode (np.select's passes, a third of the sampling).
_MODE_OF_LOOK = np.array([K.FLAT, K.FLAT, K.LINEAR, K.RADIAL, K.TEXTURED, K.TEXTURED], dtype=np.int64)
_SEED_LEAVES = DeadLeavesConfig()  # the default model, built once: validating it costs 25 us, a tenth of an image
_ASPECT_SHAPES = [SHAPES.index(name) for name in ("ellipse", "rectangle", "diamond", "polygon")]  # draw aspects


@dataclass(frozen=True)
class Leaves:
    """Sampled leaves in sampling order (the first lies on top); lengths in output pixels.

    ``centres`` (N, 2) as (y, x); ``radii`` (N,) half-size along the major axis; ``kinds``
    (N,) index into :data:`SHAPES`; ``angles`` (N,) degrees; ``aspects`` (N,) minor/major axis
    ratio; ``sides`` (N,) for polygons; ``colours``, ``colours2`` (N, 3) in [0, 1]; ``modes``
    (N,) appearance (flat, linear or radial gradient, texture); ``gradient_angles`` (N,) degrees;
    ``textures`` (T, G+1, G+1) noise lattices in [-1, 1] and ``texture_rows`` (N,) (-1: none).
    """

    centres: np.ndarray
    radii: np.ndarray
    kinds: np.ndarray
    angles: np.ndarray
    aspects: np.ndarray
    sides: np.ndarray
    colours: np.ndarray
    colours2: np.ndarray
    modes: np.ndarray
    gradient_angles: np.ndarray
    textures: np.ndarray
    texture_rows: np.ndarray

    def __len__(self) -> int:
        return len(self.radii)

    def __add__(self, other: Leaves) -> Leaves:
        """``self`` on top of ``other`` (texture rows renumbered)."""
        rows = np.where(other.texture_rows >= 0, other.texture_rows + len(self.textures), -1)
        merged = {f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                  for f in dataclasses.fields(self)}
        return Leaves(**{**merged, "texture_rows": np.concatenate([self.texture_rows, rows])})


def power_law_radii(n: int, alpha: float, r_min: float, r_max: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` radii from p(r) ∝ r^-alpha on [r_min, r_max] by inverting the CDF."""
    return _inverse_cdf(rng.random(n), alpha, r_min, r_max)


def _inverse_cdf(u: np.ndarray, alpha: float, r_min: float, r_max: float) -> np.ndarray:
    """:func:`power_law_radii` of the uniform draws ``u``, computed in place (the same bits as
    ``(a + u * (b - a)) ** (1 / (1 - alpha))``, without three allocations)."""
    if abs(alpha - 1.0) <= 1e-8 + 1e-5:  # np.isclose(alpha, 1.0), without its 10 us
        return r_min * (r_max / r_min) ** u
    a, b = r_min ** (1.0 - alpha), r_max ** (1.0 - alpha)
    u *= b - a
    u += a
    u **= 1.0 / (1.0 - alpha)
    return u


def power_law_cdf(r: np.ndarray | float, alpha: float, r_min: float, r_max: float) -> np.ndarray:
    """CDF of the radius law, for the Kolmogorov–Smirnov check of chapter 01 and the tests."""
    r = np.clip(np.asarray(r, dtype=np.float64), r_min, r_max)
    if np.isclose(alpha, 1.0):
        return np.log(r / r_min) / np.log(r_max / r_min)
    a, b = r_min ** (1.0 - alpha), r_max ** (1.0 - alpha)
    return (r ** (1.0 - alpha) - a) / (b - a)


def power_law_pdf(r: np.ndarray | float, alpha: float, r_min: float, r_max: float) -> np.ndarray:
    """Density of the radius law (zero outside [r_min, r_max])."""
    r = np.asarray(r, dtype=np.float64)
    if np.isclose(alpha, 1.0):
        norm = np.log(r_max / r_min)
    else:
        norm = (r_max ** (1.0 - alpha) - r_min ** (1.0 - alpha)) / (1.0 - alpha)
    return np.where((r >= r_min) & (r <= r_max), r ** -alpha / norm, 0.0)


def sample_leaves(size: Size, params: DeadLeavesConfig, rng: np.random.Generator,
                  n: int | None = None) -> Leaves:
    """Draw ``n`` leaves for a canvas (default: ``params.n_leaves``, else ``leaf_density`` x the longest
    side). With ``radius_reference`` the canvas is the reference image scaled down (or up): radii are
    scaled and the leaf count is the reference's, so coverage and look do not change with the size. With
    ``window_of`` the canvas is a random window of a scene of that side at the same pixel scale: the
    leaves are the scene's (count and radii), their centres moved by the window's corner (drawn last, so
    the scene's draws are those of the whole scene), and only those over the window show.

    Whole-array draws in a fixed order; a draw no leaf can use under ``params`` (angles when every leaf is
    an unturned disc, aspects of discs, squares and bars, a flat leaf's second colour and gradient, kinds
    and looks of a single-choice mix) is jumped over (:func:`rstor_core.settings.rng.skip_doubles`), so every value
    a leaf uses keeps its bits and a default image costs a third of the draws. Such fields hold neutral
    values: angle 0, the first colour as the second.
    """
    height, width = window = _shape(size)
    if params.window_of is not None:
        if max(window) > params.window_of:
            raise ValueError(f"a {height} x {width} image is larger than the {params.window_of}-pixel scene it is "
                             "a window of (window_of)")
        height = width = params.window_of  # the scene's draws; the window is cut from it below
    side = params.radius_reference or max(height, width)
    n = n or params.n_leaves or round(params.leaf_density * side)
    shape_weights, look_weights = _normalised(params.shapes), _normalised(params.appearance)
    draws = _Draws(rng)
    uniform = draws.rng.random(3 * n)  # the centres' 2n draws then the radii's n, in one call
    centres = uniform[:2 * n].reshape(n, 2)
    if height == width:
        centres *= height
    else:  # a column at a time: numpy broadcasts over rows of two slowly (40 us at 256²)
        centres[:, 0] *= height
        centres[:, 1] *= width
    scale = max(height, width) / side
    radii = _inverse_cdf(uniform[2 * n:], params.alpha, params.r_min * scale, params.r_max * scale)
    kinds = _choice(draws, n, shape_weights)
    textured_mix, gradient_mix = (look_weights[APPEARANCES.index(name)] > 0 for name in ("texture", "gradient"))
    turned = shape_weights[SHAPES.index("disc")] < 1 or textured_mix  # only an unturned disc ignores its angle
    if params.angle is not None:
        angles = _filled(n, float(params.angle))
    else:
        angles = _uniform(draws, n, 0.0, 180.0, needed=turned)
    drawn = shape_weights[_ASPECT_SHAPES].any()
    aspects = _uniform(draws, n, *params.anisotropy, needed=drawn, fill=1.0)
    if drawn:
        aspects[(kinds == SHAPES.index("disc")) | (kinds == SHAPES.index("square"))] = 1.0
    if shape_weights[SHAPES.index("bar")] > 0:
        aspects = np.where(kinds == SHAPES.index("bar"), params.bar_width, aspects)  # a copy: may be _filled's
    sides = draws.rng.integers(params.polygon_sides[0], params.polygon_sides[1] + 1, n)
    photo = pick_photo(params.palette, params.palette_run, draws.rng) if params.colour == "photo" else None
    palette = dict(palette=params.palette, palette_run=params.palette_run, pixels=photo)
    colours = sample_colours(n, params.colour, draws.rng, **palette)
    if gradient_mix:
        colours2 = sample_colours(n, params.colour, draws.rng, **palette)
    else:  # only gradients show a second colour
        doubles = colour_doubles(n, params.colour)
        if doubles is None:
            skip_colours(n, params.colour, draws.rng, **palette)
        else:
            draws.skip(doubles)
        colours2 = colours
    look = _choice(draws, n, look_weights)
    radial = _uniform(draws, n, 0.0, 1.0, needed=gradient_mix) < 0.5  # gradients: half linear, half radial
    if look_weights[APPEARANCES.index("flat")] == 1.0:
        modes = _filled(n, K.FLAT, np.int64)
    else:
        modes = _MODE_OF_LOOK[2 * look + radial]  # flat, linear or radial gradient, texture
    gradient_angles = _uniform(draws, n, 0.0, 360.0, needed=gradient_mix)
    cells = params.texture_cells + 1
    if textured_mix:
        textured = np.flatnonzero(modes == K.TEXTURED)
        textures = draws.rng.uniform(-1.0, 1.0, (len(textured), cells, cells))
        texture_rows = np.full(n, -1)
        texture_rows[textured] = np.arange(len(textured))
    else:  # no draw: uniform() of no lattice draws nothing
        textures, texture_rows = np.empty((0, cells, cells)), _filled(n, -1, np.int64)
    draws.rng  # the last jumps: the generator ends where drawing every field would leave it
    if params.window_of is not None:  # the window's top-left corner in the scene
        centres -= draws.rng.integers(0, (height - window[0] + 1, width - window[1] + 1))
    return Leaves(centres=centres, radii=radii, kinds=kinds, angles=angles, aspects=aspects, sides=sides,
                  colours=colours, colours2=colours2, modes=modes, gradient_angles=gradient_angles,
                  textures=textures, texture_rows=texture_rows)


class _Draws:
    """``rng`` with the jumps over unused draws deferred until the next draw (:attr:`rng`), so that the
    consecutive ones of an image (seven for flat discs, 3 us each: a state read and an advance) cost one."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng, self._pending = rng, 0

    def skip(self, doubles: int) -> None:
        self._pending += doubles

    @property
    def rng(self) -> np.random.Generator:
        """The generator, moved past every skipped draw."""
        if self._pending:
            skip_doubles(self._rng, self._pending)
            self._pending = 0
        return self._rng


def _choice(draws: _Draws, n: int, weights: np.ndarray) -> np.ndarray:
    """``rng.choice(len(weights), n, p=weights)``, bit for bit: numpy draws n doubles u and takes
    ``cdf.searchsorted(u, side="right")``, which is the count of cdf values <= u, counted here without
    searchsorted's unpredictable branches (2.5x faster). With one nonzero weight, its index n times and
    the n doubles jumped over."""
    nonzero = np.flatnonzero(weights)
    if len(nonzero) == 1:
        draws.skip(n)
        return _filled(n, int(nonzero[0]), np.int64)
    cdf = weights.cumsum()
    cdf /= cdf[-1]
    u = draws.rng.random(n)
    index = np.zeros(n, dtype=np.int64)
    for edge in cdf[:-1]:  # the last is 1.0, above every u
        index += u >= edge
    return index


def _uniform(draws: _Draws, n: int, low: float, high: float, *, needed: bool, fill: float = 0.0) -> np.ndarray:
    """``rng.uniform(low, high, n)`` when ``needed``, else ``fill`` n times and the draws jumped over."""
    if needed:
        return draws.rng.uniform(low, high, n)
    draws.skip(n)
    return _filled(n, fill)


@functools.lru_cache(maxsize=32)
def _filled(n: int, value: float | int, dtype: type = np.float64) -> np.ndarray:
    """``np.full(n, value, dtype)``, made once and read-only: the fields no leaf of an image draws (eight
    of them for flat discs, 3 us each to fill) are the same constant arrays for every image of a size."""
    array = np.full(n, value, dtype=dtype)
    array.flags.writeable = False
    return array


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
    height, width = _shape(size)
    d = params.ds_factor
    index = np.full((height * d, width * d), -1, dtype=np.int32)
    out = np.empty((height * d, width * d, 3), dtype=np.float32 if d == 1 else np.float64)
    rgb = isinstance(params.background, tuple)  # the kernel paints a grey level; an RGB one is set after
    arrays = (leaves.centres, leaves.radii, leaves.kinds, _KIND_OF_SHAPE, leaves.aspects, leaves.sides, _turns(leaves),
              leaves.colours, leaves.colours2, _gradients(leaves), leaves.modes, leaves.texture_rows, _NORMALS,
              _APOTHEM, _lattices(leaves.textures), float(params.texture_amplitude), 0.0 if rgb else float(params.background), d,
              index, out)
    if parallel:
        K.render_cpu(*arrays, numba.get_num_threads())  # a chunk of leaves per thread to pack and bin
    else:
        K.render_cpu_serial(*arrays)
    if rgb:
        out[index < 0] = params.background
    return antialiased(out, index, params, parallel=parallel, return_index=return_index)


def render_batch(batch: Sequence[Leaves], size: Size, params: DeadLeavesConfig = DeadLeavesConfig()) -> torch.Tensor:
    """Rasterise the leaves of a whole batch with CUDA, one launch per stage (the leaves of every image
    packed with per-image offsets), into a (B, 3, H, W) float32 torch tensor on the GPU that the kernels
    write in place: a GPU run's training batches never pass through the host. Image ``b`` is
    :func:`render_leaves` of ``batch[b]``, bit for bit. Under numba's CUDA simulator the tensor is on the
    CPU. Anti-aliasing (``ds_factor`` > 1) is the CPU's: a :class:`ValueError` here.
    """
    import torch

    from rstor_core.images import leaf_kernels_cuda as KC

    cuda = KC.cuda  # numba.cuda, importable on numpy 2.5 (rstor_core.images.cuda_compat)
    if params.ds_factor != 1:
        raise ValueError(f"render_batch draws at ds_factor 1 (got {params.ds_factor}): anti-aliased dead leaves "
                         "render on the CPU (render_leaves)")
    height, width = _shape(size)
    geom, ints, look, look_ints, textures, offsets = _pack_batch(batch, (height, width))
    index, index_array = _device_output((len(batch), height, width), torch.int32)
    out, out_array = _device_output((len(batch), height, width, 3), torch.float64)
    grid, block = KC.batch_launch_shape(len(batch), height, width)
    device = [cuda.to_device(a) for a in (geom, ints, _NORMALS, _APOTHEM, offsets, look, look_ints, textures)]
    KC.paint_batch[grid, block](*device[:5], index_array)
    rgb = isinstance(params.background, tuple)  # the kernels paint a grey level; an RGB one is set after
    KC.shade_batch[grid, block](index_array, device[0], *device[5:], float(params.texture_amplitude),
                                0.0 if rgb else float(params.background), out_array)
    cuda.synchronize()
    if out is None:  # the simulator: arrays on the host
        index, out = torch.from_numpy(index_array.copy_to_host()), torch.from_numpy(out_array.copy_to_host())
    if rgb:
        out[index < 0] = torch.tensor(params.background, dtype=out.dtype, device=out.device)
    if params.swap_red_blue:
        out = out.flip(-1)
    return out.permute(0, 3, 1, 2).float().contiguous()


def _pack_batch(batch: Sequence[Leaves], shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The kernels' arrays of every image's leaves, concatenated, with ``offsets`` (B + 1,): image ``b``'s
    leaves are rows ``offsets[b]:offsets[b + 1]``, its texture rows renumbered into the joint lattices."""
    packed = [(*_pack_geometry(leaves, 1, shape), *_pack_look(leaves)) for leaves in batch]
    rows = np.cumsum([0] + [len(textures) for *_, textures in packed])
    for (_, _, _, look_ints, _), first_row in zip(packed, rows):  # texture rows index the concatenated lattices
        look_ints[:, K.TEXTURE] = np.where(look_ints[:, K.TEXTURE] >= 0, look_ints[:, K.TEXTURE] + first_row, -1)
    geom, ints, look, look_ints = (np.ascontiguousarray(np.concatenate([p[i] for p in packed])) for i in range(4))
    textures = _lattices(np.concatenate([p[4] for p in packed]))
    offsets = np.cumsum([0] + [len(p[0]) for p in packed]).astype(np.int64)
    return geom, ints, look, look_ints, textures, offsets


def _device_output(shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor | None, Any]:
    """A torch tensor on the GPU and the numba view of its memory (``__cuda_array_interface__``, no copy);
    under the simulator, no tensor and a simulated device array."""
    import numba
    import torch

    from rstor_core.images.cuda_compat import numba_cuda

    cuda = numba_cuda()
    if not numba.config.ENABLE_CUDASIM:
        tensor = torch.empty(shape, dtype=dtype, device="cuda")
        return tensor, cuda.as_cuda_array(tensor)
    return None, cuda.device_array(shape, dtype=str(dtype).removeprefix("torch."))


def paint_index(leaves: Leaves, size: Size, scale: int = 1, *, index: np.ndarray | None = None, start: int = 0,
                backend: str = "cpu", parallel: bool = True) -> np.ndarray:
    """Leaf-index map at ``scale`` x ``size``; pixels of ``index`` already >= 0 are kept, and only
    leaves from ``start`` on are painted (the "until covered" rounds paint under earlier leaves)."""
    _check_backend(backend)
    height, width = _shape(size)
    if index is None:
        index = np.full((height * scale, width * scale), -1, dtype=np.int32)
    geom, ints = _pack_geometry(leaves, scale, index.shape)
    return _launch("paint", backend, parallel, (geom, ints, _NORMALS, _APOTHEM), index, (start,))


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
    geom, _ = _pack_geometry(leaves, params.ds_factor, index.shape)
    look, look_ints, textures = _pack_look(leaves)
    arrays = (index, geom, look, look_ints, _lattices(textures))
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


def _pack_geometry(leaves: Leaves, scale: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Kernel arrays at render scale, with bounding boxes clipped to the canvas (:func:`K.pack_geometry`)."""
    return K.pack_geometry(leaves.centres, leaves.radii, _KIND_OF_SHAPE[leaves.kinds], leaves.aspects, leaves.sides,
                           _turns(leaves), scale, *shape)


def _pack_look(leaves: Leaves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shading arrays of the kernels: colours and gradient direction (float64), appearance and
    texture row (int32), and the texture lattices."""
    look, look_ints = K.pack_look(leaves.colours, leaves.colours2, _gradients(leaves), leaves.modes,
                                  leaves.texture_rows)
    return look, look_ints, leaves.textures


def _turns(leaves: Leaves) -> np.ndarray:
    """(N, 2) cos and sin of the leaves' angles, where a shape or a texture turns with them."""
    return _direction(leaves.angles, needed=(leaves.kinds != SHAPES.index("disc")) | (leaves.modes == K.TEXTURED))


def _gradients(leaves: Leaves) -> np.ndarray:
    """(N, 2) cos and sin of the linear gradients' directions."""
    return _direction(leaves.gradient_angles, needed=leaves.modes == K.LINEAR)


def _lattices(textures: np.ndarray) -> np.ndarray:
    """The kernels' texture argument: float64, contiguous, and one placeholder lattice when there is none."""
    return np.ascontiguousarray(textures if len(textures) else np.zeros((1, 2, 2)), dtype=np.float64)


def _direction(degrees: np.ndarray, needed: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) cos and sin of ``degrees``; zeros when no leaf is ``needed`` (flat discs never turn)."""
    if needed is not None and not needed.any():
        return np.zeros((len(degrees), 2))
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


@functools.lru_cache(maxsize=64)
def _normalised(weights: ShapeWeights | AppearanceWeights) -> np.ndarray:
    """The mixing weights as probabilities (cached per frozen weights: 7 us a call, twice an image)."""
    w = np.array([getattr(weights, f.name) for f in dataclasses.fields(weights)], dtype=np.float64)
    w = w / w.sum()
    w.setflags(write=False)
    return w


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


def _shape(size: Size) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(height), int(width)
