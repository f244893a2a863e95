"""PSNR and SSIM on the Y channel, as the SR literature (BasicSR, MATLAB) computes them.

Inputs are uint8 ``HxWx3`` RGB arrays that the caller has already clamped and rounded.
Y is MATLAB's ``rgb2ycbcr`` luma (ITU-R BT.601, studio range) kept in float, not rounded;
a one-channel image counts as three equal channels, because BasicSR reads every file
as 3-channel and the published model numbers were measured that way.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["psnr_y", "rgb_to_y", "ssim_y", "to_uint8"]

_Y_COEFFS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def to_uint8(img: np.ndarray | torch.Tensor) -> np.ndarray:
    """Float image in [0, 1] (numpy or tensor, any layout) -> uint8: clamp, *255, round."""
    if isinstance(img, torch.Tensor):
        img = img.detach().to("cpu", torch.float64).numpy()
    arr = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0) * 255.0
    # Values are non-negative, so floor(x + 0.5) is round-half-up like MATLAB's im2uint8;
    # np.round's half-to-even would differ on exact .5 ties.
    return np.floor(arr + 0.5).astype(np.uint8)


def _as_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return img[:, :, :3]
    raise ValueError(f"expected HxW, HxWx1 or HxWx3 image, got shape {img.shape}")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y = 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1]; result on 0-255.

    uint8 input is divided by 255; float input is taken to be in [0, 1] already.
    """
    rgb = _as_rgb(np.asarray(img))
    scaled = rgb.astype(np.float64) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float64)
    return scaled @ _Y_COEFFS + 16.0


def _prepare(sr: np.ndarray, hr: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {sr.dtype} and {hr.dtype}")
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"size mismatch: {sr.shape[:2]} vs {hr.shape[:2]}")
    ys, yh = rgb_to_y(sr), rgb_to_y(hr)
    if crop > 0:
        ys, yh = ys[crop:-crop, crop:-crop], yh[crop:-crop, crop:-crop]
    if ys.size == 0:
        raise ValueError(f"crop {crop} leaves nothing of a {sr.shape[:2]} image")
    return ys, yh


def psnr_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """PSNR (peak 255) between the Y channels, ``crop`` pixels removed from every border.

    Identical images give ``inf``.
    """
    ys, yh = _prepare(sr, hr, crop)
    mse = float(np.mean((ys - yh) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    # Same normalised samples as OpenCV's getGaussianKernel / MATLAB's fspecial.
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D 'valid' filtering with the separable window ``outer(g, g)``."""
    k = g.size
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ g  # (H-k+1, W)
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g  # (H-k+1, W-k+1)


def ssim_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """SSIM (Wang et al. 2004) between the Y channels, ``crop`` pixels removed from every
    border: 11x11 Gaussian window (sigma 1.5), 'valid' filtering, C1 = (0.01*255)^2,
    C2 = (0.03*255)^2, mean of the SSIM map, as BasicSR's ``calculate_ssim``."""
    ys, yh = _prepare(sr, hr, crop)
    if min(ys.shape) < 11:
        raise ValueError(f"image too small for an 11x11 SSIM window: {ys.shape}")
    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2
    g = _gaussian_1d()
    mu1, mu2 = _filter_valid(ys, g), _filter_valid(yh, g)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(ys * ys, g) - mu1_sq
    sigma2_sq = _filter_valid(yh * yh, g) - mu2_sq
    sigma12 = _filter_valid(ys * yh, g) - mu12
    ssim_map = ((2.0 * mu12 + c1) * (2.0 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return float(ssim_map.mean())
