"""A straightforward SeemoRe forward, written directly from the reference doc.

The yardstick for the engine's speed: eager PyTorch, channels-first, LayerNorm as
separate mean/variance ops, one conv call per state-dict entry, every image routed on
its own. It reads the same state dict as seemore_core; it is not used by the product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seemore_core.arch import SeemoreConfig

MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)


def _conv(sd: dict[str, torch.Tensor], key: str, x: torch.Tensor, **kw: object) -> torch.Tensor:
    return F.conv2d(x, sd[key + ".weight"], sd[key + ".bias"], **kw)  # type: ignore[arg-type]


def _dw(
    sd: dict[str, torch.Tensor], key: str, x: torch.Tensor, pad: tuple[int, int]
) -> torch.Tensor:
    return _conv(sd, key, x, padding=pad, groups=x.shape[1])


def _ln(sd: dict[str, torch.Tensor], key: str, x: torch.Tensor) -> torch.Tensor:
    u = x.mean(1, keepdim=True)
    v = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(v + 1e-6)
    return sd[key + ".weight"][:, None, None] * x + sd[key + ".bias"][:, None, None]


def _ffn(sd: dict[str, torch.Tensor], key: str, x: torch.Tensor) -> torch.Tensor:
    a, g = F.gelu(_conv(sd, f"{key}.fn_1.0", x)).chunk(2, 1)
    return F.gelu(_conv(sd, f"{key}.fn_2.0", a * _dw(sd, f"{key}.gate", g, (1, 1))))


def _more(
    sd: dict[str, torch.Tensor], key: str, x: torch.Tensor, cfg: SeemoreConfig
) -> torch.Tensor:
    h = _conv(sd, f"{key}.conv_1.2", F.gelu(_conv(sd, f"{key}.conv_1.0", x, padding=1)))
    if cfg.use_shuffle:
        n, c2, hh, ww = h.shape
        h = h.view(n, 2, c2 // 2, hh, ww).transpose(1, 2).reshape(n, c2, hh, ww)
    xs, k = h.chunk(2, 1)
    xs = _dw(sd, f"{key}.conv_2.0.conv.0", xs, (0, 1))
    xs = F.gelu(_dw(sd, f"{key}.conv_2.0.conv.1", xs, (1, 0)))
    r = k
    for _ in range(cfg.recursive):
        k = F.gelu(_conv(sd, f"{key}.agg_conv.0", k, stride=4, groups=k.shape[1]))
    k = _conv(sd, f"{key}.conv.1", _dw(sd, f"{key}.conv.0", k, (1, 1)))
    k = r + F.interpolate(k, size=r.shape[-2:], mode="bilinear", align_corners=False)
    outs = []
    for i in range(xs.shape[0]):  # routing is per image
        xi, ki = xs[i : i + 1], k[i : i + 1]
        logits = xi.mean((2, 3)) @ sd[f"{key}.moe_layer.gate.body.2.weight"].T
        w, idx = torch.softmax(logits.float(), -1).topk(cfg.topk, -1)
        o = xi
        for wj, j in zip(w[0].tolist(), idx[0].tolist(), strict=True):
            e = f"{key}.moe_layer.experts.{j}"
            low = _conv(sd, f"{e}.conv_2", ki) * _conv(sd, f"{e}.conv_1", xi)
            o = o + wj * _conv(sd, f"{e}.conv_3", low)
        outs.append(o)
    return _conv(sd, f"{key}.proj", torch.cat(outs))


def _see(sd: dict[str, torch.Tensor], key: str, x: torch.Tensor, k: int) -> torch.Tensor:
    q, v = F.gelu(_conv(sd, f"{key}.to_qv.0", x)).chunk(2, 1)
    q = _dw(sd, f"{key}.attn.conv.0", q, (0, k // 2))
    q = _dw(sd, f"{key}.attn.conv.1", q, (k // 2, 0))
    return _conv(sd, f"{key}.proj", q * v)


@torch.no_grad()
def reference_forward(
    sd: dict[str, torch.Tensor], cfg: SeemoreConfig, x: torch.Tensor
) -> torch.Tensor:
    mean = MEAN.to(x)  # on x's device, so the yardstick runs on a GPU too
    x = (x - mean) * cfg.img_range
    x = _conv(sd, "conv_1", x, padding=1)
    res = x
    for i in range(cfg.num_layers):
        for part, block in (("local_block", "more"), ("global_block", "see")):
            key = f"body.{i}.{part}"
            n = _ln(sd, f"{key}.norm_1", x)
            if block == "more":
                x = _more(sd, f"{key}.block", n, cfg) + x
            else:
                x = _see(sd, f"{key}.block", n, cfg.kernel_size) + x
            x = _ffn(sd, f"{key}.ffn", _ln(sd, f"{key}.norm_2", x)) + x
    x = _conv(sd, "conv_2", _ln(sd, "norm", x), padding=1) + res
    x = F.pixel_shuffle(_conv(sd, "upsampler.0", x, padding=1), cfg.scale)
    return x / cfg.img_range + mean
