"""``python -m rstor_core check-gpu``: whether this machine can run the GPU path, in a few lines.

Three checks, in order (each needs the one before): torch sees a CUDA GPU; numba-CUDA compiles and runs the
dead-leaves kernels (through :func:`rstor_core.images.cuda_compat.numba_cuda`); a batch rendered on the GPU in one
launch equals the CPU's images bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rstor_core.images.cuda_compat import numba_cuda

__all__ = ["Check", "gpu_checks"]


@dataclass(frozen=True)
class Check:
    """One line of ``check-gpu``: what was checked, whether it holds, and what was seen."""

    name: str
    ok: bool
    detail: str


def gpu_checks(size: int = 32) -> list[Check]:
    """What the GPU path needs, in order, stopping at the first failure (the next checks need it): torch sees
    a CUDA GPU; numba-CUDA compiles and runs the dead-leaves kernels; a batch of ``size``² images rendered
    on the GPU in one launch equals the CPU's images bit for bit."""
    import torch

    if not torch.cuda.is_available():
        return [Check("torch sees a GPU", False, f"no GPU is visible to torch {torch.__version__} (CUDA build "
                                                 f"{torch.version.cuda or 'none'}): the GPU path needs one")]
    checks = [Check("torch sees a GPU", True, f"{torch.cuda.get_device_name()} (torch {torch.__version__}, "
                                              f"CUDA {torch.version.cuda})")]
    try:
        cuda = numba_cuda()
        if not cuda.is_available():
            raise RuntimeError("numba finds no CUDA driver")
        from rstor_core.images.deadleaves import dead_leaves

        image = dead_leaves(size, 0, backend="cuda")
        if not np.array_equal(image, dead_leaves(size, 0)):
            raise RuntimeError("the CUDA image differs from the CPU image")
    except Exception as err:  # anything numba raises while compiling is the answer to this check
        return checks + [Check("numba-CUDA compiles the kernels", False,
                               f"numba-CUDA does not run the dead-leaves kernels: {type(err).__name__}: {err}")]
    import numba

    checks.append(Check("numba-CUDA compiles the kernels", True, f"numba {numba.__version__}, numpy {np.__version__}"))
    return checks + [_batch_check(size)]


def _batch_check(size: int) -> Check:
    import torch

    from rstor_core.images.deadleaves import image_rng, render_leaves
    from rstor_core.images.device_rendering import render_batch
    from rstor_core.images.leaf_sampling import SHAPES, sample_leaves
    from rstor_core.settings.configs import DeadLeavesConfig

    params = DeadLeavesConfig(shapes=dict.fromkeys(SHAPES, 1.0), appearance={"flat": 1, "gradient": 1, "texture": 1})
    leaves = [sample_leaves(size, params, image_rng(0, i, "check-gpu")) for i in range(4)]
    batch = render_batch(leaves, size, params).cpu()
    cpu = torch.stack([torch.from_numpy(render_leaves(one, size, params)).permute(2, 0, 1) for one in leaves])
    same = torch.equal(batch, cpu)
    gap = float((batch - cpu).abs().max())
    return Check("a GPU batch equals the CPU images", same, "4 images, every shape and look, bit for bit" if same
                 else f"a batch rendered on the GPU differs from the CPU images by up to {gap:.3g}")
