"""Degradations: generator contracts (same seed, new seed), families, operators against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from rstor_core.degradation import degrade as D

BANK_SHA256 = "2d5b3f6bddc846d0059745c87277d4c4cf08834c316c8a6ca3559046d343e46e"  # rstor_core/blur_banks.npy


@pytest.fixture
def images(device) -> torch.Tensor:
    """(4, 3, 33, 40) on each device: the operators run where their input lives."""
    return torch.rand(4, 3, 33, 40, generator=torch.Generator().manual_seed(0)).to(device)


GENERATORS = [
    lambda seed: D.motion_blur_kernels(6, seed=seed),
    lambda seed: D.motion_blur_kernels(6, "big", seed=seed),
    lambda seed: D.gaussian_blur_kernels(6, seed=seed),
    lambda seed: D.gaussian_blur_kernels(6, anisotropic=False, seed=seed),
    lambda seed: D.noise_levels(6, (0, 50), seed=seed),
]


@pytest.mark.parametrize("generator", GENERATORS)
def test_same_seed_gives_the_same_parameters(generator):
    first, second = generator(3), generator(3)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)


@pytest.mark.parametrize("generator", GENERATORS)
def test_new_seed_gives_new_parameters(generator):
    first, second = generator(3), generator(4)
    assert any(not torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize("generator", GENERATORS[:4])
def test_two_samples_of_a_batch_get_different_kernels(generator):
    kernels = generator(0)["filter"]
    assert not torch.equal(kernels[0], kernels[1])


@pytest.mark.parametrize("family", list(D.FAMILIES))
def test_bank_kernels_are_normalised_and_lie_in_their_family_range(family):
    bank = D.motion_blur_bank(family)
    low, high = D.FAMILIES[family]
    radius = D.kernel_radius(bank)
    assert bank.shape == (D.BANK_SIZE, 1, D.KERNEL_SIZE, D.KERNEL_SIZE)
    assert (bank >= 0).all()
    torch.testing.assert_close(bank.sum((-2, -1)), torch.ones(D.BANK_SIZE, 1))
    assert ((radius >= low) & (radius < high)).all()


def test_family_ranges_do_not_overlap():
    ranges = sorted(D.FAMILIES.values())
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


def test_the_banks_are_data_whose_bytes_are_pinned():
    """Issue 30, item 3: drawn anew, the banks came out different on another machine (big:0's RMS radius
    5.7511 on one, 5.7451 on another), and committed scores were re-used on kernels a clone did not have."""
    import hashlib

    assert hashlib.sha256(D.BANK_FILE.read_bytes()).hexdigest() == BANK_SHA256
    stored = D.stored_banks()
    assert list(stored) == list(D.BANKS)
    torch.testing.assert_close(D.bank_kernels("mild:0-31"), stored["mild"], rtol=0, atol=0)


def test_a_missing_bank_file_says_which_file_and_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "BANK_FILE", tmp_path / "blur_banks.npy")
    D.stored_banks.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="blur_banks.npy.*git checkout"):
            D.bank_kernels("big:0")
    finally:
        D.stored_banks.cache_clear()


def test_written_banks_are_the_drawn_ones_and_the_same_bytes_twice(tmp_path):
    first, second = D.write_banks(tmp_path / "a.npy"), D.write_banks(tmp_path / "b.npy")
    assert first.read_bytes() == second.read_bytes()
    written = torch.from_numpy(np.load(first))
    torch.testing.assert_close(written[D.BANKS.index("small")], D.draw_bank("small"), rtol=0, atol=0)
    D.stored_banks.cache_clear()  # write_banks cleared it; the next reader reads the committed file


def test_training_kernels_are_not_bank_kernels():
    bank = torch.cat([D.motion_blur_bank(f) for f in D.FAMILIES]).flatten(1)
    drawn = D.motion_blur_kernels(32, seed=0)["filter"].flatten(1)
    assert not (torch.cdist(drawn, bank) == 0).any()


def test_on_the_fly_kernels_belong_to_the_family_they_report():
    drawn = D.motion_blur_kernels(24, seed=5)
    for radius, family in zip(drawn["radius"], drawn["family"]):
        low, high = list(D.FAMILIES.values())[int(family)]
        assert low <= radius < high


def test_kernels_are_centred_on_their_centroid():
    k = D.motion_blur_bank("big")[:, 0]
    yy, xx = torch.meshgrid(torch.arange(D.KERNEL_SIZE, dtype=k.dtype), torch.arange(D.KERNEL_SIZE, dtype=k.dtype),
                            indexing="ij")
    centre = D.KERNEL_SIZE // 2
    assert ((k * yy).sum((-2, -1)) - centre).abs().max() <= 0.5
    assert ((k * xx).sum((-2, -1)) - centre).abs().max() <= 0.5


def _second_moments(kernel: torch.Tensor) -> tuple[float, float, float]:
    """(variance down the rows, variance along the columns, their covariance) of a (1, 1, K, K) kernel."""
    k = kernel[0, 0].double()
    offsets = torch.arange(D.KERNEL_SIZE, dtype=torch.float64) - D.KERNEL_SIZE // 2
    yy, xx = torch.meshgrid(offsets, offsets, indexing="ij")
    return float((k * yy * yy).sum()), float((k * xx * xx).sum()), float((k * xx * yy).sum())


def test_gaussian_sigma_x_spreads_the_kernel_down_the_rows_at_angle_zero():
    # deepinv's convention: sigma_x is the spread along dimension -2 (vertical), sigma_y along -1.
    rows, columns, covariance = _second_moments(D.gaussian_kernel(3.0, 0.5, 0.0))
    assert rows == pytest.approx(3.0**2, rel=0.02) and columns < 0.5**2 and abs(covariance) < 1e-6


def test_a_quarter_turn_transposes_the_gaussian_kernel():
    flat = D.gaussian_kernel(3.0, 0.5, 0.0)
    turned = D.gaussian_kernel(3.0, 0.5, 90.0)
    assert not torch.allclose(flat, flat.transpose(-2, -1), atol=1e-3)
    torch.testing.assert_close(turned, flat.transpose(-2, -1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("angle, sign", [(45.0, 1.0), (135.0, -1.0)])
def test_at_45_and_135_degrees_the_gaussian_spreads_along_the_two_diagonals(angle, sign):
    # sign +1: rows and columns grow together (top left to bottom right); -1: the other diagonal
    rows, columns, covariance = _second_moments(D.gaussian_kernel(3.0, 0.5, angle))
    assert rows == pytest.approx(columns, rel=1e-4)
    assert sign * covariance == pytest.approx((3.0**2 - 0.5**2) / 2, rel=0.02)  # half the variance difference


@pytest.mark.parametrize("spec, family, indices", [("big:3", "big", [3]), ("small:0-2", "small", [0, 1, 2]),
                                                   ("mild", "mild", list(range(D.BANK_SIZE))),
                                                   ("gaussian:4", "gaussian", [4])])
def test_blur_specs_address_the_bank(spec, family, indices):
    assert D.parse_blur_spec(spec) == (family, indices)


def test_gaussian_bank_is_seeded_anisotropic_and_apart_from_training_draws():
    bank = D.bank_kernels("gaussian")
    assert bank.shape == (D.BANK_SIZE, 1, D.KERNEL_SIZE, D.KERNEL_SIZE)
    torch.testing.assert_close(bank.sum((-2, -1)), torch.ones(D.BANK_SIZE, 1))
    torch.testing.assert_close(D.bank_kernels("gaussian:0-31"), bank, rtol=0, atol=0)
    low, high = D.GAUSSIAN_BANK_SIGMA  # RMS radius of a Gaussian: sqrt(sx^2 + sy^2)
    assert D.kernel_radius(bank).min() >= np.sqrt(2) * low * 0.95 and D.kernel_radius(bank).max() <= np.sqrt(2) * high
    assert not torch.equal(bank[:, 0], bank[:, 0].transpose(-2, -1))  # not all isotropic
    training = D.gaussian_blur_kernels(64, sigma_range=D.GAUSSIAN_BANK_SIGMA, seed=0)["filter"]
    assert torch.cdist(bank.flatten(1), training.flatten(1)).min() > 1e-4


@pytest.mark.parametrize("spec", ["huge:1", "big:40", "big:x", "small:3-1", "gaussian:32"])
def test_bad_blur_specs_are_errors_naming_the_spec(spec):
    with pytest.raises(ValueError, match=spec.split(":")[0]):
        D.parse_blur_spec(spec)


def test_blur_matches_scipy_convolve_nearest_per_sample(images):
    kernels = D.bank_kernels(["small:1", "mild:2", "big:3"]).to(torch.float64)
    kernels = torch.cat([kernels, D.gaussian_kernel(2.0, 0.7, 40.0).double()])
    out = D.blur(images.double(), kernels).cpu()
    for b in range(len(images)):
        for c in range(3):
            expected = scipy.ndimage.convolve(images[b, c].double().cpu().numpy(), kernels[b, 0].numpy(),
                                              mode="nearest")
            np.testing.assert_allclose(out[b, c].numpy(), expected, atol=1e-5)


def test_blur_keeps_the_shape_dtype_and_device_and_accepts_one_kernel_for_all(images):
    out = D.blur(images, D.bank_kernels("big:0"))
    assert out.shape == images.shape and out.dtype == images.dtype and out.device == images.device


@pytest.mark.parametrize("kernel", [D.identity_kernel(4), D.gaussian_kernel(0.0, 0.0)])
def test_identity_kernel_returns_the_input_exactly(images, kernel):
    assert torch.equal(D.blur(images, kernel), images)


def test_zero_noise_returns_the_input_and_noise_has_the_asked_std(images):
    assert torch.equal(D.add_noise(images, 0.0, seed=0), images)
    big = torch.zeros(2, 3, 256, 256, device=images.device)
    noisy = D.add_noise(big, torch.tensor([10 / 255, 40 / 255]), seed=1)
    torch.testing.assert_close(noisy.std((1, 2, 3)).cpu(), torch.tensor([10 / 255, 40 / 255]), rtol=0.02, atol=0)


def test_noise_is_not_clipped_unless_asked(images):
    assert D.add_noise(images, 0.3, seed=0).max() > 1.0
    clipped = D.add_noise(images, 0.3, seed=0, clip=True)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_poisson_gaussian_noise_grows_with_intensity():
    dark, bright = torch.full((1, 1, 128, 128), 0.05), torch.full((1, 1, 128, 128), 0.8)
    noise = lambda x: (D.add_noise(x, 0.0, seed=0, poisson_gain=100.0) - x).std()  # noqa: E731
    assert noise(bright) > 2 * noise(dark)


def test_noise_levels_are_drawn_per_sample_in_the_range():
    sigma = D.noise_levels(1000, (5, 25), seed=0)["sigma"] * 255
    assert 5 <= sigma.min() and sigma.max() <= 25 and sigma.std() > 4


def test_degrade_is_blur_then_noise(images):
    kernels = D.bank_kernels("mild:0")
    expected = D.add_noise(D.blur(images, kernels), 0.1, seed=7)
    torch.testing.assert_close(D.degrade(images, kernels=kernels, sigma=0.1, seed=7), expected, rtol=0, atol=0)


@pytest.mark.parametrize("call, message", [
    (lambda: D.blur(torch.rand(3, 8, 8), D.identity_kernel()), "B, C, H, W"),
    (lambda: D.blur(torch.rand(2, 3, 8, 8), torch.rand(3, 1, 5, 5)), "expected 1 or 2 kernels"),
    (lambda: D.add_noise(torch.rand(1, 3, 8, 8), -0.1, seed=0), "sigma must be >= 0"),
    (lambda: D.motion_blur_kernels(2, "huge", seed=0), "unknown blur family"),
    (lambda: D.noise_levels(2, (10, 5), seed=0), "sigma_range"),
])
def test_bad_input_is_a_value_error_naming_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()
