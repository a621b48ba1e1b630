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
# # Dead leaves: synthetic images with the statistics of photographs
#
# The networks of this study never see a photograph during training: they see *dead leaves*.
# The model (Matheron, 1968) drops random shapes on a canvas, each one hiding those that fell
# before it, like leaves piling up on the ground. With disc radii drawn from a power law
# $p(r) \propto r^{-\alpha}$ and $\alpha \approx 3$, the images are scale invariant, have
# occlusions and sharp edges, and a power spectrum close to that of natural images
# (Lee, Mumford & Huang, 2001). Achddou, Gousseau & Ladjal (2021) trained a denoiser on them
# alone and found it works on photographs; this chapter shows what the generator produces.
#
# Every knob below comes from the profile (`parameters/<profile>.yaml`, section
# `data_generation`); papermill injects its values into the next cell.

# %% tags=["parameters", "remove-cell"]
profile = "quick"
output_dir = "outputs/quick"
live_widgets = True  # JupyterLab; the runner sets False (batch runs show a static figure instead)
seed = 0
size = 256
n_gallery = 6
n_radii = 200_000
n_spectrum = 16
natural_images = "skimage"
showcase_size = 192
showcase_r_min = 4.0
zoom = 48
benchmark_sizes = [128, 256]
benchmark_batch = 4
benchmark_repeats = 2
benchmark_naive_max_size = 256
n_kernel_draws = 2000
example_crop = 128
dead_leaves = {}  # DeadLeavesParams fields; papermill injects the profile's

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats
import torch
from IPython.display import display
from myst_nb import glue

import rstor_core.data
from rstor_core import degrade
from rstor_core.deadleaves import (APPEARANCES, SHAPES, DeadLeavesParams, dead_leaves_batch, image_rng,
                                   power_law_cdf, power_law_pdf, power_law_radii)
from rstor_core.deadleaves import dead_leaves as render
from rstor_core.figures import centre_crop, image_row, publish_figure
from rstor_core.files import project_root, save_table
from rstor_core.metrics import psnr
from rstor_core.params import COLOUR_SAMPLERS, AppearanceWeights, ShapeWeights
from rstor_core.spectrum import radial_power_spectrum, spectral_slope
from rstor_core.widgets import blur_inspector, dead_leaves_explorer, explore_dead_leaves, inspect_blur

os.chdir(project_root())  # relative paths from the repository root, in JupyterLab as under papermill
leaf_params = DeadLeavesParams(**dead_leaves)
figures, tables = f"{output_dir}/figures", f"{output_dir}/tables"
leaf_params

# %% [markdown]
# ## A gallery
#
# Each image is one call, `dead_leaves(size, seed)`; a batch gives image $i$ its own generator,
# seeded by $(\text{seed}, i)$, so image $i$ is the same whatever the batch size or the number of
# DataLoader workers. The leaf sampled first lies on top.

# %% tags=["remove-output"]
gallery = dead_leaves_batch(n_gallery, size, seed=seed, params=leaf_params)
fig = image_row({f"image {i}": image for i, image in enumerate(gallery)})
publish_figure("fig_gallery", fig, f"{figures}/01_gallery.png")
glue("gallery_size", size, display=False)

# %% [markdown]
# ```{glue:figure} fig_gallery
# :name: fig-gallery
#
# Dead-leaves images of {glue:text}`gallery_size` × {glue:text}`gallery_size` pixels with the
# profile's parameters (by default the original study's: flat uniform-RGB discs, radii from
# $p(r) \propto r^{-\alpha}$). Grey pixels are background where no leaf landed.
# ```
#
# ## Primitives, looks and colours
#
# Beyond discs, a leaf can be an ellipse, a square or a rectangle, a diamond, a regular polygon
# or a thin bar, each rotated by a random angle, with a random anisotropy (minor/major axis
# ratio); each primitive has a mixing weight in the profile (`shapes`). Every image below uses
# one primitive only, with the same seed, so the layout of the leaves is the same; the galleries
# of this section draw leaves of at least `showcase_r_min` pixels, so that shapes and looks show.

# %% tags=["remove-output"]
showcase = dict(params=leaf_params, r_min=showcase_r_min)
fig = image_row({name: render(showcase_size, seed, shapes=ShapeWeights.only(name), **showcase) for name in SHAPES},
                ncols=4, panel_size=2.6)
