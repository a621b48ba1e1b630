"""pyproject.toml and environment.yml must list the same packages (pip and conda installs agree)."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT

# Conda-only plumbing with no pyproject counterpart.
CONDA_ONLY = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r) for r in requirements}


def _environment_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        names.update(_name(e) for e in entries if not e.startswith("-e"))
    return names - CONDA_ONLY


def test_environment_yml_and_pyproject_list_the_same_packages():
    pip, conda = _pyproject_packages(), _environment_packages()
    assert pip == conda, f"only in pyproject: {sorted(pip - conda)}; only in environment.yml: {sorted(conda - pip)}"
