"""Benchmark evaluation: find HR/LR pairs on disk, upscale, score PSNR/SSIM on Y.

Layout of a data set folder (the usual SR benchmark packs)::

    DIR/HR/NAME.png
    DIR/LR_bicubic/X{s}/NAMEx{s}.png     (optional; made from HR when missing)

Protocol: HR cropped to a multiple of the scale, the model's output clamped and rounded
to uint8, ``scale`` pixels cropped from every border, PSNR/SSIM on the float Y channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .errors import FileError
from .metrics import psnr_y, ssim_y, to_uint8
from .resize import bicubic_lr, crop_to_multiple, upscale_bicubic_uint8

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "EvalResult",
    "ImageScore",
    "UpscaleFn",
    "bicubic_upscaler",
    "evaluate_dataset",
    "find_pairs",
    "load_rgb",
]

# lr uint8 HxWx3 -> sr, uint8 HxWx3 or float HxWx3 in [0, 1] (numpy or tensor).
UpscaleFn = Callable[[np.ndarray], "np.ndarray | torch.Tensor"]

_IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr_y: float
    ssim_y: float


@dataclass
class EvalResult:
    dataset: str
    scale: int
    psnr_y: float
    ssim_y: float
    images: int
    per_image: list[ImageScore] = field(default_factory=list)


def load_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 HxWx3 RGB; one-channel files become three equal channels,
    as BasicSR reads them."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def find_pairs(dir: Path, scale: int) -> list[tuple[str, Path, Path | None]]:
    """``(name, hr_path, lr_path or None)`` for every image in ``DIR/HR``, sorted by name.

    ``lr_path`` is ``DIR/LR_bicubic/X{scale}/{stem}x{scale}.{ext}`` (same extension as the
    HR file first, then .png) when that file exists.
    """
    root = Path(dir)
    hr_dir = root / "HR"
    if not hr_dir.is_dir():
        raise FileError(root, "no HR folder in this benchmark folder")
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    pairs: list[tuple[str, Path, Path | None]] = []
    for hr_path in sorted(hr_dir.iterdir()):
        if not hr_path.is_file() or hr_path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        lr_path: Path | None = None
        for suffix in dict.fromkeys((hr_path.suffix, ".png")):
            candidate = lr_dir / f"{hr_path.stem}x{scale}{suffix}"
            if candidate.is_file():
                lr_path = candidate
                break
        pairs.append((hr_path.stem, hr_path, lr_path))
    return pairs


def _sr_to_uint8(sr: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(sr, torch.Tensor):
        sr = sr.detach().cpu().numpy()
    sr = np.asarray(sr)
    return sr if sr.dtype == np.uint8 else to_uint8(sr)


def evaluate_dataset(dir: Path, scale: int, upscale_fn: UpscaleFn) -> EvalResult:
    """Upscale every LR image of the data set in ``dir`` and score it against its HR.

    The averages are means of the per-image PSNR and SSIM (the benchmark convention).
    """
    root = Path(dir)
    pairs = find_pairs(root, scale)
    if not pairs:
        raise FileError(root / "HR", "no images in this folder")
    scores: list[ImageScore] = []
    for name, hr_path, lr_path in pairs:
        hr = crop_to_multiple(load_rgb(hr_path), scale)
        lr = load_rgb(lr_path) if lr_path is not None else bicubic_lr(hr, scale)
        sr = _sr_to_uint8(upscale_fn(lr))
        if sr.shape != hr.shape:
            raise ValueError(
                f"{name}: upscaled shape {sr.shape} differs from cropped HR {hr.shape}"
            )
        scores.append(ImageScore(name, psnr_y(sr, hr, scale), ssim_y(sr, hr, scale)))
    return EvalResult(
        dataset=root.name,
        scale=scale,
        psnr_y=float(np.mean([s.psnr_y for s in scores])),
        ssim_y=float(np.mean([s.ssim_y for s in scores])),
        images=len(scores),
        per_image=scores,
    )


def engine_upscaler(engine: Engine, tile: int | None = 0) -> Callable[[np.ndarray], np.ndarray]:
    """An upscale_fn running `engine` on uint8 LR images (whole-image passes by default)."""
    from .engine import EngineOptions

    opts = EngineOptions(tile=tile)

    def upscale(lr: np.ndarray) -> np.ndarray:
        return engine.upscale(lr.astype(np.float32) / 255.0, opts).image

    return upscale


def bicubic_upscaler(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    """The bicubic baseline: MATLAB ``imresize(lr, scale, 'bicubic')`` on uint8."""

    def upscale(lr: np.ndarray) -> np.ndarray:
        return upscale_bicubic_uint8(lr, scale)

    return upscale