publish_figure("fig_primitives", fig, f"{figures}/01_primitives.png")

# %% [markdown]
# ```{glue:figure} fig_primitives
# :name: fig-primitives
#
# One image per primitive, same seed: centres and sizes are shared, only the shape changes.
# ```
#
# A leaf's *look* is flat, a two-colour gradient (linear or radial across the leaf), or a
# texture (value noise seeded per leaf, of amplitude `texture_amplitude`); the *colour sampler*
# draws the colours: uniform in RGB, grey, saturated (high chroma, drawn in HSV), or the pixels
# of natural photos (the profile's `palette`).

# %% tags=["remove-output"]
looks = {name: render(showcase_size, seed, appearance=AppearanceWeights.only(name), **showcase)
         for name in APPEARANCES}
samplers = {name: render(showcase_size, seed, colour=name, **showcase) for name in COLOUR_SAMPLERS}
fig_looks, fig_colours = image_row(looks), image_row(samplers)
publish_figure("fig_looks", fig_looks, f"{figures}/01_appearances.png")
publish_figure("fig_colours", fig_colours, f"{figures}/01_colour_samplers.png")

# %% [markdown]
# ```{glue:figure} fig_looks
# :name: fig-looks
#
# Flat, gradient and textured leaves (one look per image).
# ```
#
# ```{glue:figure} fig_colours
# :name: fig-colours
#
# The four colour samplers, same leaves: uniform RGB, grey, saturated, natural-photo palette.
# ```
#
# ## Covering the canvas
#
# With a leaf count fixed in advance (30 × the image side, the original study's choice) some
# pixels may stay uncovered, and larger images have more holes since the count grows with the
# side while the area grows with its square. `until_covered: true` keeps drawing leaves, each
# batch *under* the earlier ones, until none is left: the exact dead-leaves model. The explorer
# below shows the leaf-index map (which leaf each pixel shows; black is background).

# %% tags=["remove-output"]
fig = explore_dead_leaves(showcase_size, seed, **dead_leaves)
publish_figure("fig_explorer", fig, f"{figures}/01_explorer_default.png")
rows = []
for mode in (False, True):
    for i in range(n_gallery):
        _, index = render(size, image_rng(seed, i), params=leaf_params, until_covered=mode, return_index=True)
        rows.append({"until_covered": mode, "image": i, "background_fraction": float(np.mean(index < 0)),
                     "visible_leaves": len(np.unique(index[index >= 0]))})
coverage = pd.DataFrame(rows)
save_table(coverage, f"{tables}/01_coverage.csv")
coverage_summary = coverage.groupby("until_covered")[["background_fraction", "visible_leaves"]].mean()
glue("background_fixed", f"{coverage_summary.loc[False, 'background_fraction']:.2%}", display=False)
glue("background_covered", f"{coverage_summary.loc[True, 'background_fraction']:.2%}", display=False)

# %%
coverage_summary

# %% [markdown]
# ```{glue:figure} fig_explorer
# :name: fig-explorer
#
# The dead-leaves explorer in its default state: the image and its leaf-index map (a random
# colour per leaf). In JupyterLab the next cell opens it with a slider for every parameter.
# ```
#
# Over {glue:text}`gallery_size`-pixel images, the fixed count leaves on average
# {glue:text}`background_fixed` of the pixels uncovered; `until_covered` leaves
# {glue:text}`background_covered` (table `tables/01_coverage.csv`).

# %% tags=["remove-output"]
if live_widgets:
    display(dead_leaves_explorer(size=showcase_size))

# %% [markdown]
# ## Anti-aliasing
#
# Rendered at the output resolution, every edge is a hard staircase: a network trained on it
# learns aliased edges that photographs do not have. With `ds_factor` = $d$ the leaves are
# drawn $d$ times larger, low-passed by a Gaussian (σ = $d/2$ rendered pixels by default) and
# decimated, as Achddou et al. do; the close-up compares the same crop.

# %% tags=["remove-output"]
crop = (slice(0, zoom), slice(0, zoom))
fig = image_row({f"ds_factor = {d}": render(showcase_size, seed, params=leaf_params, ds_factor=d)
                 for d in (1, 2, 4)}, crop=crop, panel_size=3.0)
