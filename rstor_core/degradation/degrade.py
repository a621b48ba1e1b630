"""Degradations: noise, Gaussian blur and motion blur, as parameter generators plus operators.

In deepinv's style, a *generator* draws the parameters of a batch from a seed and returns a
dict of tensors (log it, replay it); an *operator* (:func:`blur`, :func:`add_noise`,
:func:`degrade`) is a pure function of the input and those parameters. Motion-blur
trajectories and Gaussian kernels come from deepinv's generators and the convolution from
deepinv's ``conv2d`` (replicate padding); what deepinv lacks is written here: the small / mild /
big motion-blur families and their fixed banks (the original study loaded its kernels from a
``.mat`` file we do not have), per-sample noise levels, and Poisson-Gaussian noise.
Chapter 01 shows the families; chapter 03 evaluates on their banks.

Images are (B, C, H, W) float tensors in [0, 1]; kernels are (B, 1, K, K), non-negative, sum 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from deepinv.physics.functional import conv2d
from deepinv.physics.generator import GaussianBlurGenerator, MotionBlurGenerator

from rstor_core.settings.configs import BANK_SIZE  # noqa: F401  (re-exported: part of the bank addresses)
from rstor_core.settings.rng import stream_seed

KERNEL_SIZE = 31  # support of every blur kernel: holds the "big" family (RMS radius < 6 px)
BANK_SEED = 2024  # the banks' streams: rng.stream_seed(BANK_SEED, "bank", name)
# Family statistic: the kernel's RMS radius (square root of its second moment about its centroid),
# in pixels. Ranges are disjoint, so a kernel belongs to one family only.
FAMILIES = {"small": (0.5, 1.5), "mild": (1.5, 3.0), "big": (3.0, 6.0)}
# deepinv trajectory settings (correlation length l, amplitude sigma) whose radii mostly land in
# each family's range; the rest are rejected.
_TRAJECTORIES = {"small": {"l": 0.6, "sigma": 0.15}, "mild": {"l": 0.3, "sigma": 0.22},
                 "big": {"l": 0.3, "sigma": 0.4}}
# The anisotropic Gaussian bank (chapter 03's Gaussian pair): per-axis sigmas in this range, pixels.
GAUSSIAN_BANK_SIGMA = (0.5, 3.0)
BANKS = (*FAMILIES, "gaussian")  # what a blur address "bank:index" may name
# The banks as data, (len(BANKS), BANK_SIZE, 1, K, K) float32 in BANKS order, written once by write_banks():
# drawn again, deepinv's trajectories come out different on another CPU (big:0's RMS radius 5.7511 on one
# machine, 5.7451 on another), and every score on them with it.
BANK_FILE = Path(__file__).with_name("blur_banks.npy")


def kernel_radius(kernels: torch.Tensor) -> torch.Tensor:
    """RMS radius (pixels) of each (B, 1, K, K) kernel about its centroid: the family statistic."""
    _check_kernels(kernels)
    k = kernels[:, 0].double()
    yy, xx = torch.meshgrid(*(torch.arange(n, dtype=k.dtype) for n in k.shape[-2:]), indexing="ij")
    mass = k.sum((-2, -1))
    cy, cx = (k * yy).sum((-2, -1)) / mass, (k * xx).sum((-2, -1)) / mass
    second = (k * ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)).sum((-2, -1)) / mass
    return second.sqrt().to(kernels.dtype)


def motion_blur_kernels(batch_size: int, family: str | Sequence[str] = "all", *,
                        seed: int) -> dict[str, torch.Tensor]:
    """Fresh motion-blur kernels for training: ``{"filter": (B, 1, K, K), "radius": (B,), "family": (B,)}``.

    ``family`` is one of :data:`FAMILIES`, several of them, or ``"all"`` (each sample picks one of the
    families uniformly; ``"family"`` holds its index in ``FAMILIES``). Kernels are centred on their
    centroid so that blurring does not shift the image.
    """
    names = list(FAMILIES)
    allowed = names if family == "all" else [family] if isinstance(family, str) else list(family)
    unknown = [name for name in allowed if name not in FAMILIES]
    if unknown or not allowed:
        raise ValueError(f"unknown blur family {(unknown or [family])[0]!r}; allowed: {names + ['all']}")
    rng = torch.Generator().manual_seed(seed)
    if len(allowed) == 1:
        picks = torch.full((batch_size,), names.index(allowed[0]))
    else:  # "all" draws exactly as it always did
        picks = torch.tensor([names.index(name) for name in allowed])[torch.randint(len(allowed), (batch_size,),
                                                                                   generator=rng)]
    filters = torch.empty(batch_size, 1, KERNEL_SIZE, KERNEL_SIZE)
    for i, name in enumerate(names):
        rows = (picks == i).nonzero().flatten()
        if len(rows):
            filters[rows] = _draw_in_family(name, len(rows), rng)
    return {"filter": filters, "radius": kernel_radius(filters), "family": picks}


def gaussian_blur_bank() -> torch.Tensor:
    """The fixed bank of anisotropic Gaussian kernels, (BANK_SIZE, 1, K, K), sigmas per axis uniform in
    :data:`GAUSSIAN_BANK_SIGMA` (:func:`draw_bank`): addressed as ``"gaussian:index"``."""
    return stored_banks()["gaussian"]


def motion_blur_bank(family: str) -> torch.Tensor:
    """The fixed bank of a family, (BANK_SIZE, 1, K, K): evaluation kernels, never drawn in training
    (training seeds are different streams; :func:`draw_bank`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown blur family {family!r}; allowed: {list(FAMILIES)}")
    return stored_banks()[family]


@functools.cache
def stored_banks() -> dict[str, torch.Tensor]:
    """Every bank, read from :data:`BANK_FILE`: the same bytes on every machine (a test pins its sha256)."""
    if not BANK_FILE.is_file():
        raise FileNotFoundError(f"the blur banks {BANK_FILE} are missing: restore the file (git checkout "
                                f"{BANK_FILE.name}), or draw them anew with rstor_core.degradation.degrade.write_banks()")
    banks = torch.from_numpy(np.load(BANK_FILE, allow_pickle=False))
    if banks.shape != (len(BANKS), BANK_SIZE, 1, KERNEL_SIZE, KERNEL_SIZE):
        raise ValueError(f"{BANK_FILE} holds banks of shape {tuple(banks.shape)}, not "
                         f"{(len(BANKS), BANK_SIZE, 1, KERNEL_SIZE, KERNEL_SIZE)}: restore the file")
    return dict(zip(BANKS, banks))


def draw_bank(name: str) -> torch.Tensor:
    """Bank ``name`` drawn from its seeded stream, as :data:`BANK_FILE` was: the same bits only on a CPU
    whose floating point agrees with the one that wrote the file."""
    if name == "gaussian":
        seed = stream_seed(BANK_SEED, "bank", "gaussian")
        return gaussian_blur_kernels(BANK_SIZE, sigma_range=GAUSSIAN_BANK_SIGMA, seed=seed)["filter"]
    if name not in FAMILIES:
        raise ValueError(f"unknown bank {name!r}; allowed: {list(BANKS)}")
    rng = torch.Generator().manual_seed(stream_seed(BANK_SEED, "bank", name))
    return _draw_in_family(name, BANK_SIZE, rng)


def write_banks(path: str | Path = BANK_FILE) -> Path:
    """Draw every bank (:func:`draw_bank`) and save them as one ``.npy`` (no timestamps: the same banks
    make the same bytes)."""
    from rstor_core.settings.files import atomic_path

    banks = torch.stack([draw_bank(name) for name in BANKS]).to(torch.float32).numpy()
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as file:
        np.save(file, banks, allow_pickle=False)
    stored_banks.cache_clear()
    return Path(path)


def bank_kernels(specs: str | list[str]) -> torch.Tensor:
    """Bank kernels by address, ``"big:3"``, ``"small:0-7"``, ``"gaussian:5"`` or a list of them: (N, 1, K, K)."""
    specs = [specs] if isinstance(specs, str) else specs
    return torch.cat([(gaussian_blur_bank() if bank == "gaussian" else motion_blur_bank(bank))[indices]
                      for bank, indices in map(parse_blur_spec, specs)])


def parse_blur_spec(spec: str) -> tuple[str, list[int]]:
    """``"small:0-7"`` -> ("small", [0, ..., 7]); ``"big:3"`` -> ("big", [3]); ``"mild"`` -> the whole bank."""
    family, _, rest = spec.partition(":")
    if family not in BANKS:
        raise ValueError(f"blur spec {spec!r}: unknown bank {family!r}; allowed: {list(BANKS)}")
    if not rest:
        return family, list(range(BANK_SIZE))
    try:
        low, _, high = rest.partition("-")
        indices = list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError(f"blur spec {spec!r}: expected family:index or family:first-last") from None
    if not indices or min(indices) < 0 or max(indices) >= BANK_SIZE:
        raise ValueError(f"blur spec {spec!r}: indices must lie in 0..{BANK_SIZE - 1}")
    return family, indices


def gaussian_blur_kernels(batch_size: int, *, sigma_range: tuple[float, float] = (0.5, 3.0),
                          anisotropic: bool = True, seed: int) -> dict[str, torch.Tensor]:
    """Gaussian kernels ``{"filter", "sigma_x", "sigma_y", "angle"}``: sigmas (pixels) uniform in
    ``sigma_range`` per axis (equal when isotropic), angle uniform in [0, 180) degrees."""
    low, high = sigma_range
    if not 0 <= low <= high:
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high, got {sigma_range}")
    rng = torch.Generator().manual_seed(seed)
    sigma_x = low + (high - low) * torch.rand(batch_size, generator=rng)
    sigma_y = low + (high - low) * torch.rand(batch_size, generator=rng) if anisotropic else sigma_x.clone()
    angle = 180.0 * torch.rand(batch_size, generator=rng) if anisotropic else torch.zeros(batch_size)
    return {"filter": gaussian_kernel(sigma_x, sigma_y, angle), "sigma_x": sigma_x, "sigma_y": sigma_y,
            "angle": angle}


def gaussian_kernel(sigma_x: torch.Tensor | float, sigma_y: torch.Tensor | float,
                    angle: torch.Tensor | float = 0.0) -> torch.Tensor:
    """(B, 1, K, K) anisotropic Gaussian kernels (deepinv's); sigma 0 on both axes is the identity."""
    sigma_x, sigma_y, angle = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (sigma_x, sigma_y, angle))
    sigma_x, sigma_y, angle = torch.broadcast_tensors(sigma_x, sigma_y, angle)
    if (sigma_x < 0).any() or (sigma_y < 0).any():
        raise ValueError(f"sigmas must be >= 0, got {sigma_x.tolist()} and {sigma_y.tolist()}")
    sigma = torch.stack([sigma_x, sigma_y], dim=1).clamp_min(1e-3)  # deepinv divides by sigma
    generator = GaussianBlurGenerator((KERNEL_SIZE, KERNEL_SIZE), isotropic=False)
    kernels = generator.step(len(sigma_x), sigma=sigma, angle=angle)["filter"]
    identity = (sigma_x == 0) & (sigma_y == 0)
    kernels[identity] = identity_kernel(1)[0]
    return kernels / kernels.sum((-2, -1), keepdim=True)


