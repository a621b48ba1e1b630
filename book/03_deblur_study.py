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
# # Blind deblurring: dead leaves against natural photos
#
# The study's second question: does training on dead leaves carry over to **blind motion
# deblurring**, where the network is not told the kernel? Two arms of NAFNets of the same
# architecture, trained for the same number of steps (each arm several times, from independent
# draws, when the profile asks for several runs), on crops blurred by a fresh motion
# kernel drawn from one of the three families of [chapter 01](01_data_generation.ipynb) (small, mild, big; RMS radius
# 0.5-1.5, 1.5-3 and 3-6 px) plus a camera's noise. In the `quick` profile each network starts from
# its arm's denoiser of [chapter 02](02_denoise_study.ipynb) (the original study's "pretext task")
# and trains with NAFNet's own optimiser and loss (AdamW, β = (0.9, 0.9), minus the PSNR) at a
# constant learning rate: the recipe its arm's trials chose, on images no chapter tests on
# ({ref}`the appendix <recipe-trials>`, which also lists what did not help).
#
# - **dead leaves**: flat uniform-colour discs (the original study's stored sets were richer:
#   colours drawn from natural photos, 5× supersampling);
# - **natural**: crops of natural photos (scikit-image's bundled photos by default, each network
#   trained outside one fold of them and tested on that fold; the `paper` profile points at DIV2K).
#
# They are tested with the fixed kernel **banks** of each family, never drawn in training, on the
# natural test photos and on dead-leaves images, next to a **non-blind** deconvolution told the
# true kernel: the reference a practitioner has without learning, and an advantage the blind
# networks do not get. A second pair, trained on anisotropic Gaussian blur at a smaller budget,
# repeats the question for the original study's third task.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the runner injects the chosen profile, its section below, and where outputs go
output_dir = "outputs/quick"
fresh = False  # True: retrain instead of reusing the saved weights
live_widgets = True  # JupyterLab; the runner sets False (batch runs show a static figure instead)
device = None  # None: cuda when available
staging_dir = None  # the runner's: figures and tables wait there until every cell has run
publish = False  # True: write figures and tables into output_dir; else outputs/scratch/<profile>
seed = 0
motion_arms = {"dead leaves": "deblur_dead_leaves", "natural": "deblur_natural"}  # label: name
gaussian_arms = {"dead leaves": "deblur_gaussian_dead_leaves", "natural": "deblur_gaussian_natural"}
runs = 3  # networks per arm (independent draws; natural ones on other folds of the photos)
test_images = "skimage"
n_images = None
eval_size = 256
n_kernels = 6
sigma = 1.0
n_dead_leaves = 8
dead_leaves_size = 256
real_pairs = ""
classical = "richardson_lucy"
rl_iterations = 30
wiener_balance = 0.01
lpips = True
grid_kernel = 0
zoom = 192
recipe_trials = ["recipe_baseline", "recipe_nafnet", "recipe_warm", "recipe_warm_constant",
                 "recipe_warm_identity", "recipe_warm_curriculum", "recipe_wide",
                 "recipe_natural_baseline", "recipe_natural_warm"]
first_recipe = ["recipe_baseline", "recipe_natural_baseline"]
scaling_steps = [200, 400, 800]
long_runs = ["deblur_dead_leaves_long", "deblur_natural_long"]

# %% tags=["remove-input"]
from IPython.display import display

from rstor_core.book import deblurring, figures, tables, widgets
from rstor_core.book.chapter import open_chapter
from rstor_core.degradation.degrade import FAMILIES
from rstor_core.measurement import intervals, published, readings, recipes, scaling, study

chapter = open_chapter("03_deblur_study", globals())
config = chapter.config
motion, gaussian = config.motion_arms, config.gaussian_arms
arm_names = {"dead leaves": "gain_dl", "natural": "gain_nat"}  # each arm's glue suffix

# %% [markdown]
# ## Training
#
# Each experiment trains once and is skipped when its weights are already in
# `outputs/<profile>/checkpoints/` (`make book` reuses the committed `quick` weights;
# `make book FRESH=1` retrains them; `python -m rstor_core train` does the same from a shell).

# %% tags=["remove-output", "hide-input"]
models = chapter.trained_arms(motion, config.runs)
chapter.trained_arms(gaussian, config.runs)  # the Gaussian pair's, read again where it is tested
shown = {f"{label.replace(' ', '-')}-trained": runs[0] for label, runs in models.items()}  # run 0
chapter.glue(**chapter.training_facts(motion["dead leaves"]), test_sigma=f"{config.sigma:g}",
             **chapter.training_facts(gaussian["dead leaves"], prefix="gaussian_"))

