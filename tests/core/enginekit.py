"""What the engine and run-plan tests share: a photo-like test image and a run that
cancels itself part-way."""

from __future__ import annotations

import numpy as np
import pytest

from seemore_core.engine import Engine, EngineOptions
from seemore_core.errors import Cancelled
from seemore_core.progress import Progress, ProgressInfo


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth content plus noise: closer to a photo than pure noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 5), np.cos(yy / 7), np.sin((xx + yy) / 9)], -1) * 0.3 + 0.5
    return (base + rng.normal(0, 0.05, (h, w, 3))).clip(0, 1).astype(np.float32)


def progress_seen_when_cancelled_at(engine: Engine, at: int, tile: int = 16) -> list[int]:
    """Upscale a 64x64 image in `tile` px tiles, cancelling when progress reaches `at`;
    the run must raise Cancelled. Returns every progress count reported."""
    progress = Progress()
    calls: list[int] = []

    def on_progress(p: ProgressInfo) -> None:
        calls.append(p.done)
        if p.done == at:
            progress.cancel()

    progress.callback = on_progress
    with pytest.raises(Cancelled):
        engine.upscale(photo_like(64, 64), EngineOptions(tile=tile), progress)
    return calls
