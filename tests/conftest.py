"""Shared fixtures: the repository root, a seeded generator, and tiny notebooks for the runner."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# CUDA kernels are tested under numba's simulator unless a real GPU is here; numba reads the
# variable when first imported, so it is set before any test module imports rstor_core.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

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
