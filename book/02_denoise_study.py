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
# # Denoising: dead leaves against natural photos
#
# Does NAFNet trained **only on dead leaves** denoise photographs, and how far is it from the
# same network trained on photographs? Three networks of the same architecture, trained for the
# same number of steps from the same seed, on blind additive white Gaussian noise with
# σ ~ U(0, 50)/255 drawn per image:
#
# - **dead leaves (discs)**: the original study's flat uniform-colour discs;
# - **dead leaves + primitives**: the extended generator of chapter 01 (ellipses, squares,
#   rectangles, diamonds, polygons, bars; gradients and textures);
# - **natural**: crops of the natural training photos (by default scikit-image's train split;
#   the `paper` profile points at DIV2K).
#
# They are tested on the natural test split, never seen in training, next to **BM3D**, the
# classical denoiser a practitioner would use without any training (told the true σ).

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the runner injects the chosen profile, its section below, and where outputs go
output_dir = "outputs/quick"
fresh = False  # True: retrain instead of reusing the saved weights
live_widgets = True  # JupyterLab; the runner sets False (batch runs show a static figure instead)
device = None  # None: cuda when available
staging_dir = None  # the runner's: figures and tables wait there until every cell has run
seed = 0
dead_leaves_experiment = "denoise_dead_leaves"
primitives_experiment = "denoise_primitives"
natural_experiment = "denoise_natural"
runs = 1  # networks trained per experiment (independent draws; natural ones on other folds of the photos)
test_images = "skimage"
n_images = None
eval_size = None
sigmas = [2.0, 5.0, 10.0, 15.0, 25.0, 35.0, 50.0]
table_sigmas = [15.0, 25.0, 50.0]
bm3d = True
lpips = True
zoom = 128

# %%
from IPython.display import display

from rstor_core import figures, study
from rstor_core.chapter import open_chapter
from rstor_core.evaluate import INPUT, Degradation, bm3d_denoiser, degradation_grid, evaluate
from rstor_core.models import count_parameters
from rstor_core.photos import test_photos
from rstor_core.widgets import denoiser_comparison, inspect_blur

chapter = open_chapter("02_denoise_study", globals())
config = chapter.config
arms = {"dead leaves (discs)": config.dead_leaves_experiment, "dead leaves + primitives": config.primitives_experiment,
        "natural": config.natural_experiment}

# %% [markdown]
# ## Training
#
# Each experiment trains once (`python -m rstor_core train` does the same from a shell) and is
# skipped when its weights are already in `outputs/<profile>/checkpoints/`: `make book` reuses
# the committed weights of the `quick` profile, `make book FRESH=1` retrains them.

# %% tags=["remove-output"]
models = {label: chapter.trained_model(name) for label, name in arms.items()}
trained = chapter.experiment(config.dead_leaves_experiment)
chapter.glue(steps=trained.steps, batch=trained.batch_size, crop=trained.crop,
             parameters=f"{count_parameters(models['natural']):,}")

# %% tags=["remove-output"]
curves = chapter.save_table(chapter.training_curves(arms), "02_training_curves.csv")
chapter.publish("fig_curves", figures.training_curves_figure(curves), "02_training_curves.png")

# %% [markdown]
# ```{glue:figure} fig_curves
# :name: fig-curves
#
# Training loss and validation PSNR of the three networks ({glue:text}`steps` steps of
# {glue:text}`batch` crops of {glue:text}`crop` × {glue:text}`crop` pixels; NAFNet with
# {glue:text}`parameters` parameters). Each validation set comes from the network's own training
# distribution, so the PSNR levels are not comparable across networks: the tables below are.
# ```
#
# ## Natural test photos
#
# Every model sees the same noisy images (the noise of each image and σ is drawn once from the
# seed). PSNR and SSIM are computed on the whole image, data range 1.

# %%
photos = test_photos(config.test_images)
classical = {"BM3D (knows σ)": bm3d_denoiser(config.table_sigmas)} if config.bm3d else None
results = evaluate(models, photos, degradation_grid(config.sigmas), sizes=[config.eval_size], n_images=config.n_images,
                   seed=config.seed, test_set="natural", lpips=config.lpips, classical=classical, progress=False)
chapter.save_table(results, "02_denoise_natural.csv")
summary = study.metric_means(results, ["model", "sigma_255"]).reset_index()

