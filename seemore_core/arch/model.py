"""The SeemoRe network: shallow conv, residual groups of RME + SME, pixel-shuffle upsampler."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .config import SeemoreConfig, variant_config
from .layers import LayerNorm2d
from .more import RME
from .records import InspectResult, Probe
from .see import SME

# The DIV2K RGB mean the reference subtracts; a constant, not part of any state dict.
RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResGroup(nn.Module):
    def __init__(self, cfg: SeemoreConfig) -> None:
        super().__init__()
        self.local_block = RME(
            cfg.embedding_dim, cfg.ranks, cfg.topk, cfg.use_shuffle, cfg.recursive
        )
        self.global_block = SME(cfg.embedding_dim, cfg.kernel_size)

    def forward(self, x: torch.Tensor, block: int = 0, probe: Probe | None = None) -> torch.Tensor:
        if probe is None:
            return self.global_block(self.local_block(x))
        if probe.wants(block, "rme_in"):
            probe.keep(block, "rme_in", x)
        x = self.local_block(x, block, probe)
        for point in ("rme_out", "sme_in"):
            if probe.wants(block, point):
                probe.keep(block, point, x)
        x = self.global_block(x, block, probe)
        if probe.wants(block, "sme_out"):
            probe.keep(block, "sme_out", x)
        return x


class SeemoRe(nn.Module):
    """Input (N, 3, H, W) RGB in [0, 1]; output (N, 3, sH, sW), not clamped."""

    def __init__(self, cfg: SeemoreConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.embedding_dim
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.ModuleList(ResGroup(cfg) for _ in range(cfg.num_layers))
        self.norm = LayerNorm2d(c)
        self.conv_2 = nn.Conv2d(c, c, 3, padding=1)
        self.upsampler = nn.Sequential(
            nn.Conv2d(c, 3 * cfg.scale**2, 3, padding=1), nn.PixelShuffle(cfg.scale)
        )

    @property
    def scale(self) -> int:
        return self.cfg.scale

    def _pad_small(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        # The calibration's stride-4 convs need at least 4^recursive pixels per side or
        # they produce an empty map; smaller inputs are edge-padded and cropped back.
        h, w = x.shape[-2:]
        g = self.cfg.pool_grid
        ph, pw = max(0, g - h), max(0, g - w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return x, h, w

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """The shallow features of the image (also the long skip to `merge`)."""
        return self.conv_1((x - self.mean) * self.cfg.img_range)

    def merge(self, deep: torch.Tensor, shallow: torch.Tensor) -> torch.Tensor:
        """The residual groups' output closed by the long skip."""
        return self.conv_2(self.norm(deep)) + shallow

    def forward_features(self, x: torch.Tensor, probe: Probe | None = None) -> torch.Tensor:
        """Shallow conv and the residual groups: the part that runs at input resolution."""
        res = x = self.head(x)
        for i, group in enumerate(self.body):
            x = group(x, i, probe)
        return self.merge(x, res)

    def reconstruct(self, feat: torch.Tensor) -> torch.Tensor:
        return self.upsampler(feat) / self.cfg.img_range + self.mean

    def forward(self, x: torch.Tensor, probe: Probe | None = None) -> torch.Tensor:
        x, h, w = self._pad_small(x)
        out = self.reconstruct(self.forward_features(x, probe))
        s = self.cfg.scale
        return out[..., : h * s, : w * s]

    @torch.no_grad()
    def inspect(
        self,
        x: torch.Tensor,
        points: Iterable[str] = (),
        blocks: Iterable[int] | None = None,
        forced: dict[int, torch.Tensor] | None = None,
    ) -> InspectResult:
        """Run once and return the output with routing per block and the asked features.

        The output is the same as `forward`'s; feature maps are at input resolution,
        on the CPU.
        """
        probe = Probe(
            points=frozenset(points),
            blocks=None if blocks is None else frozenset(blocks),
            forced=forced,
        )
        h, w = x.shape[-2:]
        out = self.forward(x, probe)
        feats = {key: t[..., :h, :w] for key, t in probe.features.items()}
        return InspectResult(out, probe.routing, feats)


def build(variant: str | SeemoreConfig = "T", scale: int = 4, **overrides: object) -> SeemoRe:
    """A new SeemoRe network with random weights, in eval mode.

    `variant` is "T", "B", "L" or a full `SeemoreConfig`; keyword overrides change any
    hyperparameter of the variant (e.g. `build("T", 2, topk=2)`).
    """
    cfg = variant if isinstance(variant, SeemoreConfig) else variant_config(variant, scale)
    unknown = sorted(set(overrides) - set(SeemoreConfig.__dataclass_fields__))
    if unknown:
        known = ", ".join(SeemoreConfig.__dataclass_fields__)
        raise ConfigError(f"unknown network option(s) {', '.join(unknown)}; known: {known}")
    if overrides:
        cfg = SeemoreConfig.from_dict({**cfg.to_dict(), **overrides})
    return SeemoRe(cfg).eval()
