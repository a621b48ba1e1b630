"""Image-quality metrics, batched in torch, per image, data range 1.

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


# --- LPIPS -------------------------------------------------------------------------------------

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
    """LPIPS distance of each image (lower is better): (B,). Images in [0, 1], scaled to LPIPS's [-1, 1]."""
    _check_pair(prediction, target)
    model = model or lpips_model(device=str(prediction.device))
    with torch.inference_mode():
        return model(prediction.float() * 2 - 1, target.float() * 2 - 1).flatten()


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
