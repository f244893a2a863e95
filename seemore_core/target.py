"""Output size by target: a width, a height or a longest side instead of a scale.

The network only knows whole scales (x2, x3, x4), so a target is met in two steps: run
the smallest available scale whose output reaches the target (the next larger one: no
detail is invented by an upsampler afterwards), then shrink to the exact size with
Lanczos, which keeps edges sharp without the ringing a plain cubic leaves when shrinking
by small factors. The aspect ratio is kept; the other side is rounded.

Torch-free (numpy and Pillow), so that the CLI can check a request before any model loads
and the app can show the resulting size in its export dialog.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UsageError
from .names import TARGET_SIDES

if TYPE_CHECKING:  # numpy loads only when pixels are resized: the CLI parses without it
    import numpy as np


@dataclass(frozen=True)
class TargetSize:
    """``pixels`` for one side of the output: "width", "height" or "longest"."""

    side: str
    pixels: int

    def __post_init__(self) -> None:
        if self.side not in TARGET_SIDES:
            raise UsageError(
                f"unknown target side {self.side!r}; use one of {', '.join(TARGET_SIDES)}"
            )
        if self.pixels < 1:
            raise UsageError(f"a target size must be at least 1 pixel, not {self.pixels}")

    @classmethod
    def from_options(
        cls, width: int | None = None, height: int | None = None, longest: int | None = None
    ) -> TargetSize | None:
        """The one target the options give, None for none; UsageError for several.

        Two sides at once would either distort the picture or leave one of them unmet,
        so exactly one may be named.
        """
        values = (width, height, longest)
        given = [(s, v) for s, v in zip(TARGET_SIDES, values, strict=True) if v is not None]
        if len(given) > 1:
            names = " and ".join(s for s, _ in given)
            raise UsageError(
                f"give one target size, not {names}: the other side follows the aspect ratio"
            )
        return cls(*given[0]) if given else None

    def describe(self) -> str:
        return {
            "width": f"{self.pixels} px wide",
            "height": f"{self.pixels} px high",
            "longest": f"{self.pixels} px on the longest side",
        }[self.side]

    def _side_of(self, width: int, height: int) -> int:
        return {"width": width, "height": height}.get(self.side, max(width, height))

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The exact output (width, height) for an input of that size, aspect kept."""
        f = self.pixels / self._side_of(width, height)
        if self.side == "width" or (self.side == "longest" and width >= height):
            return self.pixels, max(1, round(height * f))
        return max(1, round(width * f)), self.pixels

    def scale_needed(self, width: int, height: int) -> float:
        return self.pixels / self._side_of(width, height)


def pick_scale(target: TargetSize, width: int, height: int, scales: Sequence[int]) -> int:
    """The smallest of ``scales`` whose output reaches the target; UsageError if none does.

    Any scale meets a target at or below the input's size; the smallest is the cheapest
    (the downscale then does the rest).
    """
    if not scales:
        raise UsageError("no scale is available for this model")
    side = target._side_of(width, height)
    for s in sorted(scales):
        if s * side >= target.pixels:
            return s
    need = target.pixels / side
    have = ", ".join(f"x{s}" for s in sorted(scales))
    raise UsageError(
        f"{target.describe()} from {width}x{height} needs x{math.ceil(need * 100) / 100:g}, "
        f"more than this model's scales ({have})"
    )


def resize_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` ((H, W, C) or (H, W); float in [0, 1], uint8 or uint16) resized to
    ``size`` = (width, height) with Lanczos, as float32 in [0, 1].

    Each channel goes through Pillow as 32-bit float, so 16-bit results keep their
    gradations and nothing is rounded before the writer quantises once.
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(pixels)
    if array.dtype == np.uint8:
        unit = array.astype(np.float32) / np.float32(255)
    elif array.dtype == np.uint16:
        unit = array.astype(np.float32) / np.float32(65535)
    else:
        unit = array.astype(np.float32, copy=False)
    planes = unit[:, :, None] if unit.ndim == 2 else unit
    if (planes.shape[1], planes.shape[0]) == tuple(size):
        return np.clip(unit, 0.0, 1.0)
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[:, :, c]), "F").resize(
                    size, Image.Resampling.LANCZOS
                )
            )
            for c in range(planes.shape[2])
        ],
        axis=-1,
    )
    # Lanczos overshoots slightly at hard edges; the writer's range is [0, 1].
    out = np.clip(out, 0.0, 1.0)
    return out[:, :, 0] if unit.ndim == 2 else out


__all__ = ["TargetSize", "pick_scale", "resize_to"]
