"""Parameter count and multiply-accumulates of a SeemoRe network, by formula.

MACs count convolutions and linear maps (not norms, activations or the bilinear
upsampling), with the top-k experts at their largest rank: routing depends on the
image, so this is the worst case. The paper quotes GMACs for a 1280x720 *output*.
"""

from __future__ import annotations

from torch import nn

from .config import SeemoreConfig


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv(cin: int, cout: int, kh: int, kw: int, groups: int, pixels: int) -> int:
    return cout * (cin // groups) * kh * kw * pixels


def count_macs(cfg: SeemoreConfig, height: int, width: int) -> int:
    """MACs for an input of height x width pixels."""
    c, p = cfg.embedding_dim, height * width
    total = _conv(3, c, 3, 3, 1, p)  # conv_1

    # Calibration runs at 1/4^recursive resolution (floored at each stride-4 step).
    h, w, agg = height, width, 0
    for _ in range(cfg.recursive):
        h, w = h // 4, w // 4
        agg += _conv(c, c, 4, 4, c, h * w)
    q = h * w
    ffn = _conv(c, 2 * c, 1, 1, 1, p) + _conv(c, c, 3, 3, c, p) + _conv(c, c, 1, 1, 1, p)
    worst = sorted(cfg.ranks, reverse=True)[: cfg.topk]
    experts = sum(3 * c * d * p for d in worst)
    more = (
        _conv(c, c, 3, 3, 1, p)
        + _conv(c, 2 * c, 1, 1, 1, p)
        + 2 * _conv(c, c, 1, 3, c, p)  # striped 3
        + agg
        + _conv(c, c, 3, 3, c, q)
        + _conv(c, c, 1, 1, 1, q)
        + c * cfg.num_experts  # router
        + experts
        + _conv(c, c, 1, 1, 1, p)  # proj
    )
    see = (
        _conv(c, 2 * c, 1, 1, 1, p)
        + 2 * _conv(c, c, 1, cfg.kernel_size, c, p)
        + _conv(c, c, 1, 1, 1, p)
    )
    total += cfg.num_layers * (more + see + 2 * ffn)
    total += _conv(c, c, 3, 3, 1, p)  # conv_2
    total += _conv(c, 3 * cfg.scale**2, 3, 3, 1, p)  # upsampler
    return total
