"""Anti-aliasing of dead leaves: render ``ds_factor`` x larger, low-pass with a Gaussian, decimate.

Hard leaf edges alias; the original study rendered 5x larger and filtered before decimating. The
Gaussian is computed only at the pixels decimation keeps, by a numba kernel that makes the very sums
``scipy.ndimage.gaussian_filter`` makes (a test), so this step stays cheap next to the painting.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import scipy.ndimage

from rstor_core.settings.configs import DeadLeavesConfig

__all__ = ["antialiased", "decimate_gaussian", "decimate_gaussian_serial", "gaussian_weights"]


def antialiased(image: np.ndarray, index: np.ndarray | None, params: DeadLeavesConfig, *, parallel: bool,
                return_index: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """With ``ds_factor`` d > 1: ``scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="nearest")``
    sampled at every d-th pixel from d // 2, computed only there and bit for bit (:func:`decimate_gaussian`;
    filtering every rendered pixel was half of an ``original_study`` image). Float32 out, red and blue swapped
    with ``swap_red_blue``; ``index`` (decimated alike) may be None when ``return_index`` is False."""
    d = params.ds_factor
    if d > 1:
        sigma = params.aa_sigma if params.aa_sigma is not None else d / 2
        decimated = np.empty((image.shape[0] // d, image.shape[1] // d, 3))
        (decimate_gaussian if parallel else decimate_gaussian_serial)(image, gaussian_weights(sigma), d, decimated)
        image, index = decimated, None if index is None else index[d // 2::d, d // 2::d]
    image = np.ascontiguousarray(image[..., ::-1] if params.swap_red_blue else image, dtype=np.float32)
    return (image, np.ascontiguousarray(index)) if return_index else image


@functools.lru_cache(maxsize=16)
def gaussian_weights(sigma: float) -> np.ndarray:
    """scipy's own weights for ``sigma`` (its default truncation, 4 sigma): the filter's response to an impulse."""
    radius = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return scipy.ndimage.gaussian_filter1d(impulse, sigma, mode="constant")


# --- the kernels: a Gaussian low-pass computed only at the pixels decimation keeps ------------------

@numba.njit(inline="always", cache=True)
def _decimate_row(m, image, weights, d, out):  # pragma: no cover - compiled
    """Output row ``m``: scipy.ndimage's symmetric correlation (``x[i] w[r]``, then ``(x[i + j] + x[i - j])
    w[r + j]`` for j = -r..-1, edges repeated: mode "nearest"), in its order, down the rows at row
    d // 2 + d m, then along that row at every d-th column: the very sums ``gaussian_filter`` makes."""
    r = weights.shape[0] // 2
    height, width, channels = image.shape
    i = d // 2 + d * m
    row = np.empty((width, channels))
    for x in range(width):
        for c in range(channels):
            acc = image[i, x, c] * weights[r]
            for j in range(-r, 0):
                acc += (image[min(max(i + j, 0), height - 1), x, c]
                        + image[min(max(i - j, 0), height - 1), x, c]) * weights[r + j]
            row[x, c] = acc
    for n in range(out.shape[1]):
        x = d // 2 + d * n
        for c in range(channels):
            acc = row[x, c] * weights[r]
            for j in range(-r, 0):
                acc += (row[min(max(x + j, 0), width - 1), c] + row[min(max(x - j, 0), width - 1), c]) * weights[r + j]
            out[m, n, c] = acc


@numba.njit(parallel=True, cache=True)
def decimate_gaussian(image, weights, d, out):  # pragma: no cover - compiled
    """``gaussian_filter(image, (s, s, 0), mode="nearest")[d // 2::d, d // 2::d]`` into ``out``, with
    ``weights`` scipy's kernel for s, computing only the kept pixels (a thread per output row)."""
    for m in numba.prange(out.shape[0]):
        _decimate_row(m, image, weights, d, out)


@numba.njit(cache=True)
def decimate_gaussian_serial(image, weights, d, out):  # pragma: no cover - compiled
    """:func:`decimate_gaussian` on one thread."""
    for m in range(out.shape[0]):
        _decimate_row(m, image, weights, d, out)
