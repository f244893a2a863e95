"""Building blocks shared by the MoRE and SEE halves of a residual group."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel (biased variance, eps 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            # In channels-last memory the channels of a pixel are adjacent, so the fused
            # layer_norm kernel over the last dim of the NHWC view does the same maths
            # in one pass instead of five.
            y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)
        u = x.mean(1, keepdim=True)
        d = x - u
        v = (d * d).mean(1, keepdim=True)
        y = d * torch.rsqrt(v + self.eps)
        return y * self.weight[:, None, None] + self.bias[:, None, None]


def conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1)


def conv_halves(
    conv: nn.Conv2d, x: torch.Tensor, order: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """`conv(x)[:, order].chunk(2, dim=1)` as two convs, one per half, each born dense.

    Why: a chunk of a batched or channels-last map is a strided view, and every conv or
    GELU after it first copies it; in a training step those copies (and the
    concatenation of their gradients) cost about a tenth of the time. Slicing the
    weight instead gives the same maths (the same parameters, keys and gradients) with
    contiguous halves. `order` is a permutation of the output channels (a channel
    shuffle folded into which rows go where).
    """
    n = conv.out_channels // 2
    w, b = conv.weight, conv.bias
    if order is not None:
        w = w[order]
        b = None if b is None else b[order]
    halves = []
    for rows in (slice(0, n), slice(n, 2 * n)):
        halves.append(
            F.conv2d(x, w[rows], None if b is None else b[rows], conv.stride, conv.padding)
        )
    return halves[0], halves[1]


@functools.cache
def shuffle_order(channels: int, groups: int = 2) -> torch.Tensor:
    """Output channel i of `channel_shuffle(h, groups)` is channel order[i] of h."""
    i = torch.arange(channels)
    per = channels // groups
    return (i % groups) * per + i // groups


def dwconv(channels: int, kh: int, kw: int, stride: int = 1, pad: bool = True) -> nn.Conv2d:
    padding = (kh // 2, kw // 2) if pad else (0, 0)
    return nn.Conv2d(channels, channels, (kh, kw), stride=stride, padding=padding, groups=channels)


class StripedConv(nn.Module):
    """Depthwise (1 x k) then (k x 1): a k x k receptive field for 2k weights."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(dwconv(channels, 1, k), dwconv(channels, k, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GatedFFN(nn.Module):
    """1x1 expand to 2C, gate one half by a depthwise 3x3 of the other, 1x1 back."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fn_1 = nn.Sequential(conv1x1(dim, 2 * dim), nn.GELU())
        self.gate = dwconv(dim, 3, 3)
        self.fn_2 = nn.Sequential(conv1x1(dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, act = self.fn_1[0], self.fn_1[1]
        assert isinstance(conv, nn.Conv2d)
        a, g = (act(h) for h in conv_halves(conv, x))
        return self.fn_2(a * self.gate(g))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x)
