"""The Rank Modulating Expert: the MoRE block with its router and low-rank experts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GatedFFN, LayerNorm2d, StripedConv, conv1x1, conv_halves, dwconv, shuffle_order
from .records import BlockRouting, Probe


class Router(nn.Module):
    """Global average of the features, then a bias-free linear map to expert logits."""

    def __init__(self, dim: int, num_experts: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(dim, num_experts, bias=False)
        )

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self._softmax(self.body(x))

    def probs_from_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """Expert probabilities (N, E) from the features' global mean (N, C): the same
        linear map, a stage of its own because a tiled run sums the mean over tiles."""
        return self._softmax(self.body[2](mean))

    @staticmethod
    def _softmax(logits: torch.Tensor) -> torch.Tensor:
        # float32 softmax as the reference does, so half-precision runs route the same.
        return torch.softmax(logits.float(), dim=-1)


class Expert(nn.Module):
    """A rank-d_j expert: conv_3(conv_2(k) * conv_1(x))."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.conv_1 = conv1x1(dim, rank)
        self.conv_2 = conv1x1(dim, rank)
        self.conv_3 = conv1x1(rank, dim)

    def lowrank(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.conv_2(k) * self.conv_1(x)

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.conv_3(self.lowrank(x, k))


class MoELayer(nn.Module):
    def __init__(self, dim: int, ranks: tuple[int, ...], topk: int) -> None:
        super().__init__()
        self.topk = topk
        self.gate = Router(dim, len(ranks))
        self.experts = nn.ModuleList(Expert(dim, r) for r in ranks)

    def forward(
        self, x: torch.Tensor, k: torch.Tensor, block: int = 0, probe: Probe | None = None
    ) -> torch.Tensor:
        if probe is not None and probe.forced is not None and block in probe.forced:
            probs = probe.forced[block].to(device=x.device, dtype=torch.float32)
            if probs.shape[0] == 1 and x.shape[0] > 1:
                probs = probs.expand(x.shape[0], -1)
        else:
            probs = self.gate.probs(x)
        top_w, top_i = probs.topk(self.topk, dim=-1)
        if probe is not None:
            probe.routing.append(
                BlockRouting(block, probs.detach().cpu(), top_i.cpu(), top_w.detach().cpu())
            )
        # Per-image weight of every expert: the chosen probability, zero where not chosen.
        # Not renormalised, as in the reference.
        weight = torch.zeros_like(probs).scatter(1, top_i, top_w).to(x.dtype)
        out = x
        if self.training:
            # Every expert runs and the mask zeroes the unchosen, so gradients reach only
            # the chosen experts (the reference's training path).
            for j, expert in enumerate(self.experts):
                out = out + weight[:, j, None, None, None] * expert(x, k)
            return out
        chosen = weight != 0
        for j, expert in enumerate(self.experts):
            rows = chosen[:, j].nonzero().flatten()
            if rows.numel() == 0:
                continue
            if probe is not None and probe.wants(block, "expert_lowrank"):
                probe.keep(block, f"expert_lowrank/{j}", expert.lowrank(x, k))
            if rows.numel() == x.shape[0]:
                out = out + weight[:, j, None, None, None] * expert(x, k)
            else:
                # Only the images that chose expert j pay for it.
                contrib = weight[rows, j, None, None, None] * expert(x[rows], k[rows])
                out = out.index_add(0, rows, contrib)
        return out


class MoREBlock(nn.Module):
    def __init__(
        self, dim: int, ranks: tuple[int, ...], topk: int, use_shuffle: bool, recursive: int
    ) -> None:
        super().__init__()
        self.use_shuffle = use_shuffle
        self.recursive = recursive
        self.conv_1 = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1), nn.GELU(), conv1x1(dim, 2 * dim)
        )
        self.agg_conv = nn.Sequential(dwconv(dim, 4, 4, stride=4, pad=False), nn.GELU())
        self.conv = nn.Sequential(dwconv(dim, 3, 3), conv1x1(dim, dim))
        self.conv_2 = nn.Sequential(StripedConv(dim, 3), nn.GELU())
        self.moe_layer = MoELayer(dim, ranks, topk)
        self.proj = conv1x1(dim, dim)

    # The stages below are what a tiled run schedules (seemore_core/tiling.py): `front`
    # and `mix` are local; `pool` is local to aligned cells; `spread` and the router's
    # `probs_from_mean` see the whole image once. `forward` is their composition.

    def pool(self, k: torch.Tensor) -> torch.Tensor:
        """The calibration pyramid's coarse cells: stride-4 convs, `recursive` times."""
        for _ in range(self.recursive):
            k = self.agg_conv(k)
        return k

    def spread(self, coarse: torch.Tensor) -> torch.Tensor:
        """The small conv over the whole coarse map (upsampled and added to k after)."""
        return self.conv(coarse)

    def calibrate(self, k: torch.Tensor) -> torch.Tensor:
        c = self.spread(self.pool(k))
        return k + F.interpolate(c, size=k.shape[-2:], mode="bilinear", align_corners=False)

    def mix(
        self, x: torch.Tensor, k: torch.Tensor, block: int = 0, probe: Probe | None = None
    ) -> torch.Tensor:
        """The routed experts on the front's two branches (k calibrated), projected."""
        return self.proj(self.moe_layer(x, k, block, probe))

    def front(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two branches before calibration: the expert input and the modulation k."""
        stem, act, expand = self.conv_1[0], self.conv_1[1], self.conv_1[2]
        assert isinstance(expand, nn.Conv2d)
        # channel_shuffle(h, 2) then chunk, with the shuffle as a choice of rows.
        order = shuffle_order(expand.out_channels) if self.use_shuffle else None
        xb, k = conv_halves(expand, act(stem(x)), order)
        return self.conv_2(xb), k

    def forward(self, x: torch.Tensor, block: int = 0, probe: Probe | None = None) -> torch.Tensor:
        x, k = self.front(x)
        return self.mix(x, self.calibrate(k), block, probe)


class RME(nn.Module):
    """Rank Modulating Expert: MoRE then a gated FFN, each pre-normed and residual."""

    def __init__(
        self, dim: int, ranks: tuple[int, ...], topk: int, use_shuffle: bool, recursive: int
    ) -> None:
        super().__init__()
        self.norm_1 = LayerNorm2d(dim)
        self.block = MoREBlock(dim, ranks, topk, use_shuffle, recursive)
        self.norm_2 = LayerNorm2d(dim)
        self.ffn = GatedFFN(dim)

    def front(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The MoRE block's two branches (expert input, uncalibrated k) of the normed x."""
        return self.block.front(self.norm_1(x))

    def back(
        self,
        x: torch.Tensor,
        xb: torch.Tensor,
        k: torch.Tensor,
        block: int = 0,
        probe: Probe | None = None,
    ) -> torch.Tensor:
        """From the front's branches (k calibrated) and the block input x to the output."""
        m = self.block.mix(xb, k, block, probe)
        if probe is not None and probe.wants(block, "more_out"):
            probe.keep(block, "more_out", m)
        x = m + x
        return self.ffn(self.norm_2(x)) + x

    def forward(self, x: torch.Tensor, block: int = 0, probe: Probe | None = None) -> torch.Tensor:
        xb, k = self.front(x)
        return self.back(x, xb, self.block.calibrate(k), block, probe)
