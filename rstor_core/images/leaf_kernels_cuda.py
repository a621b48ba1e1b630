"""The CUDA twins of :mod:`rstor_core.images.leaf_kernels`: one thread per pixel, same per-pixel maths.

Only CUDA code lives here (the dispatcher is :func:`rstor_core.images.deadleaves.render_leaves`, a batch's
launches :func:`rstor_core.images.device_rendering.render_batch`). Kept in its own module because numba's
CUDA simulator swaps the module-level ``cuda`` name of kernel modules, and importing ``numba.cuda`` is only
paid when the CUDA backend is used.
"""

from rstor_core.images.cuda_compat import numba_cuda
from rstor_core.images.leaf_kernels import X0, X1, Y0, Y1, _inside, _shade

cuda = numba_cuda()  # numba.cuda, with numpy's row_stack alias back on numpy 2.5

inside = cuda.jit(device=True)(_inside)
shade_pixel = cuda.jit(device=True)(_shade)
BLOCK = 16  # threads per block side


def launch_shape(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Grid and block for one thread per pixel."""
    return ((height + BLOCK - 1) // BLOCK, (width + BLOCK - 1) // BLOCK), (BLOCK, BLOCK)


@cuda.jit
def paint(geom, ints, normals, apothem, index, start):  # pragma: no cover - device code
    """Each uncovered pixel takes the first leaf ``k >= start`` containing it."""
    y, x = cuda.grid(2)
    if y >= index.shape[0] or x >= index.shape[1] or index[y, x] >= 0:
        return
    for k in range(start, geom.shape[0]):
        if y < ints[k, Y0] or y > ints[k, Y1] or x < ints[k, X0] or x > ints[k, X1]:
            continue
        if inside(k, y, x, geom, ints, normals, apothem):
            index[y, x] = k
            return


@cuda.jit
def shade(index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    """Colour every pixel from the leaf it shows (``background`` where none)."""
    y, x = cuda.grid(2)
    if y < index.shape[0] and x < index.shape[1]:
        shade_pixel(index[y, x], y, x, geom, look, look_ints, textures, amplitude, background, out)


# --- a whole batch in one launch: the leaves of every image packed, image b's at offsets[b]:offsets[b + 1] ---

def batch_launch_shape(batch: int, height: int, width: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Grid and block for one thread per pixel of every image."""
    return (batch, (height + BLOCK - 1) // BLOCK, (width + BLOCK - 1) // BLOCK), (1, BLOCK, BLOCK)


@cuda.jit
def paint_batch(geom, ints, normals, apothem, offsets, index):  # pragma: no cover - device code
    """Each pixel of image ``b`` takes the first of its leaves containing it (a packed index, -1: none)."""
    b, y, x = cuda.grid(3)
    if b >= index.shape[0] or y >= index.shape[1] or x >= index.shape[2]:
        return
    index[b, y, x] = -1
    for k in range(offsets[b], offsets[b + 1]):
        if y < ints[k, Y0] or y > ints[k, Y1] or x < ints[k, X0] or x > ints[k, X1]:
            continue
        if inside(k, y, x, geom, ints, normals, apothem):
            index[b, y, x] = k
            return


@cuda.jit
def shade_batch(index, geom, look, look_ints, textures, amplitude, background, out):  # pragma: no cover
    """Colour every pixel of every image from the leaf it shows (``background`` where none)."""
    b, y, x = cuda.grid(3)
    if b < index.shape[0] and y < index.shape[1] and x < index.shape[2]:
        shade_pixel(index[b, y, x], y, x, geom, look, look_ints, textures, amplitude, background, out[b])
