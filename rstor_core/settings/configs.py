"""The typed configs of the library: dead leaves (shapes, looks, colours, named presets), the networks,
and a training experiment, with the references between experiments (``name@step``, ``init_from``).

Each is a frozen dataclass whose fields carry their bounds (:func:`~rstor_core.settings.knobs.knob`),
declared once next to the field; ``__post_init__`` coerces lists to tuples and checks values, so a bad
value is a :class:`~rstor_core.settings.knobs.ConfigError` naming the field wherever it comes from.
Configs do no I/O: whether a named folder exists is a property of the machine, not of the config, so
fields marked ``source=True`` are checked by :func:`rstor_core.images.sources.missing_sources` when the
data is about to be used (the ``paper`` profile names DIV2K folders that only some machines have).
The chapters' sections and the :class:`~rstor_core.settings.chapters.Profile` build on these.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rstor_core.settings.knobs import ConfigError, as_tuples, check_bounds, check_range_pair, knob, mapping_to

MAX_POLYGON_SIDES = 12
BANK_SIZE = 32  # kernels per fixed evaluation bank (rstor_core.degradation.degrade), addressed as "bank:index"
DECONVOLUTIONS = ("wiener", "richardson_lucy")  # non-blind anchors of chapter 03 (rstor_core.networks.evaluate)


def split_reference(reference: str, key: str = "experiment") -> tuple[str, int | None]:
    """``(name, step)`` of an experiment reference: ``name`` (its final weights, step ``None``) or
    ``name@step``, the weights it kept at ``step`` (its ``snapshots``): the network after that many
    steps of the same run, with no second run to train (a pre-training parent, an earlier budget)."""
    name, at, step = reference.partition("@")
    if not at:
        return name, None
    if not step.isdigit() or int(step) < 1:
        raise ConfigError(key, f"{reference!r}: expected 'experiment' or 'experiment@step' with a positive step")
    return name, int(step)


def reference_problem(reference: str, experiments: typing.Mapping[str, ExperimentConfig]) -> str | None:
    """Why ``reference`` names no weights a profile's ``experiments`` train (``None`` when it does)."""
    try:
        name, step = split_reference(reference)
    except ConfigError as err:
        return err.message
    if name not in experiments:
        return f"no experiment {name!r}; defined: {sorted(experiments)}"
    if step is not None and step not in experiments[name].kept_steps:
        return (f"experiment {name!r} keeps no weights at step {step}: add {step} to its snapshots, below its "
                f"{experiments[name].steps} steps (now {list(experiments[name].snapshots)}), or name its final "
                f"weights, {name!r}")
    return None


# --- configs of the library (one per generator / model / loop) -------------------------------

COLOUR_SAMPLERS = ("uniform", "grey", "saturated", "natural", "photo")  # photo: one photo's pixels per image
PALETTE_SAMPLERS = ("natural", "photo")  # the samplers that draw pixels of the palette's photos


class _Weights:
    """Mixing weights (non-negative, normalised when used); ``key`` names them in errors."""

    key: ClassVar[str]

    def __post_init__(self) -> None:
        check_bounds(self)
        if sum(dataclasses.astuple(self)) <= 0:
            raise ConfigError(self.key, f"weights must sum to a positive number, got {dataclasses.asdict(self)}")

    @classmethod
    def only(cls, name: str) -> Any:
        """All the weight on ``name`` (e.g. one primitive for a gallery)."""
        names = [f.name for f in dataclasses.fields(cls)]
        if name not in names:
            raise ValueError(f"unknown {cls.key} name {name!r}; allowed: {names}")
        return cls(**{n: float(n == name) for n in names})


@dataclass(frozen=True)
class ShapeWeights(_Weights):
    """Mixing weights of the leaf primitives (defaults: discs only, as the seed)."""

    key: ClassVar[str] = "shapes"
    disc: float = knob(1.0, ge=0.0)
    ellipse: float = knob(0.0, ge=0.0)
    square: float = knob(0.0, ge=0.0)
    rectangle: float = knob(0.0, ge=0.0)
    diamond: float = knob(0.0, ge=0.0)
    polygon: float = knob(0.0, ge=0.0)
    bar: float = knob(0.0, ge=0.0)


