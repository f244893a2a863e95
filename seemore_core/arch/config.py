"""Hyperparameters of a SeemoRe network and the paper's variants table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

GROWTHS = ("exp", "linear", "double")


def expert_ranks(num_experts: int, growth: str) -> tuple[int, ...]:
    """Low-rank width d_i of each expert, as the reference defines the growth rules."""
    if growth == "exp":
        return tuple(2 ** (i + 1) for i in range(num_experts))
    if growth == "linear":
        return tuple(i + 2 for i in range(num_experts))
    if growth == "double":
        return tuple(2 * i + 2 for i in range(num_experts))
    raise ValueError(f"unknown expert growth {growth!r}; expected one of {', '.join(GROWTHS)}")


@dataclass(frozen=True)
class SeemoreConfig:
    scale: int = 4
    num_layers: int = 6
    embedding_dim: int = 36
    num_experts: int = 3
    growth: str = "exp"
    topk: int = 1
    use_shuffle: bool = True
    recursive: int = 2
    kernel_size: int = 11
    img_range: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.scale <= 4:
            raise ValueError(f"scale must be 1-4, got {self.scale}")
        if self.num_layers < 1 or self.embedding_dim < 1 or self.num_experts < 1:
            raise ValueError("num_layers, embedding_dim and num_experts must be positive")
        if not 1 <= self.topk <= self.num_experts:
            raise ValueError(f"topk must be in 1..{self.num_experts}, got {self.topk}")
        if self.recursive < 1:
            raise ValueError(f"recursive must be >= 1, got {self.recursive}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {self.kernel_size}")
        expert_ranks(self.num_experts, self.growth)  # validates growth

    @property
    def ranks(self) -> tuple[int, ...]:
        return expert_ranks(self.num_experts, self.growth)

    @property
    def pool_grid(self) -> int:
        """Side multiple the calibration's stride-4 convs need to see whole cells."""
        return 4**self.recursive

    @property
    def variant(self) -> str | None:
        """Name of the paper's variant this config is, or None for a custom one."""
        for name, v in VARIANTS.items():
            if replace(v, scale=self.scale) == self:
                return name
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeemoreConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


# The paper's Table 6. Only (layers, width) tell the variants apart in a state dict.
VARIANTS: dict[str, SeemoreConfig] = {
    "T": SeemoreConfig(num_layers=6, embedding_dim=36, use_shuffle=True, recursive=2),
    "B": SeemoreConfig(num_layers=8, embedding_dim=48, use_shuffle=True, recursive=2),
    "L": SeemoreConfig(num_layers=16, embedding_dim=48, use_shuffle=False, recursive=1),
}


def variant_config(name: str, scale: int = 4, **overrides: Any) -> SeemoreConfig:
    key = name.upper()
    if key not in VARIANTS:
        raise ValueError(f"unknown SeemoRe variant {name!r}; expected one of {', '.join(VARIANTS)}")
    return replace(VARIANTS[key], scale=scale, **overrides)
