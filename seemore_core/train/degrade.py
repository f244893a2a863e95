"""Real-photo degradations for the LR side of training pairs (issue 14).

The clean pipeline (``data.degrade``) teaches the model MATLAB bicubic downscales only,
so on phone photos and web JPEGs it sharpens noise and 8x8 JPEG blocks into contours.
This module degrades HR crops the way the Real-ESRGAN paper (Wang et al. 2021) does,
with milder defaults because fidelity comes first here (the model must still beat
bicubic on clean input):

    blur (isotropic / anisotropic / generalized Gaussian kernel)
    -> resize to the LR size times a small jitter (bicubic, bilinear or area)
    -> Gaussian or Poisson noise (colour or grey)
    [second order, with some probability: JPEG -> blur -> resize -> noise again]
    -> resize to the exact LR size -> 8-bit rounding -> real JPEG (Pillow) at q 30-95

Every random choice comes from one ``torch.Generator`` passed in, so a sampler that
saves that generator's state resumes bit-exactly, and the same seed gives the same
pixels. A share of crops (``clean_prob``) keeps the benchmark's MATLAB bicubic so the
clean case is not forgotten.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError
from ..resize import resize_weights

__all__ = [
    "BLUR_KINDS",
    "RESIZE_MODES",
    "DegradeConfig",
    "apply_kernel",
    "degrade_batch",
    "degrade_image",
    "gaussian_kernel",
    "gaussian_noise",
    "jpeg_roundtrip",
    "matlab_bicubic",
    "poisson_noise",
    "resize",
]

BLUR_KINDS = ("isotropic", "anisotropic", "generalized")
RESIZE_MODES: tuple[Literal["bicubic", "bilinear", "area"], ...] = ("bicubic", "bilinear", "area")
# ITU-R BT.601 luma weights: grey noise is drawn once on luminance, as camera sensor
# noise after demosaicking mostly is.
_LUMA = (0.299, 0.587, 0.114)

Range = tuple[float, float]


@dataclass(frozen=True)
class DegradeConfig:
    """Probabilities and ranges of the degradations; ``[degradation]`` in the TOML.

    Ranges are ``[low, high]`` sampled uniformly; ``*_weights`` are relative odds of a
    choice. Sigmas of blur are in HR pixels, noise sigmas in 8-bit levels (0-255).
    """

    # Share of crops that get the benchmark's clean MATLAB bicubic and nothing else.
    clean_prob: float = 0.1
    # First order.
    blur_prob: float = 0.8
    blur_kernel_size: tuple[int, int] = (7, 21)  # odd sizes in this range
    blur_kind_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)  # BLUR_KINDS order
    blur_sigma: Range = (0.2, 1.5)
    blur_beta: Range = (0.5, 4.0)  # generalized Gaussian shape: <1 heavy tails, >1 plateau
    resize_mode_weights: tuple[float, float, float] = (0.4, 0.3, 0.3)  # RESIZE_MODES order
    resize_jitter: Range = (0.8, 1.25)  # intermediate size relative to the LR size
    noise_prob: float = 0.5
    gaussian_noise_prob: float = 0.6  # otherwise Poisson
    gray_noise_prob: float = 0.4
    noise_sigma: Range = (1.0, 15.0)
    poisson_scale: Range = (0.05, 2.0)
    # Second order (Real-ESRGAN applies it always; here on a share of crops).
    second_order_prob: float = 0.4
    blur2_prob: float = 0.5
    blur2_sigma: Range = (0.2, 0.8)
    resize2_jitter: Range = (0.85, 1.15)
    noise2_prob: float = 0.4
    noise2_sigma: Range = (1.0, 10.0)
    poisson2_scale: Range = (0.05, 1.5)
    # JPEG, after the final resize (and between the two orders).
    jpeg_prob: float = 0.8
    jpeg_quality: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_prob"):
                if not 0.0 <= value <= 1.0:
                    raise ConfigError(f"degradation.{f.name} must be in [0, 1], not {value}")
            elif isinstance(value, tuple) and f.name.endswith("_weights"):
                if any(v < 0 for v in value) or sum(value) <= 0:
                    raise ConfigError(
                        f"degradation.{f.name} must be non-negative with a positive sum"
                    )
            elif isinstance(value, tuple):
                lo, hi = value
                if lo > hi or lo < 0:
                    raise ConfigError(
                        f"degradation.{f.name} must be [low, high] with 0 <= low <= high"
                    )
        lo_k, hi_k = self.blur_kernel_size
        if lo_k < 3 or lo_k % 2 == 0 or hi_k % 2 == 0:
            raise ConfigError("degradation.blur_kernel_size must be odd sizes of at least 3")
        if self.jpeg_quality[0] < 1 or self.jpeg_quality[1] > 100:
            raise ConfigError("degradation.jpeg_quality must lie in [1, 100]")
        if min(self.resize_jitter[0], self.resize2_jitter[0]) <= 0:
            raise ConfigError("degradation resize jitters must be above 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DegradeConfig:
        """Build from the TOML table; an unknown key or a wrong shape is a ValueError."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown degradation option(s): {', '.join(unknown)}")
        defaults = cls()
        values: dict[str, Any] = {}
        for key, raw in data.items():
            default = getattr(defaults, key)
            if isinstance(default, tuple):
                if not isinstance(raw, list | tuple) or len(raw) != len(default):
                    raise ConfigError(f"degradation.{key} must be a list of {len(default)} numbers")
                values[key] = tuple(
                    _number(key, v, type(d)) for v, d in zip(raw, default, strict=True)
                )
            else:
                values[key] = _number(key, raw, type(default))
        return cls(**values)


