"""Warm-starting unused experts from the trained one, on the first release's weights and photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from seemore_core.checkpoint import load_model
from seemore_core.train.expert_init import moe_layers, warm_start_experts

# The warm start is for weights whose router chose one expert everywhere: the first
# release of T x2, kept as a test asset (the same blob git already holds for
# resources/weights/seemore_T_x2.safetensors at e600812, so it costs the repository
# nothing). The bundled x2 is now the second release, whose experts are all trained.
RELEASE_1_X2 = Path(__file__).resolve().parents[1] / "assets" / "seemore_T_x2_release1.safetensors"


def _crops(photos: Path, n: int = 4, size: int = 40) -> torch.Tensor:
    out = []
    for p in sorted(photos.glob("*.png"))[:n]:
        a = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(a[:size, :size].copy()).permute(2, 0, 1))
    return torch.stack(out)


def _inputs(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    got: list[tuple[torch.Tensor, torch.Tensor]] = []
    hs = [
        m.register_forward_pre_hook(lambda _m, a, _k: got.append((a[0], a[1])), with_kwargs=True)
        for m in moe_layers(model)
    ]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return got


def test_copies_follow_the_trained_expert_and_keep_keys(photos: Path) -> None:
    torch.manual_seed(0)
    model = load_model(RELEASE_1_X2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _crops(photos)
    ins = _inputs(model, x)
    old_out = {}
    for i, layer in enumerate(moe_layers(model)):
        xi, ki = ins[i]
        with torch.no_grad():
            old_out[i] = [e(xi, ki) for e in layer.experts]

    done = warm_start_experts(model, [x])

    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(after[k].shape == before[k].shape for k in before)
    # Routers and everything outside the experts are untouched.
    for k in before:
        if ".experts." not in k:
            assert torch.equal(after[k], before[k]), k
    assert len(done) == len(moe_layers(model))
    grew = shrank = 0
    for w, layer in zip(done, moe_layers(model), strict=True):
        src = layer.experts[w.source]
        xi, ki = ins[w.block]
        with torch.no_grad():
            ref = src(xi, ki)
            assert torch.equal(ref, old_out[w.block][w.source])  # the source is kept
            for j in w.copied_to:
                new = layer.experts[j](xi, ki)
                err_new = float((new - ref).norm() / ref.norm())
                err_old = float((old_out[w.block][j] - ref).norm() / ref.norm())
                if layer.experts[j].conv_1.out_channels >= src.conv_1.out_channels:
                    assert err_new < 1e-5  # a larger expert starts as an exact copy
                    grew += 1
                else:
                    # A smaller one is a truncation: much nearer the trained expert
                    # than the weights it had.
                    assert err_new < 0.9 * err_old, (w.block, j, err_new, err_old)
                    assert err_new < 1.0
                    shrank += 1
    assert grew and shrank


def test_keep_leaves_blocks_alone(photos: Path) -> None:
    model = load_model(RELEASE_1_X2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    done = warm_start_experts(model, [_crops(photos, n=2)], keep={0, 1})
    assert [w.block for w in done] == [2, 3, 4, 5]
    after = model.state_dict()
    for k in before:
        if k.startswith(("body.0.", "body.1.")):
            assert torch.equal(after[k], before[k]), k
