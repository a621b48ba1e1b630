"""Widget callbacks, called as plain functions (no browser): the dead-leaves explorer and the blur inspector."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from rstor_core.deadleaves import dead_leaves
from rstor_core.widgets import blur_inspector, dead_leaves_explorer, explore_dead_leaves, inspect_blur

matplotlib.use("Agg")


def test_explorer_callback_draws_image_and_leaf_map_from_flat_slider_values():
    fig = explore_dead_leaves(48, seed=1, alpha=2.5, shape_disc=0.0, shape_square=1.0, look_texture=0.5)
    assert len(fig.axes) == 2 and "leaves visible" in fig.axes[1].get_title()
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(),
                                  dead_leaves(48, 1, alpha=2.5, shapes={"disc": 0.0, "square": 1.0},
                                              appearance={"flat": 1.0, "texture": 0.5}))


def test_explorer_callback_rejects_all_zero_weights():
    with pytest.raises(ValueError, match="shapes"):
        explore_dead_leaves(32, shape_disc=0.0)


def test_explorer_widget_builds_with_one_control_per_parameter():
    widget = dead_leaves_explorer(size=32)
    sliders = [c for box in widget.children[0].children for c in box.children]
    assert len(sliders) == 8 + 7 + 3


@pytest.fixture
def photo() -> np.ndarray:
    return dead_leaves((90, 120), seed=3)


def test_inspector_without_blur_or_noise_shows_a_perfect_degraded_image(photo):
    fig, metrics = inspect_blur(photo, blur_kind="none", noise=0.0, crop=64)
    assert np.isinf(metrics["degraded"]["psnr"]) and metrics["degraded"]["ssim"] == pytest.approx(1.0)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["degraded", "kernel (none)", "ground truth"]


def test_inspector_blur_lowers_psnr_more_for_bigger_families(photo):
    scores = {kind: inspect_blur(photo, blur_kind=kind, index=0, noise=0.0, crop=64)[1]["degraded"]["psnr"]
              for kind in ("small", "mild", "big")}
    assert scores["small"] > scores["mild"] > scores["big"]


def test_inspector_runs_each_model_and_reports_its_psnr(photo):
    models = {"identity": lambda x: x, "grey": lambda x: torch.full_like(x, 0.5)}
    fig, metrics = inspect_blur(photo, blur_kind="gaussian", sigma_x=1.5, sigma_y=0.5, angle=20, crop=48,
                                models=models)
    assert list(metrics) == ["degraded", "identity", "grey"]
    assert metrics["identity"]["psnr"] == pytest.approx(metrics["degraded"]["psnr"], abs=0.2)
    assert metrics["grey"]["psnr"] < metrics["identity"]["psnr"]
    assert len(fig.axes) == 5


def test_inspector_rejects_an_unknown_blur(photo):
    with pytest.raises(ValueError, match="blur_kind"):
        inspect_blur(photo, blur_kind="defocus")


def test_inspector_widget_builds_with_its_controls(photo):
    widget = blur_inspector({"leaves": photo})
    controls = [c for box in widget.children[0].children for c in box.children]
    assert len(controls) == 10


def test_restoration_grid_has_a_row_per_model_under_the_input_and_a_column_per_kernel(photo):
    from rstor_core.degrade import bank_kernels
    from rstor_core.figures import restoration_grid

    kernels = {family: bank_kernels(f"{family}:0") for family in ("small", "mild", "big")}
    models = {"identity": lambda x: x, "grey": lambda x: torch.full_like(x, 0.5)}
    fig, scores = restoration_grid(photo, kernels, models, sigma=0.0)
    assert list(scores) == ["blurred input", "identity", "grey"] and all(list(row) == list(kernels)
                                                                          for row in scores.values())
    assert len(fig.axes) == 9 and fig.axes[3].get_ylabel() == "identity"
    assert scores["identity"] == pytest.approx(scores["blurred input"], abs=0.05)  # clamping only
    assert scores["blurred input"]["small"] > scores["blurred input"]["big"]
    assert fig.axes[0].get_title() == f"small: {scores['blurred input']['small']:.2f} dB"


def test_published_figure_is_written_glued_once_and_closed(tmp_path):
    import matplotlib.pyplot as plt

    from rstor_core.figures import publish_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    publish_figure("fig_test", fig, tmp_path / "figures" / "test.png")
    assert (tmp_path / "figures" / "test.png").stat().st_size > 0
    assert fig.number not in plt.get_fignums()  # the notebook's inline backend will not show it again
