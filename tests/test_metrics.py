"""PSNR and SSIM agree with scikit-image within 1e-3; ST-LPIPS with its package's own forward within 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rstor_core.images.deadleaves import dead_leaves
from rstor_core.measurement import metrics
from rstor_core.measurement.metrics import psnr, ssim, st_lpips_distance, st_lpips_model
from rstor_core.networks.batches import to_tensor


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    clean = torch.stack([to_tensor(dead_leaves((40, 57), seed)) for seed in range(3)])
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    return (clean + noise * torch.tensor([0.02, 0.1, 0.3]).view(-1, 1, 1, 1)).clamp(0, 1), clean


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


def test_psnr_agrees_with_scikit_image(pair, device):
    noisy, clean = pair
    expected = [peak_signal_noise_ratio(_hwc(c), _hwc(n), data_range=1) for n, c in zip(noisy, clean)]
    np.testing.assert_allclose(psnr(noisy.to(device), clean.to(device)).cpu().numpy(), expected, atol=1e-3)


def test_ssim_agrees_with_scikit_image(pair, device):
    noisy, clean = pair
    expected = [structural_similarity(_hwc(c), _hwc(n), channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1) for n, c in zip(noisy, clean)]
    np.testing.assert_allclose(ssim(noisy.to(device), clean.to(device)).cpu().numpy(), expected, atol=1e-3)


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


# --- ST-LPIPS ----------------------------------------------------------------------------------

@pytest.fixture
def uint8_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Three references and their distorted versions (noise, a one-pixel shift, another image), uint8 H x W x C."""
    leaves = [(dead_leaves((64, 72), seed) * 255 + 0.5).astype(np.uint8) for seed in range(4)]
    noise = np.random.default_rng(0).normal(0, 20, leaves[0].shape)
    distorted = [np.clip(leaves[0] + noise, 0, 255).astype(np.uint8), np.roll(leaves[1], 1, axis=1), leaves[3]]
    return np.stack(leaves[:3]), np.stack(distorted)


def test_st_lpips_agrees_with_the_package_forward_on_a_few_pairs(uint8_pairs):
    from stlpips_pytorch import stlpips, utils

    references, distorted = uint8_pairs
    package = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False)  # its README's call, in [-1, 1]
    with torch.inference_mode():
        expected = [float(package(utils.im2tensor(d), utils.im2tensor(r))) for d, r in zip(distorted, references)]
    ours = st_lpips_distance(torch.stack([to_tensor(d / np.float32(255)) for d in distorted]),
                             torch.stack([to_tensor(r / np.float32(255)) for r in references]))
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-6)
    assert min(expected) > 0.005  # the pairs differ (the shifted one least): agreeing on zeros would prove nothing


def test_st_lpips_is_zero_for_identical_images_and_grows_with_noise(pair):
    noisy, clean = pair  # noise sigma 0.02, 0.1, 0.3 on three dead-leaves images
    torch.testing.assert_close(st_lpips_distance(clean, clean), torch.zeros(3))
    one_image = clean[:1].expand_as(clean)
    growing = st_lpips_distance((one_image + noisy - clean).clamp(0, 1), one_image)
    assert growing.shape == (3,) and (growing > 0).all() and (growing.diff() > 0).all()


def test_st_lpips_compares_one_target_with_every_prediction(pair):
    noisy, clean = pair
    torch.testing.assert_close(st_lpips_distance(noisy, clean[:1]),
                               st_lpips_distance(noisy, clean[:1].expand_as(noisy)))


def test_st_lpips_builds_offline_with_every_weight_from_its_wheel(no_network, empty_torch_home):
    """No download, and no random weight left behind (the package loads its file with strict=False)."""
    from stlpips_pytorch import stlpips

    st_lpips_model.cache_clear()
    try:
        state = st_lpips_model().state_dict()
    finally:
        st_lpips_model.cache_clear()
    stored = torch.load(Path(stlpips.__file__).with_name("weights") / "vST0.0" / "alex_shift_tolerant.pth",
                        map_location="cpu", weights_only=True)
    for key, value in state.items():  # lins.k is the ModuleList alias of lin<k>
        torch.testing.assert_close(value, stored[key.replace("lins.", "lin")], rtol=0, atol=0)


def test_st_lpips_rejects_images_smaller_than_its_network_needs(pair):
    noisy, clean = pair
    with pytest.raises(ValueError, match="at least 21"):
        st_lpips_distance(noisy[..., :20, :], clean[..., :20, :])
    with pytest.raises(ValueError, match="one shape"):
        st_lpips_distance(noisy[:2], clean[:, :, :-1])


def test_lpips_through_the_shared_forward_agrees_with_the_package_forward(pair):
    """LPIPS runs through the same written-out forward as ST-LPIPS (random backbone: no download here)."""
    noisy, clean = pair
    model = metrics.lpips_model(random_backbone=True)
    with torch.inference_mode():
        expected = model(noisy * 2 - 1, clean * 2 - 1).flatten()
    torch.testing.assert_close(metrics.lpips_distance(noisy, clean, model=model), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(metrics.lpips_distance(noisy, clean[:1], model=model),
                               metrics.lpips_distance(noisy, clean[:1].expand_as(noisy), model=model))


def test_perceptual_distances_in_chunks_equal_one_batch(pair, monkeypatch):
    """Predictions go through in chunks (memory); chunking changes no distance, with one or many targets."""
    noisy, clean = pair
    whole = st_lpips_distance(noisy, clean), st_lpips_distance(noisy, clean[:1])
    monkeypatch.setattr(metrics, "CHUNK_PIXELS", 2 * noisy[0, 0].numel())  # chunks of 2, then 1
    torch.testing.assert_close(st_lpips_distance(noisy, clean), whole[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(st_lpips_distance(noisy, clean[:1]), whole[1], rtol=0, atol=1e-6)
