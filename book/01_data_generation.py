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
# occlusions and sharp edges, and a power-law spectrum, as photographs have (Lee, Mumford &
# Huang, 2001); whether the two laws have the same slope is measured below. Achddou, Gousseau &
# Ladjal (2021) trained a denoiser on them alone and found it works on photographs; this
# chapter shows what the generator produces.
#
# Every knob below comes from the profile (`parameters/<profile>.yaml`, section
# `data_generation`); papermill injects its values into the next cell.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the runner injects the chosen profile, its section below, and where outputs go
output_dir = "outputs/quick"
fresh = False
live_widgets = True  # JupyterLab; the runner sets False (batch runs show a static figure instead)
device = None
staging_dir = None  # the runner's: figures and tables wait there until every cell has run
publish = False  # True: write figures and tables into output_dir; else outputs/scratch/<profile>
seed = 0
size = 256
n_gallery = 6
n_radii = 200000
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
dead_leaves = {"n_leaves": None, "leaf_density": 30.0, "until_covered": False, "alpha": 3.0,
               "r_min": 1.0, "r_max": 2000.0, "radius_reference": None, "window_of": None,
               "ds_factor": 1, "aa_sigma": None,
               "shapes": {"disc": 1.0, "ellipse": 0.0, "square": 0.0, "rectangle": 0.0,
                          "diamond": 0.0, "polygon": 0.0, "bar": 0.0},
               "appearance": {"flat": 1.0, "gradient": 0.0, "texture": 0.0}, "colour": "uniform",
               "palette": "skimage", "palette_run": None, "background": 0.5, "swap_red_blue": False,
               "anisotropy": [0.3, 1.0], "angle": None, "polygon_sides": [3, 8], "bar_width": 0.15,
               "texture_amplitude": 0.3, "texture_cells": 6}

# %% tags=["remove-input"]
import dataclasses

from IPython.display import display

from rstor_core.book import figures, tables, widgets
from rstor_core.book.chapter import open_chapter
from rstor_core.degradation import degrade
from rstor_core.degradation.examples import example_degradations
from rstor_core.images import showcase, speed
from rstor_core.images.deadleaves import dead_leaves as render, dead_leaves_batch
from rstor_core.images.leaf_sampling import power_law_radii
from rstor_core.images.photos import natural_images as load_photos
from rstor_core.measurement import study
from rstor_core.settings import rng

chapter = open_chapter("01_data_generation", globals())
config = chapter.config
leaves = config.dead_leaves  # the profile's dead-leaves model, shown in lines that fit the page
print(showcase.described(leaves))

# %% [markdown]
# ## A gallery
#
# Each image is one call, `dead_leaves(size, seed)`; a batch gives image $i$ its own generator,
# seeded by $(\text{seed}, i)$, so image $i$ is the same whatever the batch size or the number of
# DataLoader workers. The leaf sampled first lies on top.

# %% tags=["remove-output", "hide-input"]
gallery = dead_leaves_batch(config.n_gallery, config.size, seed=config.seed, params=leaves)
fig = figures.image_row({f"image {i}": im for i, im in enumerate(gallery)})
chapter.publish("fig_gallery", fig, "01_gallery.png")
presets = {"the profile's model": gallery[0], **showcase.preset_images(config.size, config.seed)}
chapter.publish("fig_presets", figures.image_row(presets), "01_presets.png")

