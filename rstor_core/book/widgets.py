"""Interactive inspectors for JupyterLab. Each callback is a plain function that returns a figure
(tested without a browser); the widget only wires sliders to it. In the static HTML book, where
no kernel runs, a :func:`player` steps through a few states of the same view instead.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from rstor_core.degradation.degrade import (BANK_SIZE, FAMILIES, bank_kernels, degrade, gaussian_kernel,
                                            identity_kernel, kernel_radius)
from rstor_core.images.deadleaves import dead_leaves
from rstor_core.images.leaf_sampling import APPEARANCES, SHAPES
from rstor_core.measurement.metrics import psnr, ssim
from rstor_core.networks.batches import to_image, to_tensor
from rstor_core.networks.models import restore
from rstor_core.settings.configs import COLOUR_SAMPLERS, AppearanceWeights, DeadLeavesConfig, ShapeWeights

if TYPE_CHECKING:
    import ipywidgets
    from IPython.display import HTML


# A <link> whose href leaves the page: matplotlib's player links font-awesome 4.4.0 on maxcdn.
_CDN_LINK = re.compile(r'<link\b[^>]*\bhref="https?://[^"]*"[^>]*>\s*')


def player(figures: Mapping[str, plt.Figure] | Iterable[tuple[str, plt.Figure]], *, interval_ms: int = 1200) -> HTML:
    """The figures as frames of matplotlib's JavaScript animation player (play, step, loop): what a
    reader of the static HTML explores instead of a live widget. Each figure is drawn once, closed,
    and embedded as a PNG frame under its label (``{label: figure}``, or ``(label, figure)`` pairs, drawn
    one at a time as a tour yields them). No kernel, no new dependency.

    The player's HTML requests nothing: matplotlib links Font Awesome 4 from a CDN for the buttons'
    ``fa fa-play``-style icons, and that link is dropped; in the book the theme's own Font Awesome 6
    (``_static/scripts/fontawesome.js``) draws those icons, v4 names included."""
    from IPython.display import HTML
    from matplotlib import animation

    labels, frames = [], []
    for label, fig in figures.items() if isinstance(figures, Mapping) else figures:
        labels.append(label)
        buffer = io.BytesIO()  # tight, as the book's figures are saved: titles at the edge stay whole
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
        plt.close(fig)
        buffer.seek(0)
        frames.append((plt.imread(buffer, format="png") * 255).astype(np.uint8))
    if not frames:
        raise ValueError("player needs at least one figure")
    height, width = max(f.shape[0] for f in frames), max(f.shape[1] for f in frames)
    frames = [np.pad(f, ((0, height - f.shape[0]), (0, width - f.shape[1]), (0, 0)), constant_values=255)
              for f in frames]  # one frame size, white margins
    dpi, band = 100, 36  # a band above the frame for its label
    fig = plt.figure(figsize=(width / dpi, (height + band) / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, height / (height + band)))
    ax.axis("off")
    shown = ax.imshow(frames[0], interpolation="nearest")
    caption = fig.text(0.5, 1 - 0.5 * band / (height + band), labels[0], ha="center", va="center", fontsize=12)

    def draw(i: int) -> list:
        shown.set_data(frames[i])
        caption.set_text(labels[i])
        return [shown, caption]

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), interval=interval_ms)
    try:
        with plt.rc_context({"animation.embed_limit": 64.0}):  # MB; a few PNG frames stay well under it
            return HTML(_CDN_LINK.sub("", anim.to_jshtml(default_mode="once")))
    finally:
        plt.close(fig)


def explore_dead_leaves(size: int = 192, seed: int = 0, **overrides) -> plt.Figure:
    """The dead-leaves explorer's view (chapter 01): the image next to its leaf-index map.

    ``overrides`` are :class:`DeadLeavesConfig` fields; shape and appearance weights may also be
    given flat, as ``shape_<name>`` and ``look_<name>`` (what the sliders send).
    """
    params = _params_from_flat(overrides)
    image, index = dead_leaves(size, seed, params=params, return_index=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.6))
    left.imshow(image)
    left.set_title("image")
    # A fixed random colour per leaf: neighbours stand out, and background (-1) is black.
    colours = np.random.default_rng(0).random((max(int(index.max()) + 1, 1), 3))
    right.imshow(index + 1, cmap=ListedColormap(np.vstack([[0, 0, 0], colours])), vmin=0, vmax=len(colours),
                 interpolation="nearest")
    visible = len(np.unique(index[index >= 0]))
    right.set_title(f"leaf index ({visible} leaves visible, {np.mean(index < 0):.1%} background)")
    for ax in (left, right):
        ax.axis("off")
    fig.tight_layout()
    return fig


def explorer_controls(size: int = 192) -> dict[str, ipywidgets.ValueWidget]:
    """The explorer's sliders, keyed by the keyword of :func:`explore_dead_leaves` each one sets, at
    the default state (:class:`DeadLeavesConfig`'s defaults, seed 0)."""
    import ipywidgets as w

    base = DeadLeavesConfig()
    controls = {
        "seed": w.IntSlider(0, 0, 100, description="seed"),
        "alpha": w.FloatSlider(base.alpha, min=1.05, max=5.0, step=0.05, description="α"),
        "r_min": w.FloatLogSlider(base.r_min, base=10, min=-0.5, max=1.5, description="r_min"),
        "r_max": w.FloatLogSlider(base.r_max, base=10, min=1, max=3.5, description="r_max"),
        "n_leaves": w.IntSlider(30 * size, 10, 100 * size, step=10, description="leaves"),
        "until_covered": w.Checkbox(False, description="until covered"),
        "colour": w.Dropdown(options=COLOUR_SAMPLERS, value=base.colour, description="colour"),
        "ds_factor": w.IntSlider(base.ds_factor, 1, 4, description="ds_factor"),
    }
    for name in SHAPES:
        controls[f"shape_{name}"] = w.FloatSlider(getattr(base.shapes, name), min=0, max=1, step=0.05,
                                                  description=name)
    for name in APPEARANCES:
        controls[f"look_{name}"] = w.FloatSlider(getattr(base.appearance, name), min=0, max=1, step=0.05,
                                                 description=name)
    return controls


def dead_leaves_explorer(size: int = 192):
    """Sliders for every dead-leaves parameter around :func:`explore_dead_leaves` (JupyterLab)."""
    import ipywidgets as w

    controls = explorer_controls(size)

    def show(**values):
        try:
            explore_dead_leaves(size, **values)
            plt.show()
        except ValueError as err:  # e.g. all weights at zero: say so instead of a traceback
            print(f"invalid parameters: {err}")

    output = w.interactive_output(show, controls)
    columns = w.HBox([w.VBox(list(controls.values())[:8]), w.VBox(list(controls.values())[8:])])
    return w.VBox([columns, output])


def explorer_tour(size: int, seed: int, params: DeadLeavesConfig) -> Iterator[tuple[str, plt.Figure]]:
    """The explorer's view at a few settings around ``params``, for :func:`player` (the static book's
    stand-in for the sliders): the radius exponent, then one primitive, look or colour sampler at a time."""
    settings = {f"α = {alpha:g}": {"alpha": alpha} for alpha in (1.5, 3.0, 4.5)}
    settings |= {f"{name}s only": {"shapes": ShapeWeights.only(name)} for name in ("square", "polygon", "bar")}
    settings |= {f"{name} look": {"appearance": AppearanceWeights.only(name)} for name in APPEARANCES if name != "flat"}
    settings |= {f"colours: {name}": {"colour": name} for name in COLOUR_SAMPLERS}
    base = dataclasses.asdict(params)
    return ((label, explore_dead_leaves(size, seed, **{**base, **change})) for label, change in settings.items())


def _params_from_flat(values: dict) -> DeadLeavesConfig:
    values = dict(values)
    shapes = {name: values.pop(f"shape_{name}") for name in SHAPES if f"shape_{name}" in values}
    looks = {name: values.pop(f"look_{name}") for name in APPEARANCES if f"look_{name}" in values}
    params = DeadLeavesConfig(**values)
    if shapes:
        params = dataclasses.replace(params, shapes=dataclasses.replace(params.shapes, **shapes))
    if looks:
        params = dataclasses.replace(params, appearance=dataclasses.replace(params.appearance, **looks))
    return params


# --- blur inspector (chapters 01 and 03) ------------------------------------------------------

BLUR_CHOICES = ("none", *FAMILIES, "gaussian")


def inspect_blur(image: np.ndarray, *, blur_kind: str = "mild", index: int = 0, sigma_x: float = 2.0,
                 sigma_y: float = 1.0, angle: float = 30.0, noise: float = 2.0, top: float = 0.5, left: float = 0.5,
                 crop: int = 128, models: Mapping[str, Callable] | None = None, seed: int = 0,
                 show_kernel: bool = True) -> tuple[plt.Figure, dict[str, dict[str, float]]]:
    """Degrade a crop of ``image`` (H, W, 3), restore it with each model, and lay out
    degraded | restored... | kernel | ground truth with PSNR/SSIM; return the figure and metrics.

    ``blur_kind`` is ``"none"``, a motion-blur family (kernel ``index`` of its bank) or
    ``"gaussian"`` (``sigma_x``, ``sigma_y`` pixels, ``angle`` degrees); ``noise`` is the AWGN
    sigma in /255; ``top``, ``left`` in [0, 1] place the ``crop``-pixel window. Chapter 02
    uses it without blur (``show_kernel=False``) to compare denoisers.
    """
    if blur_kind not in BLUR_CHOICES:
        raise ValueError(f"blur_kind must be one of {BLUR_CHOICES}, got {blur_kind!r}")
    height, width = image.shape[:2]
    crop = min(crop, height, width)
    y0, x0 = round(top * (height - crop)), round(left * (width - crop))
    clean = to_tensor(image[y0:y0 + crop, x0:x0 + crop])[None]
    if blur_kind == "none":
        kernel = identity_kernel(1)
    elif blur_kind == "gaussian":
        kernel = gaussian_kernel(sigma_x, sigma_y, angle)
    else:
        kernel = bank_kernels(f"{blur_kind}:{index}")
    degraded = degrade(clean, kernels=kernel, sigma=noise / 255.0, seed=seed)
    panels = {"degraded": degraded, **{name: restore(model, degraded) for name, model in (models or {}).items()}}
    metrics = {name: {"psnr": float(psnr(out, clean)[0]), "ssim": float(ssim(out, clean)[0])}
               for name, out in panels.items()}
    n = len(panels) + (2 if show_kernel else 1)
    cols = n if n <= 4 else -(-n // 2)  # more than four panels: two rows, readable at the page's width
    fig, grid = plt.subplots(-(-n // cols), cols, figsize=(3.0 * cols, 3.5 * -(-n // cols)), squeeze=False)
    axes = list(grid.flat)[:n]
    for spare in list(grid.flat)[n:]:
        spare.remove()
    for ax, (name, out) in zip(axes, panels.items()):
        ax.imshow(to_image(out[0]).clip(0, 1), interpolation="nearest")
        ax.set_title(f"{name}\n{metrics[name]['psnr']:.2f} dB, SSIM {metrics[name]['ssim']:.3f}", fontsize=11)
    if show_kernel:
        radius = float(kernel_radius(kernel)[0])
        axes[-2].imshow(kernel[0, 0].numpy(), cmap="magma", interpolation="nearest")
        axes[-2].set_title(f"kernel ({blur_kind}{'' if blur_kind in ('none', 'gaussian') else f':{index}'})\n"
                           f"RMS radius {radius:.2f} px", fontsize=11)
    axes[-1].imshow(to_image(clean[0]), interpolation="nearest")
    axes[-1].set_title(f"ground truth\nnoise σ = {noise:g}/255", fontsize=11)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig, metrics


def blur_tour(image: np.ndarray, models: Mapping[str, Callable] | None = None, *, crop: int = 128, noise: float = 2.0,
              seed: int = 0) -> Iterator[tuple[str, plt.Figure]]:
    """:func:`inspect_blur` through the first, middle and last kernel of each motion family, for
    :func:`player`: how far a family reaches, and what each model makes of it."""
    kernels = [(family, index) for family in FAMILIES for index in (0, BANK_SIZE // 2, BANK_SIZE - 1)]
    return ((f"{family} blur, kernel {index}", inspect_blur(image, blur_kind=family, index=index, noise=noise, crop=crop,
                                                            models=models, seed=seed)[0]) for family, index in kernels)


def noise_tour(image: np.ndarray, models: Mapping[str, Callable], sigmas: Iterable[float], *, crop: int = 128,
               seed: int = 0) -> Iterator[tuple[str, plt.Figure]]:
    """The denoiser comparison (:func:`inspect_blur` without blur) at each noise level, for :func:`player`."""
    return ((f"σ = {sigma:g}/255", inspect_blur(image, blur_kind="none", noise=sigma, crop=crop, models=models,
                                                show_kernel=False, seed=seed)[0]) for sigma in sigmas)


# Which blurs each kernel control shapes; under any other blur it is disabled, so that no slider
# moves without changing the figure (a user found the sigmas dead under a motion family).
BLUR_PARAMETERS = {"index": FAMILIES, "sigma_x": ("gaussian",), "sigma_y": ("gaussian",),
                   "angle": ("gaussian",)}
MIN_CROP = 32  # pixels: the crop slider's lower end, or the image's side when it is smaller


def inspector_controls(images: Mapping[str, np.ndarray]) -> dict[str, ipywidgets.ValueWidget]:
    """The blur inspector's controls: ``name`` picks one of ``images``, the others are keywords of
    :func:`inspect_blur` and start at its defaults. They follow each other: the kernel controls
    the chosen blur ignores are disabled (:data:`BLUR_PARAMETERS`), and the crop slider reaches
    the chosen image's smaller side, no further (:func:`inspect_blur` would clip it there)."""
    import ipywidgets as w

    side = min(next(iter(images.values())).shape[:2])
    controls = {
        "name": w.Dropdown(options=list(images), description="image"),
        "blur_kind": w.Dropdown(options=BLUR_CHOICES, value="mild", description="blur"),
        "index": w.IntSlider(0, 0, BANK_SIZE - 1, description="kernel"),
        "sigma_x": w.FloatSlider(2.0, min=0.0, max=5.0, step=0.1, description="σx (px)"),
        "sigma_y": w.FloatSlider(1.0, min=0.0, max=5.0, step=0.1, description="σy (px)"),
        "angle": w.FloatSlider(30.0, min=0.0, max=180.0, step=5.0, description="angle (°)"),
        "noise": w.FloatSlider(2.0, min=0.0, max=50.0, step=0.5, description="noise (/255)"),
        "top": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="crop top"),
        "left": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="crop left"),
        "crop": w.IntSlider(min(128, side), min(MIN_CROP, side), side, step=16, description="crop (px)"),
    }

    def follow_blur(change: dict) -> None:
        for key, kinds in BLUR_PARAMETERS.items():
            controls[key].disabled = change["new"] not in kinds

    def follow_image(change: dict) -> None:
        _fit_crop_slider(controls["crop"], images[change["new"]])

    controls["blur_kind"].observe(follow_blur, names="value")
    controls["name"].observe(follow_image, names="value")
    follow_blur({"new": controls["blur_kind"].value})
    return controls


def _fit_crop_slider(slider: ipywidgets.IntSlider, image: np.ndarray) -> None:
    """Bound ``slider`` by ``image``'s smaller side (its value is clamped into the new range);
    the bound that keeps min <= max is moved first, since ipywidgets rejects min > max."""
    side = min(image.shape[:2])
    low = min(MIN_CROP, side)
    if low > slider.max:
        slider.max, slider.min = side, low
    else:
        slider.min, slider.max = low, side


def blur_inspector(images: Mapping[str, np.ndarray], models: Mapping[str, Callable] | None = None):
    """Sliders around :func:`inspect_blur`: test image, kernel family and index or Gaussian
    sigmas and angle, noise, and the crop to zoom into (JupyterLab)."""
    import ipywidgets as w

    if not images:
        raise ValueError("blur_inspector needs at least one image")
    controls = inspector_controls(images)

    def show(name, **values):
        fig, _ = inspect_blur(images[name], models=models, **values)
        plt.show()

    output = w.interactive_output(show, controls)
    items = list(controls.values())
    return w.VBox([w.HBox([w.VBox(items[:5]), w.VBox(items[5:])]), output])


def comparison_controls(images: Mapping[str, np.ndarray]) -> dict[str, ipywidgets.ValueWidget]:
    """The denoiser comparison's controls: ``name`` picks one of ``images``, the others are keywords
    of :func:`inspect_blur` (noise at 25/255, the crop window at its defaults)."""
    import ipywidgets as w

    return {"name": w.Dropdown(options=list(images), description="image"),
            "noise": w.FloatSlider(25.0, min=0.0, max=60.0, step=1.0, description="σ (/255)"),
            "top": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="crop top"),
            "left": w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="crop left")}


def denoiser_comparison(images: Mapping[str, np.ndarray], models: Mapping[str, Callable], *, crop: int = 128):
    """Chapter 02's comparison: pick a test image, slide sigma, see the noisy crop and each model's
    output with PSNR; the callback is :func:`inspect_blur` without blur."""
    import ipywidgets as w

    controls = comparison_controls(images)

    def show(name, **values):
        inspect_blur(images[name], blur_kind="none", crop=crop, models=models, show_kernel=False, **values)
        plt.show()

    return w.VBox([w.HBox(list(controls.values())), w.interactive_output(show, controls)])