publish_figure("fig_aa", fig, f"{figures}/01_anti_aliasing.png")
glue("zoom", zoom, display=False)

# %% [markdown]
# ```{glue:figure} fig_aa
# :name: fig-aa
#
# The top-left {glue:text}`zoom` × {glue:text}`zoom` pixels of the same image rendered without
# anti-aliasing and with `ds_factor` 2 and 4 (nearest-neighbour zoom).
# ```
#
# ## The radius law
#
# Radii are drawn by inverting the cumulative distribution of the power law on
# $[r_\min, r_\max]$. The histogram on log–log axes should follow a line of slope $-\alpha$,
# and a Kolmogorov–Smirnov test compares the sample with the exact law.

# %% tags=["remove-output"]
rng = np.random.default_rng(seed)
p = leaf_params
radii = power_law_radii(n_radii, p.alpha, p.r_min, p.r_max, rng)
ks = scipy.stats.kstest(radii, lambda r: power_law_cdf(r, p.alpha, p.r_min, p.r_max))
ks_table = pd.DataFrame([{"n_radii": n_radii, "alpha": p.alpha, "r_min_px": p.r_min, "r_max_px": p.r_max,
                          "ks_statistic": ks.statistic, "ks_pvalue": ks.pvalue}])
save_table(ks_table, f"{tables}/01_radius_ks.csv")

bins = np.geomspace(p.r_min, radii.max(), 40)
density, edges = np.histogram(radii, bins=bins, density=True)
centres = np.sqrt(edges[1:] * edges[:-1])
fig, ax = plt.subplots(figsize=(5, 3.6))
ax.loglog(centres[density > 0], density[density > 0], "o", ms=4, label=f"{n_radii:,} sampled radii")
ax.loglog(centres, power_law_pdf(centres, p.alpha, p.r_min, p.r_max), "-", label=rf"$p(r) \propto r^{{-{p.alpha:g}}}$")
ax.set(xlabel="radius r (pixels)", ylabel="density p(r) (1/pixel)")
ax.legend()
publish_figure("fig_radius", fig, f"{figures}/01_radius_law.png")
glue("ks_stat", float(ks.statistic), display=False)
glue("ks_pvalue", float(ks.pvalue), display=False)
glue("n_radii", f"{n_radii:,}", display=False)

# %%
ks_table

# %% [markdown]
# ```{glue:figure} fig_radius
# :name: fig-radius
#
# Histogram of {glue:text}`n_radii` radii (log-spaced bins, points) against the density of the
# power law (line).
# ```
#
# The Kolmogorov–Smirnov statistic is {glue:text}`ks_stat:.4f` with a p-value of
# {glue:text}`ks_pvalue:.2f`: the sampled radii are indistinguishable from the law
# (table `tables/01_radius_ks.csv`).
#
# ## Power spectra: dead leaves next to photographs
#
# Natural images have a radially averaged power spectrum close to $1/f^{2}$. We compare the
# spectrum of dead leaves (averaged over a batch) with that of each natural photo of the
# profile's set (by default the RGB photographs bundled with scikit-image).

# %% tags=["remove-output"]
photos = rstor_core.data.natural_images(natural_images)
leaves_batch = dead_leaves_batch(n_spectrum, size, seed=seed + 1, params=leaf_params)
spectra = [radial_power_spectrum(image) for image in leaves_batch]
freqs, leaves_power = spectra[0][0], np.mean([power for _, power in spectra], axis=0)

rows = [{"image": f"dead leaves {i}", "source": "dead leaves", "slope": spectral_slope(f, pw)}
        for i, (f, pw) in enumerate(spectra)]
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(freqs, leaves_power, "k-", lw=2.5, label=f"dead leaves (mean of {n_spectrum})")
for name, photo in photos.items():
    f, power = radial_power_spectrum(photo)
    rows.append({"image": name, "source": "natural", "slope": spectral_slope(f, power)})
    ax.loglog(f, power, lw=1, alpha=0.8, label=name)
