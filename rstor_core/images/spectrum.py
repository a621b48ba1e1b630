"""Radially averaged power spectra: the scale-invariance check of chapter 01.

Natural images have a power spectrum close to 1/f^2 (Field 1987; van der Schaaf & van Hateren
1996); dead leaves with radius law r^-3 share it, which is why they can stand in for photos.
"""

from __future__ import annotations

import numpy as np


def radial_power_spectrum(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power |FFT|^2 on rings of equal frequency, of the luminance of an (H, W[, C]) image.

    Returns ``(frequencies, power)`` with frequencies in cycles per pixel on (0, 0.5]; the mean
    is removed and a Hann window applied so the image border does not add a spurious 1/f^2 cross.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=-1)
    if image.ndim != 2 or min(image.shape) < 8:
        raise ValueError(f"expected an (H, W) or (H, W, C) image of at least 8x8, got {image.shape}")
    height, width = image.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fftshift(np.fft.fft2((image - image.mean()) * window))) ** 2
    power /= (window ** 2).sum()
    fy = np.fft.fftshift(np.fft.fftfreq(height))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(width))[None, :]
    radius = np.hypot(fy, fx)
    n_bins = min(height, width) // 2
    bins = np.minimum((radius / 0.5 * n_bins).astype(int), n_bins)  # bin n_bins: corners, dropped
    total = np.bincount(bins.ravel(), weights=power.ravel(), minlength=n_bins + 1)
    count = np.bincount(bins.ravel(), minlength=n_bins + 1)
    frequencies = (np.arange(1, n_bins) + 0.5) / n_bins * 0.5
    return frequencies, total[1:n_bins] / count[1:n_bins]


def spectral_slope(frequencies: np.ndarray, power: np.ndarray, *, f_min: float = 0.01,
                   f_max: float = 0.25) -> float:
    """Slope of log power against log frequency on [f_min, f_max] (about -2 for photos)."""
    keep = (frequencies >= f_min) & (frequencies <= f_max)
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 frequencies in [{f_min}, {f_max}]")
    return float(np.polyfit(np.log(frequencies[keep]), np.log(power[keep]), 1)[0])