# %% [markdown]
# ```{glue:figure} fig_gallery
# :alt: Six dead-leaves images of the profile's model: overlapping flat discs of random colours and sizes
# :name: fig-gallery
#
# Dead-leaves images of {glue:text}`gallery_size` × {glue:text}`gallery_size` pixels with the
# profile's parameters (by default the simplest model: flat discs of uniform random RGB colour,
# radii from $p(r) \propto r^{-\alpha}$). Grey pixels are background where no leaf landed. The
# original study trained on richer stored sets: each image's colours drawn from one DIV2K photo,
# rendered 5× larger then filtered and decimated, radii from 1 to about 400 pixels at 512², a
# (0.2, 0.4, 0.6) background.
# ```
#
# ```{glue:figure} fig_presets
# :alt: The same image's draws under each named generator preset, side by side
# :name: fig-presets
#
# The profile's model beside the `original_study` preset (`DeadLeavesConfig.from_preset`), which
# renders what the original study's networks trained on: its stored 512² images (each image's
# colours from the pixels of one photo of the palette, 150 leaves per pixel of side, radii from 1
# to 400 pixels, 5× supersampling with a Gaussian low-pass of σ = 0.6 rendered pixels, the filter
# the study meant, a (0.2, 0.4, 0.6) background) and, as its training did, a smaller image is a
# random window of a 512² scene at the same pixel scale (`window_of: 512`), not the scene shrunk.
# Its stored files also had red and blue swapped (an RGB array written by OpenCV, read back as RGB),
# so its networks saw a (0.6, 0.4, 0.2) background; `swap_red_blue: true` reproduces that, the
# preset keeps RGB.
# ```
#
# ## Primitives, looks and colours
#
# Beyond discs, a leaf can be an ellipse, a square or a rectangle, a diamond, a regular polygon
# or a thin bar, each rotated by a random angle, with a random anisotropy (minor/major axis
# ratio); each primitive has a mixing weight in the profile (`shapes`). Every image below uses
# one primitive only, with the same seed, so the layout of the leaves is the same; the galleries
# of this section draw leaves of at least `showcase_r_min` pixels, so that shapes and looks show.

# %% tags=["remove-output", "hide-input"]
galleries = showcase.one_at_a_time(config.showcase_size, config.seed, leaves,
                                   r_min=config.showcase_r_min)  # leaves big enough to see
fig = figures.image_row(galleries["primitives"], ncols=4, panel_size=2.6)
chapter.publish("fig_primitives", fig, "01_primitives.png")

# %% [markdown]
# ```{glue:figure} fig_primitives
# :alt: One dead-leaves image per primitive shape: discs, ellipses, squares, rectangles, diamonds, polygons, bars
# :name: fig-primitives
#
# One image per primitive, same seed: centres and sizes are shared, only the shape changes.
# ```
#
# A leaf's *look* is flat, a two-colour gradient (linear or radial across the leaf), or a
# texture (value noise seeded per leaf, of amplitude `texture_amplitude`); the *colour sampler*
# draws the colours: uniform in RGB, grey, saturated (high chroma, drawn in HSV), or the pixels
# of natural photos (the profile's `palette`: all of them, or one per image). A network trained
# on photo colours draws them from its own training photos only, never from its test photos.

# %% tags=["remove-output", "hide-input"]
chapter.publish("fig_looks", figures.image_row(galleries["looks"]), "01_appearances.png")
chapter.publish("fig_colours", figures.image_row(galleries["colours"]), "01_colour_samplers.png")

# %% [markdown]
# ```{glue:figure} fig_looks
# :alt: The same leaves painted flat, with gradients and with textures
# :name: fig-looks
#
# Flat, gradient and textured leaves (one look per image).
# ```
#
# ```{glue:figure} fig_colours
# :alt: The same leaves coloured by each colour sampler
# :name: fig-colours
#
# The colour samplers, same leaves: uniform RGB, grey, saturated, the pixels of all the palette's
# photos (`natural`), and those of one photo per image (`photo`).
# ```
#
# ## Covering the canvas
#
# With a leaf count fixed in advance (30 × the image side, the original study's choice) some
# pixels may stay uncovered, and larger images have more holes since the count grows with the
# side while the area grows with its square. `until_covered: true` keeps drawing leaves, each
# batch *under* the earlier ones, until none is left: the exact dead-leaves model. The explorer
# below shows the leaf-index map (which leaf each pixel shows; black is background).

# %% tags=["remove-output", "hide-input"]
fig = widgets.explore_dead_leaves(config.showcase_size, config.seed, **dataclasses.asdict(leaves))
chapter.publish("fig_explorer", fig, "01_explorer_default.png")
index_maps = showcase.leaf_index_maps(config.size, config.seed, leaves, config.n_gallery)
coverage = chapter.save_table(study.coverage_table(index_maps), "01_coverage.csv")
chapter.glue(**study.coverage_facts(coverage))

