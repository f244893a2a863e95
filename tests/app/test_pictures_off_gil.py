"""Pictures for the screen are made without holding the GIL, so the UI thread runs on.

PySide6 holds the GIL through QImage.copy() and QImage.scaled(); a background thread
using them on a 16 MP result froze the UI thread for hundreds of milliseconds. The
helpers fill QImages with numpy instead; these tests check the pixels and the freedom.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage
from seemore_app.background import half_rgb, qimage_from_rgb, rgb_of
from seemore_app.compare_view import build_pyramid


def test_qimage_from_rgb_keeps_the_pixels_with_padded_lines() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((5, 7, 3), dtype=np.float32)  # 21 bytes a line: padded to 24
    img = qimage_from_rgb(rgb)
    assert (img.width(), img.height(), img.bytesPerLine()) == (7, 5, 24)
    got = rgb_of(img)
    assert got is not None
    np.testing.assert_array_equal(got, np.floor(np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    u8 = (rgb * 255).astype(np.uint8)
    img8 = qimage_from_rgb(u8)  # kept: rgb_of is a view of the image's memory
    np.testing.assert_array_equal(rgb_of(img8), u8)
    # The image owns its pixels: the array it came from may go.
    del u8
    assert img.pixelColor(6, 4).isValid()


def test_pyramid_levels_are_2x2_means() -> None:
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (1100, 1500, 3), dtype=np.uint8)
    levels = build_pyramid(qimage_from_rgb(u8))
    assert [(q.width(), q.height()) for q in levels] == [(750, 550), (375, 275)]
    first = rgb_of(levels[0])
    blocks = u8.reshape(550, 2, 750, 2, 3).astype(np.uint32).sum(axis=(1, 3))
    np.testing.assert_array_equal(first, ((blocks + 2) // 4).astype(np.uint8))
    np.testing.assert_array_equal(rgb_of(levels[1]), half_rgb(first))


def test_a_16mp_result_is_converted_without_the_gil_holding_qimage_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The freedom itself is a timing matter (measured by bench_ui_latency.py --stalls,
    never a timed unit test); what can be asserted is that the conversion and the display
    pyramid never reach the QImage calls that hold the GIL, on a real 16 MP result."""

    def held(*_a: object, **_k: object) -> None:
        raise AssertionError("a GIL-holding QImage call was used")

    for name in ("copy", "scaled", "scaledToWidth", "scaledToHeight", "convertToFormat"):
        monkeypatch.setattr(QImage, name, held)
    rgb = np.random.default_rng(2).random((3456, 4608, 3), dtype=np.float32)
    levels = build_pyramid(qimage_from_rgb(rgb))
    assert [q.width() for q in levels] == [2304, 1152, 576, 288]
    # The coarsest level is the 2x2 mean of the one above it, made by numpy.
    np.testing.assert_array_equal(rgb_of(levels[-1]), half_rgb(rgb_of(levels[-2])))