ref = leaves_power[np.searchsorted(freqs, 0.05)] * (freqs / 0.05) ** -2.0
ax.loglog(freqs, ref, "k:", label=r"$1/f^2$")
ax.set(xlabel="spatial frequency f (cycles/pixel)", ylabel="power (a.u.)")
ax.legend(fontsize=7, ncol=2)
slopes = pd.DataFrame(rows)
save_table(slopes, f"{tables}/01_spectral_slopes.csv")
publish_figure("fig_spectra", fig, f"{figures}/01_power_spectra.png")
summary = slopes.groupby("source")["slope"].agg(["mean", "std", "count"])
glue("slope_leaves", float(summary.loc["dead leaves", "mean"]), display=False)
glue("slope_natural", float(summary.loc["natural", "mean"]), display=False)

# %%
summary

# %% [markdown]
# ```{glue:figure} fig_spectra
# :name: fig-spectra
#
# Radially averaged power spectra (luminance, Hann window) of dead leaves and of natural
# photographs, on log–log axes; the dotted line has slope −2.
# ```
#
# Fitted between 0.01 and 0.25 cycles/pixel, the mean log–log slope is
# {glue:text}`slope_leaves:.2f` for dead leaves and {glue:text}`slope_natural:.2f` for the
# photographs (per image in `tables/01_spectral_slopes.csv`, with the spread across images in
# the table above). A slope of −2 is the scale-invariant law; a steeper slope means less
# energy in fine details than in coarse ones.

# %% [markdown]
# ## Degradations: noise and blur
#
# The networks learn to undo a degradation: additive white Gaussian noise (σ drawn per image,
# in /255 units) for denoising, motion blur then a little noise for blind deblurring. Motion
# kernels are random camera-shake trajectories from deepinv's `MotionBlurGenerator`, centred on
# their centroid. We sort them into three families by a measurable statistic, the kernel's
# RMS radius (the square root of its second moment about its centroid, in pixels), with disjoint
# ranges; each family has a fixed bank of 32 seeded kernels for evaluation (`small:0` …
# `big:31`), while training draws fresh ones.

# %% tags=["remove-output"]
family_table = pd.DataFrame([{"family": name, "rms_radius_min_px": low, "rms_radius_max_px": high,
                              "bank_kernels": degrade.BANK_SIZE, "kernel_support_px": degrade.KERNEL_SIZE}
                             for name, (low, high) in degrade.FAMILIES.items()])
save_table(family_table, f"{tables}/01_blur_families.csv")
banks = {name: degrade.motion_blur_bank(name) for name in degrade.FAMILIES}
fig, axes = plt.subplots(len(banks), 8, figsize=(12, 4.8))
for row, (name, bank) in zip(axes, banks.items()):
    for i, ax in enumerate(row):
        ax.imshow(bank[i, 0].numpy(), cmap="magma", interpolation="nearest")
        ax.set_title(f"{name}:{i}", fontsize=8)
        ax.axis("off")
publish_figure("fig_kernels", fig, f"{figures}/01_blur_kernels.png")

drawn = degrade.motion_blur_kernels(n_kernel_draws, seed=seed)
fig, ax = plt.subplots(figsize=(6, 3.4))
edges = np.linspace(0, 6.5, 53)
for i, (name, (low, high)) in enumerate(degrade.FAMILIES.items()):
    ax.hist(drawn["radius"][drawn["family"] == i].numpy(), bins=edges, alpha=0.6, label=f"{name} (training draws)")
    ax.axvspan(low, high, color=f"C{i}", alpha=0.08)
bank_radius = torch.cat([degrade.kernel_radius(bank) for bank in banks.values()]).numpy()
ax.plot(bank_radius, np.full_like(bank_radius, -2.0), "k|", ms=12, label="evaluation banks")
ax.set(xlabel="kernel RMS radius (pixels)", ylabel="kernels")
ax.legend(fontsize=8)
publish_figure("fig_radius_hist", fig, f"{figures}/01_blur_radius_histogram.png")
glue("n_kernel_draws", f"{n_kernel_draws:,}", display=False)

# %%
family_table

