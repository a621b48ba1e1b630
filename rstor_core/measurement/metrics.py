"""Image-quality metrics, batched in torch, per image, data range 1.

LPIPS (Zhang et al. 2018) needs torchvision's ImageNet AlexNet, a download; ST-LPIPS, the
shift-tolerant LPIPS of Ghildyal & Liu (ECCV 2022), ships its whole network in its wheel, so it
is the perceptual metric that always works offline. Both run through one forward
(:func:`_perceptual_distance`), which the tests check against each package's own.

PSNR is torchmetrics' functional one. SSIM is our own few lines: torchmetrics' differs from
scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` (the SSIM paper's settings, Wang et al. 2004, and the
reference the study's tables use) by up to 0.02 on small images, because of how it treats the
border. Ours computes scikit-image's statistic exactly: an 11 x 11 Gaussian window (sigma 1.5,
truncated at 3.5 sigma) applied only where it fits, which is the region scikit-image averages
after cropping its padded border. The tests check both against scikit-image within 1e-3.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio

SSIM_SIGMA, SSIM_TRUNCATE = 1.5, 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_MIN_SIZE = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1  # the window's side (11): "valid" filtering needs it


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each image of a (B, C, H, W) batch against its target, data range 1: (B,)."""
    _check_pair(prediction, target)
    return peak_signal_noise_ratio(prediction.double(), target.double(), data_range=1.0, reduction="none",
                                   dim=(1, 2, 3)).float()


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each image over its channels (Gaussian window, data range 1): (B,)."""
    _check_pair(prediction, target)
    window = _gaussian_window(prediction.device)
    if min(prediction.shape[-2:]) < len(window):
        raise ValueError(f"SSIM needs images of at least {len(window)} x {len(window)}, got {tuple(prediction.shape)}")
    x, y = prediction.double(), target.double()
    channels = x.shape[1]

    def local_mean(z: torch.Tensor) -> torch.Tensor:  # separable, depthwise, "valid": no padding
        z = F.conv2d(z, window.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
        return F.conv2d(z, window.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x ** 2
    var_y = local_mean(y * y) - mu_y ** 2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean((1, 2, 3)).float()


@functools.cache
def _gaussian_window(device: torch.device) -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # scipy.ndimage.gaussian_filter's rule
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    weights = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return weights / weights.sum()


# --- LPIPS and ST-LPIPS -------------------------------------------------------------------------

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


class LPIPSWeightsMissing(FileNotFoundError):
    """LPIPS's AlexNet backbone weights are not on this machine (they come from a download)."""