# %% tags=["remove-output"]
chapter.publish("fig_vs_sigma", figures.metrics_vs_sigma_figure(summary), "02_psnr_ssim_vs_sigma.png")
chapter.glue(n_tested=results.image.nunique())

# %% [markdown]
# ```{glue:figure} fig_vs_sigma
# :name: fig-vs-sigma
#
# PSNR and SSIM against the noise level, mean over the {glue:text}`n_tested` natural test
# images; BM3D at the table's noise levels only (it takes about ten seconds per image here).
# ```

# %%
table = chapter.save_table(study.denoise_table(results, config.table_sigmas), "02_denoise_table.csv")
psnr25 = summary[summary.sigma_255 == 25].set_index("model").psnr
chapter.glue(gain_discs=float(psnr25["dead leaves (discs)"] - psnr25[INPUT]),
             gap25=float(psnr25["natural"] - psnr25["dead leaves (discs)"]),
             primitives_gain=float(psnr25["dead leaves + primitives"] - psnr25["dead leaves (discs)"]),
             lpips_note=results.lpips_note.iloc[0] or "computed")
table.round(3)

# %% [markdown]
# At σ = 25, the network trained on dead-leaves discs gains {glue:text}`gain_discs:.2f` dB
# over the noisy input on photographs it never saw anything like; the one trained on photos
# is {glue:text}`gap25:.2f` dB better still. The extra primitives change the dead-leaves
# network's PSNR by {glue:text}`primitives_gain:+.2f` dB. (Table `tables/02_denoise_table.csv`;
# mean over the test images; LPIPS: {glue:text}`lpips_note`.)
#
# ## A closer look at σ = 25

# %% tags=["remove-output"]
first = next(iter(photos))
bm3d25 = {"BM3D (knows σ)": lambda x: bm3d_denoiser()(x, Degradation("", 25.0))} if config.bm3d else {}
fig, _ = inspect_blur(photos[first], blur_kind="none", noise=25.0, crop=config.zoom, models={**models, **bm3d25},
                      seed=config.seed, show_kernel=False)
chapter.publish("fig_qualitative", fig, "02_qualitative_sigma25.png")
chapter.glue(first_photo=first)

# %% [markdown]
# ```{glue:figure} fig_qualitative
# :name: fig-qualitative
#
# A {glue:text}`first_photo` crop at σ = 25/255: noisy, each network, BM3D and the clean
# crop, with the PSNR of each on this crop. This is also the default state of the comparison
# widget below (live in JupyterLab: pick an image, slide σ).
# ```

# %% tags=["remove-output"]
if chapter.live_widgets:
    display(denoiser_comparison(photos, models, crop=config.zoom))

# %% [markdown]
# ## Next to the published study
#
# The original study tested a dead-leaves-trained and a DIV2K-trained NAFNet on DIV2K validation
# images; its numbers (`rstor_core/published_results.csv`, read off its figures) are next to ours
# below. Our `quick` numbers come from a much smaller setting: a NAFNet of width 16 with one block
# per level, trained for minutes on a laptop CPU, the natural network on crops of three
# scikit-image photos instead of the 800 DIV2K images, and tested on two other photos. The
# absolute PSNRs are not comparable; the *gap* between the two training sets is the quantity
# to read.

# %%
comparison = study.denoise_comparison(summary, dead_leaves="dead leaves (discs)", natural="natural",
                                      source=f"ours ({chapter.profile.name}, {config.test_images} test split)")
published = comparison[comparison.source == study.PUBLISHED_SOURCE].set_index("sigma_255")
chapter.glue(**{f"published_{arm}_{sigma:g}": float(published.loc[sigma, f"{arm}_db"])
                for sigma in published.index for arm in ("dead_leaves", "natural")})
chapter.save_table(comparison, "02_published_comparison.csv").round(2)

# %% [markdown]
# The published dead-leaves-trained NAFNet reaches {glue:text}`published_dead_leaves_25:.2f` dB
# against {glue:text}`published_natural_25:.2f` dB for the DIV2K-trained one at σ = 25
# ({glue:text}`published_dead_leaves_50:.2f` against {glue:text}`published_natural_50:.2f` at
# σ = 50); the `gap_db` column sets our gap beside theirs.
