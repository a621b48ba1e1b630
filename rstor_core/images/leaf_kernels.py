"""Rasterisers for dead leaves: a numba CPU kernel and a numba-CUDA kernel, same algorithm.

Both take leaves already sampled and packed on the host (:mod:`rstor_core.images.leaf_packing`;
:func:`rstor_core.images.deadleaves.render_leaves` dispatches to a backend) and only rasterise them
(anti-aliasing is :mod:`rstor_core.images.antialiasing`'s); the CUDA kernels are in
:mod:`rstor_core.images.leaf_kernels_cuda`, which imports this module (never the other way round). The
per-pixel maths (inside tests, shading) is written once as plain Python and compiled twice, for
the CPU (``numba.njit``) and as CUDA device functions, so the two backends cannot drift apart;
all of it is float64 arithmetic with no transcendental function (polygon normals come from a host
table), which is why the CUDA simulator reproduces the CPU image bit for bit.

Painting is front to back: a pixel takes the first leaf (in sampling order) that contains it.
The CPU kernel first bins the leaves by ``TILE`` x ``TILE`` tile of the canvas (each tile's list in
sampling order, :func:`tile_lists`), then gives each thread a tile, which tests only the leaves
whose bounding box meets it and stops once it is covered: the cost grows with the pixels and the
leaves each tile sees, not with pixels x leaves. The CUDA kernel gives each thread a pixel that stops
at its first hit. Both skip pixels already covered, so "until covered" mode paints new leaves
*under* the old ones by calling again.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros  # LLVM's cttz: the next uncovered pixel of a row mask

# Columns of the packed arrays (see rstor_core.images.leaf_packing).
CY, CX, RADIUS, COS, SIN, ASPECT, EXTENT = range(7)  # geom: float64 (N, 7)
KIND, SIDES, Y0, Y1, X0, X1 = range(6)  # ints: int32 (N, 6)
C1, C2, GCOS, GSIN = 0, 3, 6, 7  # look: float64 (N, 8): colour 1, colour 2, gradient direction
MODE, TEXTURE = 0, 1  # look_ints: int32 (N, 2): appearance, texture row (-1: none)

DISC, ELLIPSE, RECT, DIAMOND, POLYGON = range(5)  # geometric kinds (square and bar are RECT)
FLAT, LINEAR, RADIAL, TEXTURED = range(4)  # appearance modes


def polygon_tables(max_sides: int) -> tuple[np.ndarray, np.ndarray]:
    """Edge normals (n, k, cos/sin) and apothem/circumradius ratios of regular n-gons, on the host."""
    normals = np.zeros((max_sides + 1, max_sides, 2))
    apothem = np.ones(max_sides + 1)
    for n in range(3, max_sides + 1):
        angles = 2 * np.pi * np.arange(n) / n
        normals[n, :n] = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        apothem[n] = np.cos(np.pi / n)
    return normals, apothem


# --- per-pixel maths, compiled for both targets -------------------------------------------------

def _inside(k, y, x, geom, ints, normals, apothem):
    dy = y - geom[k, CY]
    dx = x - geom[k, CX]
    r = geom[k, RADIUS]
    kind = ints[k, KIND]
    if kind == DISC:  # no rotation: keeps the seed's discs exact
        return dx * dx + dy * dy <= r * r
    u = geom[k, COS] * dx + geom[k, SIN] * dy
    v = geom[k, COS] * dy - geom[k, SIN] * dx
    b = geom[k, ASPECT] * r
    if kind == ELLIPSE:
        return (u * u) / (r * r) + (v * v) / (b * b) <= 1.0
    if kind == RECT:
        return abs(u) <= r and abs(v) <= b
    if kind == DIAMOND:
        return abs(u) / r + abs(v) / b <= 1.0
    n = ints[k, SIDES]  # POLYGON: inside every edge's half-plane
    limit = r * apothem[n]
    for e in range(n):
        if u * normals[n, e, 0] + v * normals[n, e, 1] > limit:
            return False
    return True


def _shade(k, y, x, geom, look, look_ints, textures, amplitude, background, out):
    if k < 0:  # no leaf here
        for c in range(3):
            out[y, x, c] = background
        return
    mode = look_ints[k, MODE]
    if mode == FLAT:  # the general formula below with t = noise = 0 gives these very bits
        for c in range(3):
            out[y, x, c] = min(max(look[k, C1 + c], 0.0), 1.0)
        return
    dy = y - geom[k, CY]
    dx = x - geom[k, CX]
    t = 0.0
    noise = 0.0
    if mode == LINEAR:
        t = 0.5 + (dx * look[k, GCOS] + dy * look[k, GSIN]) / (2.0 * geom[k, EXTENT])
    elif mode == RADIAL:
        t = math.sqrt(dx * dx + dy * dy) / geom[k, EXTENT]
    elif mode == TEXTURED:  # bilinear value noise on a lattice spanning the leaf, in leaf coordinates
        cells = textures.shape[1] - 1
        u = geom[k, COS] * dx + geom[k, SIN] * dy
        v = geom[k, COS] * dy - geom[k, SIN] * dx
        gu = min(max((u / geom[k, EXTENT] + 1.0) * 0.5, 0.0), 1.0) * cells
        gv = min(max((v / geom[k, EXTENT] + 1.0) * 0.5, 0.0), 1.0) * cells
        iu = min(int(gu), cells - 1)
        iv = min(int(gv), cells - 1)
        fu = gu - iu
        fv = gv - iv
        row = look_ints[k, TEXTURE]
        top = textures[row, iv, iu] * (1.0 - fu) + textures[row, iv, iu + 1] * fu
        bottom = textures[row, iv + 1, iu] * (1.0 - fu) + textures[row, iv + 1, iu + 1] * fu
        noise = amplitude * (top * (1.0 - fv) + bottom * fv)
    t = min(max(t, 0.0), 1.0)
    for c in range(3):
        value = look[k, C1 + c] + t * (look[k, C2 + c] - look[k, C1 + c]) + noise
        out[y, x, c] = min(max(value, 0.0), 1.0)


_inside_cpu = numba.njit(inline="always", cache=True)(_inside)
_shade_cpu = numba.njit(inline="always", cache=True)(_shade)


@numba.njit(inline="always", cache=True)
def _pack_leaf(k, centres, radii, kind, aspects, sides, directions, scale, height, width, geom,
               ints):  # pragma: no cover - compiled
    cy, cx, r, aspect = centres[k, 0] * scale, centres[k, 1] * scale, radii[k] * scale, aspects[k]
    extent = r * np.sqrt(1.0 + aspect * aspect) if kind == RECT else r  # rectangles: half diagonal
    geom[k, CY], geom[k, CX], geom[k, RADIUS], geom[k, ASPECT], geom[k, EXTENT] = cy, cx, r, aspect, extent
    geom[k, COS], geom[k, SIN] = directions[k, 0], directions[k, 1]
    ints[k, KIND], ints[k, SIDES] = kind, sides[k]
    ints[k, Y0], ints[k, Y1] = max(0.0, np.ceil(cy - extent)), min(height - 1.0, np.floor(cy + extent))
    ints[k, X0], ints[k, X1] = max(0.0, np.ceil(cx - extent)), min(width - 1.0, np.floor(cx + extent))


@numba.njit(inline="always", cache=True)
def _pack_look_leaf(k, colours, colours2, directions, modes, texture_rows, look, look_ints):  # pragma: no cover
    for c in range(3):
        look[k, C1 + c], look[k, C2 + c] = colours[k, c], colours2[k, c]
    look[k, GCOS], look[k, GSIN] = directions[k, 0], directions[k, 1]
    look_ints[k, MODE], look_ints[k, TEXTURE] = modes[k], texture_rows[k]


@numba.njit(cache=True)
def pack_geometry(centres, radii, kinds, aspects, sides, directions, scale, height, width):  # pragma: no cover
    """``(geom, ints)`` of the leaves at ``scale``, bounding boxes clipped to the canvas: one pass over
    the leaves (numpy's twenty array passes cost as much as painting a 256 x 256 image). ``kinds``
    are geometric kinds; ``directions`` (N, 2) the cos/sin of the angles, computed by numpy."""
    n = radii.shape[0]
    geom = np.empty((n, 7))
    ints = np.empty((n, 6), np.int32)
    for k in range(n):
        _pack_leaf(k, centres, radii, kinds[k], aspects, sides, directions, scale, height, width, geom, ints)
    return geom, ints


@numba.njit(cache=True)
def pack_look(colours, colours2, directions, modes, texture_rows):  # pragma: no cover - compiled
    """``(look, look_ints)`` of the leaves, in one pass (see :func:`pack_geometry`)."""
    n = modes.shape[0]
    look = np.empty((n, 8))
    look_ints = np.empty((n, 2), np.int32)
    for k in range(n):
        _pack_look_leaf(k, colours, colours2, directions, modes, texture_rows, look, look_ints)
    return look, look_ints


# --- CPU: leaves binned by tile, one tile per thread ------------------------------------------

TILE_SHIFT = 5  # tiles of 2**5 = 32 pixels: covered early enough, and few leaves span several (16: 10-20 % slower)
TILE = 1 << TILE_SHIFT  # binned with shifts: floor division of int32 doubled the binning's time


@numba.njit(inline="always", cache=True)
def _count_tiles(k, ints, tiles_x, counts):  # pragma: no cover - compiled
    """Add leaf ``k`` to the count of every tile its bounding box meets (none for a leaf off the canvas: its
    clipped box is empty, and a leaf past the right edge would otherwise reach a tile it does not meet)."""
    if ints[k, X0] > ints[k, X1] or ints[k, Y0] > ints[k, Y1]:
        return
    for ty in range(ints[k, Y0] >> TILE_SHIFT, (ints[k, Y1] >> TILE_SHIFT) + 1):
        for tx in range(ints[k, X0] >> TILE_SHIFT, (ints[k, X1] >> TILE_SHIFT) + 1):
            counts[ty * tiles_x + tx] += 1


@numba.njit(inline="always", cache=True)
def _file_tiles(k, ints, tiles_x, fill, leaves):  # pragma: no cover - compiled
    """Write ``k`` at the next free place of every tile its bounding box meets (as :func:`_count_tiles`)."""
    if ints[k, X0] > ints[k, X1] or ints[k, Y0] > ints[k, Y1]:
        return
    for ty in range(ints[k, Y0] >> TILE_SHIFT, (ints[k, Y1] >> TILE_SHIFT) + 1):
        for tx in range(ints[k, X0] >> TILE_SHIFT, (ints[k, X1] >> TILE_SHIFT) + 1):
            leaves[fill[ty * tiles_x + tx]] = k
            fill[ty * tiles_x + tx] += 1


@numba.njit(inline="always", cache=True)
def _tile_offsets(counts):  # pragma: no cover - compiled
    """``(offsets, fill)`` from per-chunk counts (C, T): tile ``t``'s list is ``offsets[t]:offsets[t + 1]``,
    and chunk ``c`` (leaves in sampling order, chunk by chunk) writes its leaves of tile ``t`` from
    ``fill[c, t]``, after the earlier chunks': each list stays in sampling order."""
    chunks, n_tiles = counts.shape
    offsets = np.empty(n_tiles + 1, np.int64)
    fill = np.empty((chunks, n_tiles), np.int64)
    total = 0
    for t in range(n_tiles):
        offsets[t] = total
        for c in range(chunks):
            fill[c, t] = total
            total += counts[c, t]
    offsets[n_tiles] = total
    return offsets, fill


@numba.njit(cache=True)
def tile_lists(ints, start, height, width):  # pragma: no cover - compiled
    """``(offsets, leaves)``: the leaves ``k >= start`` whose bounding box meets tile ``t`` (row-major
    tiles of ``TILE`` pixels) are ``leaves[offsets[t]:offsets[t + 1]]``, in sampling order."""
    tiles_x = (width + TILE - 1) // TILE
    counts = np.zeros((1, ((height + TILE - 1) // TILE) * tiles_x), np.int64)
    for k in range(start, ints.shape[0]):
        _count_tiles(k, ints, tiles_x, counts[0])
    offsets, fill = _tile_offsets(counts)
    leaves = np.empty(offsets[-1], np.int32)
    for k in range(start, ints.shape[0]):
        _file_tiles(k, ints, tiles_x, fill[0], leaves)
    return offsets, leaves


@numba.njit(inline="always", cache=True)
def _paint_tile(t, offsets, leaves, geom, ints, normals, apothem, index, bits):  # pragma: no cover - compiled
    """Paint tile ``t`` front to back, keeping which of its pixels are covered as one bit mask per row
    (``bits``, TILE int64s): a leaf's row whose pixels are all covered costs one test, and only the
    uncovered pixels of the others are tried (most leaves lie under earlier ones). 36 % faster at 256²."""
    height, width = index.shape
    tiles_x = (width + TILE - 1) // TILE
    ya, xa = (t // tiles_x) * TILE, (t % tiles_x) * TILE
    yb, xb = min(ya + TILE, height), min(xa + TILE, width)
    covered = 0
    for y in range(ya, yb):
        row = 0
        for x in range(xa, xb):
            if index[y, x] >= 0:
                row |= 1 << (x - xa)
                covered += 1
        bits[y - ya] = row
    for j in range(offsets[t], offsets[t + 1]):
        if covered == (yb - ya) * (xb - xa):
            return
        k = leaves[j]
        x0 = max(ints[k, X0], xa)  # the leaf's columns in this tile, as a bit mask
        span = ((1 << (min(ints[k, X1] + 1, xb) - x0)) - 1) << (x0 - xa)
        if ints[k, KIND] == DISC:  # most leaves: _inside's disc test, with the leaf's numbers loaded once
            cy, cx, r = geom[k, CY], geom[k, CX], geom[k, RADIUS]
            r2 = r * r
            for y in range(max(ints[k, Y0], ya), min(ints[k, Y1] + 1, yb)):
                free = span & ~bits[y - ya]
                dy = y - cy
                dy2 = dy * dy
                if free == 0 or dy2 > r2:  # dx * dx + dy2 >= dy2: no pixel of this row is inside
                    continue
                while free != 0:
                    b = trailing_zeros(free)
                    dx = xa + b - cx
                    if dx * dx + dy2 <= r2:
                        index[y, xa + b] = k
                        bits[y - ya] |= 1 << b
                        covered += 1
                    free &= free - 1  # the next uncovered pixel
            continue
        for y in range(max(ints[k, Y0], ya), min(ints[k, Y1] + 1, yb)):
            free = span & ~bits[y - ya]
            while free != 0:
                b = trailing_zeros(free)
                if _inside_cpu(k, y, xa + b, geom, ints, normals, apothem):
                    index[y, xa + b] = k
                    bits[y - ya] |= 1 << b
                    covered += 1
                free &= free - 1


@numba.njit(inline="always", cache=True)
def _shade_tile(t, index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    height, width = index.shape
    tiles_x = (width + TILE - 1) // TILE
    ya, xa = (t // tiles_x) * TILE, (t % tiles_x) * TILE
    for y in range(ya, min(ya + TILE, height)):
        for x in range(xa, min(xa + TILE, width)):
            _shade_cpu(index[y, x], y, x, geom, look, look_ints, textures, amplitude, background, out)


@numba.njit(inline="always", cache=True)
def _shade_row(y, index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    for x in range(index.shape[1]):
        _shade_cpu(index[y, x], y, x, geom, look, look_ints, textures, amplitude, background, out)


@numba.njit(parallel=True, cache=True)
def paint_cpu(geom, ints, normals, apothem, index, start):  # pragma: no cover - compiled
    """Give each pixel with ``index < 0`` the first leaf ``k >= start`` containing it (tile threads)."""
    offsets, leaves = tile_lists(ints, start, index.shape[0], index.shape[1])
    bits = np.empty((offsets.shape[0] - 1, TILE), np.int64)
    for t in numba.prange(offsets.shape[0] - 1):
        _paint_tile(t, offsets, leaves, geom, ints, normals, apothem, index, bits[t])


@numba.njit(cache=True)
def paint_cpu_serial(geom, ints, normals, apothem, index, start):  # pragma: no cover - compiled
    """:func:`paint_cpu` on one thread: for DataLoader workers, whose cores torch already uses."""
    offsets, leaves = tile_lists(ints, start, index.shape[0], index.shape[1])
    bits = np.empty((offsets.shape[0] - 1, TILE), np.int64)
    for t in range(offsets.shape[0] - 1):
        _paint_tile(t, offsets, leaves, geom, ints, normals, apothem, index, bits[t])


@numba.njit(parallel=True, cache=True)
def render_cpu(centres, radii, kinds, shape_kinds, aspects, sides, directions, colours, colours2, gradients, modes,
               texture_rows, normals, apothem, textures, amplitude, background, scale, index, out,
               chunks):  # pragma: no cover - compiled
    """Pack and bin the leaves (``chunks`` of leaves, one per thread: :func:`pack_geometry`, :func:`pack_look`,
    :func:`tile_lists`; ``shape_kinds`` maps ``kinds`` to geometric kinds), then :func:`paint_cpu` and
    :func:`shade_cpu` in one pass: each tile is shaded as soon as it is painted, while its pixels are in
    cache. One call per image: three calls with serial packing and binning were half of a 256² image.
    ``index`` and ``out`` are at ``scale`` x the leaves' canvas; ``out`` may be float32 (values are
    computed in float64 and rounded once, as a float64 image cast to float32 would be)."""
    height, width = index.shape
    n = radii.shape[0]
    tiles_x = (width + TILE - 1) // TILE
    n_tiles = ((height + TILE - 1) // TILE) * tiles_x
    geom, ints = np.empty((n, 7)), np.empty((n, 6), np.int32)
    look, look_ints = np.empty((n, 8)), np.empty((n, 2), np.int32)
    size = (n + chunks - 1) // chunks
    counts = np.empty((chunks, n_tiles), np.int64)
    for c in numba.prange(chunks):
        counts[c, :] = 0
        for k in range(c * size, min(n, (c + 1) * size)):
            _pack_leaf(k, centres, radii, shape_kinds[kinds[k]], aspects, sides, directions, scale, height, width,
                       geom, ints)
            _pack_look_leaf(k, colours, colours2, gradients, modes, texture_rows, look, look_ints)
            _count_tiles(k, ints, tiles_x, counts[c])
    offsets, fill = _tile_offsets(counts)
    leaves = np.empty(offsets[-1], np.int32)
    for c in numba.prange(chunks):
        for k in range(c * size, min(n, (c + 1) * size)):
            _file_tiles(k, ints, tiles_x, fill[c], leaves)
    bits = np.empty((n_tiles, TILE), np.int64)
    for t in numba.prange(n_tiles):
        _paint_tile(t, offsets, leaves, geom, ints, normals, apothem, index, bits[t])
        _shade_tile(t, index, geom, look, look_ints, textures, amplitude, background, out)


@numba.njit(cache=True)
def render_cpu_serial(centres, radii, kinds, shape_kinds, aspects, sides, directions, colours, colours2, gradients,
                      modes, texture_rows, normals, apothem, textures, amplitude, background, scale, index,
                      out):  # pragma: no cover - compiled
    """:func:`render_cpu` on one thread: for DataLoader workers, whose cores torch already uses."""
    height, width = index.shape
    n = radii.shape[0]
    geom, ints = np.empty((n, 7)), np.empty((n, 6), np.int32)
    look, look_ints = np.empty((n, 8)), np.empty((n, 2), np.int32)
    for k in range(n):
        _pack_leaf(k, centres, radii, shape_kinds[kinds[k]], aspects, sides, directions, scale, height, width, geom,
                   ints)
        _pack_look_leaf(k, colours, colours2, gradients, modes, texture_rows, look, look_ints)
    offsets, leaves = tile_lists(ints, 0, height, width)
    bits = np.empty((offsets.shape[0] - 1, TILE), np.int64)
    for t in range(offsets.shape[0] - 1):
        _paint_tile(t, offsets, leaves, geom, ints, normals, apothem, index, bits[t])
        _shade_tile(t, index, geom, look, look_ints, textures, amplitude, background, out)


@numba.njit(parallel=True, cache=True)
def shade_cpu(index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    """Colour every pixel from the leaf it shows (``background`` where none)."""
    for y in numba.prange(index.shape[0]):
        _shade_row(y, index, geom, look, look_ints, textures, amplitude, background, out)


@numba.njit(cache=True)
def shade_cpu_serial(index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    """:func:`shade_cpu` on one thread."""
    for y in range(index.shape[0]):
        _shade_row(y, index, geom, look, look_ints, textures, amplitude, background, out)
