"""Compare models and scales side by side on the region in view.

One cell per model (each bundled variant at each scale, each loaded checkpoint), all
upscaling the same crop of the input: the part of the image in view, at most
`MAX_CROP` input pixels a side so that a grid of runs takes seconds, not minutes. Cells
show their results at one common size (the largest scale's), so that x2 and x4 are
compared as they would be seen, smoothly enlarged where a scale is smaller. The window
runs the jobs; this widget only lays out and paints what comes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .worker import ModelChoice

MAX_CROP = 160  # input pixels a side


def crop_region(
    visible: tuple[int, int, int, int], limit: int = MAX_CROP
) -> tuple[int, int, int, int]:
    """The visible region, cut to at most `limit` x `limit` around its centre."""
    x, y, w, h = visible
    cw, ch = min(w, limit), min(h, limit)
    return (x + (w - cw) // 2, y + (h - ch) // 2, cw, ch)


@dataclass
class Cell:
    choice: ModelChoice
    picture: QImage | None = None
    seconds: float | None = None
    error: str = ""


class _Canvas(QWidget):
    """Paints the cells in a near-square grid, each picture at the common size."""

    def __init__(self, owner: ModelGrid) -> None:
        super().__init__()
        self.owner = owner
        self.setMinimumHeight(160)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 38, 42))
        cells = self.owner.cells
        if not cells:
            p.setPen(QColor(170, 170, 175))
            p.drawText(
                self.rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.owner.empty_text,
            )
            p.end()
            return
        for rect, cell in zip(self.owner.cell_rects(self.size()), cells, strict=True):
            title = rect.adjusted(0, 0, 0, -(rect.height() - 18))
            body = rect.adjusted(0, 20, 0, 0)
            p.setPen(QColor(235, 235, 240))
            label = cell.choice.label
            if cell.seconds is not None:
                label += f" · {cell.seconds:.1f} s"
            p.drawText(title, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            if cell.picture is not None:
                # Fit the common size into the cell, aspect kept; enlarging is smooth so
                # a smaller scale is seen as it would be when printed at the same size.
                target = _fit(self.owner.common_size(), body)
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                p.drawImage(QRectF(target), cell.picture)
            else:
                p.setPen(QColor(170, 170, 175))
                p.drawText(
                    body,
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    cell.error or "upscaling…",
                )
        p.end()


def _fit(size: tuple[int, int], box: QRect) -> QRect:
    w, h = size
    if w <= 0 or h <= 0:
        return box
    f = min(box.width() / w, box.height() / h)
    tw, th = int(w * f), int(h * f)
    return QRect(box.left() + (box.width() - tw) // 2, box.top() + (box.height() - th) // 2, tw, th)


class ModelGrid(QWidget):
    run_requested = Signal()  # "compare on the region in view"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cells: list[Cell] = []
        self.region: tuple[int, int, int, int] | None = None
        self.empty_text = (
            "Compare every model and scale on the part of the image in view: open an "
            "image, zoom to a detail, then press Compare."
        )
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.run = QPushButton("Compare on the region in view")
        self.run.clicked.connect(self.run_requested.emit)
        self.canvas = _Canvas(self)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.run)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.canvas, 1)

    def start(self, choices: list[ModelChoice], region: tuple[int, int, int, int]) -> None:
        self.cells = [Cell(c) for c in choices]
        self.region = region
        x, y, w, h = region
        self.header.setText(f"Input x {x} y {y}, {w}x{h} px, by {len(choices)} models")
        self.canvas.update()

    def set_result(self, index: int, picture: QImage, seconds: float | None) -> None:
        if 0 <= index < len(self.cells):
            self.cells[index].picture = picture
            self.cells[index].seconds = seconds
            self.canvas.update()

    def set_error(self, index: int, message: str) -> None:
        if 0 <= index < len(self.cells):
            self.cells[index].error = message
            self.canvas.update()

    def done(self) -> bool:
        return bool(self.cells) and all(c.picture is not None or c.error for c in self.cells)

    def common_size(self) -> tuple[int, int]:
        """The largest result's size: every cell is shown at it."""
        sizes = [(c.picture.width(), c.picture.height()) for c in self.cells if c.picture]
        if sizes:
            return max(sizes)
        if self.region is None:
            return (0, 0)
        s = max((c.choice.scale for c in self.cells), default=1) or 1
        return (self.region[2] * s, self.region[3] * s)

    def cell_rects(self, size: object) -> list[QRect]:
        n = len(self.cells)
        if n == 0:
            return []
        w, h = size.width(), size.height()  # type: ignore[attr-defined]
        cw, ch = self.common_size()
        aspect = (cw / ch) if cw and ch else 1.0
        best: tuple[float, int] = (-1.0, 1)
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            cell_w, cell_h = w / cols, h / rows - 20
            area = min(cell_w, cell_h * aspect) ** 2 / aspect  # picture area per cell
            if area > best[0]:
                best = (area, cols)
        cols = best[1]
        rows = math.ceil(n / cols)
        gap = 6
        cell_w, cell_h = (w - gap * (cols - 1)) // cols, (h - gap * (rows - 1)) // rows
        return [
            QRect((i % cols) * (cell_w + gap), (i // cols) * (cell_h + gap), cell_w, cell_h)
            for i in range(n)
        ]


__all__ = ["MAX_CROP", "Cell", "ModelGrid", "crop_region"]
