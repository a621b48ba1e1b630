"""Profiles: one YAML file per scale, validated into typed dataclasses before any work starts.

A profile (``parameters/<name>.yaml``) has one section per chapter of the book; every knob a
chapter reads is a field below. Loading is strict, unlike BasicSR's ``opt.get(key, default)``:
a misspelt key, a wrong type or an out-of-range value raises :class:`ProfileError` naming the
file, the key and what is allowed, so a long run never starts on a silently ignored setting.
Missing keys take the dataclass defaults (the ``quick`` values).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rstor_core.configs import (  # noqa: F401  (re-exported: the profile schema is these configs)
    BANK_SIZE, BLUR_KINDS, COLOUR_SAMPLERS, DECONVOLUTIONS, MAX_POLYGON_SIDES, MODEL_NAMES, AppearanceWeights,
    ConfigError, DeadLeavesParams, ExperimentConfig, ModelConfig, NAFNetConfig, ShapeWeights, StackedConvConfig,
    UNetConfig, _bounds_text, _mapping_to, check_bounds, knob)

PARAMETERS_DIR = Path("parameters")


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and what is allowed."""


# --- one section per chapter ------------------------------------------------------------------

@dataclass(frozen=True)
class DataGenerationConfig:
    """Chapter 01: gallery, radius law and power spectra of dead leaves vs natural photos."""

    seed: int = knob(0, ge=0)
    size: int = knob(256, ge=8, le=8192)  # side of the gallery and spectrum images, pixels
    n_gallery: int = knob(6, ge=1, le=64)
    n_radii: int = knob(200_000, ge=100)  # radii drawn for the histogram and the KS test
    n_spectrum: int = knob(8, ge=1, le=1024)  # dead-leaves images averaged in the spectrum
    natural_images: str = knob("skimage")  # "skimage" (bundled photos) or a folder of images
    showcase_size: int = knob(192, ge=16, le=2048)  # side of the per-primitive / per-sampler galleries
    showcase_r_min: float = knob(4.0, gt=0.0)  # galleries: leaves big enough to see their shape and look
    zoom: int = knob(48, ge=8, le=512)  # side of the crop that shows anti-aliasing
    benchmark_sizes: tuple[int, ...] = knob((128, 256), ge=16, le=4096)
    benchmark_batch: int = knob(4, ge=1, le=256)
    benchmark_repeats: int = knob(2, ge=1, le=20)
    benchmark_naive_max_size: int = knob(256, ge=16, le=4096)  # the naive kernel is slow: skip larger sizes
    n_kernel_draws: int = knob(2000, ge=10, le=1_000_000)  # on-the-fly motion kernels in the histogram
    example_crop: int = knob(128, ge=32, le=1024)  # side of the degraded-example crops
    dead_leaves: DeadLeavesParams = field(default_factory=DeadLeavesParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dead_leaves", _mapping_to(DeadLeavesParams, self.dead_leaves))
        check_bounds(self)
        if self.natural_images != "skimage" and not Path(self.natural_images).is_dir():
            raise ConfigError("natural_images", f"folder {self.natural_images!r} does not exist; "
                              "give 'skimage' or an existing folder of images")


@dataclass(frozen=True)
class DenoiseStudyConfig:
    """Chapter 02: the three denoisers, their evaluation on the natural test split, BM3D."""

    seed: int = knob(0, ge=0)
    dead_leaves_experiment: str = "denoise_dead_leaves"  # names under the profile's experiments
    primitives_experiment: str = "denoise_primitives"
    natural_experiment: str = "denoise_natural"
    test_images: str = "skimage"  # "skimage" (its test split) or a folder (Kodak24, DIV2K_valid_HR)
    n_images: int | None = knob(None, ge=1)  # first N test images (None: all)
    eval_size: int | None = knob(None, ge=16)  # centre crop side for evaluation (None: whole images)
    sigmas: tuple[float, ...] = knob((2.0, 5.0, 10.0, 15.0, 25.0, 35.0, 50.0), ge=0.0, le=255.0)
    table_sigmas: tuple[float, ...] = knob((15.0, 25.0, 50.0), ge=0.0, le=255.0)
    bm3d: bool = True  # the classical anchor at table_sigmas (slow: ~10 s per image and sigma here)
    lpips: bool = True  # NaN with a note when the AlexNet weights are missing
    zoom: int = knob(128, ge=16)  # crop side of the qualitative figure

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigmas", tuple(self.sigmas))
        object.__setattr__(self, "table_sigmas", tuple(self.table_sigmas))
        check_bounds(self)
        if not set(self.table_sigmas) <= set(self.sigmas):
            raise ConfigError("table_sigmas", f"must be among sigmas {self.sigmas}, got {self.table_sigmas}")
        if 25.0 not in self.sigmas:
            raise ConfigError("sigmas", f"must include 25 (the qualitative figure), got {self.sigmas}")


@dataclass(frozen=True)
class DeblurStudyConfig:
    """Chapter 03: blind motion deblurring (dead leaves vs natural training) on the fixed kernel
    banks of each family, a Gaussian pair, and a non-blind deconvolution told the true kernel."""

    seed: int = knob(0, ge=0)
    dead_leaves_experiment: str = "deblur_dead_leaves"  # names under the profile's experiments
    natural_experiment: str = "deblur_natural"
    gaussian_dead_leaves_experiment: str = "deblur_gaussian_dead_leaves"
    gaussian_natural_experiment: str = "deblur_gaussian_natural"
    test_images: str = "skimage"  # "skimage" (its test split) or a folder (DIV2K_valid_HR)
    n_images: int | None = knob(None, ge=1)  # first N test images (None: all)
    eval_size: int | None = knob(256, ge=32)  # centre crop side for evaluation (None: whole images)
    n_kernels: int = knob(BANK_SIZE, ge=1, le=BANK_SIZE)  # first N kernels of each bank (the mean is over them)
    sigma: float = knob(1.0, ge=0.0, le=255.0)  # test noise, /255 (a camera's, not a denoising task's)
    n_dead_leaves: int = knob(4, ge=1, le=1024)  # images of the dead-leaves test set
    dead_leaves_size: int = knob(256, ge=32, le=4096)
    classical: str = knob("richardson_lucy", choices=(*DECONVOLUTIONS, "none"))  # non-blind, knows the kernel
    rl_iterations: int = knob(30, ge=1, le=1000)
    wiener_balance: float = knob(0.01, gt=0.0)
    lpips: bool = True  # NaN with a note when the AlexNet weights are missing
    grid_kernel: int = knob(0, ge=0, le=BANK_SIZE - 1)  # bank index of each family in the 3 x 3 grid figure
    zoom: int = knob(192, ge=16)  # crop side of the grid figure and the inspector

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.grid_kernel >= self.n_kernels:
            raise ConfigError("grid_kernel", f"must be < n_kernels ({self.n_kernels}), got {self.grid_kernel}")


@dataclass(frozen=True)
class CrossValidationConfig:
    """Chapter 04: dead-leaves-trained vs natural-trained denoisers on both kinds of test images."""

    seed: int = knob(0, ge=0)
    dead_leaves_experiment: str = "denoise_dead_leaves"
    natural_experiment: str = "denoise_natural"
    test_images: str = "skimage"
    n_images: int | None = knob(None, ge=1)
    n_dead_leaves: int = knob(8, ge=1, le=1024)  # images of the dead-leaves test set (seeded apart from training)
    dead_leaves_size: int = knob(256, ge=16, le=4096)
    sigmas: tuple[float, ...] = knob((25.0, 50.0), ge=0.0, le=255.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigmas", tuple(self.sigmas))
        check_bounds(self)


@dataclass(frozen=True)
class Profile:
    """A validated profile: which file, its hash, and one config per chapter."""

    name: str
    path: Path
    sha256: str
    data_generation: DataGenerationConfig = field(default_factory=DataGenerationConfig)
    denoise_study: DenoiseStudyConfig = field(default_factory=DenoiseStudyConfig)
    deblur_study: DeblurStudyConfig = field(default_factory=DeblurStudyConfig)
    cross_validation: CrossValidationConfig = field(default_factory=CrossValidationConfig)
    experiments: dict[str, ExperimentConfig] = field(default_factory=dict)  # trained by `rstor_core train`

    def __post_init__(self) -> None:
        if not self.experiments:  # a profile without training runs (chapters 02-04 then reuse saved weights)
            return
        for section in CHAPTER_SECTIONS.values():
            for key, name in dataclasses.asdict(getattr(self, section)).items():
                if key.endswith("_experiment") and name not in self.experiments:
                    raise ProfileError(f"{self.path}: {section}.{key}: no experiment {name!r}; "
                                       f"defined: {sorted(self.experiments)}")

    def section(self, chapter: str) -> Any:
        """The config of a chapter of the toc, e.g. ``"01_data_generation"``."""
        key = CHAPTER_SECTIONS.get(chapter)
        if key is None:
            raise KeyError(f"chapter {chapter!r} has no profile section; known: {sorted(CHAPTER_SECTIONS)}")
        return getattr(self, key)


# Chapter notebook (as named in _toc.yml) -> section of the profile.
CHAPTER_SECTIONS = {"01_data_generation": "data_generation", "02_denoise_study": "denoise_study",
                    "03_deblur_study": "deblur_study", "04_cross_validation": "cross_validation"}
_SECTIONS = {f.name for f in dataclasses.fields(Profile)} - {"name", "path", "sha256"}


# --- loading ----------------------------------------------------------------------------------

def profile_path(name_or_path: str | Path) -> Path:
    """``quick`` -> ``parameters/quick.yaml``; an existing path is returned as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return PARAMETERS_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str | Path) -> Profile:
    """Read and validate a profile; raise :class:`ProfileError` before anything is computed."""
    path = profile_path(name_or_path)
    if not path.is_file():
        known = sorted(p.stem for p in PARAMETERS_DIR.glob("*.yaml"))
        raise ProfileError(f"{path}: no such profile file; known profiles: {known}")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise ProfileError(f"{path}: unknown section {unknown[0]!r}; allowed sections: {sorted(_SECTIONS)}")
    hints = typing.get_type_hints(Profile)
    sections = {key: _check(hints[key], data.get(key) or {}, key, path) for key in _SECTIONS}
    return Profile(name=path.stem, path=path, sha256=hashlib.sha256(raw).hexdigest(), **sections)


def as_parameters(config: Any) -> dict[str, Any]:
    """A chapter config as the plain dict papermill injects: nested dataclasses become dicts and
    tuples lists (papermill would inject a tuple as its string)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _build(cls: type, data: Any, where: str, path: Path) -> Any:
    """Map a YAML mapping onto dataclass ``cls``, checking keys, types and bounds."""
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: {where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProfileError(f"{path}: {where}.{unknown[0]}: unknown key; allowed keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _check(hints[name], value, f"{where}.{name}", path) for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ProfileError(f"{path}: {where}.{err.key}: {err.message}") from None


def _check(hint: Any, value: Any, key: str, path: Path) -> Any:
    """Return ``value`` converted to ``hint`` or raise naming the key and the expected type."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(inner[0], value, key, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise ProfileError(f"{path}: {key}: expected a mapping of names, got {value!r}")
        return {str(name): _check(args[1], item or {}, f"{key}.{name}", path) for name, item in value.items()}
    if origin is tuple:
        fixed = len(args) != 2 or args[1] is not Ellipsis
        if not isinstance(value, (list, tuple)) or (fixed and len(value) != len(args)):
            raise ProfileError(f"{path}: {key}: expected a list of {len(args) if fixed else 'any number of'} "
                               f"{_type_name(args[0])}, got {value!r}")
        return tuple(_check(args[0], v, f"{key}[{i}]", path) for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ProfileError(f"{path}: {key}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))
