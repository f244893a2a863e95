"""Display work off the UI thread: decoding, the bicubic "before", result conversion.

The model runs in the `Worker`'s thread; this module is for the smaller jobs that only
prepare pictures for the screen. Each takes a tenth of a second to a second on a 1 MP
photo at x4 (Pillow's bicubic of 16 MP, float -> 8-bit conversion, colouring a channel
grid), and the UI thread must never hold that long: a 10 ms timer on it would show the
window frozen.

`Background.submit(tag, fn, *args, on_done=..., on_error=...)` runs `fn(*args)` on a small
thread pool and calls `on_done(result)` back on the UI thread. A newer submit with the same
tag supersedes an older one: the older result is dropped when it arrives, so a stale
picture never replaces a newer one. Only numpy, Pillow and QImage work belongs here
(QImage, unlike QPixmap, may be built on any thread).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

# One thread: the worker already computes on another core, and two display jobs at once
# would only compete with the UI thread for the remaining one.
DISPLAY_THREADS = 1


@dataclass(frozen=True)
class _Reply:
    tag: str
    ticket: int
    ok: bool
    value: Any  # the result, or the error message


class Background(QObject):
    """A tagged, latest-wins job runner whose callbacks run on the owner's thread."""

    _reply = Signal(object)  # _Reply, queued from a pool thread to this object's thread

    def __init__(self, parent: QObject | None = None, threads: int = DISPLAY_THREADS) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._seq = 0
        self._latest: dict[str, int] = {}
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[str], None] | None]] = {}
        # A plain method, so that Qt queues the call onto this object's thread.
        self._reply.connect(self._deliver)

    def submit(
        self,
        tag: str,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        self._seq += 1
        ticket = self._seq
        self._latest[tag] = ticket
        self._callbacks[ticket] = (on_done, on_error)

        def job() -> None:
            try:
                reply = _Reply(tag, ticket, True, fn(*args))
            except MemoryError:
                reply = _Reply(tag, ticket, False, "not enough memory to prepare the picture")
            except Exception as e:  # our bug or a bad file: say so, keep the app alive
                traceback.print_exc(file=sys.stderr)
                reply = _Reply(tag, ticket, False, f"{type(e).__name__}: {e}")
            try:
                self._reply.emit(reply)
            except RuntimeError:
                pass  # the owner (a closed view) is gone; nobody waits for this picture

        self._pool.start(job)
        return ticket

    def cancel(self, tag: str) -> None:
        """Forget the pending job of `tag`: its result will be dropped."""
        self._latest.pop(tag, None)

    def pending(self, tag: str | None = None) -> bool:
        """Whether a job (of `tag`, or any) has not delivered yet."""
        if tag is None:
            return bool(self._callbacks)
        t = self._latest.get(tag)
        return t is not None and t in self._callbacks

    def wait_idle(self, timeout_ms: int = 30_000) -> bool:
        """Block until every job has delivered (for tests and headless capture)."""
        clock = QElapsedTimer()
        clock.start()
        while self._callbacks and clock.elapsed() < timeout_ms:
            self._pool.waitForDone(20)
            QCoreApplication.processEvents()
        return not self._callbacks

    def _deliver(self, reply: _Reply) -> None:
        on_done, on_error = self._callbacks.pop(reply.ticket, (None, None))
        if on_done is None or self._latest.get(reply.tag) != reply.ticket:
            return  # superseded or cancelled
        del self._latest[reply.tag]
        if reply.ok:
            on_done(reply.value)
        elif on_error is not None:
            on_error(str(reply.value))


# ---------------------------------------------------------------- picture helpers


def to_u8(rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (or uint8) -> uint8, into ``out`` when given."""
    if out is None:
        if rgb.dtype == np.uint8:
            return np.ascontiguousarray(rgb)
        out = np.empty(rgb.shape, dtype=np.uint8)
    # In place, in row bands: a 16 MP float image would otherwise need two more
    # full-size float temporaries. numpy lets go of the GIL in each step.
    band = 256
    for y in range(0, rgb.shape[0], band):
        if rgb.dtype == np.uint8:
            out[y : y + band] = rgb[y : y + band]
            continue
        part = np.clip(rgb[y : y + band], 0.0, 1.0) * 255.0 + 0.5
        out[y : y + band] = part.astype(np.uint8)
    return out


def new_rgb888(width: int, height: int) -> tuple[QImage, np.ndarray]:
    """A new RGB888 QImage and a writable (H, W, 3) numpy view of its pixels.

    Filling the view with numpy is how pictures are made here, not QImage's own copy()
    or scaled(): PySide6 holds the GIL through those (a 16 MP copy() for 75 ms, a smooth
    halving for 200 ms, measured), so a background thread using them freezes the UI
    thread just as surely as doing it there. numpy lets go of the GIL while it copies.
    The view is valid while the image lives and is not copied (do not keep it).
    """
    img = QImage(width, height, QImage.Format.Format_RGB888)
    buf = np.frombuffer(img.bits(), dtype=np.uint8)
    rows = buf.reshape(height, img.bytesPerLine())  # lines are padded to 4 bytes
    return img, rows[:, : 3 * width].reshape(height, width, 3)


def rgb_of(img: QImage) -> np.ndarray | None:
    """A read-only (H, W, 3) view of an RGB888 QImage's pixels; None for other formats.

    The view does not keep the image alive: hold the image while the view is used."""
    if img.format() != QImage.Format.Format_RGB888 or img.isNull():
        return None
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """(H, W, 3) float in [0, 1] or uint8 -> an RGB888 QImage owning its pixels."""
    h, w = rgb.shape[:2]
    img, view = new_rgb888(w, h)
    to_u8(rgb, out=view)
    return img


def half_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H//2, W//2, 3), each pixel the rounded mean of a 2x2 block
    (a box filter: what a halving needs against aliasing). numpy only, GIL released."""
    h2, w2 = rgb.shape[0] // 2, rgb.shape[1] // 2
    acc = rgb[0 : 2 * h2 : 2, 0 : 2 * w2 : 2].astype(np.uint16)
    acc += rgb[1 : 2 * h2 : 2, 0 : 2 * w2 : 2]
    acc += rgb[0 : 2 * h2 : 2, 1 : 2 * w2 : 2]
    acc += rgb[1 : 2 * h2 : 2, 1 : 2 * w2 : 2]
    acc += 2
    acc >>= 2
    return acc.astype(np.uint8)


def bicubic_qimage(rgb: np.ndarray, scale: int) -> QImage:
    """The input enlarged by `scale` with bicubic, for display only (Pillow's kernel)."""
    from PIL import Image

    u8 = to_u8(rgb)
    h, w = u8.shape[:2]
    big = Image.fromarray(u8, "RGB").resize((w * scale, h * scale), Image.Resampling.BICUBIC)
    return qimage_from_rgb(np.asarray(big))


__all__ = [
    "Background",
    "bicubic_qimage",
    "half_rgb",
    "new_rgb888",
    "qimage_from_rgb",
    "rgb_of",
    "to_u8",
]
