"""Dead leaves: determinism, the radius law, primitives, coverage, anti-aliasing, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats

from rstor_core.images import leaf_kernels as K
from rstor_core.images.antialiasing import decimate_gaussian, decimate_gaussian_serial, gaussian_weights
from rstor_core.images.deadleaves import dead_leaves, dead_leaves_batch, paint_index, render_leaves
from rstor_core.images.leaf_packing import geometry_arrays
from rstor_core.images.leaf_sampling import SHAPES, Leaves, power_law_cdf, power_law_pdf, power_law_radii, sample_leaves
from rstor_core.settings.configs import DeadLeavesConfig


def test_same_seed_gives_bit_identical_image():
    assert dead_leaves(96, seed=7).tobytes() == dead_leaves(96, seed=7).tobytes()


def test_new_seed_gives_a_different_image():
    assert not np.array_equal(dead_leaves(96, seed=7), dead_leaves(96, seed=8))


def test_image_is_float32_rgb_in_unit_range_with_the_asked_shape():
    image = dead_leaves((40, 72), seed=0)
    assert image.shape == (40, 72, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


@pytest.mark.parametrize("alpha", [1.5, 2.0, 3.0, 4.5])
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


def _lone_leaf(shape: str, *, radius: float, aspect: float = 1.0, angle: float = 0.0, sides: int = 6,
               size: int = 256) -> Leaves:
    n = 1
    return Leaves(centres=np.array([[size / 2, size / 2]]), radii=np.array([radius]),
                  kinds=np.array([SHAPES.index(shape)]), angles=np.array([angle]), aspects=np.array([aspect]),
                  sides=np.array([sides]), colours=np.ones((n, 3)), colours2=np.ones((n, 3)),
                  modes=np.zeros(n, dtype=int), gradient_angles=np.zeros(n), textures=np.zeros((0, 3, 3)),
                  texture_rows=np.full(n, -1))


@pytest.mark.parametrize("shape, radius, aspect, angle, expected", [
    ("disc", 60.0, 1.0, 0.0, lambda r, a: np.pi * r * r),
    ("ellipse", 60.0, 0.4, 30.0, lambda r, a: np.pi * a * r * r),
    ("square", 60.0, 1.0, 20.0, lambda r, a: 4 * r * r),
    ("rectangle", 60.0, 0.5, 65.0, lambda r, a: 4 * a * r * r),
    ("diamond", 60.0, 0.6, 10.0, lambda r, a: 2 * a * r * r),
    ("bar", 100.0, 0.15, 45.0, lambda r, a: 4 * a * r * r),  # thin: longer, so edge pixels weigh less
])
def test_a_lone_leaf_covers_its_expected_area_within_two_percent(shape, radius, aspect, angle, expected):
    index = paint_index(_lone_leaf(shape, radius=radius, aspect=aspect, angle=angle), 256)
    assert (index == 0).sum() == pytest.approx(expected(radius, aspect), rel=0.02)


@pytest.mark.parametrize("sides", [3, 5, 8, 12])
def test_a_lone_regular_polygon_covers_its_expected_area_within_two_percent(sides):
    radius = 60.0
    index = paint_index(_lone_leaf("polygon", radius=radius, sides=sides, angle=13.0), 256)
    assert (index == 0).sum() == pytest.approx(0.5 * sides * radius ** 2 * np.sin(2 * np.pi / sides), rel=0.02)


def test_first_sampled_leaf_lies_on_top():
    leaves = _lone_leaf("disc", radius=5.0, size=24) + _lone_leaf("disc", radius=5.0, size=24)
    leaves = Leaves(**{**leaves.__dict__, "centres": np.array([[10.0, 10.0], [10.0, 14.0]])})
    index = paint_index(leaves, 24)
    assert index[10, 12] == 0  # in both discs: the first one wins
    assert index[10, 18] == 1 and index[0, 0] == -1


def test_renderer_matches_a_brute_force_painter(rng):
    size = (37, 53)
    leaves = sample_leaves(size, DeadLeavesConfig(n_leaves=300, r_max=30.0), rng)
    yy, xx = np.mgrid[: size[0], : size[1]]
    expected = np.full(size, -1)
    for k in range(len(leaves) - 1, -1, -1):  # back to front: later paints win
        cy, cx = leaves.centres[k]
        expected[(yy - cy) ** 2 + (xx - cx) ** 2 <= leaves.radii[k] ** 2] = k
    np.testing.assert_array_equal(paint_index(leaves, size), expected)


def test_tiled_renderer_matches_a_first_hit_painter_for_every_shape(rng):
    """Every shape, through the same plain-Python inside test the kernels compile: a pixel shows the first
    leaf whose shape contains it, on a canvas whose sides are not multiples of the tile."""
    size = (37, 53)
    params = DeadLeavesConfig(n_leaves=150, r_max=25.0, shapes=dict.fromkeys(SHAPES, 1.0))
    leaves = sample_leaves(size, params, rng)
    index = paint_index(leaves, size)
    geom, ints = geometry_arrays(leaves, 1, size)
    normals, apothem = K.polygon_tables(int(ints[:, K.SIDES].max()) + 1)
    for y in range(size[0]):
        for x in range(size[1]):
            hits = [k for k in range(len(geom)) if K._inside(k, y, x, geom, ints, normals, apothem)]
            assert index[y, x] == (hits[0] if hits else -1), (y, x)


# The images (and leaf maps) the row-per-thread kernel drew before leaves were binned by tile (commit
# 01e4e75): tiling changes the speed, not one bit of any image.
ROW_KERNEL_IMAGES = {
    "discs 256": (256, 0, {}, "8d47c7132252257c"),
    "discs 100x77": ((100, 77), 3, {}, "7dd93acc04a0c233"),
    "every shape and look 130": (130, 4, {"shapes": dict.fromkeys(SHAPES, 1.0),
                                          "appearance": {"flat": 1, "gradient": 1, "texture": 1}}, "b273127f17a2a9f4"),
    "until covered 96": (96, 1, {"n_leaves": 50, "r_max": 8.0, "until_covered": True}, "03566738641c8503"),
    "anti-aliased 64": (64, 2, {"ds_factor": 4}, "5815579acbec3bd2"),
    "original_study 64": (64, 5, {"preset": "original_study", "window_of": None, "radius_reference": 512},
                          "ceb6144b175d8ff6"),  # the preset of that time: the 512-pixel scene shrunk to 64
}


@pytest.mark.parametrize("name", ROW_KERNEL_IMAGES)
def test_the_tiled_kernel_draws_the_row_kernels_images_bit_for_bit(name):
    size, seed, fields, digest = ROW_KERNEL_IMAGES[name]
    params = DeadLeavesConfig(**DeadLeavesConfig.expand(fields))
    image, index = dead_leaves(size, seed, params=params, return_index=True)
    assert hashlib.sha256(image.tobytes() + index.tobytes()).hexdigest()[:16] == digest


def test_default_flat_discs_take_the_colour_of_the_leaf_they_show():
    image, index = dead_leaves(64, seed=2, return_index=True)
    leaves = sample_leaves(64, DeadLeavesConfig(), np.random.default_rng(2))
    shown = index >= 0
    np.testing.assert_array_equal(image[shown], leaves.colours[index[shown]].astype(np.float32))


def test_uncovered_pixels_show_the_background():
    image = dead_leaves(32, seed=0, n_leaves=1, r_min=1.0, r_max=1.5, background=0.25)
    assert (image == np.float32(0.25)).all(axis=-1).mean() > 0.9


def test_until_covered_leaves_no_background_pixel():
    _, index = dead_leaves(96, seed=1, n_leaves=50, r_max=8.0, until_covered=True, return_index=True)
    assert (index >= 0).all()


def test_anti_aliasing_softens_edges_but_keeps_the_mean():
    sharp = dead_leaves(128, seed=4)
    soft = dead_leaves(128, seed=4, ds_factor=4)
    assert soft.shape == sharp.shape
    edges = lambda im: np.abs(np.diff(im, axis=1)).mean()  # noqa: E731
    assert edges(soft) < edges(sharp)
    assert abs(float(soft.mean()) - float(sharp.mean())) < 0.05


@pytest.mark.parametrize("sampler", ["uniform", "grey", "saturated", "natural"])
def test_every_colour_sampler_gives_valid_images(sampler):
    image = dead_leaves(48, seed=0, colour=sampler)
    assert 0.0 <= image.min() and image.max() <= 1.0
    if sampler == "grey":
        assert np.array_equal(image[..., 0], image[..., 2])


def test_gradient_and_texture_vary_inside_a_leaf():
    flat = dead_leaves(96, seed=3, r_min=20.0, n_leaves=10)
    varied = dead_leaves(96, seed=3, r_min=20.0, n_leaves=10, appearance={"gradient": 1.0, "texture": 1.0})
    assert len(np.unique(varied.reshape(-1, 3), axis=0)) > 10 * len(np.unique(flat.reshape(-1, 3), axis=0))


def test_batch_image_depends_only_on_seed_and_position():
    np.testing.assert_array_equal(dead_leaves_batch(2, 48, seed=3)[1], dead_leaves_batch(4, 48, seed=3)[1])


def test_default_leaf_count_is_thirty_times_the_side(rng):
    assert len(sample_leaves((40, 50), DeadLeavesConfig(), rng)) == 1500


def test_serial_and_parallel_cpu_kernels_agree():
    kw = dict(shapes={"disc": 1.0, "polygon": 1.0}, appearance={"flat": 1.0, "texture": 1.0})
    np.testing.assert_array_equal(dead_leaves(64, 5, parallel=False, **kw), dead_leaves(64, 5, **kw))


def test_render_leaves_equals_dead_leaves_for_the_same_sample():
    params = DeadLeavesConfig(ds_factor=2)
    leaves = sample_leaves(40, params, np.random.default_rng(9))
    np.testing.assert_array_equal(render_leaves(leaves, 40, params), dead_leaves(40, 9, ds_factor=2))


@pytest.mark.parametrize("overrides, name", [
    ({"alpha": 1.0}, "alpha"), ({"r_min": 0.0}, "r_min"), ({"r_min": 9.0, "r_max": 3.0}, "r_min"),
    ({"shapes": {"disc": 0.0}}, "shapes"), ({"appearance": {"flat": 0.0}}, "appearance"),
    ({"ds_factor": 0}, "ds_factor"), ({"colour": "pink"}, "colour"),
])
def test_bad_parameter_is_a_value_error_naming_it_and_its_value(overrides, name):
    with pytest.raises(ValueError, match=name):
        dead_leaves(32, seed=0, **overrides)


@pytest.mark.parametrize("size", [0, (0, 32), (-4, 8)])
def test_non_positive_size_is_rejected(size):
    with pytest.raises(ValueError, match="size must be positive"):
        dead_leaves(size, seed=0)


def test_unknown_override_is_rejected_naming_it():
    with pytest.raises(TypeError, match="radius_max"):
        dead_leaves(32, seed=0, radius_max=3)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        dead_leaves(32, seed=0, backend="opencl")


def test_the_speed_table_times_engines_that_draw_the_same_image():
    from rstor_core.images.speed import DEFAULT, EXHAUSTIVE, rendering_speed_table

    table = rendering_speed_table([48], batch=2, repeats=1, naive_max_size=48).set_index("engine")
    assert {"ours (numba CPU)", DEFAULT, EXHAUSTIVE} <= set(table.index)  # each asserted equal to ours inside
    assert table.loc[DEFAULT, "speedup_vs_default"] == 1.0 and table.loc[EXHAUSTIVE, "speedup_vs_exhaustive"] == 1.0
    assert (table.single_mpix_s > 0).all()


def test_the_scaling_table_grows_the_canvas_and_the_leaves():
    from rstor_core.images.speed import rendering_scaling_table

    table = rendering_scaling_table([32, 64], [1, 2], repeats=1)
    assert list(table.size_px) == [32, 32, 64, 64]
    assert list(table.leaves) == [30 * 32, 60 * 32, 30 * 64, 60 * 64]
    assert (table.ns_per_pixel > 0).all()


@pytest.mark.parametrize("sigma, d, shape", [(0.6, 5, (40, 35)), (2.0, 4, (24, 36)), (3.3, 7, (14, 21)),
                                             (1.0, 2, (3, 5))])
@pytest.mark.parametrize("parallel", [True, False])
def test_the_decimating_low_pass_is_scipys_gaussian_filter_at_the_kept_pixels_bit_for_bit(sigma, d, shape, parallel,
                                                                                      rng):
    """Anti-aliasing computes only the pixels decimation keeps; the same sums in the same order as
    ``scipy.ndimage.gaussian_filter`` (so the stored sets and trained networks keep their bits)."""
    image = rng.random((shape[0] * d, shape[1] * d, 3))
    expected = scipy.ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest")[d // 2::d, d // 2::d]
    out = np.empty(shape + (3,))
    (decimate_gaussian if parallel else decimate_gaussian_serial)(image, gaussian_weights(sigma), d, out)
    assert out.tobytes() == expected.tobytes()


def test_the_end_to_end_table_splits_our_calls_and_times_the_original_only_where_it_has_a_generator():
    from rstor_core.images.speed import end_to_end_table

    models = {"flat discs": {}, "until covered": {"until_covered": True, "n_leaves": 60, "r_max": 6.0}}
    table = end_to_end_table([48], models, images=2, repeats=2).set_index("model")
    assert list(table.leaves) == [30 * 48, 60]
    assert ((table.sample_ms > 0) & (table.sample_ms < table.e2e_ms)).all()  # sampling is inside the call
    assert ((table.sampling_share > 0) & (table.sampling_share < 1)).all()
    assert table.loc["flat discs", "original_e2e_ms"] > 0 and np.isnan(table.loc["until covered", "original_e2e_ms"])
    flat = table.loc["flat discs"]
    assert flat.speedup_e2e == pytest.approx(flat.original_e2e_ms / flat.e2e_ms)


_WARM = 80  # above 64, where the original's end to end was once warmed up at a smaller size


@pytest.mark.parametrize("make_table, kernels", [
    (lambda speed: speed.rendering_speed_table([_WARM], batch=2, repeats=2, naive_max_size=_WARM),
     {"ours", "original default (numba CPU)", "original exhaustive (numba CPU)"}),
    (lambda speed: speed.rendering_scaling_table([_WARM], [1], repeats=2), {"render_leaves"}),
    (lambda speed: speed.end_to_end_table([_WARM], ["flat discs"], images=2, repeats=2),
     {"dead_leaves", "render_leaves", "original"}),
], ids=["rendering", "scaling", "end_to_end"])
def test_each_speed_table_calls_every_kernel_once_untimed_at_the_timed_size_first(
        monkeypatch, make_table, kernels):
    """A timed first call would count numba's compile (chapter 01 in JupyterLab once read
    4.57 Mpix/s at 128² against 48): each kernel is recorded with whether a clock was running
    and at which size."""
    from rstor_core.images import speed

    calls, clock = [], {"on": False}  # calls: (kernel, size, timed)

    def timed(real):
        def run(*args, **kwargs):
            clock["on"] = True
            try:
                return real(*args, **kwargs)
            finally:
                clock["on"] = False
        return run

    def recorder(kernel, size_at):
        def call(*args, **kwargs):
            calls.append((kernel, args[size_at], clock["on"]))
            return np.zeros((args[size_at], args[size_at], 3), np.float32)
        return call

    warm_up = speed._warm_up
    monkeypatch.setattr(speed, "_warm_up", lambda fn: warm_up(fn, seconds=0.0))  # its one call only
    monkeypatch.setattr(speed, "_seconds", timed(speed._seconds))
    monkeypatch.setattr(speed, "_timed_sampling", timed(speed._timed_sampling))
    engines = ("ours", speed.DEFAULT, speed.EXHAUSTIVE)
    monkeypatch.setattr(speed, "_engines", lambda: {name: recorder(name, 1) for name in engines})
    monkeypatch.setattr(speed, "dead_leaves", recorder("dead_leaves", 0))
    monkeypatch.setattr(speed, "render_leaves", recorder("render_leaves", 1))
    monkeypatch.setattr(speed, "original_end_to_end", recorder("original", 0))
    make_table(speed)
    assert {kernel for kernel, _, on in calls if on} == kernels  # each one is timed...
    for kernel in kernels:  # ...after a first call at the timed size with no clock running
        mine = [(size, on) for k, size, on in calls if k == kernel]
        assert mine[0] == (_WARM, False), f"{kernel}'s first calls: {mine[:3]}"
        assert {size for size, _ in mine} == {_WARM}, f"{kernel} called at {mine}"


def test_the_originals_generator_draws_its_own_leaves_deterministically_at_the_preset_scale():
    from rstor_core.images.speed import original_end_to_end

    image = original_end_to_end(24, DeadLeavesConfig(), seed=3)
    assert image.shape == (24, 24, 3) and image.dtype == np.float32
    assert np.array_equal(image, original_end_to_end(24, DeadLeavesConfig(), seed=3))
    assert not np.array_equal(image, original_end_to_end(24, DeadLeavesConfig(), seed=4))
    soft = original_end_to_end(16, DeadLeavesConfig(ds_factor=3, n_leaves=200), seed=3)  # rendered 3x, decimated
    assert soft.shape == (16, 16, 3) and len(np.unique(soft.reshape(-1, 3), axis=0)) > 20
    window = original_end_to_end(16, DeadLeavesConfig(window_of=40, n_leaves=200), seed=3)  # its scene, cropped
    scene = original_end_to_end(40, DeadLeavesConfig(n_leaves=200), seed=3)
    assert window.shape == (16, 16, 3) and np.array_equal(window, scene[:16, :16])
