"""The paper's loss: L1 in pixels plus a weighted L1 on the 2-D FFT's real and imaginary parts."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fft_l1(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    # Unnormalised rfft2 as in the reference recipe: its magnitude grows with the patch
    # area, so the weight that balances it against pixel L1 depends on the patch size.
    a = torch.view_as_real(torch.fft.rfft2(sr.float()))
    b = torch.view_as_real(torch.fft.rfft2(hr.float()))
    return F.l1_loss(a, b)


def sr_loss(
    sr: torch.Tensor, hr: torch.Tensor, fft_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    pix = F.l1_loss(sr, hr)
    total = pix
    parts = {"l1": float(pix.detach())}
    if fft_weight:
        f = fft_l1(sr, hr)
        total = total + fft_weight * f
        parts["fft"] = float(f.detach())
    return total, parts
