"""A whole batch of dead leaves rendered on the GPU, into a torch tensor that never passes through the host.

On a GPU a training step is about a hundred times shorter than on the CPU: batches painted on the host
would starve it. Every image's leaves are packed together (:func:`~rstor_core.images.leaf_packing.batch_arrays`)
and each stage is one CUDA launch over the whole batch, with the per-pixel maths of the single-image kernels
(:mod:`rstor_core.images.leaf_kernels_cuda`), so image ``b`` is the CPU's image of the same leaves, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rstor_core.images.leaf_packing import APOTHEM, NORMALS, batch_arrays
from rstor_core.images.leaf_sampling import Leaves, Size, canvas_shape
from rstor_core.settings.configs import DeadLeavesConfig

if TYPE_CHECKING:
    import torch

__all__ = ["render_batch"]


def render_batch(batch: Sequence[Leaves], size: Size, params: DeadLeavesConfig = DeadLeavesConfig()) -> torch.Tensor:
    """Rasterise the leaves of a whole batch with CUDA, one launch per stage (the leaves of every image
    packed with per-image offsets), into a (B, 3, H, W) float32 torch tensor on the GPU that the kernels
    write in place: a GPU run's training batches never pass through the host. Image ``b`` is
    :func:`~rstor_core.images.deadleaves.render_leaves` of ``batch[b]``, bit for bit. Under numba's CUDA
    simulator the tensor is on the CPU. Anti-aliasing (``ds_factor`` > 1) is the CPU's: a :class:`ValueError`
    here.
    """
    import torch

    from rstor_core.images import leaf_kernels_cuda as KC

    cuda = KC.cuda  # numba.cuda, importable on numpy 2.5 (rstor_core.images.cuda_compat)
    if params.ds_factor != 1:
        raise ValueError(f"render_batch draws at ds_factor 1 (got {params.ds_factor}): anti-aliased dead leaves "
                         "render on the CPU (render_leaves)")
    height, width = canvas_shape(size)
    geom, ints, look, look_ints, textures, offsets = batch_arrays(batch, (height, width))
    index, index_array = _device_output((len(batch), height, width), torch.int32)
    out, out_array = _device_output((len(batch), height, width, 3), torch.float64)
    grid, block = KC.batch_launch_shape(len(batch), height, width)
    device = [cuda.to_device(a) for a in (geom, ints, NORMALS, APOTHEM, offsets, look, look_ints, textures)]
    KC.paint_batch[grid, block](*device[:5], index_array)
    rgb = isinstance(params.background, tuple)  # the kernels paint a grey level; an RGB one is set after
    KC.shade_batch[grid, block](index_array, device[0], *device[5:], float(params.texture_amplitude),
                                0.0 if rgb else float(params.background), out_array)
    cuda.synchronize()
    if out is None:  # the simulator: arrays on the host
        index, out = torch.from_numpy(index_array.copy_to_host()), torch.from_numpy(out_array.copy_to_host())
    if rgb:
        out[index < 0] = torch.tensor(params.background, dtype=out.dtype, device=out.device)
    if params.swap_red_blue:
        out = out.flip(-1)
    return out.permute(0, 3, 1, 2).float().contiguous()


def _device_output(shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor | None, Any]:
    """A torch tensor on the GPU and the numba view of its memory (``__cuda_array_interface__``, no copy);
    under the simulator, no tensor and a simulated device array."""
    import numba
    import torch

    from rstor_core.images.cuda_compat import numba_cuda

    cuda = numba_cuda()
    if not numba.config.ENABLE_CUDASIM:
        tensor = torch.empty(shape, dtype=dtype, device="cuda")
        return tensor, cuda.as_cuda_array(tensor)
    return None, cuda.device_array(shape, dtype=str(dtype).removeprefix("torch."))