def alexnet_weights_path() -> Path:
    """Where torchvision looks for the ImageNet AlexNet weights LPIPS needs (torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(ALEXNET_URL).name  # get_dir honours TORCH_HOME


@functools.cache
def lpips_model(*, random_backbone: bool = False, device: str = "cpu") -> torch.nn.Module:
    """The ``lpips`` package's LPIPS (AlexNet, v0.1; its linear heads ship with the package).

    The AlexNet backbone is torchvision's ImageNet model, which torchvision downloads; when the
    file is absent this raises :class:`LPIPSWeightsMissing` naming it and where to put it,
    instead of attempting a download. ``random_backbone`` builds the same network with random
    AlexNet weights (tests: the code path without the download; the numbers mean nothing).
    """
    import lpips  # heavy import, only when LPIPS is asked for

    if not random_backbone and not alexnet_weights_path().is_file():
        raise LPIPSWeightsMissing(
            f"LPIPS needs torchvision's AlexNet weights at {alexnet_weights_path()} (not found, and this "
            f"machine cannot download them). Fetch {ALEXNET_URL} on a connected machine and copy it there "
            "(or set TORCH_HOME), or skip LPIPS: evaluate(..., lpips=False) / infer --no-lpips.")
    with warnings.catch_warnings():  # lpips still calls torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", pnet_rand=random_backbone, verbose=False)
    return model.to(device).eval().requires_grad_(False)


def lpips_distance(prediction: torch.Tensor, target: torch.Tensor, *, model: torch.nn.Module | None = None) -> torch.Tensor:
    """LPIPS distance of each image to its target (lower is better): (B,). Images in [0, 1]; a (1, C, H, W)
    target is compared with every prediction (:func:`_perceptual_distance`)."""
    _check_pair(prediction, target, one_target=True)
    return _perceptual_distance(model or lpips_model(device=str(prediction.device)), prediction, target)


ST_LPIPS_MIN_SIZE = 21  # below it the last blur-pool's reflection padding exceeds its input
LPIPS_MIN_SIZE = 31  # below it AlexNet's second max-pool has no output


@functools.cache
def st_lpips_model(*, device: str = "cpu") -> torch.nn.Module:
    """ST-LPIPS (``stlpips-pytorch``, AlexNet, variant ``shift_tolerant``): LPIPS retrained on an AlexNet
    whose first convolution has stride 1 and whose every downsampling is blur-pooled (anti-aliased), so a
    shift of a pixel or two barely moves the score (Ghildyal & Liu, ECCV 2022, arXiv:2207.13686).

    Its backbone and linear heads load from the file in the package's wheel; this variant never asks
    torchvision for weights, so it works offline. Its values are not LPIPS's: compare them only with
    each other.
    """
    from stlpips_pytorch import stlpips  # heavy import (IPython, torchvision), only when ST-LPIPS is asked for

    model = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False)
    return model.to(device).eval().requires_grad_(False)


def st_lpips_distance(prediction: torch.Tensor, target: torch.Tensor, *,
                      model: torch.nn.Module | None = None) -> torch.Tensor:
    """ST-LPIPS distance of each image to its target (lower is better): (B,). Images in [0, 1], at least
    21 x 21; a (1, C, H, W) target is compared with every prediction (:func:`_perceptual_distance`).

    >>> x = torch.rand(2, 3, 32, 32)
    >>> st_lpips_distance(x, x).tolist()
    [0.0, 0.0]
    """
    _check_pair(prediction, target, one_target=True)
    if min(prediction.shape[-2:]) < ST_LPIPS_MIN_SIZE:
        raise ValueError(f"ST-LPIPS needs images of at least {ST_LPIPS_MIN_SIZE} x {ST_LPIPS_MIN_SIZE}, "
                         f"got {tuple(prediction.shape)}")
    return _perceptual_distance(model or st_lpips_model(device=str(prediction.device)), prediction, target)


CHUNK_PIXELS = 4 * 256 * 256  # pixels of predictions scored per forward: bounds memory (~50 MB per 256 x 256)


def _perceptual_distance(model: torch.nn.Module, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The forward of the ``lpips`` and ``stlpips`` models (v0.1: input scaling, backbone, unit-normalised
    features, per-layer linear heads, spatial mean, sum over layers), images mapped from [0, 1] to their
    [-1, 1]. Written out so that a single target's features are computed once, not once per prediction
    (evaluation compares every restoration of an image with the same clean image: half the cost), and
    predictions go through in chunks of :data:`CHUNK_PIXELS`, so 48 outputs or a 2K photo fit in memory."""
    def unit_features(images: torch.Tensor) -> list[torch.Tensor]:
        features = model.net(model.scaling_layer(images.float() * 2 - 1))
        return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) for f in features]  # the packages' eps

    step = max(1, CHUNK_PIXELS // prediction[0, 0].numel())
    with torch.inference_mode():
        shared = unit_features(target) if len(target) == 1 else None
        distances = []
        for start in range(0, len(prediction), step):
            chunk = slice(start, start + step)
            distance = torch.zeros(len(prediction[chunk]), 1, 1, 1, device=prediction.device)
            for head, p, t in zip(model.lins, unit_features(prediction[chunk]),
                                  shared or unit_features(target[chunk])):
                distance = distance + head((p - t) ** 2).mean((2, 3), keepdim=True)
            distances.append(distance.flatten())
        return torch.cat(distances)


def _check_pair(prediction: torch.Tensor, target: torch.Tensor, *, one_target: bool = False) -> None:
    """Two (B, C, H, W) tensors of one shape; with ``one_target``, a (1, C, H, W) target also."""
    same = prediction.shape == target.shape or (one_target and target.shape == (1, *prediction.shape[1:]))
    if not same or prediction.dim() != 4:
        expected = "a (B, C, H, W) prediction and a target of its shape" + (" or (1, C, H, W)" if one_target else "")
        raise ValueError(f"expected {expected} (tensors of one shape), got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
