"""Shared fixtures: the repository root, a seeded generator, and tiny notebooks for the runner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _run_from_repository_root():
    """Profiles, the toc and chapter sources are addressed relative to the repository root."""
    previous = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(previous)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
