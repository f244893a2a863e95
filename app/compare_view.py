"""Before/after compare view: a slider or side by side, one zoom and pan for both.

Coordinates: the *canvas* is the output image, input pixels times the scale. The view
maps canvas to screen by a zoom (device pixels per canvas pixel) and an origin (the
canvas point at a pane's top-left). At zoom 1 the origin is kept on whole pixels and
images are drawn without smoothing, so 100% shows every output pixel exactly once.

Nothing slow happens while painting: the bicubic "before" is built on a background
thread (the nearest-neighbour picture stands in until it is ready), and results arrive
as ready QImages from the window. A magnifier lens (M) shows the region under the mouse
enlarged, and holding Space swaps before and after in place, for a blink comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QEnterEvent,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QSizePolicy,
    QWidget,
)

from .background import Background, bicubic_qimage, half_rgb, qimage_from_rgb, rgb_of

MIN_ZOOM = 0.02
MAX_ZOOM = 64.0
DIVIDER_GRAB_PX = 8
WHEEL_STEP = 1.25
LENS_RADIUS = 110  # logical pixels
LENS_FACTOR = 4.0  # the lens enlarges this much over the view's zoom
FIT_MAX_ZOOM = 1.0  # Fit never enlarges: a small image is shown at 100%, centred
PYRAMID_MIN_PIXELS = 4_000_000  # smaller pictures scale fast enough as they are
PYRAMID_TOP = 512  # the coarsest level's longer side


def with_pyramid(img: QImage) -> tuple[QImage, list[QImage]]:
    """`img` and, when it is big, its pyramid: one background job, so that the first
    repaint after a 16 MP picture arrives is already drawn from a small level."""
    big = img.width() * img.height() >= PYRAMID_MIN_PIXELS
    return img, build_pyramid(img) if big else []


def build_pyramid(img: QImage) -> list[QImage]:
    """Halves of `img` (2x2 means) down to PYRAMID_TOP pixels; off the UI thread.

    An RGB888 picture (all of the app's) is halved with numpy, which lets go of the GIL:
    QImage.scaled holds it (200 ms for 16 MP), and the UI thread then waits as long.
    """
    levels: list[QImage] = []
    rgb = rgb_of(img)
    if rgb is not None:
        while max(rgb.shape[:2]) > PYRAMID_TOP and min(rgb.shape[:2]) >= 2:
            rgb = half_rgb(rgb)
            levels.append(qimage_from_rgb(rgb))
        return levels
    cur = img
    while max(cur.width(), cur.height()) > PYRAMID_TOP:
        cur = cur.scaled(
            max(1, cur.width() // 2),
            max(1, cur.height() // 2),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        levels.append(cur)
    return levels


@dataclass(frozen=True)
class _Map:
    """Canvas -> pane: screen = pane.topLeft + off + canvas * lz; `vis` is the canvas on screen."""

    lz: float
    off: QPointF
    vis: QRectF


class CompareView(QWidget):
    view_changed = Signal()  # zoom or pan changed: the visible region may be different
    hovered = Signal(float, float)  # canvas coordinates under the mouse, or (-1, -1)
    zoom_changed = Signal(float)
    lens_changed = Signal(bool)
    before_ready = Signal()  # the bicubic "before" for the current input and scale is in

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self._bg = Background(self)
        self._input: np.ndarray | None = None
        self._before_src: QImage | None = None
        self._before_bicubic: QImage | None = None
        self._bicubic_key: tuple[int, int] | None = None  # (id of input, scale) it shows
        self._after: QImage | None = None
        self._preview: QImage | None = None
        self._preview_rect: QRect | None = None  # in canvas pixels
        self._scale = 1
        self._zoom = 1.0
        self._origin = QPointF(0.0, 0.0)
        self._fit = True
        self._mode = "slider"
        self._before_mode = "bicubic"
        self._divider = 0.5
        self._drag: str | None = None  # "divider" or "pan"
        self._drag_start = QPointF()
        self._drag_origin = QPointF()
        self._pyramids: dict[int, list[QImage]] = {}  # QImage.cacheKey() -> halves
        self._pyramids_wanted: dict[int, QImage] = {}
        self._lens = False
        self._mouse: QPointF | None = None  # last mouse position in the widget
        self._flipped = False  # Space held: before and after change places
        self.stale = False  # the result is from an earlier run than the one going on
        self.busy_text = ""  # drawn in a pill at the bottom while a run goes on
        self.after_label = "After"
        self.placeholder = "Drop images here, paste (Ctrl+V), or use File > Open"

    # ------------------------------------------------------------------ content

    def set_input(self, rgb: np.ndarray | None, scale: int, before: QImage | None = None) -> None:
        """A new input image: clears any result and fits it to the view.

        `before` is the input as a QImage, when the caller already made it off the UI
        thread; otherwise it is converted here (quick for anything but huge inputs).
        """
        self._input = rgb
        if rgb is None:
            self._before_src = None
        else:
            self._before_src = before if before is not None else qimage_from_rgb(rgb)
        self._before_bicubic = None
        self._bicubic_key = None
        self._bg.cancel("bicubic")
        self._after = None
        self._forget_pyramids()
        self.stale = False
        self.clear_preview()
        self._scale = max(1, int(scale))
        self.fit()

    def set_scale(self, scale: int) -> None:
        """The scale the canvas uses before a result exists (the chosen model's)."""
        scale = max(1, int(scale))
        if scale == self._scale or self._after is not None:
            return
        ratio = scale / self._scale
        self._scale = scale
        if self._fit:
            self.fit()
        else:
            # Same part of the image stays on screen; the zoom keeps its meaning
            # (device pixels per output pixel).
            self._origin = QPointF(self._origin.x() * ratio, self._origin.y() * ratio)
            self._clamp()
            self.update()
            self.view_changed.emit()

    def set_result(
        self,
        image: np.ndarray | QImage,
        scale: int,
        label: str,
        pyramid: list[QImage] | None = None,
    ) -> None:
        """The upscaled image: a QImage made off the UI thread (with its `pyramid` when
        big, see `with_pyramid`), or an array (converted here)."""
        if self._input is None:
            return
        old = self._scale
        self._after = image if isinstance(image, QImage) else qimage_from_rgb(image)
        self.stale = False
        self.clear_preview()
        self._forget_pyramids()
        if pyramid:
            self._pyramids[self._after.cacheKey()] = pyramid
        self.after_label = label
        if scale != old:
            self._scale = scale
            self.fit() if self._fit else self._clamp()
        self.update()

    def set_preview(
        self, image: np.ndarray | QImage, region: tuple[int, int, int, int], scale: int
    ) -> None:
        if self._input is None or scale != self._scale:
            return
        x, y, w, h = region
        self._preview = image if isinstance(image, QImage) else qimage_from_rgb(image)
        self._preview_rect = QRect(x * scale, y * scale, w * scale, h * scale)
        self.update()

    def clear_preview(self) -> None:
        self._preview = None
        self._preview_rect = None
        self.update()

    def clear_result(self) -> None:
        self._after = None
        self.clear_preview()

    def has_result(self) -> bool:
        return self._after is not None

    def has_preview(self) -> bool:
        return self._preview is not None

    def set_stale(self, stale: bool) -> None:
        self.stale = stale
        self.update()

    def set_busy_text(self, text: str) -> None:
        if text != self.busy_text:
            self.busy_text = text
            self.update()

    @property
    def scale(self) -> int:
        return self._scale

    def bicubic_ready(self) -> bool:
        """Whether the bicubic "before" for the current input and scale is built."""
        return self._before_bicubic is not None and self._bicubic_key == self._want_key()

    def wait_idle(self, timeout_ms: int = 30_000) -> bool:
        return self._bg.wait_idle(timeout_ms)

    # ------------------------------------------------------------------ options

    def set_mode(self, mode: str) -> None:
        if mode not in ("slider", "side") or mode == self._mode:
            return
        self._mode = mode
        if self._fit:
            self.fit()
        else:
            self._clamp()
        self.update()
        self.view_changed.emit()

    @property
    def mode(self) -> str:
        return self._mode

    def set_before_mode(self, mode: str) -> None:
        if mode in ("bicubic", "nearest"):
            self._before_mode = mode
            self.update()

    @property
    def before_mode(self) -> str:
        return self._before_mode

    def set_divider(self, fraction: float) -> None:
        self._divider = min(1.0, max(0.0, fraction))
        self.update()

    @property
    def divider(self) -> float:
        return self._divider

    def set_lens(self, on: bool) -> None:
        if on != self._lens:
            self._lens = on
            self.update()
            self.lens_changed.emit(on)

    @property
    def lens(self) -> bool:
        return self._lens

    def set_flipped(self, flipped: bool) -> None:
        if flipped != self._flipped:
            self._flipped = flipped
            self.update()

    @property
    def flipped(self) -> bool:
        return self._flipped

    # ----------------------------------------------------------------- geometry

    def _canvas_size(self) -> tuple[int, int]:
        if self._input is None:
            return (0, 0)
        h, w = self._input.shape[:2]
        return (w * self._scale, h * self._scale)

    def _panes(self) -> list[QRect]:
        r = self.rect()
        if self._mode == "side":
            half = r.width() // 2
            # Equal widths, so one origin and offset serve both panes.
            return [QRect(0, 0, half - 1, r.height()), QRect(half + 1, 0, half - 1, r.height())]
        return [r]

    def _pane(self) -> QRect:
        return self._panes()[0]

    def _dpr(self) -> float:
        return max(1.0, float(self.devicePixelRatioF()))

    @property
    def zoom(self) -> float:
        """Device pixels per output pixel: 1.0 is 100%."""
        return self._zoom

    def _lz(self) -> float:
        return self._zoom / self._dpr()

    def fit(self) -> None:
        """The whole image in the pane, never enlarged past 100%."""
        self._fit = True
        cw, ch = self._canvas_size()
        pane = self._pane()
        if cw and ch and pane.width() > 0 and pane.height() > 0:
            z = min(pane.width() / cw, pane.height() / ch) * self._dpr()
            self._zoom = max(MIN_ZOOM, min(FIT_MAX_ZOOM, z))
        self._origin = QPointF(0.0, 0.0)
        self._clamp()
        self.update()
        self.zoom_changed.emit(self._zoom)
        self.view_changed.emit()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the canvas point under `anchor` (pane coordinates) in place."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        pane = self._pane()
        if anchor is None:
            anchor = QPointF(pane.width() / 2, pane.height() / 2)
        c = self._to_canvas(anchor)
        self._fit = False
        self._zoom = zoom
        lz = self._lz()
        self._origin = QPointF(c.x() - anchor.x() / lz, c.y() - anchor.y() / lz)
        self._clamp()
        self.update()
        self.zoom_changed.emit(self._zoom)
        self.view_changed.emit()

    def _to_canvas(self, p: QPointF) -> QPointF:
        """Pane-relative point -> canvas point."""
        lz = self._lz()
        off = self._offset()
        return QPointF((p.x() - off.x()) / lz, (p.y() - off.y()) / lz)

    def _offset(self) -> QPointF:
        """Screen position of canvas (0, 0) within a pane, whole device pixels."""
        lz = self._lz()
        dpr = self._dpr()
        cw, ch = self._canvas_size()
        pane = self._pane()
        ox = -self._origin.x() * lz
        oy = -self._origin.y() * lz
        # An image smaller than the pane is centred instead of pinned to the corner.
        if cw * lz < pane.width():
            ox = (pane.width() - cw * lz) / 2
        if ch * lz < pane.height():
            oy = (pane.height() - ch * lz) / 2
        return QPointF(math.floor(ox * dpr) / dpr, math.floor(oy * dpr) / dpr)

    def _clamp(self) -> None:
        cw, ch = self._canvas_size()
        pane = self._pane()
        lz = self._lz()
        vw, vh = pane.width() / lz, pane.height() / lz
        x = min(max(self._origin.x(), 0.0), max(0.0, cw - vw))
        y = min(max(self._origin.y(), 0.0), max(0.0, ch - vh))
        # Whole device pixels, so that 100% and 200% land exactly on pixel boundaries.
        step = 1.0 / self._zoom
        self._origin = QPointF(round(x / step) * step, round(y / step) * step)

    def visible_canvas_rect(self) -> QRectF:
        cw, ch = self._canvas_size()
        pane = self._pane()
        tl = self._to_canvas(QPointF(0, 0))
        br = self._to_canvas(QPointF(pane.width(), pane.height()))
        return QRectF(tl, br).intersected(QRectF(0, 0, cw, ch))

    def visible_input_region(self) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the input pixels on screen, or None with no image."""
        if self._input is None:
            return None
        r = self.visible_canvas_rect()
        s = self._scale
        h, w = self._input.shape[:2]
        x0 = max(0, int(math.floor(r.left() / s)))
        y0 = max(0, int(math.floor(r.top() / s)))
        x1 = min(w, int(math.ceil(r.right() / s)))
        y1 = min(h, int(math.ceil(r.bottom() / s)))
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._fit:
            self.fit()
        else:
            self._clamp()
            self.view_changed.emit()

    # ------------------------------------------------------------------ painting

    def _want_key(self) -> tuple[int, int] | None:
        return None if self._input is None else (id(self._input), self._scale)

    def _request_bicubic(self) -> None:
        key = self._want_key()
        if key is None or self._bg.pending("bicubic") and self._bicubic_key == key:
            return
        self._bicubic_key = key
        self._before_bicubic = None
        rgb, scale = self._input, self._scale

        def done(pair: tuple[QImage, list[QImage]]) -> None:
            if self._want_key() == key:
                img, levels = pair
                self._before_bicubic = img
                if levels:
                    self._pyramids[img.cacheKey()] = levels
                self.update()
                self.before_ready.emit()

        self._bg.submit("bicubic", lambda: with_pyramid(bicubic_qimage(rgb, scale)), on_done=done)

    def _before_image(self) -> tuple[QImage | None, float, bool]:
        """The "before" picture, canvas pixels per picture pixel, and whether it is final.

        While the bicubic picture is being built, the input drawn nearest-neighbour
        stands in (the second value is then the scale).
        """
        if self._before_src is None or self._input is None:
            return None, 1.0, True
        if self._before_mode == "bicubic" and self._scale > 1:
            if self.bicubic_ready():
                return self._before_bicubic, 1.0, True
            self._request_bicubic()
            return self._before_src, float(self._scale), False
        return self._before_src, float(self._scale), True

    def _map(self) -> _Map:
        return _Map(self._lz(), self._offset(), self.visible_canvas_rect())

    def _lens_map(self, centre: QPointF, pane: QRect) -> _Map:
        """The lens: the canvas point under `centre` stays put, enlarged LENS_FACTOR times."""
        c = self._to_canvas(QPointF(centre.x() - pane.left(), centre.y() - pane.top()))
        lz = min(MAX_ZOOM, self._zoom * LENS_FACTOR) / self._dpr()
        off = QPointF(centre.x() - pane.left() - c.x() * lz, centre.y() - pane.top() - c.y() * lz)
        r = LENS_RADIUS / lz
        cw, ch = self._canvas_size()
        vis = QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r).intersected(QRectF(0, 0, cw, ch))
        return _Map(lz, off, vis)

    def _draw(
        self,
        p: QPainter,
        img: QImage,
        pane: QRect,
        px: float,
        at: QRectF | None = None,
        m: _Map | None = None,
    ) -> None:
        """Draw `img` (each pixel `px` canvas pixels wide; placed at canvas rect `at`)."""
        m = m or self._map()
        lz, off = m.lz, m.off
        at = at or QRectF(0, 0, img.width() * px, img.height() * px)
        # Far zoomed out, a smaller copy (built off the UI thread) looks the same and
        # scales in a fraction of the time: a 16 MP result is 32 MB a frame otherwise.
        img = self._level(img, lz * self._dpr() * px)
        px = at.width() / img.width()
        vis = m.vis.intersected(at)
        if vis.isEmpty():
            return
        # Whole source pixels, so each maps to the same number of device pixels.
        sx0 = math.floor((vis.left() - at.left()) / px)
        sy0 = math.floor((vis.top() - at.top()) / px)
        sx1 = min(img.width(), math.ceil((vis.right() - at.left()) / px))
        sy1 = min(img.height(), math.ceil((vis.bottom() - at.top()) / px))
        src = QRectF(sx0, sy0, sx1 - sx0, sy1 - sy0)
        tgt = QRectF(
            pane.left() + off.x() + (at.left() + sx0 * px) * lz,
            pane.top() + off.y() + (at.top() + sy0 * px) * lz,
            (sx1 - sx0) * px * lz,
            (sy1 - sy0) * px * lz,
        )
        smooth = lz * self._dpr() * px < 1.0
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        p.drawImage(tgt, img, src)

    def _level(self, img: QImage, density: float) -> QImage:
        """The pyramid level of `img` for `density` screen pixels per image pixel."""
        if density >= 0.5 or img.width() * img.height() < PYRAMID_MIN_PIXELS:
            return img
        key = img.cacheKey()
        levels = self._pyramids.get(key)
        if levels is None:
            if not self._bg.pending(f"pyramid:{key}"):
                self._pyramids_wanted[key] = img

                def done(levels: list[QImage], key: int = key) -> None:
                    if key in self._pyramids_wanted:
                        self._pyramids[key] = levels
                        self.update()

                self._bg.submit(f"pyramid:{key}", build_pyramid, img, on_done=done)
            return img
        best = img
        for lv in levels:  # halves; stop before a level coarser than the screen
            if density * img.width() / lv.width() > 1.0:
                break
            best = lv
        return best

    def _forget_pyramids(self) -> None:
        """Keep only the pyramids of the pictures still shown."""
        live = {
            q.cacheKey()
            for q in (self._after, self._before_bicubic, self._before_src, self._preview)
            if q is not None
        }
        for d in (self._pyramids, self._pyramids_wanted):
            for k in [k for k in d if k not in live]:
                del d[k]

    def _draw_before(self, p: QPainter, pane: QRect, m: _Map | None = None) -> None:
        before, px, _ = self._before_image()
        if before is not None:
            self._draw(p, before, pane, px, m=m)

    def _draw_after(self, p: QPainter, pane: QRect, m: _Map | None = None) -> None:
        if self._after is not None:
            self._draw(p, self._after, pane, 1.0, m=m)
            return
        self._draw_before(p, pane, m)
        if self._preview is not None:
            p.fillRect(pane, QColor(0, 0, 0, 110))  # dim what is not upscaled yet
        if self._preview is not None and self._preview_rect is not None:
            self._draw(p, self._preview, pane, 1.0, QRectF(self._preview_rect), m)
            r = self._canvas_to_screen(QRectF(self._preview_rect), pane, m)
            p.setPen(QPen(QColor(255, 200, 0), 1, Qt.PenStyle.DashLine))
            p.drawRect(r.adjusted(0, 0, -1, -1))

    def _canvas_to_screen(self, r: QRectF, pane: QRect, m: _Map | None = None) -> QRectF:
        m = m or self._map()
        return QRectF(
            pane.left() + m.off.x() + r.left() * m.lz,
            pane.top() + m.off.y() + r.top() * m.lz,
            r.width() * m.lz,
            r.height() * m.lz,
        )

    def _showing_after(self) -> bool:
        return self._after is not None or self._preview is not None

    def _sides(self) -> tuple[str, str]:
        """What the left (or only) and right parts show: "before" or "after"."""
        if self._flipped and self._showing_after():
            return ("after", "before")
        return ("before", "after")

    def _paint_side(self, p: QPainter, which: str, pane: QRect, m: _Map | None = None) -> None:
        if which == "before":
            self._draw_before(p, pane, m)
        else:
            self._draw_after(p, pane, m)

    def _texts(self) -> dict[str, str]:
        _, _, final = self._before_image()
        before = f"Before · {self._before_mode} x{self._scale}"
        if not final:
            before += " (preparing bicubic…)"
        if self._after is not None:
            after = self.after_label + (" · previous run" if self.stale else "")
        elif self._preview is not None:
            after = "Preview (visible region)"
        else:
            after = "Not upscaled yet"
        return {"before": before, "after": after}

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 38, 42))
        if self._input is None:
            p.setPen(QColor(170, 170, 175))
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.3)
            p.setFont(f)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            p.end()
            return
        texts = self._texts()
        first, second = self._sides()
        if self._mode == "side":
            left, right = self._panes()
            for pane, which in ((left, first), (right, second)):
                p.save()
                p.setClipRect(pane)
                self._paint_side(p, which, pane)
                p.restore()
            p.fillRect(QRect(left.right() + 1, 0, 2, self.height()), QColor(20, 20, 20))
            self._label(p, left, texts[first], Qt.AlignmentFlag.AlignLeft)
            self._label(p, right, texts[second], Qt.AlignmentFlag.AlignLeft)
        else:
            pane = self._pane()
            if not self._showing_after():
                self._draw_before(p, pane)
                self._label(p, pane, texts["before"], Qt.AlignmentFlag.AlignLeft)
            else:
                x = round(pane.left() + self._divider * pane.width())
                self._paint_split(p, pane, x, first, second)
                self._draw_divider(p, x, pane)
                left_box = self._label(p, pane, texts[first], Qt.AlignmentFlag.AlignLeft)
                fm = p.fontMetrics()
                after_w = fm.horizontalAdvance(texts[second]) + 14
                # Two labels that would overlap in a narrow view go one under the other.
                row = 1 if pane.right() - 8 - after_w <= left_box.right() + 8 else 0
                self._label(p, pane, texts[second], Qt.AlignmentFlag.AlignRight, row)
        if self._lens and self._mouse is not None:
            self._paint_lens(p, self._mouse, first, second)
        if self.busy_text:
            self._pill(p, self.busy_text)
        p.end()

    def _paint_split(
        self,
        p: QPainter,
        pane: QRect,
        x: int,
        first: str,
        second: str,
        m: _Map | None = None,
        clip: QPainterPath | None = None,
    ) -> None:
        """`first` left of screen column x, `second` right of it, within `clip`."""
        for which, part in (
            (first, QRect(pane.left(), pane.top(), x - pane.left(), pane.height())),
            (second, QRect(x, pane.top(), pane.right() - x + 1, pane.height())),
        ):
            p.save()
            if clip is not None:
                path = QPainterPath()
                path.addRect(QRectF(part))
                p.setClipPath(clip.intersected(path))
            else:
                p.setClipRect(part)
            self._paint_side(p, which, pane, m)
            p.restore()

    def _paint_lens(self, p: QPainter, at: QPointF, first: str, second: str) -> None:
        panes = self._panes()
        idx = next((i for i, q in enumerate(panes) if q.contains(at.toPoint())), None)
        if idx is None:
            return
        pane = panes[idx]
        m = self._lens_map(at, pane)
        circle = QPainterPath()
        circle.addEllipse(at, LENS_RADIUS, LENS_RADIUS)
        p.save()
        p.setClipPath(circle)
        p.fillRect(circle.boundingRect(), QColor(38, 38, 42))
        p.restore()
        if self._mode == "side":
            p.save()
            p.setClipPath(circle)
            self._paint_side(p, (first, second)[idx], pane, m)
            p.restore()
        elif self._showing_after():
            x = round(pane.left() + self._divider * pane.width())
            self._paint_split(p, pane, x, first, second, m, circle)
        else:
            p.save()
            p.setClipPath(circle)
            self._draw_before(p, pane, m)
            p.restore()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(255, 255, 255, 230), 2))
        p.drawEllipse(at, LENS_RADIUS, LENS_RADIUS)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        zoom = min(MAX_ZOOM, self._zoom * LENS_FACTOR)
        tag = QRectF(at.x() - 30, at.y() + LENS_RADIUS - 24, 60, 18)
        p.fillRect(tag, QColor(0, 0, 0, 160))
        p.setPen(QColor(240, 240, 240))
        p.drawText(tag, Qt.AlignmentFlag.AlignCenter, f"{zoom * 100:.0f}%")

    def _pill(self, p: QPainter, text: str) -> None:
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 24
        h = fm.height() + 10
        box = QRect((self.width() - w) // 2, self.height() - h - 12, w, h)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, h / 2, h / 2)
        p.setPen(QColor(245, 245, 245))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _draw_divider(self, p: QPainter, x: int, pane: QRect) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255, 220), 2))
        p.drawLine(x, pane.top(), x, pane.bottom())
        cy = pane.center().y()
        p.setBrush(QColor(255, 255, 255, 230))
        p.setPen(QPen(QColor(40, 40, 40), 1))
        p.drawEllipse(QPointF(x, cy), 11, 11)
        p.setPen(QPen(QColor(40, 40, 40), 2))
        for d in (-1, 1):  # two small arrows: "drag me sideways"
            p.drawLine(QPointF(x + d * 3, cy - 4), QPointF(x + d * 7, cy))
            p.drawLine(QPointF(x + d * 7, cy), QPointF(x + d * 3, cy + 4))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _label(
        self, p: QPainter, pane: QRect, text: str, align: Qt.AlignmentFlag, row: int = 0
    ) -> QRect:
        fm = p.fontMetrics()
        # Elided to the pane, so a long model name never runs off a narrow view.
        text = fm.elidedText(text, Qt.TextElideMode.ElideMiddle, max(40, pane.width() - 30))
        w = fm.horizontalAdvance(text) + 14
        h = fm.height() + 8
        x = pane.left() + 8 if align == Qt.AlignmentFlag.AlignLeft else pane.right() - 8 - w
        box = QRect(x, pane.top() + 8 + row * (h + 4), w, h)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(240, 240, 240))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        return box

    # ---------------------------------------------------------------- interaction

    def _divider_x(self) -> float:
        pane = self._pane()
        return pane.left() + self._divider * pane.width()

    def _near_divider(self, x: float) -> bool:
        return (
            self._mode == "slider"
            and self._showing_after()
            and abs(x - self._divider_x()) <= DIVIDER_GRAB_PX
        )

    def _pane_point(self, pos: QPointF) -> tuple[QPointF, QRect]:
        for pane in self._panes():
            if pane.contains(pos.toPoint()):
                return QPointF(pos.x() - pane.left(), pos.y() - pane.top()), pane
        pane = self._pane()
        return QPointF(pos.x() - pane.left(), pos.y() - pane.top()), pane

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self.set_flipped(True)
            event.accept()
        elif event.key() == Qt.Key.Key_M and not event.isAutoRepeat():
            self.set_lens(not self._lens)
            event.accept()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self.set_flipped(False)
            event.accept()
        else:
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
        # A Space released in another window never reaches us: do not stay flipped.
        self.set_flipped(False)
        super().focusOutEvent(event)  # type: ignore[arg-type]

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802 (Qt's name)
        # The keys (Space, M) act on the picture under the mouse without a click first.
        # Not while someone types in a box (a Space there is text).
        typing = isinstance(QApplication.focusWidget(), (QLineEdit, QAbstractSpinBox))
        if self.window().isActiveWindow() and not typing:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        if self._input is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        anchor, _ = self._pane_point(event.position())
        self.set_zoom(self._zoom * WHEEL_STEP**steps, anchor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and self._near_divider(pos.x()):
            self._drag = "divider"
        elif event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag = "pan"
            self._drag_start = pos
            self._drag_origin = QPointF(self._origin)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        pos = event.position()
        self._mouse = QPointF(pos)
        if self._drag == "divider":
            pane = self._pane()
            self.set_divider((pos.x() - pane.left()) / max(1, pane.width()))
        elif self._drag == "pan":
            lz = self._lz()
            d = pos - self._drag_start
            self._fit = False
            self._origin = QPointF(
                self._drag_origin.x() - d.x() / lz, self._drag_origin.y() - d.y() / lz
            )
            self._clamp()
            self.update()
        else:
            shape = (
                Qt.CursorShape.SplitHCursor
                if self._near_divider(pos.x())
                else Qt.CursorShape.ArrowCursor
            )
            self.setCursor(shape)
            if self._lens:
                self.update()
        if self._input is not None:
            pp, _ = self._pane_point(pos)
            c = self._to_canvas(pp)
            cw, ch = self._canvas_size()
            if 0 <= c.x() < cw and 0 <= c.y() < ch:
                self.hovered.emit(c.x(), c.y())
            else:
                self.hovered.emit(-1.0, -1.0)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        was_pan = self._drag == "pan"
        self._drag = None
        self.setCursor(Qt.CursorShape.ArrowCursor)
        if was_pan:
            self.view_changed.emit()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self._input is None:
            return
        if self._fit:
            anchor, _ = self._pane_point(event.position())
            self.set_zoom(1.0, anchor)
        else:
            self.fit()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        self._mouse = None
        if self._lens:
            self.update()
        self.hovered.emit(-1.0, -1.0)
