"""Restoration networks: NAFNet (Chen, Chu, Zhang & Sun, "Simple Baselines for Image
Restoration", ECCV 2022) with the official module names, so official checkpoints load.

NAFNet is a U-Net of "NAF" blocks: no activation functions; a SimpleGate (split the channels
in two halves, multiply them) replaces GELU, and a simplified channel attention (global
pooling + 1x1 conv) replaces the usual squeeze-excitation. Each block is residual with learned
scales ``beta``, ``gamma`` that start at zero, so every block starts as the identity; the whole
network predicts a correction added to its input. The state-dict names (``intro``,
``encoders``, ``downs``, ``middle_blks``, ``ups``, ``decoders``, ``ending``; in blocks
``conv1``..``conv5``, ``sca``, ``norm1``, ``norm2``, ``beta``, ``gamma``) are those of
megvii-research/NAFNet, and so are the constructor keywords.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from rstor_core.settings.configs import MODEL_NAMES, ModelConfig, NAFNetConfig, StackedConvConfig, UNetConfig


def restore(model: Callable[[torch.Tensor], torch.Tensor], degraded: torch.Tensor, *,
            batch_size: int = 4) -> torch.Tensor:
    """``model`` applied to (B, C, H, W) ``degraded`` images, ``batch_size`` at a time, clamped to [0, 1].

    A network runs on its own device (the inputs go there and the outputs come back to
    ``degraded``'s), so callers never juggle devices; any other callable runs as it is. On CUDA it runs
    in bfloat16 autocast, as it trained (:class:`rstor_core.networks.train.Trainer`).
    """
    parameter = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    device = parameter.device if parameter is not None else degraded.device
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = [model(degraded[i:i + batch_size].to(device)).float().clamp(0, 1).to(degraded.device)
               for i in range(0, len(degraded), batch_size)]
    return torch.cat(out)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, with per-channel weight and bias."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / (var + self.eps).sqrt()
        return self.weight.view(1, -1, 1, 1) * x + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """The gate that replaces the activation: (B, 2C, H, W) -> (B, C, H, W), first half x second."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """Norm -> 1x1 -> depthwise 3x3 -> gate -> channel attention -> 1x1, then a gated FFN; both residual."""

    def __init__(self, channels: int, dw_expand: int = 2, ffn_expand: int = 2, dropout: float = 0.0,
                 ffn_channels: int | None = None) -> None:
        super().__init__()
        dw = channels * dw_expand
        self.conv1 = nn.Conv2d(channels, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, channels, 1)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))  # simplified attention
        self.sg = SimpleGate()
        ffn = ffn_channels or channels * ffn_expand  # ffn_channels: a fixed width at every level
        self.conv4 = nn.Conv2d(channels, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, channels, 1)
        self.norm1 = LayerNorm2d(channels)
        self.norm2 = LayerNorm2d(channels)
        self.dropout1 = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))  # zero: the block starts as the identity
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.dropout1(self.conv3(x * self.sca(x)))
        y = inp + x * self.beta
        x = self.dropout2(self.conv5(self.sg(self.conv4(self.norm2(y)))))
        return y + x * self.gamma


class NAFNet(nn.Module):
    """NAFNet (B, C, H, W) -> (B, C, H, W); any H, W (padded to a multiple of 2^levels, cropped back)."""

    def __init__(self, img_channel: int = 3, width: int = 16, middle_blk_num: int = 1,
                 enc_blk_nums: tuple[int, ...] = (), dec_blk_nums: tuple[int, ...] = (),
                 ffn_channels: int | None = None) -> None:
        super().__init__()
        self.config = NAFNetConfig(img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums, ffn_channels)
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        channels = width

        def block(channels: int) -> NAFBlock:
            return NAFBlock(channels, ffn_channels=ffn_channels)

        for blocks in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[block(channels) for _ in range(blocks)]))
            self.downs.append(nn.Conv2d(channels, 2 * channels, 2, stride=2))
            channels *= 2
        self.middle_blks = nn.Sequential(*[block(channels) for _ in range(middle_blk_num)])
        for blocks in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(channels, 2 * channels, 1, bias=False), nn.PixelShuffle(2)))
            channels //= 2
            self.decoders.append(nn.Sequential(*[block(channels) for _ in range(blocks)]))
        self.multiple = 2 ** len(self.encoders)

    @classmethod
    def from_config(cls, config: NAFNetConfig) -> NAFNet:
        return cls(**dataclasses.asdict(config))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        inp = F.pad(inp, (0, -width % self.multiple, 0, -height % self.multiple))  # zeros, right and bottom
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = decoder(up(x) + skip)
        x = self.ending(x) + inp  # residual: the network predicts the correction
        return x[..., :height, :width]


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """U-Net (B, C, H, W) -> (B, C, H, W), residual like NAFNet; any size (padded, cropped back)."""

    def __init__(self, img_channel: int = 3, width: int = 16, levels: int = 3) -> None:
        super().__init__()
        self.config = UNetConfig(img_channel, width, levels)
        widths = [width * 2 ** i for i in range(levels + 1)]
        self.intro = _double_conv(img_channel, width)
        self.downs = nn.ModuleList(_double_conv(widths[i], widths[i + 1]) for i in range(levels))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels))
        self.merges = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in range(levels))
        self.ending = nn.Conv2d(width, img_channel, 1)
        self.multiple = 2 ** levels

    @classmethod
    def from_config(cls, config: UNetConfig) -> UNet:
        return cls(**dataclasses.asdict(config))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        padded = F.pad(inp, (0, -width % self.multiple, 0, -height % self.multiple), mode="replicate")
        x = self.intro(padded)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(F.max_pool2d(x, 2))
        for level in reversed(range(len(self.ups))):
            x = self.merges[level](torch.cat([self.ups[level](x), skips[level]], dim=1))
        return (self.ending(x) + padded)[..., :height, :width]


class StackedConv(nn.Module):
    """Stacked convolutions, residual; a receptive field of only 2 x depth + 1 pixels."""

    def __init__(self, img_channel: int = 3, width: int = 48, depth: int = 8) -> None:
        super().__init__()
        self.config = StackedConvConfig(img_channel, width, depth)
        layers = [nn.Conv2d(img_channel, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, img_channel, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, config: StackedConvConfig) -> StackedConv:
        return cls(**dataclasses.asdict(config))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return inp + self.layers(inp)


MODELS = {"nafnet": NAFNet, "unet": UNet, "stacked_conv": StackedConv}  # the profile's model names
assert tuple(MODELS) == MODEL_NAMES, "the registry and the profile's model names must agree"


def model_from_config(config: ModelConfig) -> nn.Module:
    """The network a profile's ``model`` section names, built from its config."""
    return MODELS[config.name].from_config(config.chosen)


def build_model(name: str, fields: dict | None = None) -> nn.Module:
    """A model from its registry name and config fields, e.g. ``build_model("nafnet", {"width": 32})``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return model_from_config(ModelConfig(name=name, **{name: fields or {}}))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
