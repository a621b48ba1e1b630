"""Sampling dead leaves: every leaf drawn on the host from a ``numpy.random.Generator``, before any rendering.

Sampling is separate from rasterising (:func:`rstor_core.images.deadleaves.render_leaves`) so that the CPU
and CUDA backends paint the very same leaves. Radii follow the power law p(r) ∝ r^-alpha that makes the
model scale invariant (Lee, Mumford & Huang 2001); chapter 01 checks the draws against its CDF.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from rstor_core.images import leaf_kernels as K
from rstor_core.images.colours import colour_doubles, pick_photo, sample_colours, skip_colours
from rstor_core.settings.configs import AppearanceWeights, DeadLeavesConfig, ShapeWeights
from rstor_core.settings.rng import skip_doubles

__all__ = ["APPEARANCES", "SHAPES", "Leaves", "Size", "canvas_shape", "power_law_cdf", "power_law_pdf",
           "power_law_radii", "sample_leaves"]

Size = int | tuple[int, int]
SHAPES = tuple(f.name for f in dataclasses.fields(ShapeWeights))  # disc, ellipse, square, ...
APPEARANCES = tuple(f.name for f in dataclasses.fields(AppearanceWeights))  # flat, gradient, texture
# Appearance and gradient kind as 2 x look + radial -> mode (np.select's passes, a third of the sampling).
_MODE_OF_LOOK = np.array([K.FLAT, K.FLAT, K.LINEAR, K.RADIAL, K.TEXTURED, K.TEXTURED], dtype=np.int64)
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
    height, width = window = canvas_shape(size)
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


@functools.lru_cache(maxsize=64)
def _normalised(weights: ShapeWeights | AppearanceWeights) -> np.ndarray:
    """The mixing weights as probabilities (cached per frozen weights: 7 us a call, twice an image)."""
    w = np.array([getattr(weights, f.name) for f in dataclasses.fields(weights)], dtype=np.float64)
    w = w / w.sum()
    w.setflags(write=False)
    return w


def canvas_shape(size: Size) -> tuple[int, int]:
    """``(height, width)`` of a canvas given as one side or a pair; a :class:`ValueError` unless positive."""
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(height), int(width)
