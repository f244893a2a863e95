"""The fused inference copy computes the plain network's function, in every configuration."""

from __future__ import annotations

import pytest
import torch

from seemore_core.arch import build
from seemore_core.arch import fast as fast_mod
from seemore_core.arch.fast import fast_copy, onednn_fusion_works
from seemore_core.engine import Engine, EngineOptions


def _randomise(model: torch.nn.Module, seed: int) -> None:
    # Trained-looking weights: LayerNorm affines and biases away from 1/0 so a lost or
    # misplaced term shows.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def _x(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g)


CONFIGS = [
    ("T", 2, {}),
    ("T", 4, {}),
    ("B", 3, {}),
    ("L", 2, {}),
    ("T", 2, {"use_shuffle": False}),
    ("T", 3, {"recursive": 1, "topk": 2}),
    ("T", 2, {"recursive": 3, "kernel_size": 7}),
]


@pytest.mark.parametrize(("variant", "scale", "over"), CONFIGS)
@pytest.mark.parametrize("channels_last", [True, False])
def test_fast_copy_equals_plain(variant: str, scale: int, over: dict, channels_last: bool) -> None:
    torch.manual_seed(1)
    plain = build(variant, scale, **over)
    _randomise(plain, 2)
    fast = fast_copy(plain)
    x = _x(2, 37, 70 if over.get("recursive") == 3 else 29)
    if channels_last:
        plain = plain.to(memory_format=torch.channels_last)
        fast = fast.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = plain.inspect(x, ("more_out", "see_out", "expert_lowrank"))
        got = fast.inspect(x, ("more_out", "see_out", "expert_lowrank"))
    assert got.output.shape == want.output.shape
    assert float((got.output - want.output).abs().max()) < 1e-4
    for a, b in zip(got.routing, want.routing, strict=True):
        assert torch.equal(a.chosen, b.chosen)
        assert torch.allclose(a.probs, b.probs, atol=1e-5)
    assert got.features.keys() == want.features.keys() and got.features
    for key in want.features:
        assert torch.allclose(got.features[key], want.features[key], atol=1e-4), key


def test_fused_kernels_are_used_on_cpu_and_fallback_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With oneDNN fusion on (this machine) and forced off, the same function."""
    plain = build("T", 2)
    _randomise(plain, 3)
    fast = fast_copy(plain).to(memory_format=torch.channels_last)
    x = _x(1, 40, 33).contiguous(memory_format=torch.channels_last)
    calls = {"n": 0}
    real = fast_mod._fusable

    def counting(t: torch.Tensor) -> bool:
        ok = real(t)
        calls["n"] += ok
        return ok

    monkeypatch.setattr(fast_mod, "_fusable", counting)
    with torch.no_grad():
        want = plain(x)
        fused = fast(x)
        if onednn_fusion_works():
            assert calls["n"] > 0
        monkeypatch.setattr(fast_mod, "_fusable", lambda t: False)
        unfused = fast(x)
    assert float((fused - want).abs().max()) < 1e-4
    assert float((unfused - want).abs().max()) < 1e-4


def test_fast_copy_shares_nothing_and_leaves_the_original_alone() -> None:
    plain = build("T", 2)
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    fast = fast_copy(plain)
    with torch.no_grad():
        for p in fast.parameters():
            p.zero_()
    for k, v in plain.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(not p.requires_grad for p in fast.parameters())
    assert not any(m.training for m in fast.modules())  # eval routing: chosen experts only
    assert any(p.requires_grad for p in plain.parameters())


def test_bf16_fast_path_falls_back_and_stays_close() -> None:
    plain = build("T", 2)
    _randomise(plain, 4)
    x = _x(1, 24, 24)
    with torch.no_grad():
        want = plain(x)
        got = fast_copy(plain).to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert float((got - want).abs().max()) < 0.1


def test_engine_fast_and_plain_agree() -> None:
    plain = build("T", 3)
    _randomise(plain, 5)
    img = _x(1, 30, 41)[0].permute(1, 2, 0).numpy()
    a = Engine(plain, device="cpu", fast=True).upscale(img, EngineOptions(tile=16)).image
    b = Engine(plain, device="cpu", fast=False).upscale(img, EngineOptions(tile=0)).image
    assert float(abs(a - b).max()) < 1e-4
