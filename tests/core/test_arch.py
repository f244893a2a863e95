"""The network against the reference's golden outputs, and its behaviour at the edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import seemore_core
from seemore_core.arch import FEATURE_POINTS, build, count_macs, count_params, variant_config
from seemore_core.checkpoint import load_model


@pytest.mark.parametrize("name", ["seemore_T_x4", "seemore_L_x2"])
def test_golden_output_matches_reference(golden_dir: Path, name: str) -> None:
    model = load_model(golden_dir / f"{name}_random.pth")
    x = torch.from_numpy(np.load(golden_dir / f"{name}_input.npy"))
    want = np.load(golden_dir / f"{name}_output.npy")
    with torch.no_grad():
        got = model(x).numpy()
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    print(f"{name}: max abs error {err:.2e}")
    assert err <= 1e-5


def _golden_batch(golden_dir: Path) -> tuple[torch.nn.Module, torch.Tensor]:
    """The golden T x4 network with routers made content-sensitive, and a varied batch.

    With random weights the router's input is dominated by biases, so every image would
    choose the same experts. Each router is set to point at the batch's own centred
    features, which makes images disagree and the per-image routing test meaningful.
    """
    model = load_model(golden_dir / "seemore_T_x4_random.pth")
    x = torch.from_numpy(np.load(golden_dir / "seemore_T_x4_input.npy"))
    g = torch.Generator().manual_seed(1)
    batch = torch.cat(
        [x, x.flip(-1) * 0.5, torch.rand(1, *x.shape[1:], generator=g), 1 - x, x * 0.1 + 0.8]
    )
    for group in model.body:
        router = group.local_block.block.moe_layer.gate
        seen: list[torch.Tensor] = []
        handle = router.body.register_forward_hook(
            lambda m, inp, out, seen=seen: seen.append(inp[0].mean((2, 3)))
        )
        with torch.no_grad():
            model(batch)
            handle.remove()
            pooled = seen[0]
            centred = pooled - pooled.mean(0, keepdim=True)
            w = centred[:3] / centred[:3].norm(dim=1, keepdim=True)
            spread = (w @ pooled.T).std()
            router.body[2].weight.copy_(w * (10 / spread))
    return model, batch


def test_batch_routes_each_image_on_its_own(golden_dir: Path) -> None:
    model, batch = _golden_batch(golden_dir)
    with torch.no_grad():
        res = model.inspect(batch)
        chosen = torch.stack([r.chosen[:, 0] for r in res.routing], 1)  # (N, blocks)
        # The test means something only if images disagree somewhere.
        assert len({tuple(row.tolist()) for row in chosen}) > 1
        worst = 0.0
        for i in range(batch.shape[0]):
            alone = model(batch[i : i + 1])
            worst = max(worst, float((alone - res.output[i : i + 1]).abs().max()))
    print(f"batch vs single: max abs diff {worst:.2e}")
    assert worst <= 1e-5


def test_training_path_equals_inference_path(golden_dir: Path) -> None:
    # Training evaluates every expert and masks; inference runs only the chosen ones.
    model, batch = _golden_batch(golden_dir)
    with torch.no_grad():
        want = model(batch)
        model.train()
        got = model(batch)
    assert float((got - want).abs().max()) <= 1e-5


@pytest.mark.parametrize("variant", ["T", "B", "L"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_every_variant_and_scale_runs(variant: str, scale: int) -> None:
    model = seemore_core.build(variant, scale=scale)
    x = torch.rand(1, 3, 20, 23)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, 20 * scale, 23 * scale)
    assert torch.isfinite(y).all()


def test_state_dict_keys_match_the_authors(golden_dir: Path) -> None:
    want = torch.load(golden_dir / "seemore_T_x4_random.pth", weights_only=True)["params_ema"]
    got = build("T", 4).state_dict()
    assert set(got) == set(want)
    assert all(got[k].shape == want[k].shape for k in want)


@pytest.mark.parametrize("hw", [(1, 1), (3, 1000), (1, 17), (15, 16), (5, 7)])
def test_tiny_and_thin_inputs_are_padded(hw: tuple[int, int]) -> None:
    model = build("T", 2)
    with torch.no_grad():
        y = model(torch.rand(1, 3, *hw))
    assert y.shape == (1, 3, 2 * hw[0], 2 * hw[1])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(
    "overrides",
    [
        {"topk": 2},
        {"topk": 3, "growth": "linear"},
        {"num_experts": 4, "growth": "double", "use_shuffle": False},
        {"num_layers": 2, "embedding_dim": 16, "recursive": 1, "kernel_size": 7},
        {"recursive": 3},
    ],
)
def test_custom_configurations(overrides: dict[str, object]) -> None:
    model = build("T", 3, **overrides)
    x = torch.rand(2, 3, 70, 66)
    with torch.no_grad():
        y = model(x)
        res = model.inspect(x)
    assert y.shape == (2, 3, 210, 198)
    assert torch.equal(res.output, y)
    assert all(r.chosen.shape == (2, model.cfg.topk) for r in res.routing)


def test_inspect_records_routing_and_features(golden_dir: Path) -> None:
    model = load_model(golden_dir / "seemore_T_x4_random.pth")
    x = torch.from_numpy(np.load(golden_dir / "seemore_T_x4_input.npy"))
    with torch.no_grad():
        plain = model(x)
    res = model.inspect(x, points=FEATURE_POINTS)
    assert torch.equal(res.output, plain)  # the inside view changes nothing
    assert [r.block for r in res.routing] == list(range(6))
    for r in res.routing:
        assert r.probs.shape == (1, 3)
        assert torch.allclose(r.probs.sum(-1), torch.ones(1))
        assert r.chosen[0, 0] == r.probs[0].argmax()
        assert torch.equal(r.weights[0], r.probs[0, r.chosen[0]])
        j = int(r.chosen[0, 0])
        low = res.features[(r.block, f"expert_lowrank/{j}")]
        assert low.shape == (1, model.cfg.ranks[j], 40, 56)
        for p in ("rme_in", "more_out", "rme_out", "sme_in", "see_out", "sme_out"):
            assert res.features[(r.block, p)].shape == (1, 36, 40, 56)
    # Each block's SME input is its RME output, and each block feeds the next.
    assert torch.equal(res.features[(0, "rme_out")], res.features[(0, "sme_in")])
    assert torch.equal(res.features[(0, "sme_out")], res.features[(1, "rme_in")])


def test_inspect_without_points_keeps_no_features() -> None:
    model = build("T", 2)
    res = model.inspect(torch.rand(1, 3, 16, 16), blocks=[1])
    assert res.features == {}
    assert len(res.routing) == 6


def test_forced_routing_overrides_the_router() -> None:
    model = build("T", 2)
    x = torch.rand(1, 3, 32, 32)
    forced = {b: torch.tensor([[0.0, 0.0, 1.0]]) for b in range(6)}
    res = model.inspect(x, forced=forced)
    assert all(int(r.chosen[0, 0]) == 2 for r in res.routing)


@pytest.mark.parametrize(
    ("variant", "scale", "params_k", "gmacs"),
    [
        ("T", 2, 220, 45),
        ("T", 3, 225, 20),
        ("T", 4, 232, 12),
        ("B", 2, 490, 101),
        ("L", 2, 953, 197),
    ],
)
def test_params_and_macs_match_the_paper(
    variant: str, scale: int, params_k: int, gmacs: int
) -> None:
    cfg = variant_config(variant, scale)
    assert abs(count_params(build(cfg)) / 1000 - params_k) < 1
    # The paper counts a 1280x720 output.
    assert abs(count_macs(cfg, 720 // scale, 1280 // scale) / 1e9 - gmacs) <= 1


def test_macs_formula_counts_what_runs() -> None:
    # Cross-check the formula with torch's operator-level FLOP counter on a real run:
    # it sees every convolution and matmul that executes, whichever module (or split
    # conv, layers.conv_halves) issued it. One MAC is two FLOPs.
    from torch.utils.flop_counter import FlopCounterMode

    cfg = variant_config("T", 2)
    model = build(cfg)
    # Force the largest expert everywhere: the formula's worst case.
    forced = {b: torch.tensor([[0.0, 0.0, 1.0]]) for b in range(cfg.num_layers)}
    counter = FlopCounterMode(display=False)
    with counter:
        model.inspect(torch.rand(1, 3, 64, 48), forced=forced)
    router = cfg.num_layers * cfg.embedding_dim * cfg.num_experts  # skipped when forced
    assert counter.get_total_flops() // 2 + router == count_macs(cfg, 64, 48)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_halves_equal_conv_then_shuffle_then_chunk(shuffle: bool, channels_last: bool) -> None:
    """The blocks compute chunked 1x1 convs as two convs (no strided copies in training);
    values and gradients must be those of the authors' conv -> shuffle -> chunk."""
    from seemore_core.arch.layers import channel_shuffle, conv_halves, shuffle_order

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 12, 1)
    x = torch.randn(3, 8, 7, 5)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    h = conv(x)
    if shuffle:
        h = channel_shuffle(h, 2)
    want = h.chunk(2, dim=1)
    (want[0].sum() * 2 + want[1].square().sum()).backward()
    gw = conv.weight.grad.clone()
    conv.weight.grad = None
    got = conv_halves(conv, x, shuffle_order(12) if shuffle else None)
    (got[0].sum() * 2 + got[1].square().sum()).backward()
    for a, b in zip(got, want, strict=True):
        assert a.is_contiguous() or a.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(conv.weight.grad, gw)
    assert not torch.equal(shuffle_order(12), torch.arange(12))
