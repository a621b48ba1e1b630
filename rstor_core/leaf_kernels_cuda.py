"""The CUDA twins of :mod:`rstor_core.leaf_kernels`: one thread per pixel, same device maths.

Kept in their own module because numba's CUDA simulator swaps the module-level ``cuda`` name
of kernel modules, and importing ``numba.cuda`` is only paid when the CUDA backend is used.
"""

from numba import cuda

from rstor_core.leaf_kernels import X0, X1, Y0, Y1, _inside, _shade

inside = cuda.jit(device=True)(_inside)
shade_pixel = cuda.jit(device=True)(_shade)


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
    if y >= index.shape[0] or x >= index.shape[1]:
        return
    k = index[y, x]
    if k < 0:
        for c in range(3):
            out[y, x, c] = background
    else:
        shade_pixel(k, y, x, geom, look, look_ints, textures, amplitude, out)