@dataclass(frozen=True)
class AppearanceWeights(_Weights):
    """Mixing weights of how a leaf is coloured: flat, two-colour gradient, or noise texture."""

    key: ClassVar[str] = "appearance"
    flat: float = knob(1.0, ge=0.0)
    gradient: float = knob(0.0, ge=0.0)
    texture: float = knob(0.0, ge=0.0)


@dataclass(frozen=True)
class DeadLeavesConfig:
    """Parameters of the dead-leaves model (chapter 01); ``dead_leaves(size, seed, **fields)``.

    Defaults: the simplest model, flat uniform-RGB discs, alpha = 3, r in [1, 2000], 30 leaves per pixel
    of side (the original study's live generator). Lengths are in output pixels, angles in degrees.
    A mapping may name a preset (:data:`DEAD_LEAVES_PRESETS`, :meth:`from_preset`).
    """

    # None: 30 x max(size), the original study's count (246k at the largest size). Each leaf costs a
    # few hundred bytes of arrays and is painted over its box: 2M is ~1 GB, more only exhausts memory.
    n_leaves: int | None = knob(None, ge=1, le=2_000_000)
    # n_leaves None: this many leaves per pixel of the longest side (of the reference image, below)
    leaf_density: float = knob(30.0, gt=0.0, le=1000.0)
    until_covered: bool = False  # keep drawing leaves until no background shows (exact model)
    alpha: float = knob(3.0, gt=1.0)  # radius law p(r) ~ r^-alpha; 3 is scale invariant (Lee et al.)
    r_min: float = knob(1.0, gt=0.0)
    r_max: float = knob(2000.0, gt=0.0)  # larger than the image, so a few leaves are huge
    # None: r_min and r_max are pixels; else the image is one of this side scaled to its own side: radii
    # scale, the leaf count does not (a preset written for 512-pixel images keeps its look on 64-pixel crops).
    radius_reference: int | None = knob(None, ge=1, le=65536)
    # None: the image is the whole scene; N: the image is a random window of an N-pixel scene at the same
    # pixel scale (as the original study cropped its stored 512-pixel images): leaves are drawn for the
    # scene, their count and radii in its pixels, and only the window is painted.
    window_of: int | None = knob(None, ge=1, le=65536)
    ds_factor: int = knob(1, ge=1, le=8)  # render ds_factor x larger, low-pass, decimate (1: aliased)
    # Gaussian sigma in rendered pixels; None: ds_factor / 2 (<= 4). The filter's kernel is 8 sigma
    # wide: a sigma of 1e9 allocates gigabytes for an image that 64 already blurs away.
    aa_sigma: float | None = knob(None, gt=0.0, le=64.0)
    shapes: ShapeWeights = field(default_factory=ShapeWeights)
    appearance: AppearanceWeights = field(default_factory=AppearanceWeights)
    colour: str = knob("uniform", choices=COLOUR_SAMPLERS)
    palette: str = knob("skimage", source=True)  # images the "natural" and "photo" samplers draw pixels from
    # With palette "skimage": only the photos run palette_run of a natural network trains on, never its
    # test fold (the trainer sets it to its own run); None: all five (galleries).
    palette_run: int | None = knob(None, ge=0)
    background: float | tuple[float, float, float] = knob(0.5, ge=0.0, le=1.0)  # grey, or RGB, where no leaf landed
    # The original study's stored files had red and blue swapped (an RGB array written with cv2.imwrite, read
    # back as RGB): True hands the channels over in that order, what its networks saw.
    swap_red_blue: bool = False
    anisotropy: tuple[float, float] = knob((0.3, 1.0), gt=0.0, le=1.0)  # minor/major axis ratio range
    angle: float | None = None  # None: uniform per leaf; else every leaf at this angle (degrees)
    polygon_sides: tuple[int, int] = knob((3, 8), ge=3, le=MAX_POLYGON_SIDES)
    bar_width: float = knob(0.15, gt=0.0, le=1.0)  # bar width as a fraction of its length
    texture_amplitude: float = knob(0.3, ge=0.0, le=1.0)
    texture_cells: int = knob(6, ge=2, le=32)  # noise lattice cells across a leaf

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", mapping_to(ShapeWeights, self.shapes))
        object.__setattr__(self, "appearance", mapping_to(AppearanceWeights, self.appearance))
        as_tuples(self, "anisotropy", "polygon_sides")
        check_bounds(self)
        if self.r_min >= self.r_max:
            raise ConfigError("r_min", f"must be < r_max, got r_min={self.r_min}, r_max={self.r_max}")
        if self.window_of is not None and self.radius_reference is not None:
            raise ConfigError("window_of", "a window of a scene keeps the scene's pixel scale: drop radius_reference "
                              f"({self.radius_reference}), which scales the scene to the image")
        if self.window_of is not None and self.until_covered:
            raise ConfigError("window_of", "until_covered covers a whole image, not a window of a scene: use one")
        check_range_pair(self, "anisotropy", "polygon_sides")
        if isinstance(self.background, (list, tuple)):
            if len(self.background) != 3:
                raise ConfigError("background", f"expected a grey level or 3 RGB values, got {self.background!r}")
            as_tuples(self, "background")

    @classmethod
    def expand(cls, values: typing.Mapping[str, Any]) -> dict[str, Any]:
        """A mapping with a ``preset`` key as the preset's values, updated with the other keys."""
        values = dict(values)
        if "preset" not in values:
            return values
        name = values.pop("preset")
        if name not in DEAD_LEAVES_PRESETS:
            raise ConfigError("preset", f"unknown preset {name!r}; known: {', '.join(DEAD_LEAVES_PRESETS)}")
        return {**DEAD_LEAVES_PRESETS[name], **values}

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DeadLeavesConfig:
        """The named preset (:data:`DEAD_LEAVES_PRESETS`) with ``overrides`` on top."""
        return cls(**cls.expand({"preset": name, **overrides}))


