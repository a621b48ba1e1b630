"""Packing sampled leaves into the arrays the kernels read: the host side of rendering.

:class:`~rstor_core.images.leaf_sampling.Leaves` hold what was drawn (shape names, angles in degrees,
output pixels); the kernels of :mod:`rstor_core.images.leaf_kernels` (and their CUDA twins) read float64
and int32 tables in the column layout that module declares, at render scale, with each leaf's bounding
box clipped to the canvas. Packing them once here, for one image or a whole batch, keeps every backend
reading the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rstor_core.images import leaf_kernels as K
from rstor_core.images.leaf_sampling import SHAPES, Leaves
from rstor_core.settings.configs import MAX_POLYGON_SIDES

__all__ = ["APOTHEM", "KIND_OF_SHAPE", "NORMALS", "batch_arrays", "geometry_arrays", "gradient_directions",
           "look_arrays", "texture_lattices", "turn_directions"]

_GEOMETRY = {"disc": K.DISC, "ellipse": K.ELLIPSE, "square": K.RECT, "rectangle": K.RECT,
             "diamond": K.DIAMOND, "polygon": K.POLYGON, "bar": K.RECT}
KIND_OF_SHAPE = np.array([_GEOMETRY[name] for name in SHAPES], dtype=np.int32)  # SHAPES index -> geometric kind
NORMALS, APOTHEM = K.polygon_tables(MAX_POLYGON_SIDES)  # regular polygons' edge normals, apothem ratios


def geometry_arrays(leaves: Leaves, scale: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Kernel arrays at render scale, with bounding boxes clipped to the canvas (:func:`K.pack_geometry`)."""
    return K.pack_geometry(leaves.centres, leaves.radii, KIND_OF_SHAPE[leaves.kinds], leaves.aspects, leaves.sides,
                           turn_directions(leaves), scale, *shape)


def look_arrays(leaves: Leaves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shading arrays of the kernels: colours and gradient direction (float64), appearance and
    texture row (int32), and the texture lattices."""
    look, look_ints = K.pack_look(leaves.colours, leaves.colours2, gradient_directions(leaves), leaves.modes,
                                  leaves.texture_rows)
    return look, look_ints, leaves.textures


def turn_directions(leaves: Leaves) -> np.ndarray:
    """(N, 2) cos and sin of the leaves' angles, where a shape or a texture turns with them."""
    return _direction(leaves.angles, needed=(leaves.kinds != SHAPES.index("disc")) | (leaves.modes == K.TEXTURED))


def gradient_directions(leaves: Leaves) -> np.ndarray:
    """(N, 2) cos and sin of the linear gradients' directions."""
    return _direction(leaves.gradient_angles, needed=leaves.modes == K.LINEAR)


def texture_lattices(textures: np.ndarray) -> np.ndarray:
    """The kernels' texture argument: float64, contiguous, and one placeholder lattice when there is none."""
    return np.ascontiguousarray(textures if len(textures) else np.zeros((1, 2, 2)), dtype=np.float64)


def batch_arrays(batch: Sequence[Leaves], shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The kernels' arrays of every image's leaves, concatenated, with ``offsets`` (B + 1,): image ``b``'s
    leaves are rows ``offsets[b]:offsets[b + 1]``, its texture rows renumbered into the joint lattices."""
    packed = [(*geometry_arrays(leaves, 1, shape), *look_arrays(leaves)) for leaves in batch]
    rows = np.cumsum([0] + [len(textures) for *_, textures in packed])
    for (_, _, _, look_ints, _), first_row in zip(packed, rows):  # texture rows index the concatenated lattices
        look_ints[:, K.TEXTURE] = np.where(look_ints[:, K.TEXTURE] >= 0, look_ints[:, K.TEXTURE] + first_row, -1)
    geom, ints, look, look_ints = (np.ascontiguousarray(np.concatenate([p[i] for p in packed])) for i in range(4))
    textures = texture_lattices(np.concatenate([p[4] for p in packed]))
    offsets = np.cumsum([0] + [len(p[0]) for p in packed]).astype(np.int64)
    return geom, ints, look, look_ints, textures, offsets


def _direction(degrees: np.ndarray, needed: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) cos and sin of ``degrees``; zeros when no leaf is ``needed`` (flat discs never turn)."""
    if needed is not None and not needed.any():
        return np.zeros((len(degrees), 2))
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)
