"""Interactive inspectors for JupyterLab. Each callback is a plain function that returns a figure
(tested without a browser); the widget only wires sliders to it. In the static HTML book a
figure of the default state stands in for the live widget.
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from rstor_core.deadleaves import APPEARANCES, SHAPES, dead_leaves
from rstor_core.params import COLOUR_SAMPLERS, DeadLeavesParams


def explore_dead_leaves(size: int = 192, seed: int = 0, **overrides) -> plt.Figure:
    """The dead-leaves explorer's view (chapter 01): the image next to its leaf-index map.

    ``overrides`` are :class:`DeadLeavesParams` fields; shape and appearance weights may also be
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


def dead_leaves_explorer(size: int = 192):
    """Sliders for every dead-leaves parameter around :func:`explore_dead_leaves` (JupyterLab)."""
    import ipywidgets as w

    base = DeadLeavesParams()
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

    def show(**values):
        try:
            explore_dead_leaves(size, **values)
            plt.show()
        except ValueError as err:  # e.g. all weights at zero: say so instead of a traceback
            print(f"invalid parameters: {err}")

    output = w.interactive_output(show, controls)
    columns = w.HBox([w.VBox(list(controls.values())[:8]), w.VBox(list(controls.values())[8:])])
    return w.VBox([columns, output])


def _params_from_flat(values: dict) -> DeadLeavesParams:
    values = dict(values)
    shapes = {name: values.pop(f"shape_{name}") for name in SHAPES if f"shape_{name}" in values}
    looks = {name: values.pop(f"look_{name}") for name in APPEARANCES if f"look_{name}" in values}
    params = DeadLeavesParams(**values)
    if shapes:
        params = dataclasses.replace(params, shapes=dataclasses.replace(params.shapes, **shapes))
    if looks:
        params = dataclasses.replace(params, appearance=dataclasses.replace(params.appearance, **looks))
    return params
