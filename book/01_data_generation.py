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
seed = 0
size = 256
n_gallery = 6
n_radii = 200_000
n_spectrum = 16
natural_images = "skimage"
dead_leaves = {"n_leaves": None, "alpha": 3.0, "r_min": 1.0, "r_max": 2000.0, "background": 0.5}

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats
from myst_nb import glue

import rstor_core.data
from rstor_core.deadleaves import (DeadLeavesParams, dead_leaves_batch, power_law_cdf, power_law_pdf,
                                   power_law_radii)
from rstor_core.files import save_figure, save_table
from rstor_core.spectrum import radial_power_spectrum, spectral_slope

leaf_params = DeadLeavesParams(**dead_leaves)
figures, tables = f"{output_dir}/figures", f"{output_dir}/tables"
leaf_params

# %% [markdown]
# ## A gallery
#
# Each image is one call, `dead_leaves(size, seed)`; a batch derives one independent seed per
# image, so image $i$ is the same whatever the batch size. The disc sampled first lies on top.

# %% tags=["remove-output"]
gallery = dead_leaves_batch(n_gallery, size, seed=seed, **dead_leaves)
fig, axes = plt.subplots(1, n_gallery, figsize=(2.2 * n_gallery, 2.4))
for i, (ax, image) in enumerate(zip(np.atleast_1d(axes), gallery)):
    ax.imshow(image)
    ax.set_title(f"image {i}", fontsize=9)
    ax.axis("off")
save_figure(fig, f"{figures}/01_gallery.png")
glue("fig_gallery", fig, display=False)
glue("gallery_size", size, display=False)

# %% [markdown]
# ```{glue:figure} fig_gallery
# :name: fig-gallery
#
# Dead-leaves images of {glue:text}`gallery_size` × {glue:text}`gallery_size` pixels: uniform
# RGB discs, radii from $p(r) \propto r^{-\alpha}$. Grey pixels are where no disc landed: the
# study's leaf count (30 × the image side) leaves a few holes.
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
save_figure(fig, f"{figures}/01_radius_law.png")
glue("fig_radius", fig, display=False)
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
leaves_batch = dead_leaves_batch(n_spectrum, size, seed=seed + 1, **dead_leaves)
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
save_figure(fig, f"{figures}/01_power_spectra.png")
glue("fig_spectra", fig, display=False)
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