# %% tags=["remove-output", "hide-input"]
pairs = {f"{kind}, {label}": name for kind, arms in (("motion", motion), ("Gaussian", gaussian))
         for label, name in arms.items()}
curves = chapter.save_table(chapter.training_curves(pairs, config.runs), "03_training_curves.csv")
baselines = chapter.validation_baselines(pairs, config.runs)  # each network's blurred inputs
chapter.publish("fig_curves", figures.training_curves_figure(
    curves, baselines=baselines, panels=figures.by_training_data), "03_training_curves.png")
chapter.glue(runs=config.runs, **readings.convergence(curves))

# %% [markdown]
# ```{glue:figure} fig_curves
# :alt: Training loss and validation PSNR against steps for the deblurring networks
# :name: fig-deblur-curves
#
# Validation PSNR during training, as a gain over the PSNR of the blurred validation inputs
# themselves (the black line: a network below it makes its inputs worse). Motion pair:
# {glue:text}`steps` steps of {glue:text}`batch` crops of {glue:text}`crop` × {glue:text}`crop`
# pixels, noise σ ~ U(0, {glue:text}`noise_max`)/255; Gaussian pair: {glue:text}`gaussian_steps`
# steps on {glue:text}`gaussian_crop`-pixel crops, per-axis σ ~ U({glue:text}`gaussian_blur_sigma`) px.
# NAFNet with {glue:text}`parameters` parameters. Each validation set comes from the network's own
# training distribution (dead-leaves crops are much harder to deblur than photo crops), so the
# gains are not comparable across panels; one line per network ({glue:text}`runs` per experiment,
# each over its own validation inputs: every run draws its own). Over the last fifth of training,
# validation PSNR changed by {glue:text}`rise_min:+.2f` to {glue:text}`rise_max:+.2f` dB:
# {glue:text}`converged`.
# ```
#
# ## Evaluation on the kernel banks
#
# Every test image is blurred by each of the first {glue:text}`n_kernels` kernels of each
# family's bank, then gets noise of σ = {glue:text}`test_sigma`/255; every model sees the very
# same inputs. The rows of every evaluation in the book are kept in `outputs/<profile>/evaluations/`
# under a fingerprint of what made them (the weights, the images, the kernels, the settings and
# the scoring code): a run with the same inputs reads them back, any change scores again.

# %% tags=["hide-input"]
bench = deblurring.bench_of(chapter, motion)  # photos, banks, anchors: the section's test settings
# a natural network is tested on photos it never saw, every network on the dead-leaves images
results = deblurring.deblurring_rows(chapter, "03_deblur", models, bench)
natural_rows = chapter.save_table(results, "03_deblur_rows.csv").query("test_set == 'natural'")
table = chapter.save_table(study.deblur_table(results, n_kernels=config.n_kernels,
                                              sigma=config.sigma), "03_deblur_table.csv")
chapter.glue(lpips_note=results.lpips_note.iloc[0] or "computed", n_kernels=config.n_kernels)
tables.show(table, "Blind deblurring (PSNR in dB, 95 % interval), blur", ["test_set", "model"],
            {f: f"^{f}_" for f in FAMILIES})

# %% [markdown]
# The deblurring table ({download}`tables/03_deblur_table.csv`): one row per (model, test set), one column
# group per family, mean over the test images and the {glue:text}`n_kernels` bank kernels of
# each family and each arm's networks, with the PSNR's 95 % interval (`_lo_db`, `_hi_db`:
# over photos, networks and kernels), `n_images` and `n_runs`; the `input` rows are the blurred,
# noisy images themselves. ST-LPIPS (lower is better) on the photos; LPIPS as in
# [chapter 02](02_denoise_study.ipynb)'s note: {glue:text}`lpips_note`.
#
# ## First: does each network deblur its own kind of images?
#
# Before the transfer question, the in-distribution check: each network on test images of the kind it
# trained on (the dead-leaves network on dead-leaves images of its own generator, from a stream no
# training draws; the natural network on the photos of the fold it never saw), against the blurred
# input and against Richardson–Lucy told the kernel, on the same images.

# %% tags=["hide-input"]
own = chapter.save_table(study.in_distribution(results, {a: a for a in motion}, bench.anchors),
                         "03_in_distribution.csv")