# %% tags=["hide-input"]
tables.styled(study.coverage_summary(coverage).reset_index(),
              "Leaves left visible and background left bare, mean per image")

# %% [markdown]
# ```{glue:figure} fig_explorer
# :alt: A dead-leaves image beside its leaf-index map, each visible leaf in its own colour
# :name: fig-explorer
#
# The dead-leaves explorer in its default state: the image and its leaf-index map (a random
# colour per leaf). In JupyterLab the next cell opens it with a slider for every parameter; here,
# the player below steps through the radius exponent α, one primitive, look and colour sampler at a
# time (same seed).
# ```
#
# Over {glue:text}`gallery_size`-pixel images, the fixed count leaves on average
# {glue:text}`background_fixed` of the pixels uncovered; `until_covered` leaves
# {glue:text}`background_covered` (table {download}`tables/01_coverage.csv`).

# %% tags=["hide-input"]
display(widgets.dead_leaves_explorer(size=config.showcase_size) if chapter.live_widgets
        else widgets.player(widgets.explorer_tour(config.showcase_size, config.seed, leaves)))

# %% [markdown]
# ## Anti-aliasing
#
# Rendered at the output resolution, every edge is a hard staircase: a network trained on it
# learns aliased edges that photographs do not have. With `ds_factor` = $d$ the leaves are
# drawn $d$ times larger, low-passed by a Gaussian (σ = $d/2$ rendered pixels by default) and
# decimated, as Achddou et al. do; the close-up compares the same crop.

# %% tags=["remove-output", "hide-input"]
aliased = showcase.antialiasing_images(config.showcase_size, config.seed, leaves)
fig = figures.image_row(aliased, crop=(slice(config.zoom), slice(config.zoom)), panel_size=3.0)
chapter.publish("fig_aa", fig, "01_anti_aliasing.png")
chapter.glue(zoom=config.zoom, gallery_size=config.size)

# %% [markdown]
# ```{glue:figure} fig_aa
# :alt: Zoomed corners of one image rendered at 1, 2 and 4 times the size then decimated: edges smooth as the factor grows
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

# %% tags=["remove-output", "hide-input"]
radii = power_law_radii(config.n_radii, leaves.alpha, leaves.r_min, leaves.r_max,
                        rng.stream(config.seed, "radii"))
ks_table = chapter.save_table(study.radius_ks_table(radii, leaves), "01_radius_ks.csv")
centres, density = study.log_binned_density(radii, leaves.r_min)
fig = figures.radius_law_figure(centres, density, leaves, config.n_radii)
chapter.publish("fig_radius", fig, "01_radius_law.png")
chapter.glue(**study.radius_ks_facts(ks_table))

# %% tags=["hide-input"]
tables.styled(ks_table, "Drawn radii against the power law (Kolmogorov-Smirnov)")

# %% [markdown]
# ```{glue:figure} fig_radius
# :alt: Log-log density of drawn leaf radii following the power law's straight line
# :name: fig-radius
#
# Histogram of {glue:text}`n_radii` radii (log-spaced bins, points) against the density of the
# power law (line).
# ```
#
# The Kolmogorov–Smirnov statistic is {glue:text}`ks_stat:.4f` with a p-value of
# {glue:text}`ks_pvalue:.2f`: the sampled radii are indistinguishable from the law
# (table {download}`tables/01_radius_ks.csv`).
#
# ## Power spectra: dead leaves next to photographs
#
# Natural images have a radially averaged power spectrum close to $1/f^{2}$. We compare the
# spectrum of dead leaves (averaged over a batch) with that of each natural photo of the
# profile's set (by default the RGB photographs bundled with scikit-image).

# %% tags=["remove-output", "hide-input"]
photos = load_photos(config.natural_images)
leaf_batch = dead_leaves_batch(config.n_spectrum, config.size, seed=config.seed, key="spectrum",
                               params=leaves)
