"""What the network did inside: routing per block and feature maps at named points.

A `Probe` travels down one forward pass. With no probe the blocks skip every
recording branch, so the inside view costs nothing when nobody asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..names import FEATURE_POINTS


@dataclass
class BlockRouting:
    """The router's decision in one residual group, for every image of the batch."""

    block: int
    probs: torch.Tensor  # (N, E) float32 softmax of the router logits
    chosen: torch.Tensor  # (N, k) int64 expert indices, best first
    weights: torch.Tensor  # (N, k) float32 the chosen probabilities (not renormalised)


@dataclass
class Probe:
    """Collects records during one forward pass.

    `points` names the feature points to keep (empty: routing only). `blocks` limits
    feature capture to some residual groups (None: all). `forced` replaces the router's
    probabilities of a block by given ones (N, E); the engine uses it to route tiles on
    the whole image.
    """

    points: frozenset[str] = frozenset()
    blocks: frozenset[int] | None = None
    forced: dict[int, torch.Tensor] | None = None
    to_cpu: bool = True
    routing: list[BlockRouting] = field(default_factory=list)
    features: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.points) - set(FEATURE_POINTS)
        if unknown:
            raise ValueError(
                f"unknown feature point(s) {sorted(unknown)}; known: {', '.join(FEATURE_POINTS)}"
            )

    def wants(self, block: int, point: str) -> bool:
        return point in self.points and (self.blocks is None or block in self.blocks)

    def keep(self, block: int, point: str, t: torch.Tensor) -> None:
        t = t.detach()
        self.features[(block, point)] = t.cpu() if self.to_cpu else t


@dataclass
class InspectResult:
    output: torch.Tensor
    routing: list[BlockRouting]
    features: dict[tuple[int, str], torch.Tensor]
