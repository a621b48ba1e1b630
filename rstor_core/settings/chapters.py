"""One section per chapter of the book, and the :class:`Profile` that holds them with the experiments
they name.

A section lists a chapter's knobs (its parameters cell shows the same names with the ``quick`` values);
fields that name experiments are marked (``experiment``, ``arms``, ``trials``, ``snapshots_of``: :func:`knob`), so a
profile is checked for references to weights it does not train before any chapter runs.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rstor_core.settings.configs import (BANK_SIZE, DECONVOLUTIONS, MAX_RUNS, DeadLeavesConfig, ExperimentConfig,
                                         lineage_of, reference_problem, split_reference)
from rstor_core.settings.knobs import ConfigError, as_tuples, check_bounds, knob, mapping_to


def experiment_fields(config: Any) -> dict[str, str]:
    """``{key: experiment reference}`` for the fields of a chapter section that name an experiment: the field's
    name, or ``field.label`` for each arm of an ``arms`` field."""
    fields = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("experiment"):
            fields[f.name] = getattr(config, f.name)
        elif f.metadata.get("arms"):
            fields.update({f"{f.name}.{label}": ref for label, ref in getattr(config, f.name).items()})
    return fields


def unnamed_arms(config: Any) -> list[str]:
    """The ``arms`` fields of a chapter section that name no network: a chapter that compares arms refuses
    to run without them (they have no default: which networks to compare is the profile's to say)."""
    return [f.name for f in dataclasses.fields(config) if f.metadata.get("arms") and not getattr(config, f.name)]


def sections_naming(name: str) -> dict[str, dict[str, Any]]:
    """Every chapter section with each experiment reference set to ``name``, no arms and no read-only evidence
    (recipe trials, scaling snapshots): the sections of the smallest profile that defines one experiment
    (the chapters that compare arms do not run on it: :func:`unnamed_arms`)."""
    def naming(f: dataclasses.Field, default: Any) -> Any:
        if f.metadata.get("arms"):
            return {}  # a chapter that compares arms is not run by such a profile
        return [] if f.metadata.get("trials") or f.metadata.get("snapshots_of") else name

    return {key: {f.name: naming(f, getattr(section(), f.name)) for f in dataclasses.fields(section)
                  if {"experiment", "arms", "trials", "snapshots_of"} & set(f.metadata)}
            for key, section in CHAPTER_SECTIONS.values()}


# --- one section per chapter of the book ---------------------------------------------------------

@dataclass(frozen=True)
class DataGenerationConfig:
    """Chapter 01: gallery, radius law and power spectra of dead leaves vs natural photos."""

    seed: int = knob(0, ge=0)
    size: int = knob(256, ge=8, le=8192)  # side of the gallery and spectrum images, pixels
    n_gallery: int = knob(6, ge=1, le=64)
    # Radii drawn for the histogram and the KS test (paper: 1M). Each costs 8 bytes in several
    # float64 arrays (uniforms, radii, the KS test's sort): 10M took ~6 s and ~1 GB at peak on a
    # 2-core machine; 1e14 would exhaust memory, and the histogram and the KS test stop changing long before.
    n_radii: int = knob(200_000, ge=100, le=10_000_000)
    n_spectrum: int = knob(16, ge=1, le=1024)  # dead-leaves images averaged in the spectrum
    natural_images: str = knob("skimage", source=True)  # "skimage" (bundled photos) or a folder of images
    showcase_size: int = knob(192, ge=16, le=2048)  # side of the per-primitive / per-sampler galleries
    showcase_r_min: float = knob(4.0, gt=0.0)  # galleries: leaves big enough to see their shape and look
    zoom: int = knob(48, ge=8, le=512)  # side of the crop that shows anti-aliasing
    benchmark_sizes: tuple[int, ...] = knob((128, 256), ge=16, le=4096)
    benchmark_batch: int = knob(4, ge=1, le=256)
    benchmark_repeats: int = knob(2, ge=1, le=20)
    benchmark_naive_max_size: int = knob(256, ge=16, le=4096)  # the naive kernel is slow: skip larger sizes
    n_kernel_draws: int = knob(2000, ge=10, le=1_000_000)  # on-the-fly motion kernels in the histogram
    example_crop: int = knob(128, ge=32, le=1024)  # side of the degraded-example crops
    dead_leaves: DeadLeavesConfig = field(default_factory=DeadLeavesConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dead_leaves", mapping_to(DeadLeavesConfig, self.dead_leaves))
        as_tuples(self, "benchmark_sizes")
        check_bounds(self)


@dataclass(frozen=True)
class DenoiseStudyConfig:
    """Chapter 02: the three denoisers, their evaluation on natural photos each never saw, BM3D."""

    seed: int = knob(0, ge=0)
    dead_leaves_experiment: str = knob("denoise_dead_leaves", experiment=True)  # names under `experiments`
    primitives_experiment: str = knob("denoise_primitives", experiment=True)
    natural_experiment: str = knob("denoise_natural", experiment=True)
    runs: int = knob(3, ge=1, le=MAX_RUNS)  # networks per arm (runs 0 .. runs - 1): 3 give an interval
    test_images: str = knob("skimage", source=True)  # "skimage" (the five bundled photos), a public set or a folder
    n_images: int | None = knob(None, ge=1)  # first N test images (None: all)
    eval_size: int | None = knob(256, ge=16)  # centre crop side for evaluation (None: whole images)
    sigmas: tuple[float, ...] = knob((2.0, 5.0, 10.0, 15.0, 25.0, 35.0, 50.0), ge=0.0, le=255.0)
    table_sigmas: tuple[float, ...] = knob((15.0, 25.0, 50.0), ge=0.0, le=255.0)
    bm3d: bool = True  # the classical anchor at table_sigmas (slow: ~10 s per image and sigma here)
    lpips: bool = True  # NaN with a note when the AlexNet weights are missing
    zoom: int = knob(128, ge=16)  # crop side of the qualitative figure

    def __post_init__(self) -> None:
        as_tuples(self, "sigmas", "table_sigmas")
        check_bounds(self)
        if not set(self.table_sigmas) <= set(self.sigmas):
            raise ConfigError("table_sigmas", f"must be among sigmas {self.sigmas}, got {self.table_sigmas}")
        if 25.0 not in self.sigmas:
            raise ConfigError("sigmas", f"must include 25 (the headline gap and the qualitative figure), "
                              f"got {self.sigmas}")


@dataclass(frozen=True)
class DeblurStudyConfig:
    """Chapter 03: blind motion deblurring (dead leaves vs natural training) on the fixed kernel
    banks of each family, a Gaussian pair, and a non-blind deconvolution told the true kernel."""

    seed: int = knob(0, ge=0)
    # The compared networks, {label: experiment}: trained on dead leaves, then on natural photos (each
    # label names the kind of test images that is the arm's own), for motion blur and for Gaussian blur.
    # Arms have no default here: which networks a chapter compares is the profile's to say.
    motion_arms: dict[str, str] = knob(default_factory=dict, arms=True)
    gaussian_arms: dict[str, str] = knob(default_factory=dict, arms=True)
    runs: int = knob(3, ge=1, le=MAX_RUNS)  # networks per arm (runs 0 .. runs - 1): 3 give an interval
    test_images: str = knob("skimage", source=True)  # "skimage" (the five bundled photos), a public set or a folder
    n_images: int | None = knob(None, ge=1)  # first N test images (None: all)
    eval_size: int | None = knob(256, ge=32)  # centre crop side for evaluation (None: whole images)
    n_kernels: int = knob(6, ge=1, le=BANK_SIZE)  # first N kernels of each bank (the mean is over them)
    sigma: float = knob(1.0, ge=0.0, le=255.0)  # test noise, /255 (a camera's, not a denoising task's)
    n_dead_leaves: int = knob(8, ge=1, le=1024)  # images of the dead-leaves test set (the in-distribution check)
    dead_leaves_size: int = knob(256, ge=32, le=4096)
    # Recorded blur: "" (none), "kohler" (Köhler et al.'s camera shake, fetched once) or a folder of
    # blurred/NAME.png beside sharp/NAME.png; the motion arms are scored on its pairs (eval_size crops).
    real_pairs: str = knob("", pairs=True)
    classical: str = knob("richardson_lucy", choices=(*DECONVOLUTIONS, "none"))  # non-blind, knows the kernel
    rl_iterations: int = knob(30, ge=1, le=1000)
    wiener_balance: float = knob(0.01, gt=0.0)
    lpips: bool = True  # NaN with a note when the AlexNet weights are missing
    grid_kernel: int = knob(0, ge=0, le=BANK_SIZE - 1)  # bank index of each family in the 3 x 3 grid figure
    zoom: int = knob(192, ge=16)  # crop side of the grid figure and the inspector
    # The recipe table: one network (run 0) of each of these experiments, read from its weights and log and
    # never trained here (`python -m rstor_core train --experiment ...`); the first is the baseline.
    recipe_trials: tuple[str, ...] = knob(("recipe_baseline", "recipe_nafnet", "recipe_warm", "recipe_warm_constant",
                                           "recipe_warm_identity", "recipe_warm_curriculum", "recipe_wide",
                                           "recipe_natural_baseline", "recipe_natural_warm"), trials=True)
    # The first recipe's experiments, dead leaves then natural: their `runs` networks against the chapter's
    # (read from their weights, never trained here); () leaves that comparison out.
    first_recipe: tuple[str, ...] = knob(("recipe_baseline", "recipe_natural_baseline"), trials=True)
    # Compute scaling: each arm's networks at these steps (weights they keep: a constant lr makes them
    # shorter runs) beside their final weights; () leaves the figure out.
    scaling_steps: tuple[int, ...] = knob((200, 400, 800), ge=1,
                                          snapshots_of=("motion_arms",))
    # Longer runs: run 0 of one experiment per arm, dead leaves then natural, at each step it keeps (read from
    # its weights, never trained here: `python -m rstor_core train --experiment ...`); () leaves them out.
    long_runs: tuple[str, ...] = knob(("deblur_dead_leaves_long", "deblur_natural_long"), trials=True)

    def __post_init__(self) -> None:
        as_tuples(self, "recipe_trials", "first_recipe", "scaling_steps", "long_runs")
        check_bounds(self)
        for key in ("motion_arms", "gaussian_arms"):  # the labels name the chapter's two test sets
            if getattr(self, key) and list(getattr(self, key)) != ["dead leaves", "natural"]:
                raise ConfigError(key, f"needs the arms 'dead leaves' then 'natural', got {list(getattr(self, key))}")
        if self.grid_kernel >= self.n_kernels:
            raise ConfigError("grid_kernel", f"must be < n_kernels ({self.n_kernels}), got {self.grid_kernel}")


@dataclass(frozen=True)
class CrossValidationConfig:
    """Chapter 04: dead-leaves-trained vs natural-trained denoisers on both kinds of test images."""

    seed: int = knob(0, ge=0)
    dead_leaves_experiment: str = knob("denoise_dead_leaves", experiment=True)
    natural_experiment: str = knob("denoise_natural", experiment=True)
    runs: int = knob(3, ge=1, le=MAX_RUNS)  # networks per arm (runs 0 .. runs - 1): 3 give an interval
    test_images: str = knob("skimage", source=True)
    n_images: int | None = knob(None, ge=1)
    eval_size: int | None = knob(256, ge=16)  # centre crop side, as chapter 02's: the same photos give the same numbers
    n_dead_leaves: int = knob(8, ge=1, le=1024)  # images of the dead-leaves test set (a stream apart from training)
    dead_leaves_size: int = knob(256, ge=16, le=4096)
    sigmas: tuple[float, ...] = knob((25.0, 50.0), ge=0.0, le=255.0)  # the prose quotes the first

    def __post_init__(self) -> None:
        as_tuples(self, "sigmas")
        check_bounds(self)
        if not self.sigmas:
            raise ConfigError("sigmas", "needs at least one noise level")


@dataclass(frozen=True)
class GapStudyConfig:
    """Chapter 05: which dead-leaves features close the gap to natural training (a denoising ablation on one
    network, steps and seeds), and what dead-leaves pre-training buys before natural fine-tuning."""

    seed: int = knob(0, ge=0)
    runs: int = knob(3, ge=1, le=MAX_RUNS)  # networks per arm (runs 0 .. runs - 1): 3 give an interval
    # The compared networks, {label: experiment} ("name@step": an experiment's weights at that step, one of its
    # snapshots); a new arm is a line of the profile (arms have no default here: which networks a chapter
    # compares is the profile's to say). The ablation: flat uniform discs first (the baseline), each variant,
    # the natural-trained reference last, all at the same steps.
    ablation_arms: dict[str, str] = knob(default_factory=dict, arms=True)
    # Pre-training then fine-tuning (init_from), against dead-leaves-only and natural-only training of the
    # same total steps, in this order: dead leaves, natural, pre-trained then fine-tuned, fine-tuned on one
    # photo (denoising); dead leaves, natural, pre-trained then fine-tuned (blind deblurring).
    pretraining_arms: dict[str, str] = knob(default_factory=dict, arms=True)
    deblur_arms: dict[str, str] = knob(default_factory=dict, arms=True)
    test_images: str = knob("skimage", source=True)  # "skimage" (the five bundled photos), a public set or a folder
    n_images: int | None = knob(None, ge=1)  # first N test images (None: all)
    eval_size: int | None = knob(256, ge=32)  # centre crop side, as chapters 02-04 (None: whole images)
    sigmas: tuple[float, ...] = knob((25.0, 50.0), ge=0.0, le=255.0)  # the ablation's noise levels
    n_kernels: int = knob(6, ge=1, le=BANK_SIZE)  # deblurring: first N kernels of each family's bank
    blur_sigma: float = knob(1.0, ge=0.0, le=255.0)  # deblurring: test noise, /255, as chapter 03

    def __post_init__(self) -> None:
        as_tuples(self, "sigmas")
        check_bounds(self)
        if not self.sigmas:
            raise ConfigError("sigmas", "needs at least one noise level")
        roles = {"ablation_arms": "the baseline first, at least one variant, the natural reference last",
                 "pretraining_arms": "dead leaves, natural, pre-trained then fine-tuned, fine-tuned on one photo",
                 "deblur_arms": "dead leaves, natural, pre-trained then fine-tuned"}
        sizes = {"ablation_arms": (3, None), "pretraining_arms": (4, 4), "deblur_arms": (3, 3)}
        for key, (low, high) in sizes.items():
            arms = getattr(self, key)
            if arms and (len(arms) < low or (high and len(arms) > high)):
                raise ConfigError(key, f"needs {low if high else f'at least {low}'} arms ({roles[key]}), "
                                       f"got {list(arms)}")
        if self.deblur_arms and list(self.deblur_arms) != list(self.pretraining_arms)[:3]:
            raise ConfigError("deblur_arms", f"needs the labels of the first three pretraining_arms, "
                                             f"{list(self.pretraining_arms)[:3]}, got {list(self.deblur_arms)}")

# Chapter notebook (as named in _toc.yml) -> its section of a profile and the section's config.
CHAPTER_SECTIONS = {"01_data_generation": ("data_generation", DataGenerationConfig),
                    "02_denoise_study": ("denoise_study", DenoiseStudyConfig),
                    "03_deblur_study": ("deblur_study", DeblurStudyConfig),
                    "04_cross_validation": ("cross_validation", CrossValidationConfig),
                    "05_closing_the_gap": ("gap_study", GapStudyConfig)}


@dataclass(frozen=True)
class Profile:
    """A validated profile (:func:`rstor_core.settings.profiles.load_profile`): which file, its hash, one
    config per chapter, and the training experiments the chapters name."""

    name: str
    path: Path
    sha256: str
    data_generation: DataGenerationConfig = field(default_factory=DataGenerationConfig)
    denoise_study: DenoiseStudyConfig = field(default_factory=DenoiseStudyConfig)
    deblur_study: DeblurStudyConfig = field(default_factory=DeblurStudyConfig)
    cross_validation: CrossValidationConfig = field(default_factory=CrossValidationConfig)
    gap_study: GapStudyConfig = field(default_factory=GapStudyConfig)
    experiments: dict[str, ExperimentConfig] = field(default_factory=dict)  # trained by `rstor_core train`

    def __post_init__(self) -> None:
        for key, _ in CHAPTER_SECTIONS.values():
            for name, problem in unknown_experiments(getattr(self, key), self.experiments).items():
                raise ConfigError(f"{key}.{name}", problem)
        for name in self.experiments:
            lineage_of(self.experiments, name)
        for name, experiment in self.experiments.items():
            if experiment.run:  # one experiment, one folder of runs: the others are chosen where they train
                raise ConfigError(f"experiments.{name}.run", f"must be 0 in a profile, got {experiment.run}: a "
                                  "chapter's `runs` and `python -m rstor_core train --run R` choose the other runs")

    def section(self, chapter: str) -> Any:
        """The config of a chapter of the toc, e.g. ``"01_data_generation"``."""
        if chapter not in CHAPTER_SECTIONS:
            raise KeyError(f"chapter {chapter!r} has no profile section; known: {sorted(CHAPTER_SECTIONS)}")
        return getattr(self, CHAPTER_SECTIONS[chapter][0])

    def chapter_experiments(self, chapter: str) -> set[str]:
        """The experiments a chapter trains (or loads): those its section names and those they start
        from (:meth:`lineage`), which train first. Only names the profile defines."""
        names = {split_reference(ref)[0] for ref in experiment_fields(self.section(chapter)).values()}
        return {parent for name in names & set(self.experiments) for parent in self.lineage(name)}

    def lineage(self, name: str) -> list[str]:
        """Experiment ``name`` after those it starts from (``init_from``, recursively), oldest first:
        the order they train in."""
        return lineage_of(self.experiments, name)


def unknown_experiments(section: Any, experiments: typing.Mapping[str, ExperimentConfig]) -> dict[str, str]:
    """``{field: problem}`` for the experiment references of ``section`` that name no weights ``experiments``
    train (:func:`reference_problem`); none when it defines no experiment at all (a profile without
    training runs: its chapters reuse saved weights)."""
    if not experiments:
        return {}
    problems = {key: reference_problem(ref, experiments) for key, ref in experiment_fields(section).items()}
    for f in dataclasses.fields(section):
        if f.metadata.get("trials"):
            problems.update({f"{f.name}[{i}]": reference_problem(name, experiments)
                             for i, name in enumerate(getattr(section, f.name))})
        for other in f.metadata.get("snapshots_of", ()):
            named = getattr(section, other)  # an experiment, or arms: {label: experiment}
            for where, reference in (named.items() if isinstance(named, dict) else [(other, named)]):
                where = f"{other}.{where}" if isinstance(named, dict) else other
                problems.update({f"{f.name}[{i}] of {where}": reference_problem(f"{reference}@{step}", experiments)
                                 for i, step in enumerate(getattr(section, f.name))})
    return {key: problem for key, problem in problems.items() if problem is not None}