chapter.glue(**readings.in_distribution_reading(own, {"dead leaves": "dl", "natural": "nat"}))
tables.styled(own.drop(columns=["test_set", "n_runs"]),
              "Each network on its own kind of images: PSNR gain (dB)")

# %% [markdown]
# On its own kind of images ({download}`tables/03_in_distribution.csv`), the dead-leaves network gains
# {glue:text}`own_dl`; the natural network, {glue:text}`own_nat`. {glue:text}`own_reading`
#
# ## The transfer question: natural photos

# %% tags=["hide-input"]
gain = study.family_gains(table)  # dB over the blurred input, natural test photos
glue_names = {**arm_names, **{name: "anchor" for name in bench.anchors}}
gap = chapter.save_table(intervals.paired_difference(natural_rows, "natural", "dead leaves",
                                                     ["family"]), "03_paired_gap.csv")
by_photo = chapter.save_table(study.gain_by_photo(natural_rows), "03_gain_by_photo.csv")
chapter.glue(**readings.glue_values(gain, glue_names), **readings.gaps_by_family(gap),
             **readings.deblurring_reading(gain, list(motion)),
             **readings.photo_extremes(by_photo, glue_names))
tables.styled(study.losses(gain.drop(index=list(bench.anchors), errors="ignore")),
              "Where a network makes the blurred photo worse")

# %% [markdown]
# On the natural test photos, the gain in mean PSNR over the blurred input is, for the
# dead-leaves-trained network, {glue:text}`gain_dl_small:+.2f` dB on the small family,
# {glue:text}`gain_dl_mild:+.2f` dB on mild and {glue:text}`gain_dl_big:+.2f` dB on big; for the
# natural-trained one, {glue:text}`gain_nat_small:+.2f`, {glue:text}`gain_nat_mild:+.2f` and
# {glue:text}`gain_nat_big:+.2f` dB. The table above lists every (network, family) where a blind
# network does *worse* than the blurred input it was given, with its loss in dB (empty when there is
# none). Why it loses there — sharpening an image that barely needed it, as the original study's "the
# dead-leaves model always tries to deblur" suggests — is not measured here. The non-blind anchor,
# told the kernel, gains {glue:text}`anchor_small:+.2f`, {glue:text}`anchor_mild:+.2f` and
# {glue:text}`anchor_big:+.2f` dB: what knowing the blur is worth at this noise level.
#
# Photo by photo (each family's worst photo, then the range over the others; mean over kernels and
# networks, {download}`tables/03_gain_by_photo.csv`), the dead-leaves network changes the PSNR by
# {glue:text}`photos_gain_dl`; the natural one by {glue:text}`photos_gain_nat`. Where one photo's loss
# is far from the others', the family's mean and any verdict on it rest on that photo.
#
# Paired photo by photo, the natural-trained network minus the dead-leaves-trained one is
# {glue:text}`gap_small` on small blur, {glue:text}`gap_mild` on mild and {glue:text}`gap_big` on
# big ({download}`tables/03_paired_gap.csv`).
#
# ## Would more compute close the gap?
#
# Every network also kept its weights at {glue:text}`scaling_fractions` of its steps. Under a
# constant learning rate those are the weights of shorter runs (the same draws, stopped earlier;
# a test checks it), so one training gives {glue:text}`n_budgets` budgets spanning
# {glue:text}`budget_span`× for every network of both arms, tested on the same photos and kernels
# as the table above.

# %% tags=["remove-output", "hide-input"]
budgets = deblurring.compute_scaling(chapter, motion, results, bench, curves)
chapter.save_tables(budgets.tables("03_"))
chapter.publish("fig_scaling", figures.compute_scaling_figure(budgets.table),
                "03_compute_scaling.png")
chapter.glue(**scaling.scaling_reading(budgets, arm_names))