# Named generators. original_study: the stored training sets of the original study (its save_deadleaves
# script) as its networks were trained on them: 512-pixel images, each image's colours from the pixels of
# one photo, rendered 5x larger with 30 leaves per rendered pixel of side and radii 5-2000 rendered pixels
# (1-400 at 512 px), low-passed then decimated, on a (0.2, 0.4, 0.6) background, and a training crop a
# random window of one (window_of: the same pixel scale, not the scene shrunk to the crop). Its filter was
# meant as a Gaussian of sigma 3/5 rendered pixels; this is that Gaussian. Its files also had red and
# blue swapped (swap_red_blue: true reproduces it; the preset keeps RGB).
DEAD_LEAVES_PRESETS: dict[str, dict[str, Any]] = {
    "original_study": {"colour": "photo", "ds_factor": 5, "aa_sigma": 0.6, "leaf_density": 150.0,
                       "r_min": 1.0, "r_max": 400.0, "window_of": 512, "background": (0.2, 0.4, 0.6)},
}


MODEL_NAMES = ("nafnet", "unet", "stacked_conv")
MAX_POOL_BYTES = 4 * 2 ** 30  # a stored dead-leaves set is kept in memory (float32 RGB), per process
MAX_RUNS = 10  # independently trained networks per experiment (a chapter's `runs`)
BLUR_KINDS = ("none", "motion", "small", "mild", "big", "gaussian")  # "motion": all three families


@dataclass(frozen=True)
class NAFNetConfig:
    """NAFNet's size (constructor keywords as the official class); defaults: the quick CPU model."""

    # Upper bounds on sizes and counts: weights and activations grow with width² and with the block
    # count, so a typo (width: 64000) would exhaust memory when the model is built, not fail cleanly.
    img_channel: int = knob(3, ge=1, le=4)  # the study's images are RGB
    width: int = knob(16, ge=1, le=1024)  # channels at full resolution, doubled at each level (paper: 32 or 64)
    middle_blk_num: int = knob(1, ge=0, le=64)  # (paper, SIDD: 12)
    enc_blk_nums: tuple[int, ...] = knob((1, 1, 1), ge=0, le=64)  # blocks per encoder level (paper, SIDD: 2, 2, 4, 8)
    dec_blk_nums: tuple[int, ...] = knob((1, 1, 1), ge=0, le=64)
    # The feed-forward branch's width: null, twice the block's channels (the official block); N, N channels at
    # every level. The original study's block had 2, from a constant meant as a factor (41.4 M parameters
    # instead of 67.9 M at its width 64, blocks [1, 1, 1, 28]).
    ffn_channels: int | None = knob(None, ge=2, le=65536)

    def __post_init__(self) -> None:
        as_tuples(self, "enc_blk_nums", "dec_blk_nums")
        check_bounds(self)
        if len(self.enc_blk_nums) != len(self.dec_blk_nums):
            raise ConfigError("dec_blk_nums", f"needs one entry per encoder level, got {self.enc_blk_nums} and "
                              f"{self.dec_blk_nums}")


