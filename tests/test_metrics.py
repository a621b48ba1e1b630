"""PSNR and SSIM agree with scikit-image within 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rstor_core.data import to_tensor
from rstor_core.deadleaves import dead_leaves
from rstor_core.metrics import psnr, ssim


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    clean = torch.stack([to_tensor(dead_leaves((40, 57), seed)) for seed in range(3)])
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    return (clean + noise * torch.tensor([0.02, 0.1, 0.3]).view(-1, 1, 1, 1)).clamp(0, 1), clean


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


def test_psnr_agrees_with_scikit_image(pair):
    noisy, clean = pair
    expected = [peak_signal_noise_ratio(_hwc(c), _hwc(n), data_range=1) for n, c in zip(noisy, clean)]
    np.testing.assert_allclose(psnr(noisy, clean).numpy(), expected, atol=1e-3)


def test_ssim_agrees_with_scikit_image(pair):
    noisy, clean = pair
    expected = [structural_similarity(_hwc(c), _hwc(n), channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1) for n, c in zip(noisy, clean)]
    np.testing.assert_allclose(ssim(noisy, clean).numpy(), expected, atol=1e-3)


def test_identical_images_have_ssim_one_and_infinite_psnr(pair):
    _, clean = pair
    torch.testing.assert_close(ssim(clean, clean), torch.ones(3))
    assert torch.isinf(psnr(clean, clean)).all()


def test_metrics_reject_mismatched_shapes(pair):
    noisy, clean = pair
    with pytest.raises(ValueError, match="one shape"):
        psnr(noisy[:, :, :-1], clean)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(noisy[:, :, :8, :8], clean[:, :, :8, :8])