# %% [markdown]
# ```{glue:figure} fig_scaling
# :alt: PSNR gain over the blurred input against training steps, per family, for both arms
# :name: fig-compute-scaling
#
# PSNR gain over the blurred input (natural test photos, 95 % interval over photos and networks)
# against training steps (log scale), per family; the top axis converts steps into wall minutes of
# training from the logs. Dashed: +1.0 dB and +1.5 dB ({download}`tables/03_compute_scaling.csv`).
# ```
#
# On big blur, a straight line through each network's gains against log₂(steps) rises
# {glue:text}`per_doubling_gain_dl` per doubling of the steps in the dead-leaves arm and
# {glue:text}`per_doubling_gain_nat` in the natural one (the mean of its networks' slopes, the interval
# over them: the budgets are snapshots of the same networks). Extrapolated (a line fitted over
# {glue:text}`budget_span`× of compute, read beyond it: an estimate, not a measurement), +1.5 dB on big
# would take the dead-leaves arm {glue:text}`reach_gain_dl`, and the natural arm
# {glue:text}`reach_gain_nat` ({download}`tables/03_steps_to_1p5db.csv`). Does the dead-leaves arm
# catch up as compute grows? Paired photo by photo, natural minus dead leaves on big blur is
# {glue:text}`gap_fewest` at {glue:text}`fewest_steps` steps and {glue:text}`gap_most` at
# {glue:text}`most_steps` ({download}`tables/03_compute_scaling_gap.csv`, every family and budget).
#
# ### Longer runs
#
# The line above reads beyond the budgets it was fitted on; longer runs measure instead. Each is
# tested on both kinds of test images, its own kind (solid) and the other (dashed), with the same
# kernels as the table above.

# %% tags=["remove-output", "hide-input"]
long = deblurring.long_runs(chapter, motion, bench)  # read, never trained here
chapter.save_tables(long.tables("03_"))
chapter.publish("fig_long", figures.long_runs_figure(long.table), "03_long_runs.png")
chapter.glue(**scaling.long_runs_reading(long, {"dead leaves": "dl", "natural": "nat"}))

# %% [markdown]
# ```{glue:figure} fig_long
# :alt: PSNR gain over the blurred input against training steps for one network per arm trained 8 times longer
# :name: fig-long-runs
#
# PSNR gain over the blurred input against training steps (log scale), per family, for the longer
# runs (one network per arm): on its own kind of test images (solid) and on the other kind (dashed),
# 95 % intervals over images and kernels
# ({download}`tables/03_long_runs.csv`). Dashed grey: +1.0 dB.
# ```
#
# {glue:text}`long_what`
# Small / mild / big blur, at the chapter's steps (1×) and at the most: the dead-leaves network gains
# {glue:text}`long_dl_on_dl` on dead leaves and {glue:text}`long_dl_on_nat` on natural photos; the
# natural network {glue:text}`long_nat_on_nat` on natural photos and {glue:text}`long_nat_on_dl` on
# dead leaves. From the chapter's steps to the most, for the dead-leaves network
# {glue:text}`long_trend_dl`; for the natural one {glue:text}`long_trend_nat` (one network per arm:
# a trend, not a verdict). Not read: {glue:md}`long_unread`.
#
# ## Small, mild and big blur on one photo

# %% tags=["remove-output", "hide-input"]
first, grid = deblurring.family_grid(chapter, bench, shown)  # the first photo no run 0 saw
chapter.publish("fig_grid", grid, "03_deblur_grid.png")
chapter.glue(first_photo=first, grid_kernel=config.grid_kernel)

# %% [markdown]
# ```{glue:figure} fig_grid
# :alt: Photo crops under small, mild and big blur, restored by each network and by Richardson-Lucy
# :name: fig-deblur-grid
#
# A {glue:text}`first_photo` crop blurred by kernel {glue:text}`grid_kernel` of each family's
# bank (columns) plus noise σ = {glue:text}`test_sigma`/255; rows: the blurred input, the
# dead-leaves-trained and the natural-trained network's restorations, each with its PSNR.
# ```
#
# ## Does the dead-leaves network always try to deblur?
#
# One point per bank kernel: the PSNR gain over the blurred input (mean over the natural test
# images) against the kernel's RMS radius, the statistic that defines the families.

# %% tags=["remove-output", "hide-input"]
per_kernel = study.gain_by_kernel(natural_rows)
chapter.save_table(per_kernel.reset_index(), "03_gain_vs_radius.csv")
chapter.publish("fig_gain", figures.gain_vs_radius_figure(per_kernel, blind=list(models)),
                "03_gain_vs_radius.png")
chapter.glue(**readings.crossing_reading(per_kernel.drop(columns=list(bench.anchors))))

# %% [markdown]
# ```{glue:figure} fig_gain
# :alt: PSNR gain over the blurred input against the kernel's RMS radius, one line per method
# :name: fig-gain-vs-radius
#
# PSNR gain over the blurred input per bank kernel (natural test photos) against the kernel's
# RMS radius; grey bands mark the small, mild and big families. Below the black line a method
# makes the image worse than it was. Share of kernels below the line: {glue:text}`crossing`.
# ```
#
# ## Gaussian blur
#
# The same question for anisotropic Gaussian blur (per-axis σ in
# {glue:text}`gaussian_blur_sigma` px, any orientation), tested on the fixed Gaussian bank.

