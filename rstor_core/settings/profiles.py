"""The profile loader: one YAML file per scale, mapped onto the typed configs of
:mod:`rstor_core.settings.configs` before any work starts.

A profile (``parameters/<name>.yaml``) has one section per chapter of the book and the training
experiments. Loading is strict, unlike BasicSR's ``opt.get(key, default)``: a misspelt key, a
wrong type or an out-of-range value raises :class:`ProfileError` naming the file, the key and what
is allowed, so a long run never starts on a silently ignored setting. A missing key takes the
dataclass default. :func:`section_from_parameters` applies the same checks to a chapter's papermill
parameters. Only the runner, the CLI and the chapter opener import this module; the library reads
configs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from rstor_core.settings.chapters import CHAPTER_SECTIONS, Profile
from rstor_core.settings.knobs import ConfigError, expand_presets

log = logging.getLogger(__name__)
PARAMETERS_DIR = Path("parameters")
_SECTIONS = {f.name for f in dataclasses.fields(Profile)} - {"name", "path", "sha256"}


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the key and what is allowed."""


# --- loading ----------------------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, where PyYAML keeps the
    last silently: a profile with two ``steps:`` would train with whichever came second.

    The check runs on the composed node tree, before ``<<: *anchor`` merges are flattened, so a
    key that overrides a merged one (the paper profile's experiments) is not a duplicate.
    """

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _refuse_duplicate_keys(node, "", set())
        return node


def _refuse_duplicate_keys(node: yaml.Node, where: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias: checked where its anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{where}[{i}]", seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    place = f"in {where}" if where else "at the top level"
                    raise yaml.YAMLError(f"duplicate key {key.value!r} {place} (lines {lines[key.tag, key.value]} "
                                         f"and {line}); YAML would keep only the last, silently")
                lines[key.tag, key.value] = line
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            _refuse_duplicate_keys(value, f"{where}.{name}" if where else str(name), seen)


def profile_path(name_or_path: str | Path) -> Path:
    """``quick`` -> ``parameters/quick.yaml``; an existing path is returned as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return PARAMETERS_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str | Path) -> Profile:
    """Read and validate a profile; raise :class:`ProfileError` before anything is computed."""
    if Path(name_or_path).is_dir():  # else it would be read as the name of parameters/<folder>.yaml
        raise ProfileError(f"{name_or_path}: is a folder; give a profile file or the name of one in {PARAMETERS_DIR}/")
    path = profile_path(name_or_path)
    if not path.is_file():
        if not PARAMETERS_DIR.is_dir():
            raise ProfileError(f"{path}: no such profile file, and no {PARAMETERS_DIR}/ folder here: run from the "
                               "repository root, or give the profile's path")
        known = sorted(p.stem for p in PARAMETERS_DIR.glob("*.yaml"))
        raise ProfileError(f"{path}: no such profile file; known profiles: {known}")
    raw = path.read_bytes()
    try:
        data = yaml.load(raw, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    if not data:
        log.warning("%s is empty: every knob takes its default, the quick study's, and no chapter compares "
                    "networks (arms have no default)", path)
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise ProfileError(f"{path}: unknown section {unknown[0]!r}; allowed sections: {sorted(_SECTIONS)}")
    hints = typing.get_type_hints(Profile)
    sections = {key: _check(hints[key], data.get(key) or {}, key, path) for key in _SECTIONS}
    try:
        return Profile(name=path.stem, path=path, sha256=hashlib.sha256(raw).hexdigest(), **sections)
    except ConfigError as err:
        raise ProfileError(f"{path}: {err.key}: {err.message}") from None


def section_from_parameters(chapter: str, values: dict[str, Any], *, where: str = "papermill parameters") -> Any:
    """A chapter's section built from its parameters cell (after papermill's ``-p`` overrides),
    checked exactly like the profile's section: a bad value raises :class:`ProfileError`."""
    if chapter not in CHAPTER_SECTIONS:
        raise KeyError(f"chapter {chapter!r} has no profile section; known: {sorted(CHAPTER_SECTIONS)}")
    key, cls = CHAPTER_SECTIONS[chapter]
    names = {f.name for f in dataclasses.fields(cls)}
    return _build(cls, {k: v for k, v in values.items() if k in names}, key, Path(where))


def build_config(cls: type, data: Any, *, where: str, source: str | Path) -> Any:
    """Dataclass ``cls`` from a mapping read elsewhere (a ``--params`` JSON file), checked like a profile's
    section: keys, types and bounds, a bad one a :class:`ProfileError` naming ``source`` and the key."""
    return _build(cls, data, where, Path(source))


def as_parameters(config: Any) -> dict[str, Any]:
    """A chapter config as the plain dict papermill injects: nested dataclasses become dicts and
    tuples lists (papermill would inject a tuple as its string)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _build(cls: type, data: Any, where: str, path: Path) -> Any:
    """Map a YAML mapping onto dataclass ``cls``, checking keys, types and bounds."""
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: {where}: expected a mapping, got {data!r}")
    try:
        data = expand_presets(cls, data)
    except ConfigError as err:
        raise ProfileError(f"{path}: {where}.{err.key}: {err.message}") from None
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
        errors = []
        for option in inner:  # the first type the value fits (float | tuple: a grey level or RGB)
            try:
                return _check(option, value, key, path)
            except ProfileError as err:
                errors.append(err)
        if len(inner) == 1:
            raise errors[0]
        expected = " or ".join(_type_name(a) for a in inner)
        raise ProfileError(f"{path}: {key}: expected {expected}, got {value!r} ({type(value).__name__})")
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
