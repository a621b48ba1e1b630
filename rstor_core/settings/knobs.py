"""The knob toolkit every config is built with: a field that carries its bounds, their check, and
the error that names the offending field.

A bound is declared once, next to its field (:func:`knob`); ``__post_init__`` calls
:func:`check_bounds`, so a profile, a papermill ``-p`` value and a call such as
``dead_leaves(64, alpha=0.5)`` are refused alike (:mod:`rstor_core.settings.profiles` adds the file and
the key path to the :class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A config value out of its allowed range; ``key`` names the field (the loader adds the path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def knob(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, choices: tuple | None = None, default_factory: Any = dataclasses.MISSING,
         source: bool = False, pairs: bool = False, experiment: bool = False, arms: bool = False, trials: bool = False,
         snapshots_of: tuple[str, ...] | None = None, compare: bool = True) -> Any:
    """A dataclass field with bounds, enforced by :func:`check_bounds` in ``__post_init__``.

    ``source``: the value names images (``"skimage"``, a public set or a folder), checked by
    :func:`rstor_core.images.sources.missing_sources` before the data is used; ``pairs``: the value names
    recorded-blur pairs (``""`` for none, ``"kohler"`` or a pairs folder), checked likewise; ``experiment``: the value
    names an experiment of the profile, checked by :class:`~rstor_core.settings.chapters.Profile` and by
    the chapter opener; ``arms``: a mapping ``{label: experiment}`` of compared networks, each checked
    likewise (a new arm is a line of the profile); ``trials``: a tuple of experiment names the chapter
    reads but never trains (trained from a shell), checked by the profile; ``snapshots_of``: steps at
    which the experiments those fields name keep their weights, checked likewise; ``compare=False``: how a run executes, not
    what it trains (two configs differing only there are the same experiment).
    """
    meta = {"ge": ge, "gt": gt, "le": le, "choices": choices, "source": source or None, "pairs": pairs or None,
            "experiment": experiment or None, "arms": arms or None, "trials": trials or None,
            "snapshots_of": snapshots_of}
    return field(default=default, default_factory=default_factory, compare=compare,
                 metadata={k: v for k, v in meta.items() if v is not None})


def check_bounds(config: Any) -> None:
    """Raise :class:`ConfigError` naming the first field whose value is outside its knob bounds."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):  # YAML's .inf, JSON's Infinity, NaN
                raise ConfigError(f.name, f"{v!r} is not a finite number")
            if v is not None and not _within(f.metadata, v):
                raise ConfigError(f.name, f"{v!r} is out of range; allowed: {_bounds_text(f.metadata)}")


def mapping_to(cls: type, value: Any) -> Any:
    """Nested configs may be given as dicts (papermill parameters, ``**overrides``), with a ``preset``
    where the class has presets (:meth:`DeadLeavesConfig.expand`)."""
    return cls(**expand_presets(cls, value)) if isinstance(value, dict) else value


def expand_presets(cls: type, values: typing.Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with a ``preset`` key replaced by the preset's values (keys given beside it win);
    unchanged for a class without presets."""
    expand = getattr(cls, "expand", None)
    return expand(values) if expand is not None else dict(values)


def as_tuples(config: Any, *names: str) -> None:
    """Lists (YAML, papermill) become tuples, so configs stay hashable and comparable."""
    for name in names:
        object.__setattr__(config, name, tuple(getattr(config, name)))


def check_range_pair(config: Any, *names: str) -> None:
    for name in names:
        low, high = getattr(config, name)
        if low > high:
            raise ConfigError(name, f"expected (low, high) with low <= high, got {(low, high)}")


def _within(meta: typing.Mapping, v: Any) -> bool:
    return (("ge" not in meta or v >= meta["ge"]) and ("gt" not in meta or v > meta["gt"])
            and ("le" not in meta or v <= meta["le"]) and ("choices" not in meta or v in meta["choices"]))


def _bounds_text(meta: typing.Mapping) -> str:
    if "choices" in meta:
        return "one of " + ", ".join(map(repr, meta["choices"]))
    parts = [f"{op} {meta[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<=")) if k in meta]
    return " and ".join(parts)
