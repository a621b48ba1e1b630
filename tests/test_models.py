"""NAFNet: the official module names and shapes, any input size, identity at initialisation."""

from __future__ import annotations

import copy

import pytest
import torch

from rstor_core.networks.models import NAFBlock, NAFNet, NAFNetConfig, build_model, count_parameters


def _published_keys(width: int, enc: list[int], middle: int, dec: list[int]) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes written out from the published architecture (megvii-research/NAFNet,
    basicsr/models/archs/NAFNet_arch.py), independently of our code."""
    def block(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
        dw = 2 * c
        return {f"{prefix}.conv1.weight": (dw, c, 1, 1), f"{prefix}.conv1.bias": (dw,),
                f"{prefix}.conv2.weight": (dw, 1, 3, 3), f"{prefix}.conv2.bias": (dw,),
                f"{prefix}.conv3.weight": (c, dw // 2, 1, 1), f"{prefix}.conv3.bias": (c,),
                f"{prefix}.sca.1.weight": (dw // 2, dw // 2, 1, 1), f"{prefix}.sca.1.bias": (dw // 2,),
                f"{prefix}.conv4.weight": (2 * c, c, 1, 1), f"{prefix}.conv4.bias": (2 * c,),
                f"{prefix}.conv5.weight": (c, c, 1, 1), f"{prefix}.conv5.bias": (c,),
                f"{prefix}.norm1.weight": (c,), f"{prefix}.norm1.bias": (c,),
                f"{prefix}.norm2.weight": (c,), f"{prefix}.norm2.bias": (c,),
                f"{prefix}.beta": (1, c, 1, 1), f"{prefix}.gamma": (1, c, 1, 1)}

    keys = {"intro.weight": (width, 3, 3, 3), "intro.bias": (width,),
            "ending.weight": (3, width, 3, 3), "ending.bias": (3,)}
    c = width
    for level, n in enumerate(enc):
        for b in range(n):
            keys |= block(f"encoders.{level}.{b}", c)
        keys |= {f"downs.{level}.weight": (2 * c, c, 2, 2), f"downs.{level}.bias": (2 * c,)}
        c *= 2
    for b in range(middle):
        keys |= block(f"middle_blks.{b}", c)
    for level, n in enumerate(dec):
        keys[f"ups.{level}.0.weight"] = (2 * c, c, 1, 1)
        c //= 2
        for b in range(n):
            keys |= block(f"decoders.{level}.{b}", c)
    return keys


def test_width_16_state_dict_has_the_official_names_and_shapes():
    model = NAFNet(img_channel=3, width=16, middle_blk_num=1, enc_blk_nums=[1, 1, 2], dec_blk_nums=[1, 1, 1])
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == _published_keys(16, [1, 1, 2], 1, [1, 1, 1])


@pytest.mark.parametrize("name", ["nafnet", "unet", "stacked_conv"])
@pytest.mark.parametrize("shape", [(1, 3, 33, 47), (2, 3, 64, 64), (1, 3, 17, 8)])
def test_any_input_size_is_padded_and_cropped_back(name, shape, device):
    model = build_model(name, {"width": 8}).to(device)
    out = model(torch.rand(shape, device=device))
    assert out.shape == shape and out.device.type == device.type


def test_a_fresh_naf_block_returns_its_input_exactly_whatever_its_random_convolutions():
    block = NAFBlock(8).eval()
    x = torch.randn(2, 8, 12, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(block(x), x)


@pytest.mark.parametrize("scale", [lambda block: block.beta, lambda block: block.gamma], ids=["beta", "gamma"])
def test_a_naf_block_with_a_non_zero_residual_scale_changes_its_input(scale):
    block = NAFBlock(8).eval()
    with torch.no_grad():
        scale(block).fill_(0.5)
    x = torch.randn(2, 8, 12, 10, generator=torch.Generator().manual_seed(0))
    assert (block(x) - x).abs().max() > 1e-3


def test_a_fresh_nafnet_gives_the_output_of_its_copy_with_every_block_replaced_by_the_identity():
    model = build_model("nafnet", {"width": 8}).eval()
    bypassed = copy.deepcopy(model)
    blocks = [name for name, module in bypassed.named_modules() if isinstance(module, NAFBlock)]
    assert blocks, "the network has no NAFBlock to bypass"
    for name in blocks:
        bypassed.set_submodule(name, torch.nn.Identity())
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), bypassed(x), rtol=0, atol=0)


def test_registry_rejects_unknown_names_and_bad_sizes():
    with pytest.raises(ValueError, match="available"):
        build_model("restormer")
    with pytest.raises(ValueError, match="one entry per encoder level"):
        NAFNetConfig(enc_blk_nums=(1, 1), dec_blk_nums=(1,))


def test_quick_configuration_is_small_and_the_unet_is_of_similar_size():
    nafnet = count_parameters(NAFNet.from_config(NAFNetConfig()))
    assert 100_000 < nafnet < 2_000_000
    assert 0.3 < count_parameters(build_model("unet")) / nafnet < 3


@pytest.mark.parametrize("ffn_channels, millions", [(None, 67.9), (2, 41.4)], ids=["official block", "theirs"])
def test_the_original_studys_network_has_its_parameter_count(ffn_channels, millions):
    """Width 64, blocks [1, 1, 1, 28] / 1 / [1, 1, 1, 1] (issue 16): 67.9 M parameters with the official
    block; 41.4 M with the original study's feed-forward branch of 2 channels."""
    with torch.device("meta"):  # counts without allocating 270 MB
        model = NAFNet(width=64, middle_blk_num=1, enc_blk_nums=(1, 1, 1, 28), dec_blk_nums=(1, 1, 1, 1),
                       ffn_channels=ffn_channels)
    assert count_parameters(model) / 1e6 == pytest.approx(millions, abs=0.05)