def identity_kernel(batch_size: int = 1) -> torch.Tensor:
    """(B, 1, K, K) centred deltas: blurring with them returns the input exactly."""
    kernels = torch.zeros(batch_size, 1, KERNEL_SIZE, KERNEL_SIZE)
    kernels[:, :, KERNEL_SIZE // 2, KERNEL_SIZE // 2] = 1.0
    return kernels


def noise_levels(batch_size: int, sigma_range: tuple[float, float], *, seed: int) -> dict[str, torch.Tensor]:
    """Per-sample AWGN levels ``{"sigma": (B,)}``, uniform in ``sigma_range`` given in /255 units
    (the study's convention, e.g. (0, 50)); returned in [0, 1] image units."""
    low, high = sigma_range
    if not 0 <= low <= high:
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high, got {sigma_range}")
    rng = torch.Generator().manual_seed(seed)
    return {"sigma": (low + (high - low) * torch.rand(batch_size, generator=rng)) / 255.0}


def add_noise(x: torch.Tensor, sigma: torch.Tensor | float, *, seed: int, poisson_gain: float | None = None,
              clip: bool = False) -> torch.Tensor:
    """``x`` plus Gaussian noise of std ``sigma`` (per sample, image units), optionally after
    Poisson noise of ``poisson_gain`` photons per unit intensity.

    Clipping is off by default: clipping to [0, 1] makes the noise non-zero-mean near black and
    white, which is not the AWGN model the networks are trained for nor the one the metrics
    assume; turn it on to mimic an 8-bit camera.
    """
    _check_images(x)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    if (sigma < 0).any():
        raise ValueError(f"noise sigma must be >= 0, got {sigma.flatten().tolist()}")
    rng = torch.Generator(device=x.device).manual_seed(seed)
    y = x
    if poisson_gain is not None:
        if poisson_gain <= 0:
            raise ValueError(f"poisson_gain must be > 0, got {poisson_gain}")
        y = torch.poisson(x.clamp_min(0) * poisson_gain, generator=rng) / poisson_gain
    y = y + sigma * torch.randn(x.shape, generator=rng, dtype=x.dtype, device=x.device)
    return y.clamp(0.0, 1.0) if clip else y


def blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image with its kernel (``(B, 1, K, K)``, or one kernel for all), replicate
    padding, same size out. Identity kernels return their images exactly."""
    _check_images(x)
    _check_kernels(kernels)
    if len(kernels) not in (1, len(x)):
        raise ValueError(f"expected 1 or {len(x)} kernels, got {len(kernels)}")
    kernels = kernels.to(x).expand(len(x), -1, -1, -1)
    identity = _is_identity(kernels)
    if identity.all():
        return x.clone()
    out = conv2d(x, kernels, padding="replicate")
    out[identity] = x[identity]
    return out


def degrade(x: torch.Tensor, *, kernels: torch.Tensor | None = None, sigma: torch.Tensor | float = 0.0,
            seed: int, **noise_options) -> torch.Tensor:
    """Blur then noise: the forward model of the study (kernels None: denoising only)."""
    y = blur(x, kernels) if kernels is not None else x
    return add_noise(y, sigma, seed=seed, **noise_options)


def _draw_in_family(family: str, n: int, rng: torch.Generator) -> torch.Tensor:
    """``n`` centred kernels whose RMS radius lies in the family's range (rejection sampling)."""
    low, high = FAMILIES[family]
    generator = MotionBlurGenerator((KERNEL_SIZE, KERNEL_SIZE), rng=rng, **_TRAJECTORIES[family])
    kept = []
    for _ in range(100):
        candidates = _centre(generator.step(max(2 * n, 16))["filter"])
        radius = kernel_radius(candidates)
        kept.append(candidates[(radius >= low) & (radius < high)])
        if sum(len(k) for k in kept) >= n:
            return torch.cat(kept)[:n]
    raise RuntimeError(f"could not draw {n} kernels of family {family!r} in 100 rounds")


def _centre(kernels: torch.Tensor) -> torch.Tensor:
    """Shift each kernel (by whole pixels) so its centroid sits on the centre pixel."""
    k = kernels[:, 0]
    yy, xx = torch.meshgrid(*(torch.arange(n, dtype=k.dtype) for n in k.shape[-2:]), indexing="ij")
    mass = k.sum((-2, -1))
    centre = KERNEL_SIZE // 2
    shifts_y = (centre - (k * yy).sum((-2, -1)) / mass).round().long()
    shifts_x = (centre - (k * xx).sum((-2, -1)) / mass).round().long()
    pad = KERNEL_SIZE  # roll inside a larger canvas so no mass wraps around, then crop back
    out = []
    for kernel, dy, dx in zip(torch.nn.functional.pad(k, (pad,) * 4), shifts_y, shifts_x):
        out.append(torch.roll(kernel, (int(dy), int(dx)), dims=(0, 1))[pad:-pad, pad:-pad])
    out = torch.stack(out)[:, None].clamp_min(0)
    return out / out.sum((-2, -1), keepdim=True)


def _is_identity(kernels: torch.Tensor) -> torch.Tensor:
    centre = kernels.shape[-1] // 2
    return (kernels[:, 0, centre, centre] == 1) & (kernels.sum((-3, -2, -1)) == 1) & (kernels.amin((-3, -2, -1)) == 0)


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"expected images as a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")


def _check_kernels(kernels: torch.Tensor) -> None:
    if not isinstance(kernels, torch.Tensor) or kernels.dim() != 4 or kernels.shape[1] != 1:
        raise ValueError(f"expected kernels as a (B, 1, K, K) tensor, got {getattr(kernels, 'shape', type(kernels))}")
