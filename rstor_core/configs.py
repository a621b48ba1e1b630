"""Typed configs of the library: dead leaves, models and training experiments.

Each is a frozen dataclass whose fields carry their bounds (:func:`knob`); ``__post_init__``
enforces them, so a bad value is a ``ValueError`` naming the field whether it comes from a
profile (:mod:`rstor_core.params` adds the file and key path) or from a call such as
``dead_leaves(64, alpha=0.5)``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

MAX_POLYGON_SIDES = 12
BANK_SIZE = 32  # kernels per fixed evaluation bank (rstor_core.degrade), addressed as "bank:index"
DECONVOLUTIONS = ("wiener", "richardson_lucy")  # non-blind anchors of chapter 03 (rstor_core.evaluate)


class ConfigError(ValueError):
    """A config value out of its allowed range; ``key`` names the field (the loader adds the path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def knob(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, choices: tuple | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with bounds, enforced by :func:`check_bounds` in ``__post_init__``."""
    bounds = {"ge": ge, "gt": gt, "le": le, "choices": choices}
    return field(default=default, default_factory=default_factory,
                 metadata={k: v for k, v in bounds.items() if v is not None})


def check_bounds(config: Any) -> None:
    """Raise :class:`ConfigError` naming the first field whose value is outside its knob bounds."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if v is not None and not _within(f.metadata, v):
                raise ConfigError(f.name, f"{v!r} is out of range; allowed: {_bounds_text(f.metadata)}")


def _mapping_to(cls: type, value: Any) -> Any:
    """Nested configs may be given as dicts (papermill parameters, ``**overrides``)."""
    return cls(**value) if isinstance(value, dict) else value


# --- configs of the library (one per generator / model / loop) -------------------------------

COLOUR_SAMPLERS = ("uniform", "grey", "saturated", "natural")


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
class DeadLeavesParams:
    """Parameters of the dead-leaves model (chapter 01); ``dead_leaves(size, seed, **fields)``.

    Defaults reproduce the original study: flat uniform-RGB discs, alpha = 3, r in [1, 2000].
    Lengths are in output pixels, angles in degrees.
    """

    n_leaves: int | None = knob(None, ge=1)  # None: 30 x max(size), the original study's count
    until_covered: bool = False  # keep drawing leaves until no background shows (exact model)
    alpha: float = knob(3.0, gt=1.0)  # radius law p(r) ~ r^-alpha; 3 is scale invariant (Lee et al.)
    r_min: float = knob(1.0, gt=0.0)
    r_max: float = knob(2000.0, gt=0.0)  # larger than the image, so a few leaves are huge
    ds_factor: int = knob(1, ge=1, le=8)  # render ds_factor x larger, low-pass, decimate (1: aliased)
    aa_sigma: float | None = knob(None, gt=0.0)  # Gaussian sigma in rendered pixels; None: ds_factor / 2
    shapes: ShapeWeights = field(default_factory=ShapeWeights)
    appearance: AppearanceWeights = field(default_factory=AppearanceWeights)
    colour: str = knob("uniform", choices=COLOUR_SAMPLERS)
    palette: str = "skimage"  # images the "natural" colour sampler draws pixels from
    background: float = knob(0.5, ge=0.0, le=1.0)  # grey shown where no leaf landed
    anisotropy: tuple[float, float] = knob((0.3, 1.0), gt=0.0, le=1.0)  # minor/major axis ratio range
    angle: float | None = None  # None: uniform per leaf; else every leaf at this angle (degrees)
    polygon_sides: tuple[int, int] = knob((3, 8), ge=3, le=MAX_POLYGON_SIDES)
    bar_width: float = knob(0.15, gt=0.0, le=1.0)  # bar width as a fraction of its length
    texture_amplitude: float = knob(0.3, ge=0.0, le=1.0)
    texture_cells: int = knob(6, ge=2, le=32)  # noise lattice cells across a leaf

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", _mapping_to(ShapeWeights, self.shapes))
        object.__setattr__(self, "appearance", _mapping_to(AppearanceWeights, self.appearance))
        object.__setattr__(self, "anisotropy", tuple(self.anisotropy))
        object.__setattr__(self, "polygon_sides", tuple(self.polygon_sides))
        check_bounds(self)
        if self.r_min >= self.r_max:
            raise ConfigError("r_min", f"must be < r_max, got r_min={self.r_min}, r_max={self.r_max}")
        for name in ("anisotropy", "polygon_sides"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(name, f"expected (low, high) with low <= high, got {(low, high)}")
        if self.colour == "natural" and self.palette != "skimage" and not Path(self.palette).is_dir():
            raise ConfigError("palette", f"folder {self.palette!r} does not exist; give 'skimage' or a folder")


MODEL_NAMES = ("nafnet", "unet", "stacked_conv")
BLUR_KINDS = ("none", "motion", "small", "mild", "big", "gaussian")  # "motion": all three families


@dataclass(frozen=True)
class NAFNetConfig:
    """NAFNet's size (constructor keywords as the official class); defaults: the quick CPU model."""

    img_channel: int = knob(3, ge=1)
    width: int = knob(16, ge=1)  # channels at full resolution, doubled at each level (paper: 32 or 64)
    middle_blk_num: int = knob(1, ge=0)
    enc_blk_nums: tuple[int, ...] = knob((1, 1, 1), ge=0)  # blocks per encoder level (paper, SIDD: 2, 2, 4, 8)
    dec_blk_nums: tuple[int, ...] = knob((1, 1, 1), ge=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "enc_blk_nums", tuple(self.enc_blk_nums))
        object.__setattr__(self, "dec_blk_nums", tuple(self.dec_blk_nums))
        check_bounds(self)
        if len(self.enc_blk_nums) != len(self.dec_blk_nums):
            raise ConfigError("dec_blk_nums", f"needs one entry per encoder level, got {self.enc_blk_nums} and "
                              f"{self.dec_blk_nums}")


@dataclass(frozen=True)
class UNetConfig:
    """A plain U-Net, the original study's architecture ablation; sized near the quick NAFNet."""

    img_channel: int = knob(3, ge=1)
    width: int = knob(16, ge=1)
    levels: int = knob(3, ge=0, le=8)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class StackedConvConfig:
    """The original study's simplest baseline: ``depth`` 3x3 conv + ReLU layers at full resolution."""

    img_channel: int = knob(3, ge=1)
    width: int = knob(48, ge=1)
    depth: int = knob(8, ge=2)

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
            object.__setattr__(self, name, _mapping_to(cls, getattr(self, name)))
        check_bounds(self)

    @property
    def chosen(self) -> Any:
        return getattr(self, self.name)


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run: data, degradation, network and optimisation (``python -m rstor_core train``)."""

    data: str = knob("dead_leaves", choices=("dead_leaves", "natural"))
    natural_images: str = "skimage"  # natural data: "skimage" (its documented train split) or a folder
    dead_leaves: DeadLeavesParams = field(default_factory=DeadLeavesParams)
    crop: int = knob(96, ge=16, le=2048)  # training crop side, pixels
    noise: tuple[float, float] = knob((0.0, 50.0), ge=0.0, le=255.0)  # AWGN sigma range, /255, per sample
    blur: str = knob("none", choices=BLUR_KINDS)
    gaussian_sigma: tuple[float, float] = knob((0.5, 3.0), ge=0.0, le=10.0)  # blur "gaussian": sigma range, px
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = knob(1000, ge=1)
    batch_size: int = knob(8, ge=1, le=1024)
    lr: float = knob(1e-3, gt=0.0, le=1.0)
    loss: str = knob("mse", choices=("mse", "l1"))
    grad_clip: float | None = knob(1.0, gt=0.0)  # max gradient norm; null: no clipping
    val_every: int = knob(100, ge=1)  # steps between validations (and plateau-scheduler updates)
    val_images: int = knob(8, ge=1, le=4096)  # fixed, seeded validation crops
    checkpoint_every: int = knob(100, ge=1)
    plateau_patience: int = knob(3, ge=0)  # validations without PSNR gain before the lr is cut
    plateau_factor: float = knob(0.5, gt=0.0, le=1.0)
    channels_last: bool = False
    seed: int = knob(0, ge=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dead_leaves", _mapping_to(DeadLeavesParams, self.dead_leaves))
        object.__setattr__(self, "model", _mapping_to(ModelConfig, self.model))
        for name in ("noise", "gaussian_sigma"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        check_bounds(self)
        for name in ("noise", "gaussian_sigma"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(name, f"expected (low, high) with low <= high, got {(low, high)}")

    def missing_data(self) -> str | None:
        """Why this experiment's data is unavailable (checked before training it, not when the
        profile loads: the paper profile names a DIV2K folder that only GPU users have)."""
        if self.data == "natural" and self.natural_images != "skimage" and not Path(self.natural_images).is_dir():
            return (f"natural_images: folder {self.natural_images!r} does not exist; give 'skimage' or a folder "
                    "of training photos (e.g. DIV2K_train_HR)")
        return None


def _within(meta: typing.Mapping, v: Any) -> bool:
    return (("ge" not in meta or v >= meta["ge"]) and ("gt" not in meta or v > meta["gt"])
            and ("le" not in meta or v <= meta["le"]) and ("choices" not in meta or v in meta["choices"]))


def _bounds_text(meta: typing.Mapping) -> str:
    if "choices" in meta:
        return "one of " + ", ".join(map(repr, meta["choices"]))
    parts = [f"{op} {meta[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<=")) if k in meta]
    return " and ".join(parts)