spectra = study.spectra_by_source(leaf_batch, photos)  # "dead leaves" and "natural"
slopes = chapter.save_table(study.spectral_slope_table(spectra), "01_spectral_slopes.csv")
fig = figures.power_spectra_figure(spectra["dead leaves"], spectra["natural"])
chapter.publish("fig_spectra", fig, "01_power_spectra.png")
chapter.glue(**study.spectral_slope_facts(slopes))

# %% tags=["hide-input"]
summary = study.spectral_slope_summary(slopes).reset_index()
tables.styled(summary, "Spectral slope per source (mean, standard deviation, images)")

# %% [markdown]
# ```{glue:figure} fig_spectra
# :alt: Radially averaged power spectra of dead-leaves images and natural photos on log-log axes
# :name: fig-spectra
#
# Radially averaged power spectra (luminance, Hann window) of dead leaves and of natural
# photographs, on log–log axes; the dotted line has slope −2.
# ```
#
# Fitted between 0.01 and 0.25 cycles/pixel, the mean log–log slope is
# {glue:text}`slope_leaves:.2f` for dead leaves and {glue:text}`slope_natural:.2f` for the
# photographs (per image in {download}`tables/01_spectral_slopes.csv`, with the spread across images in
# the table above). A slope of −2 is the scale-invariant law; a steeper slope means less
# energy in fine details than in coarse ones. Dead leaves minus photographs:
# {glue:text}`slope_difference` (Welch t-test, p = {glue:text}`slope_p:.2g`): {glue:text}`slope_verdict`.
# Sharp edges everywhere and no depth-of-field blur flatten a spectrum; soft, out-of-focus regions
# steepen it. A network trained on flatter spectra than a photo's expects more fine detail than
# the photo has.

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

# %% tags=["remove-output", "hide-input"]
family_table = chapter.save_table(study.blur_family_table(), "01_blur_families.csv")
banks = {name: degrade.motion_blur_bank(name) for name in degrade.FAMILIES}
chapter.publish("fig_kernels", figures.kernel_bank_figure(banks), "01_blur_kernels.png")
draw_seed = rng.stream_seed(config.seed, "kernel draws")
drawn = degrade.motion_blur_kernels(config.n_kernel_draws, seed=draw_seed)
bank_radius = degrade.kernel_radius(degrade.bank_kernels(list(degrade.FAMILIES))).numpy()
fig = figures.kernel_radius_histogram(drawn, bank_radius)
chapter.publish("fig_radius_hist", fig, "01_blur_radius_histogram.png")
chapter.glue(n_kernel_draws=f"{config.n_kernel_draws:,}")

# %% tags=["hide-input"]
tables.styled(family_table, "The three motion-blur families")

# %% [markdown]
# ```{glue:figure} fig_kernels
# :alt: Grid of motion-blur kernels, one row per family, from short strokes to long trajectories, with a colour bar
# :name: fig-kernels
#
# The first eight kernels of each family's evaluation bank (31 × 31 pixels, brighter is heavier).
# ```
#
# ```{glue:figure} fig_radius_hist
# :alt: Histogram of the RMS radius of drawn training kernels per family, with the evaluation banks' radii as ticks
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

# %% tags=["remove-output", "hide-input"]
examples = showcase.example_crops(config.example_crop, config.seed, leaves, photos)
fig, _ = figures.restoration_grid(examples, example_degradations(config.seed), show_clean=True,
                                  input_label="degraded", panel_size=2.4)
chapter.publish("fig_degradations", fig, "01_degradations.png")

# %% [markdown]
# ```{glue:figure} fig_degradations
# :alt: A dead-leaves crop and a photo crop, clean and under each degradation
# :name: fig-degradations
#
# A dead-leaves crop and a photo crop, clean and degraded, with the PSNR of each degraded
# version against the clean one (replicate padding at the borders).
# ```
#
# The **blur inspector** lets you pick the image, the kernel (family and index, or a Gaussian),
# the noise and the crop, and shows degraded | restored | kernel | ground truth with PSNR and
# SSIM; [chapter 03](03_deblur_study.ipynb) passes it the trained models. Below, its default state; in JupyterLab, the
# next cell opens it live.

