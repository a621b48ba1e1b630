"""Dead leaves: determinism, the radius law, occlusion order and the renderer against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from rstor_core.deadleaves import (DeadLeavesParams, Leaves, dead_leaves, dead_leaves_batch, power_law_cdf,
                                   power_law_pdf, power_law_radii, render_leaf_index, sample_leaves)


def test_same_seed_gives_bit_identical_image():
    assert dead_leaves(96, seed=7).tobytes() == dead_leaves(96, seed=7).tobytes()


def test_new_seed_gives_a_different_image():
    assert not np.array_equal(dead_leaves(96, seed=7), dead_leaves(96, seed=8))


def test_image_is_float32_rgb_in_unit_range_with_the_asked_shape():
    image = dead_leaves((40, 72), seed=0)
    assert image.shape == (40, 72, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0, 4.5])
def test_sampled_radii_pass_a_kolmogorov_smirnov_test_against_the_power_law(rng, alpha):
    radii = power_law_radii(50_000, alpha, 1.0, 2000.0, rng)
    assert radii.min() >= 1.0 and radii.max() <= 2000.0
    assert scipy.stats.kstest(radii, lambda r: power_law_cdf(r, alpha, 1.0, 2000.0)).pvalue > 0.01


def test_kolmogorov_smirnov_test_rejects_a_wrong_exponent(rng):
    radii = power_law_radii(50_000, 3.0, 1.0, 2000.0, rng)
    assert scipy.stats.kstest(radii, lambda r: power_law_cdf(r, 2.7, 1.0, 2000.0)).pvalue < 1e-6


def test_power_law_pdf_integrates_to_one():
    r = np.geomspace(1.0, 2000.0, 200_001)
    assert np.trapezoid(power_law_pdf(r, 3.0, 1.0, 2000.0), r) == pytest.approx(1.0, rel=1e-3)


def test_first_sampled_leaf_lies_on_top():
    leaves = Leaves(centres=np.array([[10.0, 10.0], [10.0, 14.0]]), radii=np.array([5.0, 5.0]),
                    colours=np.eye(3, dtype=np.float32)[:2])
    index = render_leaf_index(leaves, 24)
    assert index[10, 12] == 0  # in both discs: the first one wins
    assert index[10, 18] == 1 and index[0, 0] == -1


def test_renderer_matches_a_brute_force_painter(rng):
    size = (37, 53)
    leaves = sample_leaves(size, DeadLeavesParams(n_leaves=300, r_max=30.0), rng)
    yy, xx = np.mgrid[: size[0], : size[1]]
    expected = np.full(size, -1)
    for k in range(len(leaves) - 1, -1, -1):  # back to front: later paints win
        cy, cx = leaves.centres[k]
        expected[(yy - cy) ** 2 + (xx - cx) ** 2 <= leaves.radii[k] ** 2] = k
    np.testing.assert_array_equal(render_leaf_index(leaves, size), expected)


def test_uncovered_pixels_show_the_background():
    image = dead_leaves(32, seed=0, n_leaves=1, r_min=1.0, r_max=1.5, background=0.25)
    assert (image == np.float32(0.25)).all(axis=-1).mean() > 0.9


def test_batch_image_depends_only_on_seed_and_position():
    np.testing.assert_array_equal(dead_leaves_batch(2, 48, seed=3)[1], dead_leaves_batch(4, 48, seed=3)[1])


def test_default_leaf_count_is_thirty_times_the_side(rng):
    assert len(sample_leaves((40, 50), DeadLeavesParams(), rng)) == 1500


def test_unknown_override_is_rejected_naming_it():
    with pytest.raises(TypeError, match="radius_max"):
        dead_leaves(32, seed=0, radius_max=3)


def test_invalid_size_is_rejected():
    with pytest.raises(ValueError, match="size must be positive"):
        dead_leaves((0, 32), seed=0)
