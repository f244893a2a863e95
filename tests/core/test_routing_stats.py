"""Routing statistics over a set of images (`seemore routing-stats`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core.checkpoint import load_model
from seemore_core.engine import Engine
from seemore_core.routing_stats import (
    gather_inputs,
    measure,
    normalised_entropy,
    summarise,
    usage_picture,
)


def test_summary_counts_shares_probs_and_entropy() -> None:
    names = ["a", "b", "c", "d"]
    # Two blocks, three experts: block 0 splits 2/2 between E0 and E2, block 1 is constant.
    chosen = [[0, 1], [2, 1], [0, 1], [2, 1]]
    probs = [
        [[0.5, 0.2, 0.3], [0.2, 0.6, 0.2]],
        [[0.1, 0.2, 0.7], [0.3, 0.4, 0.3]],
        [[0.6, 0.2, 0.2], [0.2, 0.6, 0.2]],
        [[0.2, 0.2, 0.6], [0.3, 0.4, 0.3]],
    ]
    s = summarise(names, probs, chosen)
    assert s.blocks[0].share == [0.5, 0.0, 0.5]
    assert s.blocks[1].share == [0.0, 1.0, 0.0]
    assert s.blocks[0].mean_probs == pytest.approx([0.35, 0.2, 0.45])
    assert s.blocks[0].entropy == pytest.approx(math.log(2) / math.log(3), abs=1e-6)
    assert s.blocks[1].entropy == 0.0
    assert s.diverse_blocks() == 1
    assert normalised_entropy([1 / 3] * 3) == pytest.approx(1.0)
    assert json.loads(json.dumps(s.to_json()))["diverse_blocks_of_first_3"] == 1


def test_measure_routes_whole_images_like_inspect(data_root: Path, tmp_path: Path) -> None:
    """Statistics of the bundled x4 model on Set5: each image's record equals the
    model's own whole-image routing, and the picture is a real PNG."""
    from seemore_core.models import bundled_path

    model = load_model(bundled_path("T", 4))
    inputs = gather_inputs([data_root / "benchmark" / "Set5"], 4)
    assert [n for n, _ in inputs] == [
        f"Set5/{s}" for s in ("baby", "bird", "butterfly", "head", "woman")
    ]
    stats = measure(Engine(model, device="cpu"), inputs)
    import torch

    x = torch.from_numpy(inputs[1][1]()).permute(2, 0, 1)[None]
    direct = model.inspect(x).routing
    assert stats.chosen[1] == [int(r.chosen[0, 0]) for r in direct]
    for b in range(len(direct)):
        assert sum(stats.blocks[b].share) == pytest.approx(1.0)
        assert 0.0 <= stats.blocks[b].entropy <= 1.0
    pic = usage_picture(stats, tmp_path / "fig5.png", "x4")
    with Image.open(pic) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[0] > 6 * 40 and arr.std() > 10  # cells drawn, not a blank page
    from seemore_core.errors import SeemoreError

    with pytest.raises(SeemoreError):  # never overwritten without asking
        usage_picture(stats, pic, "again")
    usage_picture(stats, pic, "again", overwrite=True)


def test_cli_routing_stats_json_on_files_and_folders(data_root: Path, tmp_path: Path) -> None:
    from seemore_core.cli import main

    img = (np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "noise.png")
    out = tmp_path / "out.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            [
                "routing-stats",
                str(tmp_path / "noise.png"),
                str(data_root / "benchmark" / "Set5"),
                "--model",
                "T",
                "--scale",
                "2",
                "--device",
                "cpu",
                "--json",
            ]
        )
    assert rc == 0
    data = json.loads(buf.getvalue())
    assert len(data["images"]) == 6 and len(data["blocks"]) == 6
    assert all(len(b["share"]) == 3 for b in data["blocks"])
    out.write_text(buf.getvalue())
    with contextlib.redirect_stderr(io.StringIO()) as e:
        rc = main(["routing-stats", str(tmp_path / "missing"), "--model", "T", "--device", "cpu"])
    assert rc == 1 and "missing" in e.getvalue() and "Traceback" not in e.getvalue()