# %% [markdown]
# ```{glue:figure} fig_kernels
# :name: fig-kernels
#
# The first eight kernels of each family's evaluation bank (31 × 31 pixels, brighter is heavier).
# ```
#
# ```{glue:figure} fig_radius_hist
# :name: fig-radius-hist
#
# RMS radius of {glue:text}`n_kernel_draws` kernels drawn for training (one family per kernel,
# uniformly) and of the evaluation banks (ticks below the axis); shaded bands are the families'
# ranges.
# ```
#
# The same degradations on a dead-leaves image and on a natural photo (the first of the
# profile's set): each bank's kernel 0, an anisotropic Gaussian blur (the original study's third
# task), and noise alone at σ = 25/255.

# %% tags=["remove-output"]
photo_name, photo = next(iter(photos.items()))
examples = {"dead leaves": render(example_crop, seed, params=leaf_params),
            photo_name: centre_crop(photo, example_crop)}
blurs = {"small:0": degrade.bank_kernels("small:0"), "mild:0": degrade.bank_kernels("mild:0"),
         "big:0": degrade.bank_kernels("big:0"), "Gaussian 2.0/0.7 px": degrade.gaussian_kernel(2.0, 0.7, 30.0)}
fig, axes = plt.subplots(len(examples), len(blurs) + 2, figsize=(2.4 * (len(blurs) + 2), 2.6 * len(examples)))
for row, (name, image) in zip(axes, examples.items()):
    clean = rstor_core.data.to_tensor(image)[None]
    outputs = {"clean": clean, **{k: degrade.blur(clean, kern) for k, kern in blurs.items()},
               "noise 25/255": degrade.add_noise(clean, 25 / 255, seed=seed)}
    for ax, (title, out) in zip(row, outputs.items()):
        ax.imshow(rstor_core.data.to_image(out[0]).clip(0, 1), interpolation="nearest")
        ax.set_title(title if title == "clean" else f"{title}\n{float(psnr(out, clean)[0]):.1f} dB", fontsize=8)
        ax.axis("off")
publish_figure("fig_degradations", fig, f"{figures}/01_degradations.png")

# %% [markdown]
# ```{glue:figure} fig_degradations
# :name: fig-degradations
#
# A dead-leaves crop and a photo crop, clean and degraded, with the PSNR of each degraded
# version against the clean one (replicate padding at the borders).
# ```
#
# The **blur inspector** lets you pick the image, the kernel (family and index, or a Gaussian),
# the noise and the crop, and shows degraded | restored | kernel | ground truth with PSNR and
# SSIM; chapter 03 passes it the trained models. Below, its default state; in JupyterLab, the
# next cell opens it live.

# %% tags=["remove-output"]
inspector_images = {"dead leaves": render(2 * example_crop, seed, params=leaf_params), **photos}
fig, _ = inspect_blur(inspector_images["dead leaves"], crop=example_crop, seed=seed)
publish_figure("fig_inspector", fig, f"{figures}/01_blur_inspector_default.png")

# %% [markdown]
# ```{glue:figure} fig_inspector
# :name: fig-inspector
#
# The blur inspector in its default state (a `mild` kernel, noise 2/255) on a dead-leaves crop.
# ```

# %% tags=["remove-output"]
if live_widgets:
    display(blur_inspector(inspector_images))

# %% [markdown]
# ## Speed
#
# The original study's kernel loops, for every pixel, over every leaf. Ours paints front to back,
# one image row per thread, and a row stops as soon as it is covered; a CUDA twin of the same
# algorithm gives the same bits (tested under numba's CUDA simulator). The table is made by
# `benchmarks/deadleaves.py` (run it for the full table), on the machine that ran this chapter.

# %%
from benchmarks.deadleaves import benchmark_table

bench = benchmark_table(benchmark_sizes, batch=benchmark_batch, repeats=benchmark_repeats,
                        naive_max_size=benchmark_naive_max_size, seed=seed)
save_table(bench, f"{tables}/01_benchmark.csv")
ours = bench[bench.engine == "ours (numba CPU)"].set_index("size_px")
largest = int(ours.speedup_vs_original.dropna().index.max())
glue("bench_size", largest, display=False)
glue("bench_speedup", float(ours.loc[largest, "speedup_vs_original"]), display=False)
bench.round(2)

# %% [markdown]
# At {glue:text}`bench_size` × {glue:text}`bench_size` pixels our CPU kernel renders
# {glue:text}`bench_speedup:.0f` times as many pixels per second as the original algorithm
# (columns in Mpix/s; `tables/01_benchmark.csv`).
