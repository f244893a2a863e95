"""Pictures for the screen are made without holding the GIL, so the UI thread runs on.

PySide6 holds the GIL through QImage.copy() and QImage.scaled(); a background thread
using them on a 16 MP result froze the UI thread for hundreds of milliseconds. The
helpers fill QImages with numpy instead; these tests check the pixels and the freedom.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from seemore_app.background import half_rgb, qimage_from_rgb, rgb_of
from seemore_app.compare_view import build_pyramid

# Far below the 200 ms a QImage.scaled halving of 16 MP held the GIL for, far above a
# busy machine's scheduling noise.
MAX_GAP_S = 0.1


def _longest_gap(work: Callable[[], object]) -> float:
    """The longest a 1 ms sleeper thread went without running while ``work`` ran."""
    stop = threading.Event()
    gaps: list[float] = []

    def sleeper() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    t = threading.Thread(target=sleeper)
    t.start()
    time.sleep(0.02)
    work()
    stop.set()
    t.join()
    return max(gaps)


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


def test_a_16mp_result_is_converted_without_holding_the_gil() -> None:
    rgb = np.random.default_rng(2).random((3456, 4608, 3), dtype=np.float32)
    out: list[object] = []
    gap = _longest_gap(lambda: out.append(build_pyramid(qimage_from_rgb(rgb))))
    assert len(out[0]) == 4  # 2304, 1152, 576, 288 wide
    assert gap < MAX_GAP_S, f"another thread waited {gap * 1000:.0f} ms"
