"""The Spatial Modulating Expert: the SEE block's striped large-kernel gating."""

from __future__ import annotations

import torch
from torch import nn

from .layers import GatedFFN, LayerNorm2d, StripedConv, conv1x1, conv_halves
from .records import Probe


class SEEBlock(nn.Module):
    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.to_qv = nn.Sequential(conv1x1(dim, 2 * dim), nn.GELU())
        self.attn = StripedConv(dim, kernel_size)
        self.proj = conv1x1(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, act = self.to_qv[0], self.to_qv[1]
        assert isinstance(conv, nn.Conv2d)
        q, v = (act(h) for h in conv_halves(conv, x))
        return self.proj(self.attn(q) * v)


class SME(nn.Module):
    """Spatial Modulating Expert: SEE then a gated FFN, each pre-normed and residual."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.norm_1 = LayerNorm2d(dim)
        self.block = SEEBlock(dim, kernel_size)
        self.norm_2 = LayerNorm2d(dim)
        self.ffn = GatedFFN(dim)

    def forward(self, x: torch.Tensor, block: int = 0, probe: Probe | None = None) -> torch.Tensor:
        s = self.block(self.norm_1(x))
        if probe is not None and probe.wants(block, "see_out"):
            probe.keep(block, "see_out", s)
        x = s + x
        return self.ffn(self.norm_2(x)) + x
