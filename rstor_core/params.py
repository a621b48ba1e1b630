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
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PARAMETERS_DIR = Path("parameters")


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and what is allowed."""


def knob(default: Any, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, choices: tuple | None = None) -> Any:
    """A dataclass field with the bounds the profile loader enforces."""
    bounds = {"ge": ge, "gt": gt, "le": le, "choices": choices}
    return field(default=default, metadata={k: v for k, v in bounds.items() if v is not None})


# --- configs of the library (one per generator / model / loop) -------------------------------

@dataclass(frozen=True)
class DeadLeavesParams:
    """Parameters of the dead-leaves model (chapter 01); ``dead_leaves(size, seed, **fields)``."""

    n_leaves: int | None = knob(None, ge=1)  # None: 30 x max(size), the original study's count
    alpha: float = knob(3.0, gt=0.0)  # radius law p(r) ~ r^-alpha; 3 is scale invariant (Lee et al.)
    r_min: float = knob(1.0, gt=0.0)  # pixels
    r_max: float = knob(2000.0, gt=0.0)  # pixels; larger than the image so a few leaves are huge
    background: float = knob(0.5, ge=0.0, le=1.0)  # grey shown where no leaf landed

    def __post_init__(self) -> None:
        if self.r_min >= self.r_max:
            raise ValueError(f"r_min must be < r_max, got r_min={self.r_min}, r_max={self.r_max}")


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
    dead_leaves: DeadLeavesParams = field(default_factory=DeadLeavesParams)

    def __post_init__(self) -> None:
        if self.natural_images != "skimage" and not Path(self.natural_images).is_dir():
            raise ValueError(f"folder {self.natural_images!r} does not exist; "
                             "give 'skimage' or an existing folder of images")


@dataclass(frozen=True)
class Profile:
    """A validated profile: which file, its hash, and one config per chapter."""

    name: str
    path: Path
    sha256: str
    data_generation: DataGenerationConfig = field(default_factory=DataGenerationConfig)

    def section(self, chapter: str) -> Any:
        """The config of a chapter of the toc, e.g. ``"01_data_generation"``."""
        key = CHAPTER_SECTIONS.get(chapter)
        if key is None:
            raise KeyError(f"chapter {chapter!r} has no profile section; known: {sorted(CHAPTER_SECTIONS)}")
        return getattr(self, key)


# Chapter notebook (as named in _toc.yml) -> section of the profile.
CHAPTER_SECTIONS = {"01_data_generation": "data_generation"}
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
    sections = {key: _build(hints[key], data.get(key) or {}, key, path) for key in _SECTIONS}
    return Profile(name=path.stem, path=path, sha256=hashlib.sha256(raw).hexdigest(), **sections)


def as_parameters(config: Any) -> dict[str, Any]:
    """A chapter config as the plain dict papermill injects (nested dataclasses become dicts)."""
    return dataclasses.asdict(config)


def _build(cls: type, data: Any, where: str, path: Path) -> Any:
    """Map a YAML mapping onto dataclass ``cls``, checking keys, types and bounds."""
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: {where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProfileError(f"{path}: {where}.{unknown[0]}: unknown key; allowed keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}"
        values[name] = _check(hints[name], value, key, path)
        _check_bounds(fields[name].metadata, values[name], key, path)
    try:
        return cls(**values)
    except ValueError as err:
        raise ProfileError(f"{path}: {where}: {err}") from None


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
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ProfileError(f"{path}: {key}: expected a list, got {value!r}")
        return tuple(_check(args[0], v, f"{key}[{i}]", path) for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ProfileError(f"{path}: {key}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def _check_bounds(meta: typing.Mapping, value: Any, key: str, path: Path) -> None:
    if value is None:
        return
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        ok = (("ge" not in meta or v >= meta["ge"]) and ("gt" not in meta or v > meta["gt"])
              and ("le" not in meta or v <= meta["le"])
              and ("choices" not in meta or v in meta["choices"]))
        if not ok:
            raise ProfileError(f"{path}: {key}: {v!r} is out of range; allowed: {_bounds_text(meta)}")


def _bounds_text(meta: typing.Mapping) -> str:
    if "choices" in meta:
        return "one of " + ", ".join(map(repr, meta["choices"]))
    parts = [f"{op} {meta[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<=")) if k in meta]
    return " and ".join(parts)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))
