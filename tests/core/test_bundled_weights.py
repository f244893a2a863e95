"""The bundled weights are what the model card says: its figures are re-measured here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from seemore_core import models
from seemore_core.engine import Engine
from seemore_core.evaluate import bicubic_upscaler, engine_upscaler, evaluate_dataset


def _meta(path: Path) -> dict[str, str]:
    with safe_open(str(path), "pt") as f:
        return dict(f.metadata() or {})


def test_card_eval_json_and_weight_metadata_agree() -> None:
    bundled = models.bundled_models()
    assert {s for _, s, _ in bundled} == {2, 3, 4}
    evals = json.loads((models.weights_dir() / "eval.json").read_text())
    card = models.model_card()
    for _, scale, path in bundled:
        meta, e = _meta(path), evals[f"T_x{scale}"]
        assert int(meta["train_steps"]) == e["steps"]
        assert float(meta["set5_psnr_y"]) == pytest.approx(e["sets"]["Set5"]["psnr"], abs=1e-3)
        row = next(line for line in card.splitlines() if line.startswith(f"| T x{scale} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == str(e["steps"])
        assert cells[6] == f"{e['sets']['Set5']['psnr']:.2f} / {e['sets']['Set5']['ssim']:.4f}"
        assert cells[7] == f"{e['sets']['Set14']['psnr']:.2f} / {e['sets']['Set14']['ssim']:.4f}"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bundled_weights_score_what_the_card_says(benchmark_root: Path, scale: int) -> None:
    path = models.bundled_path("T", scale)
    model = models.load("T", scale)
    got = evaluate_dataset(
        benchmark_root / "Set5", scale, engine_upscaler(Engine(model, device="cpu"))
    )
    assert got.psnr_y == pytest.approx(float(_meta(path)["set5_psnr_y"]), abs=0.01)
    bicubic = evaluate_dataset(benchmark_root / "Set5", scale, bicubic_upscaler(scale))
    # Far above bicubic: a mix-up of scales or a broken export would land near or below it.
    assert got.psnr_y > bicubic.psnr_y + 2.0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bundled_routing_is_what_the_card_says(benchmark_root: Path, scale: int) -> None:
    """The routing table of the card (Set5+Set14 LR images routed whole) is re-measured:
    per block, the share of images choosing each expert."""
    from seemore_core.routing_stats import gather_inputs, measure

    card = json.loads((models.weights_dir() / "eval.json").read_text())[f"T_x{scale}"]["routing"]
    engine = Engine(models.load("T", scale), device="cpu")
    got = measure(engine, gather_inputs([benchmark_root / "Set5", benchmark_root / "Set14"], scale))
    for b, want in zip(got.blocks, card["blocks"], strict=True):
        assert b.share == pytest.approx(want["share"], abs=1e-5), b.block
    assert got.diverse_blocks() == card["diverse_blocks_of_first_3"]
    row = next(
        line
        for line in models.model_card().splitlines()
        if line.startswith(f"| T x{scale} |") and "(H " in line
    )
    assert row.rstrip(" |").endswith(str(card["diverse_blocks_of_first_3"]))
