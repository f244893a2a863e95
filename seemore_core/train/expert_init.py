"""Warm-start the experts a constant router never trained, from the one it did.

Why: the first release's routers chose one expert per block for every input, and top-1
training sends gradients only to the chosen expert, so the others kept weights from
early training that do not fit the rest of the network. Once a balance loss spreads the
choice, images routed to them lose 0.3-0.9 dB at once (docs/routing-ablations.md) and
fine-tuning must first teach them from scratch.

How: every expert computes conv_3(conv_2(k) * conv_1(x)), a sum over its hidden
channels. A lower-rank expert gets the trained expert's most important hidden channels
(importance = mean |h_c| over training crops times the norm of conv_3's column c), so it
starts as the best truncation of it; a higher-rank one gets all of them plus its own
extra channels with a zero output column, so it starts as an exact copy that can still
grow. Keys and shapes are unchanged; only weight values move.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch.more import MoELayer


@dataclass(frozen=True)
class WarmStart:
    """What `warm_start_experts` did to one block."""

    block: int
    source: int  # the expert whose channels were copied
    copied_to: tuple[int, ...]


def moe_layers(model: nn.Module) -> list[MoELayer]:
    return [m for m in model.modules() if isinstance(m, MoELayer)]


@torch.no_grad()
def warm_start_experts(
    model: nn.Module, batches: list[torch.Tensor], keep: set[int] | None = None
) -> list[WarmStart]:
    """Overwrite each block's unused experts with copies of its most chosen one.

    batches: LR crops (N, 3, h, w) from training photos; they decide which expert each
    block uses (argmax of the summed router probabilities) and the channel importances.
    keep: blocks to leave alone.
    """
    layers = moe_layers(model)
    seen: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in range(len(layers))}

    def grab(i: int):
        def hook(_mod: nn.Module, args: tuple, _kwargs: dict) -> None:
            seen[i].append((args[0].detach(), args[1].detach()))

        return hook

    handles = [
        layer.register_forward_pre_hook(grab(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    was_training = model.training
    model.eval()
    try:
        for lr in batches:
            model(lr)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    done = []
    for i, layer in enumerate(layers):
        if keep and i in keep:
            continue
        pairs = seen[i]
        probs = sum(layer.gate.probs(x).sum(0) for x, _ in pairs)
        src_j = int(torch.as_tensor(probs).argmax())
        src = layer.experts[src_j]
        # Importance of each hidden channel to the expert's output.
        mean_abs = sum(src.lowrank(x, k).abs().mean(dim=(0, 2, 3)) for x, k in pairs)
        col_norm = src.conv_3.weight.flatten(1).norm(dim=0)
        order = torch.argsort(torch.as_tensor(mean_abs) * col_norm, descending=True)
        targets = []
        for j, dst in enumerate(layer.experts):
            if j == src_j:
                continue
            r_dst = dst.conv_1.out_channels
            n = min(r_dst, src.conv_1.out_channels)
            idx = order[:n]
            for name in ("conv_1", "conv_2"):
                s, d = getattr(src, name), getattr(dst, name)
                d.weight[:n] = s.weight[idx]
                d.bias[:n] = s.bias[idx]
            dst.conv_3.weight[:, :n] = src.conv_3.weight[:, idx]
            dst.conv_3.weight[:, n:] = 0.0  # extra channels start silent, free to grow
            dst.conv_3.bias.copy_(src.conv_3.bias)
            targets.append(j)
        done.append(WarmStart(i, src_j, tuple(targets)))
    return done
