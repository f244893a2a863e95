"""The batch queue: files and folders to upscale, one item at a time, each with its state.

The panel holds the queue and shows it; the window runs it, one worker job per item, so
that an item can be removed, moved or retried while others wait, and a failure stays
with its own item. Folders are searched recursively. The overall ETA weighs what is
left by pixels, at the speed the finished items actually went.

The queue's output options are the core's (`seemore_core.jobs.UpscaleRequest`): the PNG
compression level and an output size by target (a width, height or longest side: each
file runs the model's smallest scale that reaches it, then Lanczos, as the CLI's
--width/--height/--longest). They are fixed for a run when it starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from seemore_core.imageio import is_image_path
from seemore_core.names import DEFAULT_PNG_LEVEL, PNG_LEVELS, TARGET_SIDE_LABELS
from seemore_core.target import TargetSize

# The size box's upper end: as the export dialog's, far beyond any scale of a real image.
MAX_TARGET_PX = 65_535

STATE_MARK = {
    "waiting": "·",
    "running": "▶",
    "done": "✓",
    "skipped": "=",
    "failed": "✗",
}


def collect_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Image files named directly, and every image under named folders (recursively),
    each folder's in sorted order; hidden folders (".git", ".cache") are left out."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for q in sorted(p.rglob("*")):
                rel = q.relative_to(p).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if q.is_file() and is_image_path(q):
                    found.append(q)
        elif p.is_file():
            found.append(p)
    return found


def image_pixels(path: Path) -> int | None:
    """Width x height from the file's header (no decoding), or None when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # any unreadable file: the run will say what is wrong with it
        return None
    return int(w) * int(h)


@dataclass(frozen=True)
class BatchOptions:
    """The queue's output options, as the core's request takes them."""

    png_level: int = DEFAULT_PNG_LEVEL  # PNG output only
    target: TargetSize | None = None  # None: each file at the model's scale


@dataclass
class QueueItem:
    path: Path
    pixels: int | None = None
    state: str = "waiting"  # waiting, running, done, skipped, failed
    fraction: float = 0.0
    message: str = ""
    seconds: float | None = None  # how long its run took