# %% tags=["hide-input"]
pair = deblurring.gaussian_pair(chapter, gaussian, bench)
chapter.save_tables(pair.tables("03_"))
chapter.glue(**readings.gaussian_reading(pair.rows))
tables.styled(pair.table, "Deblurring the Gaussian bank (natural test photos)")

# %% [markdown]
# On the Gaussian bank, the PSNR change over the blurred input is {glue:text}`gaussian_gain_dl`
# for the dead-leaves-trained network and {glue:text}`gaussian_gain_nat` for the
# natural-trained one, paired per photo; natural minus dead leaves, {glue:text}`gaussian_gap`
# (a negative change: the network made the blurred photos worse;
# {download}`tables/03_gaussian_table.csv`; the first {glue:text}`n_kernels` kernels of the Gaussian bank;
# this pair trained for {glue:text}`gaussian_steps` steps).
#
# ## Inspecting one kernel
#
# The blur inspector with both motion-deblurring networks: pick a photo, a family and a kernel
# of its bank (or a Gaussian, or no blur), the noise and the crop; each network's restoration
# and PSNR update live in JupyterLab. The static figure below is its default state at the
# grid's big kernel; the player after it steps through the first, middle and last kernel of each
# family.

# %% tags=["remove-output", "hide-input"]
chapter.publish("fig_inspector", widgets.inspect_blur(
    bench.photos[first], blur_kind="big", index=config.grid_kernel, noise=config.sigma,
    crop=config.zoom, models=shown, seed=config.seed)[0], "03_inspector_big.png")

# %% [markdown]
# ```{glue:figure} fig_inspector
# :alt: A photo crop under a big motion kernel, each network's restoration, the kernel and the sharp crop
# :name: fig-deblur-inspector
#
# The blur inspector's default state: big kernel {glue:text}`grid_kernel`, both networks, the
# kernel and the sharp crop.
# ```

# %% tags=["hide-input"]
display(widgets.blur_inspector(bench.figure_photos, shown)
        if chapter.live_widgets else widgets.player(widgets.blur_tour(
            bench.photos[first], shown, noise=config.sigma, crop=config.zoom, seed=config.seed)))

# %% [markdown]
# ## Real camera shake
#
# Every blur above was made by this project: a kernel of a family's bank, convolved, plus noise. Recorded
# blur, a camera's shake over a real exposure, is the test that matters for practice.

# %% tags=["hide-input"]
real = deblurring.real_blur(chapter, models)  # empty where the profile names no pairs
chapter.save_tables(real.tables("03_"))
chapter.glue(**readings.real_blur_reading(real.rows, real.source))
tables.styled(real.table, "Recorded blur: PSNR gain (dB)") if real.rows is not None else None

# %% [markdown]
# {glue:md}`real_blur`
#
# ## Next to the published study
#
# The original study reports, on DIV2K validation images, PSNR / SSIM / LPIPS of NAFNets
# trained on dead leaves and on DIV2K for each motion-blur family. Ours differ in scale and in
# kernels: a NAFNet of width 16 with one block per level (theirs: width 64 with 28 blocks at the
# lowest level) trained for minutes on a CPU on small crops, each natural network on a few
# scikit-image photos instead of 800 DIV2K images, tested on photos it never saw; our families are defined by
# the kernel's RMS radius on deepinv trajectories and our banks are seeded by this project (the
# study loaded its kernels from a file we do not have). The absolute numbers are not
# comparable; the *pattern* across families is the quantity to read.

# %% tags=["hide-input"]
comparison = chapter.save_table(published.deblur_comparison(
    natural_rows, list(models), source=chapter.ours), "03_published_comparison.csv")
agreement = chapter.save_table(published.published_deblur_agreement(comparison, gap),
                               "03_published_agreement.csv")
chapter.glue(**published.deblur_agreement_reading(agreement))
tables.styled(agreement, "The original study's gap natural - dead leaves and ours (dB)")

