"""The model picker's facts and the pre-run estimate, from the real records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from seemore_app.model_info import Estimator, read_facts

from seemore_core.models import weights_dir

RUN_TIMEOUT_MS = 60_000


def test_facts_come_from_the_bundled_records() -> None:
    raw = json.loads((weights_dir() / "eval.json").read_text())
    facts = read_facts(weights_dir())
    for key, rec in raw.items():
        f = facts[(key.split("_x")[0], rec["scale"])]
        assert f.set5_psnr == pytest.approx(rec["sets"]["Set5"]["psnr"])
        assert f"Set5 {rec['sets']['Set5']['psnr']:.2f} dB" in f.summary()
        assert "over bicubic" in f.summary() and f.steps == rec["steps"]


def test_photo_model_has_its_own_facts_purpose_and_estimate(tmp_path: Path) -> None:
    """A T-photo record (as release_weights writes it) is listed under its own name,
    with what it is for against the clean T, and costs what a SeemoRe-T costs."""
    raw = json.loads((weights_dir() / "eval.json").read_text())
    raw["T-photo_x4"] = {**raw["T_x4"], "steps": raw["T_x4"]["steps"] + 1}
    (tmp_path / "eval.json").write_text(json.dumps(raw))
    facts = read_facts(tmp_path)
    photo, clean = facts[("T-photo", 4)], facts[("T", 4)]
    assert photo.purpose.startswith("Photo: JPEG, noise, blur")
    assert clean.purpose.startswith("Clean: sharp sources") and "photos" in clean.purpose
    assert photo.steps == clean.steps + 1 and photo.summary().startswith("SeemoRe-T-photo x4")
    est = Estimator()
    assert est.estimate(640, 480, "T-photo", 4) == est.estimate(640, 480, "T", 4)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"T_x4": "nonsense"}'])
def test_damaged_records_give_no_facts_not_a_crash(tmp_path: Path, content: str) -> None:
    (tmp_path / "eval.json").write_text(content)
    assert read_facts(tmp_path) == {}


def test_estimate_grows_with_the_image_and_learns_from_a_run() -> None:
    est = Estimator()
    small = est.estimate(100, 100, "T", 4)
    big = est.estimate(200, 200, "T", 4)
    assert big.seconds == pytest.approx(4 * small.seconds, rel=0.01)
    assert big.ram_bytes > 3.5 * small.ram_bytes and not small.calibrated
    est.learn(small.seconds, 5 * small.seconds)  # this machine is 5x slower than nominal
    again = est.estimate(100, 100, "T", 4)
    assert again.calibrated and again.seconds == pytest.approx(5 * small.seconds)


def test_window_shows_the_estimate_and_the_model_facts(qtbot, window, small_png: Path) -> None:
    assert window.estimate_label.text() == ""  # no image, nothing to estimate
    window.load_image(small_png)
    assert window.bg.wait_idle(30_000)
    est = window.run_estimate()
    assert est is not None and window.estimate_label.text() == est.short()
    assert window.estimate_label.text().endswith(("MB", "GB"))
    assert "32x24 -> 64x48" in window.estimate_label.toolTip()
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
    assert blocker.args == [True]
    # The measured run corrects later estimates.
    assert window.estimator.ratio is not None
    assert "last run" in window.estimate_label.toolTip()
    bundled = [
        i
        for i in range(window.model_combo.count())
        if window.model_combo.itemData(i)[0] == "bundled"
    ]
    if window.facts and bundled:
        tip = window.model_combo.itemData(bundled[0], Qt.ItemDataRole.ToolTipRole)
        assert "Set5" in tip and "photos" in tip
