"""``check-gpu`` and numba's CUDA target on numpy 2.5 (issue 29): tested on the CPU, the simulator standing in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from rstor_core.__main__ import main
from rstor_core.images.cuda_compat import numba_cuda
from rstor_core.networks.gpu_check import gpu_checks

NAMES = ["torch sees a GPU", "numba-CUDA compiles the kernels", "a GPU batch equals the CPU images"]


@pytest.fixture
def simulated_gpu(monkeypatch):
    """torch told a GPU is here, numba's simulator running the kernels (a real GPU: nothing to fake)."""
    if not numba_cuda().is_available():
        pytest.skip("no GPU and NUMBA_ENABLE_CUDASIM unset")
    if not torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "numba's CUDA simulator")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_check_gpu_without_a_gpu_is_one_error_line_and_exit_1(capsys):
    assert main(["check-gpu"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: no GPU is visible to torch")


def test_every_check_is_listed_and_holds_when_the_kernels_run(simulated_gpu, capsys):
    checks = gpu_checks(size=8)
    assert [check.name for check in checks] == NAMES and all(check.ok for check in checks)
    assert "bit for bit" in checks[-1].detail


def test_a_kernel_that_does_not_compile_is_the_error_line(simulated_gpu, monkeypatch, capsys):
    import rstor_core.images.deadleaves

    def no_row_stack(*args, backend="cpu", **kwargs):
        raise AttributeError("module 'numpy' has no attribute 'row_stack'")

    monkeypatch.setattr(rstor_core.images.deadleaves, "dead_leaves", no_row_stack)
    assert main(["check-gpu"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("ok: torch sees a GPU") and out.count("\n") == 1
    assert err.startswith("error: numba-CUDA does not run the dead-leaves kernels: AttributeError")
    assert "row_stack" in err


def test_a_batch_that_differs_from_the_cpu_images_fails_the_last_check(simulated_gpu, monkeypatch):
    import rstor_core.images.device_rendering

    render_batch = rstor_core.images.device_rendering.render_batch
    monkeypatch.setattr(rstor_core.images.device_rendering, "render_batch", lambda *args: render_batch(*args) * 0.5)
    last = gpu_checks(size=8)[-1]
    assert last.name == NAMES[-1] and not last.ok and "differs" in last.detail


def test_the_cuda_target_compiles_a_kernel_on_a_numpy_without_row_stack():
    """numpy 2.5 as numba-cuda meets it (``row_stack`` gone), the CUDA target imported as a GPU run imports it
    (numba-cuda's numpy support registers ``np.row_stack`` where it is installed), then a kernel compiled
    and run under the simulator: the same image as the CPU's."""
    code = "\n".join([
        "import importlib, numpy",
        "del numpy.row_stack  # what numpy 2.5 removed",
        "from rstor_core.images.cuda_compat import numba_cuda",
        "cuda = numba_cuda()",
        "try:",
        "    importlib.import_module('numba.cuda.np.arrayobj')  # numba-cuda's numpy overloads",
        "except ModuleNotFoundError:",
        "    pass  # numba's built-in CUDA target: no such module",
        "from rstor_core.images.deadleaves import dead_leaves",
        "assert (dead_leaves(8, 0, backend='cuda') == dead_leaves(8, 0)).all()",
        "print('compiled', numpy.row_stack is numpy.vstack)",
    ])
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["compiled", "True"]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would time the GPU configurations")
def test_the_gpu_training_benchmark_runs_on_the_cpu_and_says_so():
    result = subprocess.run([sys.executable, "benchmarks/gpu_train.py", "--configs", "quick", "--steps", "1",
                             "--warmup", "0"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("no GPU: the CPU's numbers") and "quick 8" in lines[0]
    header = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert header[:4] == ["config", "device", "crop", "batch"] and "share_of_matmul" in header
    row = dict(zip(header, (cell.strip() for cell in lines[3].strip("|").split("|"))))
    assert row["config"] == "quick" and row["device"] == "cpu" and row["batch"] == "8"
    assert float(row["parameters"]) == 288691 and 0 < float(row["data_share"]) < 1
    # a training step per image: three forwards of one image (NAFNet's 3x3 convolutions and 1x1 ones at 96²)
    from torch.utils.flop_counter import FlopCounterMode

    from rstor_core.networks.models import NAFNet
    from rstor_core.settings.configs import NAFNetConfig

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        NAFNet.from_config(NAFNetConfig())(torch.rand(1, 3, 96, 96))
    assert float(row["gflop_per_image"]) == pytest.approx(3 * counter.get_total_flops() / 1e9, rel=5e-3)
