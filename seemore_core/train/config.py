"""Training configuration: a TOML file plus command-line overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from ..errors import ConfigError


@dataclass
class TrainConfig:
    variant: str = "T"
    scale: int = 2
    train_dirs: list[str] = field(default_factory=lambda: ["../shared/data/train"])
    val_dir: str | None = "../shared/data/benchmark/Set5"
    out_dir: str = "runs/T_x2"
    init_from: str | None = None  # fine-tune: weights of another scale (upsampler is skipped)
    patch_size: int = 48  # LR pixels per side of a training crop
    batch_size: int = 16  # per optimiser step; DDP ranks each draw batch_size / N
    iterations: int = 100_000
    lr: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [50_000, 75_000, 90_000])
    gamma: float = 0.5
    betas: tuple[float, float] = (0.9, 0.99)
    fft_weight: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 0.0  # 0: off
    val_every: int = 1000
    ckpt_every: int = 200
    log_every: int = 20
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: every core
    bf16: bool = False  # autocast on CUDA
    # torch.compile the training forward. Off: on the 2-core Xeon (2026-12-02), a T x4
    # photo run at one thread made 0.40-0.42 steps/s compiled against 0.51-0.58 for the
    # same run uncompiled beside it (and the compile took 3 minutes).
    compile: bool = False
    # Routing recipe (training only; the network and its state-dict keys are unchanged).
    router_noise: float = 0.0  # std of Gaussian noise on the router logits (Shazeer 2017)
    balance_weight: float = 0.0  # weight of the importance + load balancing losses
    router_lr_mult: float = 1.0  # the routers' learning rate relative to `lr`
    # 0: Shazeer's importance + load losses; > 0: the information form on clean logits
    # sharpened by 1 / temperature (see train/routing.py for why).
    balance_temperature: float = 0.0
    # Real-photo degradations of the LR side (issue 14); empty: the benchmark's clean
    # MATLAB bicubic. Keys are those of seemore_core.train.degrade.DegradeConfig.
    degradation: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"training config {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"training config {path} is not valid TOML: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        cfg = cls(**data)
        cfg.betas = tuple(cfg.betas)  # type: ignore[assignment]
        return cfg

    def override(self, pairs: list[str]) -> None:
        """Apply `key=value` overrides, values parsed as TOML (strings may be bare)."""
        for pair in pairs:
            if "=" not in pair:
                raise ConfigError(f"override {pair!r} is not key=value")
            key, raw = pair.split("=", 1)
            key = key.strip()
            if key not in {f.name for f in fields(self)}:
                raise ConfigError(f"unknown training option {key!r}")
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                # A bare word is text only where text is expected; elsewhere ("lr=1e-3x")
                # it is a typo that must not become a string silently.
                kind = next(f.type for f in fields(self) if f.name == key)
                if kind not in ("str", "str | None"):
                    raise ConfigError(
                        f"training option {key!r}: {raw.strip()!r} is not a valid value"
                    ) from None
                value = raw
            setattr(self, key, tuple(value) if key == "betas" else value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
