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
# [Chapter 02](02_denoise_study.ipynb) tested on photographs only. Here the two denoisers — trained on dead-leaves discs
# and trained on natural photos — are crossed with two test sets: the natural test photos, and
# fresh dead-leaves images drawn from a seed that training never used. The original study's
# cross-validation asked the same question: does each network win on its own kind of image?

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the runner injects the chosen profile, its section below, and where outputs go
output_dir = "outputs/quick"
fresh = False
live_widgets = True
device = None  # None: cuda when available
staging_dir = None  # the runner's: figures and tables wait there until every cell has run
publish = False  # True: write figures and tables into output_dir; else outputs/scratch/<profile>
seed = 0
dead_leaves_experiment = "denoise_dead_leaves"
natural_experiment = "denoise_natural"
runs = 3  # networks per arm (independent draws; natural ones on other folds of the photos)
test_images = "skimage"
n_images = None
eval_size = 256
n_dead_leaves = 8
dead_leaves_size = 256
sigmas = [25.0, 50.0]

# %% tags=["remove-input"]
import pandas as pd

from rstor_core.book import figures, tables
from rstor_core.book.chapter import open_chapter
from rstor_core.images.deadleaves import dead_leaves_test_set
from rstor_core.measurement import intervals, readings, study
from rstor_core.networks.evaluate import degradation_grid

chapter = open_chapter("04_cross_validation", globals())
config = chapter.config
trained_on = {"dead leaves": config.dead_leaves_experiment, "natural": config.natural_experiment}
models = chapter.trained_arms(trained_on, config.runs)

# %% [markdown]
# The networks are those [chapter 02](02_denoise_study.ipynb) trained (they are loaded, not retrained). The dead-leaves
# test images use the dead-leaves network's own generator parameters, from a seed stream kept
# apart from training.

# %% tags=["hide-input"]
leaf_params = chapter.experiment(config.dead_leaves_experiment).dead_leaves
leaves = dead_leaves_test_set(config.n_dead_leaves, config.dead_leaves_size, leaf_params,
                              seed=config.seed)
grid = degradation_grid(config.sigmas)
results = pd.concat([chapter.compare_arms("04_cross_natural", trained_on, grid, models=models,
                                          lpips=False),
                     chapter.evaluate("04_cross_dead_leaves", models, leaves, grid,
                                      test_set="dead leaves", lpips=False, photos_of=None)])
chapter.save_table(results, "04_cross_validation_rows.csv")
cross = chapter.save_table(study.cross_table(results), "04_cross_validation.csv")
tables.styled(cross, "Cross-validation: PSNR (dB) with its 95 % interval, SSIM, "
              "ST-LPIPS")

# %% tags=["remove-output", "hide-input"]
chapter.publish("fig_cross", figures.cross_validation_figure(cross), "04_cross_validation.png")
gaps = chapter.save_table(intervals.paired_difference(results, "natural", "dead leaves",
                                                      ["sigma_255", "test_set"]),
                          "04_paired_gap.csv")
chapter.glue(**readings.cross_reading(gaps, config.sigmas, ["natural", "dead leaves"]),
             **readings.worse_than_input(results))

# %% [markdown]
# ```{glue:figure} fig_cross
# :alt: Heat maps of each network's PSNR gain on each test set, one panel per noise level
# :name: fig-cross
#
# Mean PSNR of each network on each test set (colour and brackets: gain over the noisy input).
# ```
#
# Natural-trained minus dead-leaves-trained, paired image by image (σ in /255), on the natural
# photos: {glue:text}`gaps_natural`; on the dead-leaves images: {glue:text}`gaps_dead_leaves`
# ({download}`tables/04_paired_gap.csv`). Verdict over every σ: {glue:text}`flip`. A positive gap on
# photos and a negative one on dead leaves is the sign flip the original study's cross-validation
# looked for.
#
# Where a network does measurably worse than the noisy input it was given (its whole interval below
# zero; gain over the input): {glue:text}`worse_than_input`. A denoiser that leaves an image worse than
# doing nothing has learned something narrower than denoising; for the natural networks, three or
# four training photos per fold are a likely reason (not tested here).
