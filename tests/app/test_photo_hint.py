"""A lossy input gets the photo model suggested beside the model picker (never switched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from seemore_app.mainwindow import photo_model_hint

from seemore_core.names import PHOTO_MODEL

BUNDLED = {"T": [2, 4], PHOTO_MODEL: [4]}


def test_the_hint_is_for_lossy_inputs_and_an_installed_photo_model() -> None:
    assert "use T-photo" in photo_model_hint("JPEG", "T", BUNDLED)
    assert photo_model_hint("MPO", None, BUNDLED).startswith("JPEG input")  # a file chosen
    assert photo_model_hint("HEIF", "T", BUNDLED).startswith("HEIF input")
    assert photo_model_hint("PNG", "T", BUNDLED) == ""  # lossless: the clean model fits
    assert photo_model_hint(None, "T", BUNDLED) == ""  # no image yet
    assert photo_model_hint("JPEG", PHOTO_MODEL, BUNDLED) == ""  # already chosen
    assert photo_model_hint("JPEG", "T", {"T": [4]}) == ""  # not installed: nothing to offer
    # The link moves to a scale the photo model has: the hint says so beforehand.
    assert photo_model_hint("JPEG", "T", BUNDLED, 2).endswith("the photo model (x4 only)")
    assert photo_model_hint("JPEG", "T", {**BUNDLED, PHOTO_MODEL: [2, 4]}, 3).endswith(
        "(x2/x4 only)"
    )
    assert photo_model_hint("JPEG", "T", BUNDLED, 4).endswith("the photo model")


def _image(path: Path) -> Path:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


def test_a_jpeg_shows_the_hint_and_its_link_selects_the_photo_model(
    qtbot, window, tmp_path: Path
) -> None:
    # The photo weights are not released yet: the window is told they are here.
    clean = [b for b in window.engine_info["bundled"] if b[0] == "T"]
    t4 = next(str(p) for _, s, p in clean if s == 4)
    window.engine_info["bundled"] = [*clean, (PHOTO_MODEL, 4, t4)]
    window.select_bundled("T", 4)
    assert window.model_combo.currentData() == ("bundled", "T")
    hint = window._model_hint_action

    window.load_image(_image(tmp_path / "photo.jpg"))
    qtbot.waitUntil(lambda: window.loaded is not None and window.loaded.format == "JPEG")
    assert hint.isVisible() and "use T-photo" in window.model_hint.text()
    assert window.model_combo.currentData() == ("bundled", "T")  # a hint, not a switch

    window.model_hint.linkActivated.emit(PHOTO_MODEL)
    assert window.model_combo.currentData() == ("bundled", PHOTO_MODEL)
    assert window.settings.model == PHOTO_MODEL and not hint.isVisible()

    window.select_bundled("T", 4)
    assert hint.isVisible()  # back on the clean model, the JPEG still open
    window.select_bundled("T", 2)  # a scale the photo model lacks: the hint says so
    assert window.model_hint.text().endswith("(x4 only)")
    window.select_bundled("T", 4)
    assert window.model_hint.text().endswith("the photo model")
    window.load_image(_image(tmp_path / "clean.png"))
    qtbot.waitUntil(lambda: window.loaded is not None and window.loaded.format == "PNG")
    assert not hint.isVisible() and window.model_hint.text() == ""