def _number(key: str, raw: object, kind: type) -> Any:
    # TOML gives int for "1" and float for "1.0"; bools are ints in Python but never
    # what a user meant for a number.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"degradation.{key}: {raw!r} is not a number")
    if kind is int and not float(raw).is_integer():
        raise ConfigError(f"degradation.{key}: {raw!r} is not a whole number")
    return kind(raw)


# --- building blocks (deterministic given their arguments) --------------------------


def matlab_bicubic(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, 3, sP, sP) float HR in [0, 1] -> (N, 3, P, P) LR, as the benchmark makes it:
    MATLAB's antialiased bicubic with 8-bit rounding after each pass."""
    h, w = hr.shape[-2:]
    wh = resize_weights(h, h // scale, 1 / scale, device=hr.device, dtype=torch.float32)
    ww = resize_weights(w, w // scale, 1 / scale, device=hr.device, dtype=torch.float32)
    x = torch.matmul(wh, hr * 255.0).add_(0.5).floor_().clamp_(0, 255)
    x = torch.matmul(x, ww.T).add_(0.5).floor_().clamp_(0, 255)
    return x / 255.0


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float, theta: float, beta: float = 1.0
) -> torch.Tensor:
    """A normalised (size, size) kernel exp(-0.5 * (x^T C^-1 x)^beta), C the covariance
    of axis sigmas ``sigma_x``, ``sigma_y`` rotated by ``theta`` radians. beta = 1 is a
    Gaussian; other betas give the generalized Gaussian of Real-ESRGAN."""
    r = size // 2
    ax = torch.arange(-r, r + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    # Coordinates in the kernel's own (rotated) axes.
    u = c * xx + s * yy
    v = -s * xx + c * yy
    d = (u / sigma_x) ** 2 + (v / sigma_y) ** 2
    k = torch.exp(-0.5 * d.pow(beta))
    return (k / k.sum()).float()


def apply_kernel(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of (N, C, H, W) with one (k, k) kernel, mirrored borders."""
    k = kernel.shape[-1]
    pad = k // 2
    # Reflect padding needs pad < side; tiny crops fall back to repeating the edge.
    mode = "reflect" if pad < min(x.shape[-2:]) else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    c = x.shape[1]
    return F.conv2d(xp, kernel.to(x.dtype).expand(c, 1, k, k), groups=c)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize (N, C, H, W) to ``size`` with torch's half-pixel-centred sampling, so HR
    and LR stay aligned whatever the factor; bicubic and bilinear are antialiased."""
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)


def gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    """Add N(0, (sigma/255)^2) noise, one draw per pixel shared by the channels if grey."""
    n, c, h, w = x.shape
    noise = torch.randn((n, 1 if gray else c, h, w), generator=gen, dtype=x.dtype)
    return x + noise * (sigma / 255.0)


def poisson_noise(x: torch.Tensor, scale: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    """Add shot noise: the 8-bit photon count is Poisson, its deviation times ``scale``.
    Grey noise is drawn on luminance and added to every channel."""
    src = x.clamp(0, 1)
    if gray:
        luma = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        src = (src * luma).sum(1, keepdim=True)
    counts = src * 255.0
    noise = (torch.poisson(counts, generator=gen) - counts) / 255.0
    return x + noise * scale


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each (3, H, W) image of a [0, 1] batch as a real JPEG with Pillow (4:2:0,
    as cameras and the web save them) and decode it back."""
    out = []
    for img in x:
        arr = img.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            dec = np.asarray(im.convert("RGB"))
        out.append(torch.from_numpy(dec.copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.dtype) / 255.0


# --- random pipeline ----------------------------------------------------------------


def _uniform(gen: torch.Generator, r: tuple[float, float]) -> float:
    u = float(torch.rand((), generator=gen, dtype=torch.float64))
    return r[0] + (r[1] - r[0]) * u


def _chance(gen: torch.Generator, p: float) -> bool:
    # Always draw, so that the stream does not depend on p being 0 or 1.
    return float(torch.rand((), generator=gen, dtype=torch.float64)) < p


def _choice(gen: torch.Generator, weights: tuple[float, ...]) -> int:
    w = torch.tensor(weights, dtype=torch.float64)
    return int(torch.multinomial(w, 1, generator=gen))


def _random_blur(
    x: torch.Tensor, cfg: DegradeConfig, sigma: Range, gen: torch.Generator, log: list[str]
) -> torch.Tensor:
    lo, hi = cfg.blur_kernel_size
    size = lo + 2 * int(torch.randint((hi - lo) // 2 + 1, (), generator=gen))
    kind = BLUR_KINDS[_choice(gen, cfg.blur_kind_weights)]
    sx = _uniform(gen, sigma)
    sy, theta, beta = sx, 0.0, 1.0
    # The generalized kernel is anisotropic half of the time, as in Real-ESRGAN.
    if kind == "anisotropic" or (kind == "generalized" and _chance(gen, 0.5)):
        sy = _uniform(gen, sigma)
        theta = _uniform(gen, (0.0, math.pi))
    if kind == "generalized":
        beta = _uniform(gen, cfg.blur_beta)
    kernel = gaussian_kernel(size, sx, sy, theta, beta)
    if kind == "isotropic":
        log.append(f"blur iso s={sx:.2f} k={size}")
    else:
        shape = f" b={beta:.1f}" if kind == "generalized" else ""
        log.append(f"blur {kind[:3]} s={sx:.2f}/{sy:.2f}{shape} k={size}")
    return apply_kernel(x, kernel)


def _random_resize(
    x: torch.Tensor,
    cfg: DegradeConfig,
    target: tuple[int, int],
    jitter: Range,
    gen: torch.Generator,
    log: list[str],
) -> torch.Tensor:
    mode = RESIZE_MODES[_choice(gen, cfg.resize_mode_weights)]
    f = _uniform(gen, jitter)
    size = (max(2, round(target[0] * f)), max(2, round(target[1] * f)))
    log.append(f"{mode} x{f:.2f}")
    return resize(x, size, mode)


def _random_noise(
    x: torch.Tensor,
    cfg: DegradeConfig,
    sigma: Range,
    poisson: Range,
    gen: torch.Generator,
    log: list[str],
) -> torch.Tensor:
    gray = _chance(gen, cfg.gray_noise_prob)
    tag = "grey" if gray else "colour"
    if _chance(gen, cfg.gaussian_noise_prob):
        s = _uniform(gen, sigma)
        log.append(f"gauss s={s:.1f} {tag}")
        x = gaussian_noise(x, s, gray, gen)
    else:
        s = _uniform(gen, poisson)
        log.append(f"poisson x{s:.2f} {tag}")
        x = poisson_noise(x, s, gray, gen)
    return x.clamp_(0, 1)


def _random_jpeg(
    x: torch.Tensor, cfg: DegradeConfig, gen: torch.Generator, log: list[str]
) -> torch.Tensor:
    lo, hi = cfg.jpeg_quality
    q = lo + int(torch.randint(hi - lo + 1, (), generator=gen))
    log.append(f"jpeg q={q}")
    return jpeg_roundtrip(x, q)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the pipeline's many small ops on one thread: spreading each over the pool
    costs more than it saves (6x slower per batch on a loaded 2-core machine), and one
    thread gives the same float sums on every machine, so the degraded validation set
    comes out identical wherever it is built."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def degrade_image(
    hr: torch.Tensor, scale: int, cfg: DegradeConfig, gen: torch.Generator
) -> tuple[torch.Tensor, list[str]]:
    """One (3, H, W) float HR in [0, 1], H and W multiples of ``scale``, -> its
    (3, H/scale, W/scale) LR on the 8-bit grid, and a short label per step applied."""
    with _one_thread():
        return _degrade_image(hr, scale, cfg, gen)


def _degrade_image(
    hr: torch.Tensor, scale: int, cfg: DegradeConfig, gen: torch.Generator
) -> tuple[torch.Tensor, list[str]]:
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ConfigError(f"HR size {h}x{w} is not a multiple of the scale {scale}")
    target = (h // scale, w // scale)
    log: list[str] = []
    if _chance(gen, cfg.clean_prob):
        log.append("clean MATLAB bicubic")
        return matlab_bicubic(hr[None], scale)[0], log
    # A copy: the in-place steps below must never touch the caller's HR crop.
    x = hr[None].float().clone()
    if _chance(gen, cfg.blur_prob):
        x = _random_blur(x, cfg, cfg.blur_sigma, gen, log)
    x = _random_resize(x, cfg, target, cfg.resize_jitter, gen, log).clamp_(0, 1)
    if _chance(gen, cfg.noise_prob):
        x = _random_noise(x, cfg, cfg.noise_sigma, cfg.poisson_scale, gen, log)
    if _chance(gen, cfg.second_order_prob):
        log.append("| 2nd:")
        if _chance(gen, cfg.jpeg_prob):
            x = _random_jpeg(x, cfg, gen, log)
        if _chance(gen, cfg.blur2_prob):
            x = _random_blur(x, cfg, cfg.blur2_sigma, gen, log)
        x = _random_resize(x, cfg, target, cfg.resize2_jitter, gen, log).clamp_(0, 1)
        if _chance(gen, cfg.noise2_prob):
            x = _random_noise(x, cfg, cfg.noise2_sigma, cfg.poisson2_scale, gen, log)
    # The LR must come out exactly target-sized; the mode of this last pass is random too.
    mode = RESIZE_MODES[_choice(gen, cfg.resize_mode_weights)]
    if tuple(x.shape[-2:]) != target:
        log.append(f"{mode} to LR")
    x = resize(x, target, mode).clamp_(0, 1)
    # Pictures on disk are 8-bit: the model sees what inference will feed it.
    x = x.mul_(255).round_().div_(255)
    if _chance(gen, cfg.jpeg_prob):
        x = _random_jpeg(x, cfg, gen, log)
    return x[0], log


def degrade_batch(
    hr: torch.Tensor, scale: int, cfg: DegradeConfig, gen: torch.Generator
) -> torch.Tensor:
    """(N, 3, H, W) float HR in [0, 1] -> (N, 3, H/scale, W/scale) degraded LR; each
    image draws its own degradations from ``gen`` in batch order."""
    with _one_thread():
        return torch.stack([_degrade_image(img, scale, cfg, gen)[0] for img in hr])
