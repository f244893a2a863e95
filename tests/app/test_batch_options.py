"""The batch queue's output options: PNG compression level and size by target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core.imageio import read_image
from seemore_core.target import TargetSize

RUN_TIMEOUT_MS = 120_000


def test_panel_options_follow_its_controls(qtbot) -> None:
    from seemore_app.batch_panel import BatchPanel

    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.show()
    opts = panel.options()
    assert opts.target is None and opts.png_level == 6
    assert not panel.size_px.isVisible()  # no size to type for the model's own scale
    panel.size_mode.setCurrentIndex(panel.size_mode.findData("longest"))
    panel.size_px.setValue(1000)
    panel.png_level.setValue(2)
    assert panel.size_px.isVisible()
    assert panel.options().target == TargetSize("longest", 1000)
    assert panel.options().png_level == 2
    panel.set_running(True)  # a run keeps the options it started with
    assert not panel.size_mode.isEnabled() and not panel.png_level.isEnabled()
    panel.set_running(False)
    assert panel.size_mode.isEnabled()


def test_queued_batch_writes_the_asked_size_and_level(
    qtbot, window, tmp_path: Path, png_factory
) -> None:
    """80 px wide: 32x24 needs x2.5 (x3 runs, Lanczos to 80x60), 20x16 exactly x4."""
    if not {2, 3, 4} <= set(window._bundled().get("T", [])):
        pytest.skip("needs the bundled SeemoRe-T x2, x3 and x4 weights")
    window.select_bundled("T", 2)
    files = [
        png_factory(tmp_path / "wide.png", h=24, w=32),
        png_factory(tmp_path / "small.png", h=16, w=20, seed=1),
    ]
    window.set_batch(files)
    panel = window.batch_panel
    panel.size_mode.setCurrentIndex(panel.size_mode.findData("width"))
    panel.size_px.setValue(80)

    # A name with {scale} says nothing when each file picks its scale: refused up front.
    assert not window.start_batch(files, tmp_path / "bad", "{stem}_x{scale}", "png")
    assert "{scale}" in window.errors[-1] and not (tmp_path / "bad").exists()

    def run(level: int, dest: Path) -> list[Path]:
        panel.png_level.setValue(level)
        with qtbot.waitSignal(window.queue_done, timeout=RUN_TIMEOUT_MS) as blocker:
            assert window.start_batch(files, dest, "{stem}_w80", "png", overwrite=True)
            assert not panel.size_mode.isEnabled()  # fixed while the queue runs
        summary = blocker.args[0]
        assert not summary.failed, summary.failed
        return summary.written

    stored = run(0, tmp_path / "level0")
    assert [p.name for p in stored] == ["wide_w80.png", "small_w80.png"]
    sizes = []
    for p in stored:
        with Image.open(p) as im:
            sizes.append(im.size)
    assert sizes == [(80, 60), (80, 64)]
    squeezed = run(9, tmp_path / "level9")
    for a, b in zip(stored, squeezed, strict=True):
        # Level 0 stores the pixel bytes as they are; 9 compresses; same pixels.
        with Image.open(a) as im:
            w, h = im.size
        assert a.stat().st_size > w * h * 3 > b.stat().st_size
        np.testing.assert_array_equal(read_image(a).rgb, read_image(b).rgb)
    assert [it.state for it in panel.items] == ["done", "done"]
