"""Shared fixtures: the repository root, a seeded generator, the torch devices to test on, a few dead-leaves
images to score, an empty torch hub, a process that has ended, and a network that refuses every connection."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

# CUDA kernels are tested under numba's simulator unless a real GPU is here; numba reads the
# variable when first imported, so it is set before any test module imports rstor_core.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np
import pytest
import torch

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


@pytest.fixture(params=[pytest.param(torch.device("cpu"), id="cpu"),
                        pytest.param(torch.device("cuda"), id="cuda", marks=pytest.mark.skipif(
                            not torch.cuda.is_available(), reason="no CUDA GPU"))])
def device(request) -> torch.device:
    """The CPU, and the GPU where torch sees one (the CUDA case is skipped without it)."""
    return request.param


@pytest.fixture
def leaves() -> dict[str, np.ndarray]:
    """Three 48 x 48 dead-leaves images (H, W, 3 float32) named leaves0..leaves2: photos to score."""
    from rstor_core.images.deadleaves import dead_leaves

    return {f"leaves{i}": dead_leaves(48, seed=i) for i in range(3)}


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    """TORCH_HOME pointed at a folder that does not exist yet: no cached hub weights (AlexNet's) to load."""
    folder = tmp_path / "empty_torch_home"
    monkeypatch.setenv("TORCH_HOME", str(folder))
    return folder


@pytest.fixture
def dead_pid() -> int:
    """The PID of a process that has ended (a killed run's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
