"""Headless capture for `seemore-gui --screenshot`: wait for what was asked, grab, exit."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from .mainwindow import MainWindow

# Time for the last layouts and repaints after the result arrives.
SETTLE_MS = 400


class Capture(QObject):
    def __init__(self, window: MainWindow, out: Path, upscale: bool, timeout_s: float) -> None:
        super().__init__(window)
        self.window = window
        self.out = out
        self.upscale = upscale
        self.failed = False
        self._done = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._timed_out)
        self._timeout_ms = int(timeout_s * 1000)

    def start(self) -> None:
        self._timer.start(self._timeout_ms)
        w = self.window
        if w.loading:
            # Images are decoded off the UI thread: go on once the image is in.
            w.image_loaded.connect(lambda _ok: self._begin())
            return
        self._begin()

    def _begin(self) -> None:
        w = self.window
        if self.upscale:
            if w.loaded is None:  # the image failed to load: the window shows why
                self.failed = True
                QTimer.singleShot(SETTLE_MS, self._snap)
                return
            w.run_done.connect(self._on_run_done)
            w.upscale()
        elif w.engine_info is None:
            w.engine_ready.connect(lambda: QTimer.singleShot(SETTLE_MS, self._snap))
        else:
            QTimer.singleShot(SETTLE_MS, self._snap)

    def _on_run_done(self, ok: bool) -> None:
        self.failed = self.failed or not ok
        QTimer.singleShot(SETTLE_MS, self._snap)

    def _timed_out(self) -> None:
        print("seemore-gui: --screenshot timed out; saving the window as it is", file=sys.stderr)
        self.failed = True
        self._snap()

    def _snap(self) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        app = QApplication.instance()
        # Pictures still being prepared (the bicubic "before", a feature grid) first.
        self.window.wait_display_idle(int(SETTLE_MS * 25))
        if app is not None:
            app.processEvents()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.out), "PNG"):
            print(f"seemore-gui: could not write {self.out}", file=sys.stderr)
            self.failed = True
        for msg in self.window.errors:
            print(f"seemore-gui: {msg}", file=sys.stderr)
        if self.window.errors:
            self.failed = True
        if app is not None:
            app.exit(1 if self.failed else 0)
