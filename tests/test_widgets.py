"""Widget callbacks, called as plain functions (no browser): the dead-leaves explorer and the blur inspector;
each widget's controls, fed to its callback by name, reproduce the callback's default state."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from rstor_core.book.widgets import (blur_inspector, blur_tour, comparison_controls, dead_leaves_explorer,
                                     denoiser_comparison, explore_dead_leaves, explorer_controls, explorer_tour,
                                     inspect_blur, inspector_controls, noise_tour, player)
from rstor_core.images.deadleaves import dead_leaves

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


def _values(controls: dict) -> dict:
    return {name: control.value for name, control in controls.items()}


def test_explorer_controls_at_their_start_values_render_the_default_image():
    fig = explore_dead_leaves(32, **_values(explorer_controls(32)))
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), dead_leaves(32, 0))


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


@pytest.mark.parametrize("switch", [{}, {"blur_kind": "gaussian"}], ids=["as_started", "gaussian"])
def test_inspector_controls_at_their_start_values_give_the_callbacks_default_metrics(photo, switch):
    images = {"leaves": photo, "flipped": photo[::-1]}
    values = _values(inspector_controls(images))
    image = images[values.pop("name")]
    assert inspect_blur(image, **{**values, **switch})[1] == inspect_blur(photo, **switch)[1]


def test_comparison_controls_leave_the_crop_window_at_the_callbacks_default(photo):
    values = _values(comparison_controls({"leaves": photo}))
    assert values.pop("name") == "leaves"
    options = dict(blur_kind="none", crop=48, show_kernel=False)
    assert inspect_blur(photo, **options, **values)[1] == inspect_blur(photo, **options, noise=values["noise"])[1]


@pytest.mark.parametrize("widget, controls", [
    (lambda photo: dead_leaves_explorer(size=32), lambda photo: explorer_controls(32)),
    (lambda photo: blur_inspector({"leaves": photo}), lambda photo: inspector_controls({"leaves": photo})),
    (lambda photo: denoiser_comparison({"leaves": photo}, {}, crop=48),
     lambda photo: comparison_controls({"leaves": photo})),
], ids=["explorer", "inspector", "comparison"])
def test_every_control_is_laid_out_in_its_widget(photo, widget, controls):
    def laid_out(box):
        children = getattr(box, "children", ())
        return [box] if not children and hasattr(box, "description") else [c for b in children for c in laid_out(b)]

    shown = sorted(c.description for c in laid_out(widget(photo)))
    assert shown == sorted(c.description for c in controls(photo).values())


def test_restoration_grid_has_a_row_per_model_under_the_input_and_a_column_per_kernel(photo):
    from functools import partial

    from rstor_core.book.figures import restoration_grid
    from rstor_core.degradation.degrade import bank_kernels, degrade

    blurs = {family: partial(degrade, kernels=bank_kernels(f"{family}:0"), sigma=0.0, seed=0)
             for family in ("small", "mild", "big")}
    models = {"identity": lambda x: x, "grey": lambda x: torch.full_like(x, 0.5)}
    fig, scores = restoration_grid({"leaves": photo}, blurs, models)
    assert list(scores) == ["degraded", "identity", "grey"] and all(list(row) == list(blurs)
                                                                     for row in scores.values())
    assert len(fig.axes) == 9 and fig.axes[3].get_ylabel() == "identity"
    assert scores["identity"] == pytest.approx(scores["degraded"], abs=0.05)  # clamping only
    assert scores["degraded"]["small"] > scores["degraded"]["big"]
    assert fig.axes[0].get_title() == f"small: {scores['degraded']['small']:.2f} dB"


def test_published_figure_is_written_glued_once_and_closed(tmp_path):
    import matplotlib.pyplot as plt

    from rstor_core.book.figures import publish_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    publish_figure("fig_test", fig, tmp_path / "figures" / "test.png")
    assert (tmp_path / "figures" / "test.png").stat().st_size > 0
    assert fig.number not in plt.get_fignums()  # the notebook's inline backend will not show it again


def test_the_static_player_embeds_one_frame_per_figure_in_order():
    import base64
    import io
    import re

    from PIL import Image

    matplotlib.pyplot.close("all")
    figures = {f"seed {seed}": explore_dead_leaves(32, seed=seed) for seed in (0, 1, 2)}
    html = player(figures).data
    frames = re.findall(r'frames\[\d+\] = "data:image/png;base64,(.*?)"', html, flags=re.DOTALL)
    assert len(frames) == 3 and "anim" in html and "seed 2" not in html  # labels are drawn into the frames
    pictures = [np.asarray(Image.open(io.BytesIO(base64.b64decode(re.sub(r"[\\\s]", "", f))))) for f in frames]
    assert pictures[0].shape == pictures[1].shape and not np.array_equal(pictures[0], pictures[1])
    assert not matplotlib.pyplot.get_fignums()  # every figure closed: none is shown twice below the cell
    with pytest.raises(ValueError, match="at least one"):
        player({})


def test_the_tours_step_through_what_their_labels_say():
    from rstor_core.settings.configs import DeadLeavesConfig

    tour = dict(explorer_tour(32, 0, DeadLeavesConfig()))
    assert {"α = 1.5", "squares only", "texture look", "colours: uniform"} <= set(tour)
    square = tour["squares only"].axes[0].images[0].get_array()
    np.testing.assert_array_equal(square, dead_leaves(32, 0, shapes={"disc": 0.0, "square": 1.0}))
    matplotlib.pyplot.close("all")  # each tour's figures at once stay under matplotlib's 20-figure warning
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    blurs = dict(blur_tour(image, crop=32))
    assert len(blurs) == 9 and all("kernel (" in fig.axes[-2].get_title() for fig in blurs.values())
    matplotlib.pyplot.close("all")
    noisy = dict(noise_tour(image, {"identity": lambda x: x}, [5.0, 50.0], crop=32))
    assert list(noisy) == ["σ = 5/255", "σ = 50/255"]
    assert "50/255" in noisy["σ = 50/255"].axes[-1].get_title()
    matplotlib.pyplot.close("all")


def test_many_panels_fold_into_two_rows_with_no_spare_axes():
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    models = {f"model {i}": (lambda x: x) for i in range(4)}
    fig, _ = inspect_blur(image, crop=32, models=models)  # degraded, 4 models, kernel, truth: 7 panels
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(fig.axes) == 7 and len(rows) == 2 and fig.axes[-1].get_title().startswith("ground truth")
    matplotlib.pyplot.close(fig)


def test_the_player_html_requests_nothing_from_the_network():
    figures = {}
    for label in ("a", "b"):
        figures[label], ax = matplotlib.pyplot.subplots(figsize=(1, 1))
        ax.plot([0, 1], [0, 1 if label == "a" else -1])
    html = player(figures).data
    assert "fa fa-play" in html  # the icons stay: the book's theme draws them with its own Font Awesome
    assert "http://" not in html and "https://" not in html, [line for line in html.splitlines() if "http" in line]


def test_a_published_figure_names_its_arms_colours_in_the_png_and_the_page_shows_that_very_file(tmp_path, monkeypatch):
    import json

    import matplotlib.pyplot as plt
    import myst_nb
    import PIL.Image

    from rstor_core.book import figures

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.setdefault(name, value))
    fig, ax = plt.subplots()
    ax.plot([0, 1], color=figures.arm_colour("natural"), label="natural")
    ax.plot([1, 0], color="tab:orange", label="dead leaves")  # not the palette's blue
    figures.publish_figure("fig_test", fig, tmp_path / "test.png")
    arms = json.loads(PIL.Image.open(tmp_path / "test.png").text[figures.ARMS_KEY])
    assert arms == {"natural": figures.arm_colour("natural"), "dead leaves": "#ff7f0e"}
    assert glued["fig_test"].data == (tmp_path / "test.png").read_bytes()


def _controls_of(widget) -> dict:
    """The controls laid out in ``widget``, by description: what a user sees and moves."""
    children = getattr(widget, "children", ())
    if not children:
        return {widget.description: widget} if hasattr(widget, "description") else {}
    return {key: control for child in children for key, control in _controls_of(child).items()}


GAUSSIAN_SLIDERS = ("σx (px)", "σy (px)", "angle (°)")


@pytest.mark.parametrize("kind, kernel_on, gaussian_on", [
    ("big", True, False), ("gaussian", False, True), ("small", True, False), ("none", False, False),
])
def test_the_inspector_disables_the_kernel_controls_the_chosen_blur_ignores(photo, kind, kernel_on,
                                                                             gaussian_on):
    controls = _controls_of(blur_inspector({"leaves": photo}))
    assert not controls["kernel"].disabled and all(controls[d].disabled for d in GAUSSIAN_SLIDERS)  # mild
    for start in ("gaussian", "mild", "none"):  # from every state, not only the first
        controls["blur"].value = start
        controls["blur"].value = kind
        assert controls["kernel"].disabled is not kernel_on
        assert [controls[d].disabled for d in GAUSSIAN_SLIDERS] == [not gaussian_on] * 3
    matplotlib.pyplot.close("all")


def test_the_inspector_crop_slider_reaches_the_chosen_images_smaller_side_and_no_further(photo):
    images = {"leaves": photo, "small": photo[:40, :70], "tiny": photo[:30, :20], "wide": photo[:60]}
    controls = _controls_of(blur_inspector(images))
    crop, image = controls["crop (px)"], controls["image"]
    assert (crop.min, crop.max, crop.value) == (32, 90, 90)  # 90 x 120: 128 px would not fit
    for name, side in [("small", 40), ("leaves", 90), ("tiny", 20), ("wide", 60), ("small", 40)]:
        image.value = name
        assert crop.max == side and crop.min <= crop.value <= side, (name, crop.min, crop.value, crop.max)
    matplotlib.pyplot.close("all")
