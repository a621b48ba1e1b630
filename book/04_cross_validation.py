# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Cross-validation: each network on each kind of image
#
# Chapter 02 tested on photographs only. Here the two denoisers — trained on dead-leaves discs
# and trained on natural photos — are crossed with two test sets: the natural test photos, and
# fresh dead-leaves images drawn from a seed that training never used. The original study saw
# the sign of the gap flip between the two: each network wins on its own kind of image.

# %% tags=["parameters", "remove-cell"]
profile = "quick"
profile_file = "parameters/quick.yaml"
output_dir = "outputs/quick"
seed = 0
dead_leaves_experiment = "denoise_dead_leaves"
natural_experiment = "denoise_natural"
test_images = "skimage"
n_images = None
n_dead_leaves = 8
dead_leaves_size = 256
sigmas = [25.0, 50.0]

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from rstor_core.data import natural_images
from rstor_core.deadleaves import dead_leaves, image_rng
from rstor_core.evaluate import degradation_grid, evaluate
from rstor_core.figures import publish_figure
from rstor_core.files import project_root, save_table
from rstor_core.params import load_profile
from rstor_core.train import load_model

os.chdir(project_root())
figures, tables = f"{output_dir}/figures", f"{output_dir}/tables"
setup = load_profile(profile_file)
trained_on = {"dead leaves": dead_leaves_experiment, "natural": natural_experiment}
models = {label: load_model(f"{output_dir}/checkpoints/{name}/model.pt") for label, name in trained_on.items()}

# %% [markdown]
# The networks are those chapter 02 trained (run it first). The dead-leaves test images use the
# dead-leaves network's own generator parameters, from a seed stream kept apart from training.

# %%
leaf_params = setup.experiments[dead_leaves_experiment].dead_leaves
test_sets = {
    "natural": natural_images(test_images, split="test" if test_images == "skimage" else None),
    "dead leaves": {f"leaves {i}": dead_leaves(dead_leaves_size, image_rng(2**21 + seed, i), params=leaf_params)
                    for i in range(n_dead_leaves)},
}
results = pd.concat([evaluate(models, images, degradation_grid(sigmas), n_images=n_images, seed=seed, test_set=name,
                              lpips=False, progress=False) for name, images in test_sets.items()])
save_table(results, f"{tables}/04_cross_validation_rows.csv")
cross = (results.groupby(["sigma_255", "test_set", "model"])[["psnr", "ssim"]].mean().reset_index()
         .assign(n_images=lambda t: t.test_set.map(results.groupby("test_set").image.nunique())))
save_table(cross, f"{tables}/04_cross_validation.csv")
cross.round(3)

# %% tags=["remove-output"]
fig, axes = plt.subplots(1, len(sigmas), figsize=(5.2 * len(sigmas), 4.2), squeeze=False)
for ax, sigma in zip(axes[0], sigmas):
    grid = cross[(cross.sigma_255 == sigma) & (cross.model != "input")].pivot(index="model", columns="test_set",
                                                                              values="psnr")
    gain = grid - cross[(cross.sigma_255 == sigma) & (cross.model == "input")].set_index("test_set").psnr
    image = ax.imshow(gain.values, cmap="viridis")
    for (r, c), value in pd.DataFrame(grid.values).stack().items():
        ax.text(c, r, f"{value:.2f} dB\n({gain.values[r, c]:+.2f})", ha="center", va="center", color="w", fontsize=10)
    ax.set_xticks(range(grid.shape[1]), [f"tested on {t}" for t in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"trained on {m}" for m in grid.index])
    ax.set_title(f"σ = {sigma:g}/255")
    fig.colorbar(image, ax=ax, label="gain over the noisy input (dB)", shrink=0.8)
publish_figure("fig_cross", fig, f"{figures}/04_cross_validation.png")

psnr = cross[cross.sigma_255 == 25].set_index(["test_set", "model"]).psnr
glue("gap_natural", float(psnr["natural", "natural"] - psnr["natural", "dead leaves"]), display=False)
glue("gap_leaves", float(psnr["dead leaves", "natural"] - psnr["dead leaves", "dead leaves"]), display=False)

# %% [markdown]
# ```{glue:figure} fig_cross
# :name: fig-cross
#
# Mean PSNR of each network on each test set (colour and brackets: gain over the noisy input).
# ```
#
# At σ = 25, the natural-trained network minus the dead-leaves-trained one is
# {glue:text}`gap_natural:+.2f` dB on the natural photos and {glue:text}`gap_leaves:+.2f` dB on
# the dead-leaves images (table `tables/04_cross_validation.csv`): a positive then a negative
# sign means each network wins on the kind of image it was trained on, the flip the original
# study reported (+2.81 dB in favour of dead leaves on its dead-leaves test set).
