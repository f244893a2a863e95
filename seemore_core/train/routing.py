"""The routing recipe: noisy gating and balancing losses, applied from outside the network.

Why from outside: the network (and its state-dict keys) must stay the authors', so the
recipe hooks each router's linear map (`gate.body.2`) instead of changing the module.
In training the hook adds Gaussian noise to the logits (Shazeer et al. 2017, fixed
std because a learned noise weight would add a key) and keeps the clean and noisy
logits of the batch, from which `balance_loss` computes Shazeer's importance and load
losses. In eval mode the hook does nothing, so validation and export see the plain
network.

Why these: measured on the first release (../shared/docs/routing-diagnosis.md), the
router's logits differ 10-100x less between images than its constant preference, and
top-1 training without noise only ever scales the expert it chose first up or down.
Noise makes the other experts get chosen and trained; the balancing losses push the
constant preference out so that image-dependent differences decide the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


def router_linears(model: nn.Module) -> list[nn.Linear]:
    """Every MoE router's bias-free linear map (`...moe_layer.gate.body.2`), block order."""
    found = []
    for name, mod in model.named_modules():
        if name.endswith("moe_layer.gate.body.2") and isinstance(mod, nn.Linear):
            found.append(mod)
    return found


def router_parameter_names(model: nn.Module) -> set[str]:
    return {n for n, _ in model.named_parameters() if ".moe_layer.gate." in n}


@dataclass
class RouterTap:
    """Forward hooks on the routers: noise in training, logits kept for the balance loss."""

    noise_std: float = 0.0
    keep: bool = False
    clean: list[torch.Tensor] = field(default_factory=list)
    noisy: list[torch.Tensor] = field(default_factory=list)
    _handles: list[torch.utils.hooks.RemovableHandle] = field(default_factory=list)

    def attach(self, model: nn.Module) -> RouterTap:
        for lin in router_linears(model):
            self._handles.append(lin.register_forward_hook(self._hook))
        if not self._handles:
            raise ConfigError("the network has no MoE router to apply the routing recipe to")
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor):
        if not mod.training:
            return None
        noisy = out + self.noise_std * torch.randn_like(out) if self.noise_std > 0 else out
        if self.keep:
            # The balance loss sees the logits of detached features: it moves the routers
            # only, and the features keep serving the pixel loss alone.
            # Grad on even under no_grad: a router-only run skips the network's backward.
            with torch.enable_grad():
                clean = F.linear(inp[0].detach(), mod.weight)
            self.clean.append(clean)
            self.noisy.append(clean + (noisy - out).detach())
        return noisy

    def take(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The logits kept since the last call (one (N, E) pair per block), and forget them."""
        clean, noisy = self.clean, self.noisy
        self.clean, self.noisy = [], []
        return clean, noisy


def cv_squared(v: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation; 0 for a uniform vector (and for one expert)."""
    v = v.float()
    if v.numel() <= 1:
        return v.new_zeros(())
    return v.var(unbiased=False) / (v.mean() ** 2 + 1e-10)


def load_probability(clean: torch.Tensor, noisy: torch.Tensor, noise_std: float) -> torch.Tensor:
    """P(expert j is the top-1 choice of image i) under a fresh draw of its own noise.

    Shazeer et al.'s smooth estimator for k = 1: expert j wins when its noisy logit beats
    the best other noisy logit, so P = Phi((clean_j - max_{k != j} noisy_k) / std).
    """
    e = noisy.shape[-1]
    eye = torch.eye(e, dtype=torch.bool, device=noisy.device)
    others = noisy.unsqueeze(1).expand(-1, e, -1).masked_fill(eye, -math.inf)
    threshold = others.amax(-1)  # (N, E): best competitor of each expert
    z = (clean - threshold) / noise_std
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


def balance_loss(
    clean: list[torch.Tensor],
    noisy: list[torch.Tensor],
    noise_std: float,
    temperature: float = 0.0,
) -> torch.Tensor:
    """Mean over blocks of the balancing terms over the batch.

    temperature == 0: Shazeer's importance CV^2 (summed gate probability per expert) plus
    load CV^2 (expected number of images choosing each expert, smooth with noise) or,
    without noise, the Switch Transformer's choice share times mean probability.

    temperature > 0: an information-maximising form on the clean logits sharpened by
    1/temperature (a soft argmax): CV^2 of their per-expert sum (the clean choice spread
    over the batch) plus their mean normalised entropy (each image decided). Measured:
    the first form is satisfied by the noise alone, leaving every clean choice the same.
    """
    terms = []
    for c, n in zip(clean, noisy, strict=True):
        e = c.shape[-1]
        if temperature > 0:
            p = torch.softmax(c.float() / temperature, dim=-1)
            ent = -(p * torch.log(p + 1e-9)).sum(-1).mean() / math.log(e)
            terms.append(cv_squared(p.sum(0)) + ent)
            continue
        probs = torch.softmax(n.float(), dim=-1)
        loss = cv_squared(probs.sum(0))
        if noise_std > 0:
            loss = loss + cv_squared(load_probability(c.float(), n.float(), noise_std).sum(0))
        else:
            share = torch.bincount(probs.argmax(-1), minlength=e).float() / probs.shape[0]
            loss = loss + e * (share * probs.mean(0)).sum() - 1.0
        terms.append(loss)
    return torch.stack(terms).mean()
