"""A small training configuration shared by the training tests (fast on 2 cores)."""

from __future__ import annotations

from pathlib import Path

from seemore_core.train.config import TrainConfig


def small_cfg(photos: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(
        variant="T",
        scale=2,
        train_dirs=[str(photos)],
        val_dir=None,
        out_dir=str(out),
        patch_size=16,
        batch_size=4,
        iterations=1000,
        lr=2e-3,
        milestones=[500],
        val_every=0,
        ckpt_every=1000,
        log_every=1000,
        seed=3,
        threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]
