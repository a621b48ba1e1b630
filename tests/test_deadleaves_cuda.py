"""The CUDA kernel gives the CPU image bit for bit (numba's simulator here; a real GPU when present).

Under the simulator every CUDA thread runs in Python, so images stay tiny (16 x 16, 40 leaves).
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from rstor_core.images.deadleaves import dead_leaves
from rstor_core.images.leaf_sampling import SHAPES
from rstor_core.settings.configs import DeadLeavesConfig, ShapeWeights

pytestmark = pytest.mark.skipif(not cuda.is_available(), reason="no GPU and NUMBA_ENABLE_CUDASIM unset")

SMALL = dict(n_leaves=40, r_min=1.5, r_max=12.0)
ALL_LOOKS = {"flat": 1.0, "gradient": 1.0, "texture": 1.0}


def _both(**overrides):
    cpu = dead_leaves(16, 3, return_index=True, **overrides)
    gpu = dead_leaves(16, 3, return_index=True, backend="cuda", **overrides)
    return cpu, gpu


@pytest.mark.parametrize("shape", SHAPES)
def test_cuda_equals_cpu_bit_for_bit_for_each_primitive(shape):
    (image, index), (image_cuda, index_cuda) = _both(shapes=ShapeWeights.only(shape), appearance=ALL_LOOKS, **SMALL)
    np.testing.assert_array_equal(index_cuda, index)
    assert image_cuda.tobytes() == image.tobytes()


@pytest.mark.parametrize("colour", ["uniform", "grey", "saturated", "natural", "photo"])
def test_cuda_equals_cpu_bit_for_bit_for_each_colour_sampler(colour):
    (image, _), (image_cuda, _) = _both(colour=colour, appearance=ALL_LOOKS, **SMALL)
    assert image_cuda.tobytes() == image.tobytes()


def test_cuda_equals_cpu_with_anti_aliasing_and_until_covered():
    (image, _), (image_cuda, _) = _both(n_leaves=20, r_max=6.0, ds_factor=2, until_covered=True)
    assert image_cuda.tobytes() == image.tobytes()


def test_cuda_equals_cpu_with_the_original_study_preset_and_its_rgb_background():
    (image, index), (image_cuda, _) = _both(**{**DeadLeavesConfig.expand({"preset": "original_study"}),
                                              "n_leaves": 40, "ds_factor": 2})
    assert image_cuda.tobytes() == image.tobytes() and (index < 0).any()  # some background shows


# --- a whole batch in one launch (issue 16's GPU data path) ---------------------------------------------

def test_a_batch_rendered_in_one_launch_equals_the_cpu_images():
    """Three images of mixed shapes, gradients and textures, packed with per-image offsets: each one is
    the CPU's image of its leaves, bit for bit (an RGB background too)."""
    import torch

    from rstor_core.images.device_rendering import render_batch
    from rstor_core.images.leaf_sampling import sample_leaves
    from rstor_core.networks.batches import DeadLeavesDataset

    params = DeadLeavesConfig(**SMALL, shapes=dict.fromkeys(SHAPES, 1.0), appearance=ALL_LOOKS,
                              background=(0.2, 0.4, 0.6))
    dataset = DeadLeavesDataset((14, 18), params, seed=4, key=("training",))
    indices = [0, 5, 9]
    batch = render_batch([sample_leaves((14, 18), params, dataset._rng(i)) for i in indices], (14, 18), params)
    assert batch.shape == (3, 3, 14, 18) and batch.dtype == torch.float32
    assert torch.equal(batch.cpu(), torch.stack([dataset[i] for i in indices]))  # on a GPU the batch is on it


def test_a_batch_with_anti_aliasing_is_left_to_the_cpu():
    from rstor_core.images.device_rendering import render_batch
    from rstor_core.images.leaf_sampling import sample_leaves

    params = DeadLeavesConfig(**SMALL, ds_factor=2)
    with pytest.raises(ValueError, match="ds_factor 1 .* render on the CPU"):
        render_batch([sample_leaves(8, params, np.random.default_rng(0))], 8, params)