# %% [markdown]
# The natural-trained network's PSNR minus the dead-leaves-trained one's, published, set
# against our paired interval for the same family: small {glue:text}`published_small`, mild
# {glue:text}`published_mild`, big {glue:text}`published_big` (ours: {glue:text}`gap_small`,
# {glue:text}`gap_mild` and {glue:text}`gap_big`; {download}`tables/03_published_agreement.csv`). Inside
# means the two agree within what our photos and networks can tell; outside, they do not:
# {glue:text}`published_disagreement` The published gap shrinks from small to big blur. {glue:text}`deblur_reading`
# The full table, SSIM, LPIPS and ST-LPIPS included, is {download}`tables/03_published_comparison.csv`.
#
# (recipe-trials)=
# ## Appendix: the training recipe
#
# The networks above are not the first this chapter trained. Its first recipe (Adam, L1 loss,
# from scratch, {glue:text}`recipe_baseline` in the profile) left the blind networks barely above
# their inputs, their validation PSNR still rising. Each trial below changes one lever against
# the line it derives from ("Change", read off the trial's configuration against the
# baseline's), trains one network (run 0) from a shell (`python -m rstor_core train --experiment
# <trial>`; a book run, even a fresh one, only reads them), is scored on selection images for the
# choice and, after it, on the photos none of them saw with the banks above. The CSV's `minutes`:
# its training's wall time from its log (on a machine shared with other work now and then: a rough
# cost); "Validation gain": its last validation PSNR over its blurred validation inputs (dead-leaves trials validate on dead leaves, natural
# ones on photo crops, held back from training in `recipe_natural_warm`: compare within an arm).

# %% tags=["hide-input"]
trials = deblurring.recipe_trials(chapter, motion, results, bench)  # never trained here
chapter.save_tables(trials.tables("03_"))
chapter.glue(**recipes.trials_reading(trials, arm_names))
tables.show(trials.table, "Recipe trials, one network each", ["trial"], recipes.TRIAL_TABLE_PARTS)

# %% [markdown]
# {glue:text}`n_trials` trials ({download}`tables/03_recipe_trials.csv`). The choice reads only the
# gains on selection images: each trial's gain over the blurred input on images that no chapter tests on
# and no run trains on, each arm on its own kind: for the dead-leaves trials,
# {glue:text}`selection_dead_leaves`; for the natural ones, {glue:text}`selection_natural`; each
# blurred by a kernel drawn afresh from the family (never a test bank's) plus the test noise. The
# rule: within an arm, the largest gain on big blur among the trials that do no harm on mild blur.
# It picks {glue:text}`chosen_gain_dl` for the dead-leaves arm and {glue:text}`chosen_gain_nat` for
# the natural one; the chapter's networks differ from their arm's choice in
# {glue:text}`chosen_differs_gain_dl` (dead leaves) and {glue:text}`chosen_differs_gain_nat`
# (natural). An earlier version of this chapter chose on two of its test photos (chelsea and
# coffee) and trained with a curriculum over the families (`recipe_warm_curriculum`); chosen on the
# selection images, the curriculum is left out. One network each: the networks of this chapter's
# dead-leaves arm, one recipe and other seeds, differ by {glue:text}`run_spread_big:.2f` dB on big
# blur, so a smaller difference between two trials is not evidence, and most differences between
# the trials are smaller. Below the baseline on big blur (selection images):
# {glue:text}`below_baseline_big`. Worse than the blurred input on mild blur:
# {glue:text}`harm_mild`. The gains on test photos are on {glue:text}`trial_photos`,
# photos none of the trials saw: shown after the choice, never read by it. Not in the table:
# {glue:md}`untrained`.
#
# The chapter's networks take their arm's chosen levers at a constant learning rate (the
# compute-scaling figure needs it; `recipe_warm_constant` against `recipe_warm` is that change
# alone, on dead leaves), for fewer steps than the trials: the chapter's fresh run must fit in an
# hour on a 2-core CPU, and the scaling figure above prices the steps left out. Against the first recipe
# they change {glue:text}`main_changes`. With its three networks per arm, on every test photo,
# the chapter's networks minus the first recipe's (fewer steps included):

# %% tags=["hide-input"]
change, unread = deblurring.first_recipe_change(chapter, motion, results, bench)
chapter.save_table(change, "03_recipe_change.csv")
chapter.glue(**recipes.change_reading(change, unread, arm_names))
tables.styled(change, "The chapter's recipe minus the first, paired per photo (PSNR, dB)")

# %% [markdown]
# Dead leaves: {glue:text}`change_gain_dl_mild` on mild blur and {glue:text}`change_gain_dl_big` on
# big; natural: {glue:text}`change_gain_nat_mild` and {glue:text}`change_gain_nat_big`
# ({download}`tables/03_recipe_change.csv`; not read: {glue:md}`change_unread`). Training
# throughput on this CPU (`torch.compile`, `channels_last`, threads, a loader worker) is measured,
# way against way in one run, by `benchmarks/train_throughput.py`; the profile compiles the steps.
