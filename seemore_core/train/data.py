"""Training pairs: random HR crops with flips and rotations, LR made on the fly.

By default the LR side is MATLAB's antialiased bicubic with 8-bit rounding after each
pass, the same degradation as the benchmark LR files, so the model learns the test
condition. With a ``DegradeConfig`` the LR side gets real-photo degradations instead
(blur, resize, noise, JPEG; see ``degrade.py``), drawn from the sampler's own generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from ..imageio import is_image_path
from .degrade import DegradeConfig, degrade_batch, matlab_bicubic


def list_images(dirs: list[str | Path]) -> list[Path]:
    paths: list[Path] = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise ConfigError(f"train_dirs: training folder not found: {root}")
        paths += sorted(p for p in root.rglob("*") if p.is_file() and is_image_path(p))
    if not paths:
        raise ConfigError(f"train_dirs: no training images under {', '.join(map(str, dirs))}")
    return paths


def load_hr(paths: list[Path], min_side: int) -> list[torch.Tensor]:
    """Every image as a (3, H, W) uint8 tensor; ones smaller than a crop are skipped."""
    images = []
    for p in paths:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_side:
            images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous())
    if not images:
        raise ConfigError(
            f"train_dirs: no training image is at least {min_side} px on each side "
            "(patch_size x scale)"
        )
    return images


def degrade(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, 3, sP, sP) float HR in [0, 1] -> (N, 3, P, P) LR, as the benchmark makes it."""
    return matlab_bicubic(hr, scale)


class PatchSampler:
    """Draws batches from a torch.Generator whose state is saved for exact resumes.

    ``degradation`` None: the clean benchmark LR. Otherwise every random choice of the
    degradations comes from the same generator, after the batch's crops, so a saved
    state still resumes exactly.
    """

    def __init__(
        self,
        images: list[torch.Tensor],
        patch: int,
        scale: int,
        seed: int,
        degradation: DegradeConfig | None = None,
    ) -> None:
        self.images = images
        self.hr_patch = patch * scale
        self.scale = scale
        self.degradation = degradation
        self.gen = torch.Generator().manual_seed(seed)

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        g, p = self.gen, self.hr_patch
        crops = []
        for _ in range(n):
            img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            _, h, w = img.shape
            y = int(torch.randint(h - p + 1, (1,), generator=g))
            x = int(torch.randint(w - p + 1, (1,), generator=g))
            c = img[:, y : y + p, x : x + p]
            flip_h, flip_v, rot = torch.randint(2, (3,), generator=g).tolist()
            if flip_h:
                c = c.flip(-1)
            if flip_v:
                c = c.flip(-2)
            if rot:
                c = c.transpose(-1, -2)
            crops.append(c)
        hr = torch.stack(crops).float() / 255.0
        if self.degradation is None:
            return degrade(hr, self.scale), hr
        return degrade_batch(hr, self.scale, self.degradation, g), hr

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.gen.set_state(state)