@dataclass(frozen=True)
class UNetConfig:
    """A plain U-Net, the original study's architecture ablation; sized near the quick NAFNet."""

    img_channel: int = knob(3, ge=1, le=4)  # bounds as NAFNetConfig's: a typo must not exhaust memory
    width: int = knob(16, ge=1, le=1024)
    levels: int = knob(3, ge=0, le=8)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class StackedConvConfig:
    """The original study's simplest baseline: ``depth`` 3x3 conv + ReLU layers at full resolution."""

    img_channel: int = knob(3, ge=1, le=4)  # bounds as NAFNetConfig's: a typo must not exhaust memory
    width: int = knob(48, ge=1, le=1024)
    depth: int = knob(8, ge=2, le=256)  # every layer runs at full resolution: time and memory grow with depth

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class ModelConfig:
    """Which network, and the size of each (only the chosen one is used)."""

    name: str = knob("nafnet", choices=MODEL_NAMES)
    nafnet: NAFNetConfig = field(default_factory=NAFNetConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    stacked_conv: StackedConvConfig = field(default_factory=StackedConvConfig)

    def __post_init__(self) -> None:
        for name, cls in (("nafnet", NAFNetConfig), ("unet", UNetConfig), ("stacked_conv", StackedConvConfig)):
            object.__setattr__(self, name, mapping_to(cls, getattr(self, name)))
        check_bounds(self)

    @property
    def chosen(self) -> Any:
        return getattr(self, self.name)


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run: data, degradation, network and optimisation (``python -m rstor_core train``)."""

    data: str = knob("dead_leaves", choices=("dead_leaves", "natural"))
    natural_images: str = knob("skimage", source=True)  # natural data: "skimage" (outside the run's fold) or a folder
    n_photos: int | None = knob(None, ge=1)  # natural data: only the first N training photos (data efficiency)
    dead_leaves: DeadLeavesConfig = field(default_factory=DeadLeavesConfig)
    # None: a new dead-leaves image at every sample (live generation); N: a stored set of N images, each
    # rendered once then reused, as the original study's stored sets (4000 at 512 px): for costly generators.
    dead_leaves_pool: int | None = knob(None, ge=1, le=1_000_000)
    crop: int = knob(96, ge=16, le=2048)  # training crop side, pixels
    noise: tuple[float, float] = knob((0.0, 50.0), ge=0.0, le=255.0)  # AWGN sigma range, /255, per sample
    blur: str = knob("none", choices=BLUR_KINDS)
    gaussian_sigma: tuple[float, float] = knob((0.5, 3.0), ge=0.0, le=10.0)  # blur "gaussian": sigma range, px
    identity_fraction: float = knob(0.0, ge=0.0, le=1.0)  # blur: this share of crops stays sharp (noise only)
    # motion blur: over this share of the steps the kernel families widen, small, then + mild, then + big
    curriculum: float = knob(0.0, ge=0.0, le=1.0)
    # natural data: the bottom share of each training photo is kept for validation crops, never trained on
    val_holdout: float = knob(0.0, ge=0.0, le=0.5)
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = knob(1000, ge=1, le=10_000_000)  # paper: 200k; 10M is weeks on one GPU, more a typo that runs for ever
    batch_size: int = knob(8, ge=1, le=1024)
    lr: float = knob(1e-3, gt=0.0, le=1.0)
    loss: str = knob("mse", choices=("mse", "l1", "psnr"))  # psnr: minus each image's PSNR, averaged (NAFNet's)
    optimiser: str = knob("adam", choices=("adam", "adamw"))
    betas: tuple[float, float] = knob((0.9, 0.999), ge=0.0, le=0.9999)  # NAFNet's recipe: (0.9, 0.9)
    weight_decay: float = knob(0.0, ge=0.0, le=1.0)
    # plateau: the lr is cut when validation PSNR stalls; cosine: from lr down to lr_min over the steps;
    # constant: lr throughout, so that the weights at any step are those of a shorter run
    schedule: str = knob("plateau", choices=("plateau", "cosine", "constant"))
    lr_min: float = knob(1e-7, ge=0.0, le=1.0)
    grad_clip: float | None = knob(1.0, gt=0.0)  # max gradient norm; null: no clipping
    val_every: int = knob(100, ge=1)  # steps between validations (and plateau-scheduler updates)
    val_images: int = knob(8, ge=1, le=4096)  # fixed, seeded validation crops
    checkpoint_every: int = knob(100, ge=1)
    plateau_patience: int = knob(3, ge=0)  # validations without PSNR gain before the lr is cut
    plateau_factor: float = knob(0.5, gt=0.0, le=1.0)
    channels_last: bool = False
    # How the steps run, not what they train (compare=False: changing them retrains nothing). compile:
    # torch.compile the network for the training steps; loader_workers: processes that build the next
    # batches while the network steps (batches depend only on the step, so the weights do not change).
    compile: bool = knob(False, compare=False)
    loader_workers: int = knob(0, ge=0, le=8, compare=False)
    # Steps at which the run also keeps its weights (model.step<N>.pt beside model.pt): a chapter or a
    # child (init_from: name@N) uses the network at N steps without training a second, shorter run.
    snapshots: tuple[int, ...] = knob((), ge=1)
    # Another experiment of the profile whose trained weights (same run) this one starts from, with a fresh
    # optimiser: pre-training then fine-tuning; "name@N": its weights at step N (its snapshots). A
    # retrained parent retrains this one (rstor_core.networks.train).
    init_from: str | None = None
    seed: int = knob(0, ge=0)
    # Which of the experiment's independently trained networks this is (the chapters' `runs`): its own
    # streams (stream_keys) and, for the bundled photos, its own fold (rstor_core.images.photos.NATURAL_FOLDS).
    run: int = knob(0, ge=0, le=MAX_RUNS - 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dead_leaves", mapping_to(DeadLeavesConfig, self.dead_leaves))
        object.__setattr__(self, "model", mapping_to(ModelConfig, self.model))
        as_tuples(self, "noise", "gaussian_sigma", "snapshots", "betas")
        check_bounds(self)
        check_range_pair(self, "noise", "gaussian_sigma")
        if list(self.snapshots) != sorted(set(self.snapshots)):
            raise ConfigError("snapshots", f"expected increasing steps, got {list(self.snapshots)}")
        if self.init_from is not None:
            split_reference(self.init_from, "init_from")
        if self.dead_leaves_pool and self.dead_leaves_pool * self.crop ** 2 * 12 > MAX_POOL_BYTES:
            raise ConfigError("dead_leaves_pool", f"{self.dead_leaves_pool} images of {self.crop}² pixels hold "
                              f"{self.dead_leaves_pool * self.crop ** 2 * 12 / 2 ** 30:.1f} GiB in memory; at most "
                              f"{MAX_POOL_BYTES / 2 ** 30:.0f} GiB")

    @property
    def kept_steps(self) -> tuple[int, ...]:
        """The ``snapshots`` a run of ``steps`` reaches: those below ``steps`` (the weights at ``steps``
        are ``model.pt``; a profile's shorter trial keeps its snapshots list and simply reaches fewer)."""
        return tuple(step for step in self.snapshots if step < self.steps)

    def stream_keys(self, *keys: str | int) -> tuple[str | int, ...]:
        """The keys of this run's training stream ``keys`` (:func:`rstor_core.settings.rng.stream` of ``seed``):
        ``("run", r, *keys)``, except for run 0, which draws ``keys`` itself, the streams of every network
        trained before runs existed (the committed ``quick`` weights stay run 0)."""
        return ("run", self.run, *keys) if self.run else keys

def lineage_of(experiments: typing.Mapping[str, ExperimentConfig], name: str) -> list[str]:
    """Experiment ``name`` after its chain of ``init_from`` parents, oldest first. The chain must exist, end,
    and build the child's network (weights of another network cannot be loaded into it): a
    :class:`ConfigError` naming the child's ``init_from`` otherwise, before any training."""
    seen = [name]
    while (reference := experiments[seen[-1]].init_from) is not None:
        key, parent = f"experiments.{seen[-1]}.init_from", split_reference(reference)[0]
        if parent == seen[-1]:
            raise ConfigError(key, f"{reference!r} starts from itself")
        if (problem := reference_problem(reference, experiments)) is not None:
            raise ConfigError(key, problem)
        if parent in seen:
            raise ConfigError(key, f"a cycle of parents: {' -> '.join([*seen, parent])}")
        if experiments[parent].model != experiments[seen[-1]].model:
            raise ConfigError(key, f"the network differs from experiment {parent!r}'s: its weights would not fit")
        seen.append(parent)
    return seen[::-1]
