"""An inference-only rewrite of SeemoRe's hot spots: the same maths in fewer memory passes.

Profiling the plain network on CPU (channels-last) showed a third of the time outside
the convolutions: GELU as its own pass over memory, and copies made because `chunk` of a
channels-last map gives non-contiguous halves that every following conv must clone. So:

- every 1x1 conv whose output is chunked in two becomes two convs, one per half (the
  MoRE channel shuffle folded into which rows go where), so each half is born contiguous;
- GELU after a conv, and the gating product that follows a depthwise conv, run inside
  the conv as oneDNN post-ops (exact erf GELU; an exact multiply) on CPU in float32,
  and as separate ops anywhere else;
- every other 1x1 conv (projections, the experts' low-rank convs, their product fused
  into the first) goes to oneDNN too: with the tile workers' one intra-op thread,
  F.conv2d runs a batch-1 1x1 conv on its slow im2col path.

Measured and not adopted (torch 2.13 on the project's AVX2 CPU, tiled T x4, 1 thread):
the residual adds after the SEE and MoRE projections, the experts' low-rank product and
their routed sum as binary post-ops of the same oneDNN op. Each fused call took longer
than the plain conv plus its separate add or multiply (a 36 -> 36 projection with its
add: 2.3-2.6 ms against 1.0-1.3 + 0.5-0.8 ms), and a whole run was 1.1x slower.

`fast_copy(model)` returns a new SeemoRe for inference that shares nothing with the
original and computes the same function (max abs difference ~1e-6, tested). Its state
dict has other keys: checkpoints are always saved from the plain model.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GatedFFN, StripedConv, shuffle_order
from .model import SeemoRe
from .more import Expert, MoREBlock
from .see import SEEBlock


@functools.cache
def onednn_fusion_works() -> bool:
    """True when this torch build has oneDNN's fused conv ops and they match the plain
    ops (they are private API, so a build without them, or a changed signature, falls
    back to separate ops instead of failing)."""
    try:
        op = torch.ops.mkldnn._convolution_pointwise
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 4, 6, 6, generator=g).contiguous(memory_format=torch.channels_last)
        o = torch.randn(1, 4, 6, 6, generator=g).contiguous(memory_format=torch.channels_last)
        w, b = torch.randn(4, 4, 3, 3, generator=g), torch.randn(4, generator=g)
        with torch.no_grad():
            got_gelu = op(x, w, b, [1, 1], [1, 1], [1, 1], 1, "gelu", [None], "none")
            got_mul = op.binary(x, o, w, b, [1, 1], [1, 1], [1, 1], 1, "mul", None, None, [], None)
            plain = F.conv2d(x, w, b, padding=1)
        return bool(
            torch.allclose(got_gelu, F.gelu(plain), rtol=1e-5, atol=1e-5)
            and torch.allclose(got_mul, plain * o, rtol=1e-5, atol=1e-5)
        )
    except (AttributeError, RuntimeError, NotImplementedError, TypeError):
        return False


def _fusable(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and onednn_fusion_works()
    )


def _same_layout(x: torch.Tensor, other: torch.Tensor) -> bool:
    # oneDNN's binary post-op reads `other` in the output's layout, which follows x's.
    if other.dtype != x.dtype or other.shape[0] != x.shape[0] or other.shape[2:] != x.shape[2:]:
        return False
    cl = torch.channels_last
    if x.is_contiguous(memory_format=cl) and not x.is_contiguous():
        return other.is_contiguous(memory_format=cl)
    return x.is_contiguous() and other.is_contiguous()


class FusedConv(nn.Module):
    """A conv, then optionally exact GELU, or a product with a second map given to
    `forward`: one kernel where oneDNN allows it, separate ops elsewhere."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: tuple[int, int],
        groups: int = 1,
        gelu: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = (
            None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        )
        self.padding = list(padding)
        self.groups = groups
        self.gelu = gelu

    @classmethod
    def of(cls, conv: nn.Conv2d, gelu: bool = False, rows: torch.Tensor | None = None) -> FusedConv:
        """From an nn.Conv2d, optionally keeping only some output channels (`rows`)."""
        w, b = conv.weight, conv.bias
        if rows is not None:
            w = w[rows]
            b = None if b is None else b[rows]
        pad = conv.padding
        assert isinstance(pad, tuple) and conv.stride == (1, 1) and conv.dilation == (1, 1)
        return cls(w, b, (int(pad[0]), int(pad[1])), conv.groups, gelu)

    def forward(self, x: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """conv(x), GELU'd if asked, multiplied by `times` when given."""
        args = (self.weight, self.bias, self.padding, [1, 1], [1, 1], self.groups)
        if _fusable(x):
            # Looked up only here: builds without oneDNN have no such op.
            op = torch.ops.mkldnn._convolution_pointwise
            if times is None and self.gelu:
                return op(x, *args, "gelu", [None], "none")
            if times is not None and not self.gelu and _same_layout(x, times):
                return op.binary(x, times, *args, "mul", None, None, [], None)
            if times is None and not self.gelu:
                # A plain conv too: with one intra-op thread (the tile workers' setting)
                # F.conv2d sends a batch-1 1x1 conv to its slow im2col path, 1.3x the
                # time of oneDNN's (36 -> 36 channels, 192 px, AVX2).
                return op(x, *args, "none", [None], "none")
        y = F.conv2d(x, self.weight, self.bias, padding=self.padding, groups=self.groups)
        if self.gelu:
            y = F.gelu(y)
        return y if times is None else y * times


class Stripe(nn.Module):
    """StripedConv (1 x k then k x 1), its second conv carrying the fused epilogue."""

    def __init__(self, src: StripedConv, gelu: bool) -> None:
        super().__init__()
        first, second = src.conv[0], src.conv[1]
        assert isinstance(first, nn.Conv2d) and isinstance(second, nn.Conv2d)
        self.row = FusedConv.of(first)
        self.col = FusedConv.of(second, gelu=gelu)

    def forward(self, x: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        return self.col(self.row(x), times)


def _halves(conv: nn.Conv2d, order: torch.Tensor | None = None) -> tuple[FusedConv, FusedConv]:
    """Two convs for the two chunks of `conv`'s output (after reordering its channels)."""
    n = conv.out_channels // 2
    rows = torch.arange(2 * n) if order is None else order
    return FusedConv.of(conv, rows=rows[:n]), FusedConv.of(conv, rows=rows[n:])


class FastGatedFFN(nn.Module):
    def __init__(self, src: GatedFFN) -> None:
        super().__init__()
        expand = src.fn_1[0]
        shrink = src.fn_2[0]
        assert isinstance(expand, nn.Conv2d) and isinstance(shrink, nn.Conv2d)
        self.to_a, self.to_g = _halves(expand)
        self.to_a.gelu = self.to_g.gelu = True
        self.gate = FusedConv.of(src.gate)
        self.out = FusedConv.of(shrink, gelu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.gate(self.to_g(x), times=self.to_a(x)))


class FastSEEBlock(nn.Module):
    def __init__(self, src: SEEBlock) -> None:
        super().__init__()
        qv = src.to_qv[0]
        assert isinstance(qv, nn.Conv2d)
        self.to_q, self.to_v = _halves(qv)
        self.to_q.gelu = self.to_v.gelu = True
        self.attn = Stripe(src.attn, gelu=False)
        self.proj = FusedConv.of(src.proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attn(self.to_q(x), times=self.to_v(x)))


class FastExpert(Expert):
    """An expert whose three 1x1 convs are FusedConvs, the product inside the first."""

    def __init__(self, src: Expert) -> None:
        nn.Module.__init__(self)
        self.x_in = FusedConv.of(src.conv_1)
        self.k_in = FusedConv.of(src.conv_2)
        self.out = FusedConv.of(src.conv_3)

    def lowrank(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # conv_2(k) * conv_1(x): the product is exact in either order.
        return self.x_in(x, times=self.k_in(k))

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.out(self.lowrank(x, k))


class FastMoREBlock(MoREBlock):
    """MoREBlock with its `front` rewritten; calibration, experts and proj are shared code."""

    def __init__(self, src: MoREBlock) -> None:
        nn.Module.__init__(self)
        self.use_shuffle = src.use_shuffle
        self.recursive = src.recursive
        stem, expand = src.conv_1[0], src.conv_1[2]
        assert isinstance(stem, nn.Conv2d) and isinstance(expand, nn.Conv2d)
        self.stem = FusedConv.of(stem, gelu=True)
        # channel_shuffle(h, 2) then chunk: the shuffle is just a choice of rows.
        order = shuffle_order(expand.out_channels) if self.use_shuffle else None
        self.to_x, self.to_k = _halves(expand, order)
        self.stripe = Stripe(src.conv_2[0], gelu=True)
        self.agg_conv = src.agg_conv
        self.conv = src.conv
        self.moe_layer = src.moe_layer
        # The routing stays the shared MoELayer's; only its experts' convs change.
        self.moe_layer.experts = nn.ModuleList(FastExpert(e) for e in src.moe_layer.experts)
        self.proj = FusedConv.of(src.proj)

    def front(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.stem(x)
        return self.stripe(self.to_x(h)), self.to_k(h)


def fast_copy(model: SeemoRe) -> SeemoRe:
    """An inference copy of `model` with the fused blocks (same outputs, other keys)."""
    fast = copy.deepcopy(model).eval()
    for group in fast.body:
        rme, sme = group.local_block, group.global_block
        rme.block = FastMoREBlock(rme.block)
        rme.ffn = FastGatedFFN(rme.ffn)
        sme.block = FastSEEBlock(sme.block)
        sme.ffn = FastGatedFFN(sme.ffn)
    for p in fast.parameters():
        p.requires_grad_(False)
    # The blocks built above start in training mode; a MoELayer there would run every
    # expert and route nothing.
    return fast.eval()