class BatchPanel(QWidget):
    start_requested = Signal()
    stop_requested = Signal()
    activated = Signal(object)  # Path of an item the user picked to look at

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[QueueItem] = []
        self.running = False
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # Reordering by drag: the model moves rows, `_sync_order` follows.
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.model().rowsMoved.connect(lambda *_: self._sync_order())
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)

        self.add_files = QPushButton("Add files…")
        self.add_folder = QPushButton("Add folder…")
        self.remove = QPushButton("Remove")
        self.up = QPushButton("▲")
        self.down = QPushButton("▼")
        self.retry = QPushButton("Retry failed")
        self.start = QPushButton("Start")
        self.start.setStyleSheet("QPushButton { font-weight: bold; }")
        for b, tip in (
            (self.up, "Move the selected items up"),
            (self.down, "Move the selected items down"),
            (self.remove, "Take the selected items out of the queue (files stay)"),
            (self.add_folder, "Every image in the folder and its subfolders"),
        ):
            b.setToolTip(tip)
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setTextVisible(True)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        self.size_mode = QComboBox()
        self.size_mode.addItem("Model's scale", None)
        for side, label in TARGET_SIDE_LABELS.items():
            self.size_mode.addItem(label, side)
        self.size_mode.setToolTip(
            "Each image runs the smallest scale that reaches this size, then is shrunk to"
            " it exactly (Lanczos); the aspect ratio is kept"
        )
        self.size_px = QSpinBox()
        self.size_px.setRange(1, MAX_TARGET_PX)
        self.size_px.setValue(1920)
        self.size_px.setSuffix(" px")
        self.png_level = QSpinBox()
        self.png_level.setRange(*PNG_LEVELS)
        self.png_level.setValue(DEFAULT_PNG_LEVEL)
        self.png_level.setPrefix("PNG level ")
        self.png_level.setToolTip(
            "PNG output: 0 fastest, largest; 9 slowest, smallest. The pixels are the same."
        )

        row1 = QHBoxLayout()
        for b in (self.add_files, self.add_folder):
            row1.addWidget(b)
        row2 = QHBoxLayout()
        for b in (self.remove, self.up, self.down, self.retry):
            row2.addWidget(b)
        row3 = QHBoxLayout()
        row3.addWidget(self.size_mode)
        row3.addWidget(self.size_px)
        row3.addWidget(self.png_level)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row1)
        lay.addWidget(self.list, 1)
        lay.addLayout(row2)
        lay.addLayout(row3)
        lay.addWidget(self.overall)
        lay.addWidget(self.eta)
        lay.addWidget(self.start)

        self.add_files.clicked.connect(self._add_files_dialog)
        self.add_folder.clicked.connect(self._add_folder_dialog)
        self.remove.clicked.connect(self.remove_selected)
        self.up.clicked.connect(lambda: self.move_selected(-1))
        self.down.clicked.connect(lambda: self.move_selected(1))
        self.retry.clicked.connect(self.retry_failed)
        self.start.clicked.connect(self._start_stop)
        self.size_mode.currentIndexChanged.connect(lambda *_: self._refresh())
        self._refresh()

    def options(self) -> BatchOptions:
        """The output options the next run takes."""
        by = self.size_mode.currentData()
        target = None if by is None else TargetSize(str(by), self.size_px.value())
        return BatchOptions(self.png_level.value(), target)

    # ------------------------------------------------------------------ queue

    def paths(self) -> list[Path]:
        return [it.path for it in self.items]

    def set_paths(self, paths: list[Path]) -> None:
        self.items = []
        self.list.clear()
        self.add_paths(paths)

    def add_paths(self, paths: Iterable[str | os.PathLike[str]]) -> int:
        """Add images and folders (searched recursively); files already queued are skipped."""
        have = {it.path.resolve() for it in self.items}
        added = 0
        for p in collect_images(paths):
            if p.resolve() in have:
                continue
            have.add(p.resolve())
            self.items.append(QueueItem(p, image_pixels(p)))
            it = QListWidgetItem()
            it.setData(Qt.ItemDataRole.UserRole, str(p))
            it.setToolTip(str(p))
            self.list.addItem(it)
            added += 1
        self._refresh()
        return added

    def _selected_rows(self) -> list[int]:
        return sorted(self.list.row(it) for it in self.list.selectedItems())

    def remove_selected(self) -> None:
        for r in reversed(self._selected_rows()):
            if self.items[r].state == "running":
                continue  # stop the run first; the item being written stays
            del self.items[r]
            self.list.takeItem(r)
        self._refresh()

    def move_selected(self, delta: int) -> None:
        rows = self._selected_rows()
        if not rows:
            return
        if (delta < 0 and rows[0] == 0) or (delta > 0 and rows[-1] == len(self.items) - 1):
            return
        for r in rows if delta < 0 else reversed(rows):
            self.items.insert(r + delta, self.items.pop(r))
            it = self.list.takeItem(r)
            self.list.insertItem(r + delta, it)
        self.list.clearSelection()
        for r in rows:
            self.list.item(r + delta).setSelected(True)
        self._refresh()

    def _sync_order(self) -> None:
        """After a drag: the items' order follows the list's."""
        by_path = {str(it.path): it for it in self.items}
        self.items = [
            by_path[self.list.item(i).data(Qt.ItemDataRole.UserRole)]
            for i in range(self.list.count())
        ]
        self._refresh()

    def retry_failed(self) -> int:
        n = 0
        for it in self.items:
            if it.state == "failed":
                it.state, it.fraction, it.message = "waiting", 0.0, ""
                n += 1
        self._refresh()
        return n

    def next_waiting(self) -> int | None:
        return next((i for i, it in enumerate(self.items) if it.state == "waiting"), None)

    def index_of(self, path: Path) -> int | None:
        return next((i for i, it in enumerate(self.items) if it.path == path), None)

    def set_state(
        self,
        index: int,
        state: str,
        message: str = "",
        fraction: float | None = None,
        seconds: float | None = None,
    ) -> None:
        if not 0 <= index < len(self.items):
            return
        it = self.items[index]
        it.state = state
        if message:
            it.message = message
        if fraction is not None:
            it.fraction = fraction
        elif state in ("done", "skipped", "failed"):
            it.fraction = 1.0
        if seconds is not None:
            it.seconds = seconds
        self._refresh()

    def set_progress(self, index: int, fraction: float) -> None:
        if 0 <= index < len(self.items):
            self.items[index].fraction = fraction
            self._refresh(only=index)

    def set_running(self, running: bool) -> None:
        self.running = running
        self._refresh()

    # ------------------------------------------------------------------ view

    def eta_seconds(self) -> float | None:
        """What is left, at the pace of the items finished so far (by pixels)."""
        done = [it for it in self.items if it.state == "done" and it.seconds and it.pixels]
        if not done:
            return None
        rate = sum(it.seconds or 0.0 for it in done) / sum(it.pixels or 0 for it in done)
        mean_px = sum(it.pixels or 0 for it in done) / len(done)
        left = 0.0
        for it in self.items:
            if it.state in ("waiting", "running"):
                px = it.pixels if it.pixels else mean_px
                left += px * (1.0 - (it.fraction if it.state == "running" else 0.0))
        return left * rate

    def _text(self, it: QueueItem) -> str:
        mark = STATE_MARK.get(it.state, "?")
        extra = ""
        if it.state == "running":
            extra = f"  {it.fraction * 100:.0f}%"
        elif it.state in ("failed", "skipped") and it.message:
            extra = f"  — {it.message}"
        elif it.state == "done" and it.seconds is not None:
            extra = f"  ({it.seconds:.1f} s)"
        return f"{mark} {it.path.name}{extra}"

    def _refresh(self, only: int | None = None) -> None:
        rows = range(len(self.items)) if only is None else [only]
        for i in rows:
            it, li = self.items[i], self.list.item(i)
            if li is None:
                continue
            li.setText(self._text(it))
            li.setToolTip(f"{it.path}\n{it.message}" if it.message else str(it.path))
        n = len(self.items)
        finished = sum(1 for it in self.items if it.state in ("done", "skipped", "failed"))
        running = sum(it.fraction for it in self.items if it.state == "running")
        self.overall.setValue(int(1000 * (finished + running) / n) if n else 0)
        self.overall.setFormat(f"{finished}/{n} finished")
        failed = sum(1 for it in self.items if it.state == "failed")
        eta = self.eta_seconds()
        parts = []
        if failed:
            parts.append(f"{failed} failed")
        if self.running and eta is not None:
            from .model_info import fmt_duration

            parts.append(f"about {fmt_duration(eta)} left")
        self.eta.setText(" · ".join(parts))
        self.retry.setEnabled(failed > 0)
        has_waiting = self.next_waiting() is not None
        self.start.setText("Stop" if self.running else "Start")
        self.start.setEnabled(self.running or has_waiting)
        self.add_files.setEnabled(True)
        # A run keeps the options it started with: changing them midway would mix sizes.
        for w in (self.size_mode, self.size_px, self.png_level):
            w.setEnabled(not self.running)
        self.size_px.setVisible(self.size_mode.currentData() is not None)

    def _start_stop(self) -> None:
        (self.stop_requested if self.running else self.start_requested).emit()

    def _activated(self, li: QListWidgetItem) -> None:
        self.activated.emit(Path(li.data(Qt.ItemDataRole.UserRole)))

    def _add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add images", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)"
        )
        if files:
            self.add_paths(files)

    def _add_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a folder (with its subfolders)")
        if d:
            self.add_paths([d])


__all__ = ["BatchOptions", "BatchPanel", "QueueItem", "collect_images", "image_pixels"]