# %% tags=["remove-output", "hide-input"]
big_leaves = render(2 * config.example_crop, config.seed, params=leaves)
inspector_images = {"dead leaves": big_leaves, **photos}
fig, _ = widgets.inspect_blur(big_leaves, crop=config.example_crop, seed=config.seed)
chapter.publish("fig_inspector", fig, "01_blur_inspector_default.png")

# %% [markdown]
# ```{glue:figure} fig_inspector
# :alt: The blur inspector: a blurred dead-leaves crop, its kernel and the sharp crop
# :name: fig-inspector
#
# The blur inspector in its default state (a `mild` kernel, noise 2/255) on a dead-leaves crop. The
# player below steps through the first, middle and last kernel of each family; in JupyterLab the
# next cell is the live inspector.
# ```

# %% tags=["hide-input"]
display(widgets.blur_inspector(inspector_images) if chapter.live_widgets else widgets.player(
    widgets.blur_tour(big_leaves, crop=config.example_crop, seed=config.seed)))

# %% [markdown]
# ## Speed
#
# The original study's default kernel gives every pixel a thread that tests the leaves front to
# back and stops at the first that covers it (its other kernel visits every leaf at every pixel).
# Ours first bins the leaves by 32-pixel tile, so a pixel tests only the leaves whose bounding box
# meets its tile, keeps which pixels of a tile are covered as one bit per pixel, and stops a tile as
# soon as it is covered; a CUDA twin of the per-pixel algorithm gives the same bits (tested under
# numba's CUDA simulator). A user pays for the whole call, though: drawing the leaves, packing them
# and painting them. The sampler draws in whole-array calls and jumps over the draws no leaf uses (a
# disc's angle, a flat leaf's second colour), so the images keep their bits. The first table times
# whole images against the original study's generator end to end (its numpy draws and its default
# kernel); the second, painting alone on the same leaves. Both are made by `rstor_core.images.speed`,
# which calls every kernel once untimed at the timed size before its clock starts (numba compiles
# on a first call), on the machine that built this chapter, while the chapter ran.

# %% tags=["hide-input"]
sizes, batch, repeats = config.benchmark_sizes, config.benchmark_batch, config.benchmark_repeats
bench = speed.rendering_speed_table(sizes, batch=batch, repeats=repeats, seed=config.seed,
                                    naive_max_size=config.benchmark_naive_max_size)
whole = speed.end_to_end_table(sizes, speed.CHAPTER_MODELS, images=batch, repeats=repeats,
                               seed=config.seed)
chapter.glue(**speed.speed_facts(chapter.save_table(bench, "01_benchmark.csv"),
                                 chapter.save_table(whole, "01_end_to_end.csv")))
display(tables.styled(whole, "Whole images, sampling included (ms per image) on this machine"))
tables.styled(bench, "Rendering alone (Mpixel/s) on this machine")

# %% [markdown]
# These are this machine's timings at build time, from a few images and repeats: they move with
# the machine's load (by tens of percent between two runs on a shared machine, more if something
# else runs), so read them as an order of magnitude and compare engines within one table. In
# this build, a whole {glue:text}`bench_size` × {glue:text}`bench_size` image of flat discs,
# sampling included, took {glue:text}`e2e_ms:.2f` ms, {glue:text}`e2e_speedup:.0f` times less
# than the original study's generator end to end ({glue:text}`e2e_original_ms:.0f` ms); drawing
# the leaves was {glue:text}`e2e_sampling:.0%` of it ({download}`tables/01_end_to_end.csv`; the
# original never drew the other two models, so they have no baseline). Painting alone, our CPU
# kernel rendered {glue:text}`bench_speedup:.0f` times as many pixels per second as the original
# study's default kernel on the same cores ({glue:text}`bench_speedup_exhaustive:.0f` times its
# exhaustive one; columns in Mpix/s; {download}`tables/01_benchmark.csv`). The measurement proper
# is `benchmarks/deadleaves.py`, run on an idle machine: more images and repeats, larger sizes,
# the `original_study` preset, and how the cost grows with the canvas and the leaves.
