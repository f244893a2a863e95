"""benchmarks/gpu_check.py in its dry mode: every check's code path on the CPU, tiny sizes.

The report is read back and judged on what the checks measured, not on the fact that a
file appeared: tiled == whole to 1e-4, the fp32 speed variants agreeing with the reference
while bf16 does not, the training steps moving the weights, and the half-precision rule
applied to the measured PSNRs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
SET5 = ROOT.parent / "shared" / "data" / "benchmark" / "Set5"


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def dry(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("results")
    r = _run("--dry-run", "--out", str(out), "--set5", str(SET5))
    assert r.returncode == 0, r.stdout + r.stderr
    (js,) = out.glob("gpu-check-dryrun-cpu-*.json")
    (txt,) = out.glob("gpu-check-dryrun-cpu-*.txt")
    return json.loads(js.read_text()), txt.read_text(), r.stdout


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    (c,) = [c for c in report["checks"] if c["name"] == name]
    return c


def test_every_check_ran_in_order(dry: tuple[dict[str, Any], str, str]) -> None:
    report, _, _ = dry
    assert report["dry_run"] is True and report["device"] == "cpu"
    names = [c["name"] for c in report["checks"]]
    assert names == ["tiled_equals_whole", "precision_set5", "speed", "memory", "train"]
    for c in report["checks"]:
        assert c["status"] in ("pass", "info", "skipped"), c
        assert c["seconds"] > 0


def test_tiled_equals_whole(dry: tuple[dict[str, Any], str, str]) -> None:
    c = _check(dry[0], "tiled_equals_whole")
    assert c["status"] == "pass"
    v = c["values"]
    assert v["tiles"] > 1  # really tiled, not a whole pass twice
    assert 0 <= v["max_abs_diff"] < 1e-4


def test_speed_variants_agree_with_the_reference(dry: tuple[dict[str, Any], str, str]) -> None:
    c = _check(dry[0], "speed")
    v = c["values"]
    diffs = v["max_diff_vs_reference"]
    fp32 = {k: d for k, d in diffs.items() if "fp32" in k}
    # Channels-last and NCHW engine paths and the fixed-route TorchScript trace.
    assert {"engine fp32 channels-last", "engine fp32 NCHW", "fixed-route trace fp32"} <= set(fp32)
    assert max(fp32.values()) < 1e-4
    # bf16 is measured for real: it differs from the reference by far more than fp32.
    assert diffs["engine bf16 channels-last"] > 100 * max(fp32.values())
    assert all(t > 0 for t in v["median_s"].values())
    assert v["x_reference"]["reference fp32 NCHW"] == 1.0
    assert v["notes"] == {"cuda graph": "skipped: needs CUDA"}


def test_precision_rule_follows_the_measured_psnr(dry: tuple[dict[str, Any], str, str]) -> None:
    report = dry[0]
    c = _check(report, "precision_set5")
    if not (SET5 / "HR").is_dir():
        assert c["status"] == "skipped"
        return
    v = c["values"]
    assert set(v["psnr_y"]) == {"fp32", "bf16"}  # the CPU refuses fp16
    # The bundled T x4 on Set5 crops: a real super-resolution score, not a placeholder.
    assert 25 < v["psnr_y"]["fp32"] < 60
    assert v["drop_db"]["bf16"] == pytest.approx(v["psnr_y"]["fp32"] - v["psnr_y"]["bf16"])
    within = v["drop_db"]["bf16"] <= 0.01
    assert v["within_tolerance"] == (["bf16"] if within else [])
    assert report["half_precision_default"].startswith("bf16" if within else "fp32")


def test_memory_rows(dry: tuple[dict[str, Any], str, str]) -> None:
    c = _check(dry[0], "memory")
    rows = c["values"]["rows"]
    assert [(r["megapixels"], r["plan"]) for r in rows] == [
        (0.001, "auto"),
        (0.001, "tile 32"),
        (0.004, "auto"),
        (0.004, "tile 32"),
    ]
    assert rows[0]["tile"] == 0 and rows[0]["tiles"] == 1  # small: one whole pass
    assert rows[3]["tile"] == 32 and rows[3]["tiles"] == 4  # 63x63 in 32-px tiles
    assert all(r["peak_bytes"] > 10 * 2**20 for r in rows)


def test_training_steps_moved_the_weights(dry: tuple[dict[str, Any], str, str]) -> None:
    c = _check(dry[0], "train")
    assert c["status"] == "pass"
    one = c["values"]["single"]
    assert one["world"] == 1 and one["device"] == "cpu"
    assert len(one["losses"]) == 3  # 1 warm-up + 2 timed steps
    assert all(math.isfinite(x) and x > 0 for x in one["losses"])
    assert one["weights_moved"] > 0 and one["steps_per_s"] > 0
    assert "ddp" not in c["values"]


def test_text_report_matches_the_json(dry: tuple[dict[str, Any], str, str]) -> None:
    report, text, stdout = dry
    assert text.startswith("gpu_check DRY RUN on the CPU")
    diff = _check(report, "tiled_equals_whole")["values"]["max_abs_diff"]
    assert f"max abs diff {diff:.2e}" in text
    assert f"half precision as the GPU default: {report['half_precision_default']}" in text
    assert "wrote " in stdout


def test_missing_out_folder_is_one_line(tmp_path: Path) -> None:
    r = _run("--dry-run", "--out", str(tmp_path / "absent"), timeout=120)
    assert r.returncode == 2
    assert "no such folder" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "absent").exists()


@pytest.mark.slow
def test_ddp_training_path_over_gloo(tmp_path: Path) -> None:
    """The torchrun DDP path (NCCL on two GPUs) with gloo on the CPU."""
    r = _run("--dry-run", "--ddp-on-cpu", "--out", str(tmp_path), "--set5", str(SET5))
    assert r.returncode == 0, r.stdout + r.stderr
    (js,) = tmp_path.glob("*.json")
    c = _check(json.loads(js.read_text()), "train")
    ddp = c["values"]["ddp"]
    assert ddp["world"] == 2 and ddp["backend"] == "gloo"
    assert all(math.isfinite(x) for x in ddp["losses"]) and ddp["weights_moved"] > 0
