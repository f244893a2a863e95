"""One small object passed down long operations: a progress callback and a cancel flag.

Thread-safe: the app's UI thread calls `cancel()` while a worker runs the engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled


@dataclass(frozen=True)
class ProgressInfo:
    done: int
    total: int
    fraction: float
    elapsed_s: float
    eta_s: float | None
    stage: str


class Progress:
    def __init__(self, callback: Callable[[ProgressInfo], None] | None = None) -> None:
        self.callback = callback
        self._cancel = threading.Event()
        self._t0 = time.monotonic()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if a cancel was requested; called before each unit of work."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def restart_clock(self) -> None:
        self._t0 = time.monotonic()

    def report(self, done: int, total: int, stage: str = "") -> None:
        if self.callback is None:
            return
        elapsed = time.monotonic() - self._t0
        frac = done / total if total else 1.0
        eta = elapsed * (1 - frac) / frac if frac > 0 else None
        self.callback(ProgressInfo(done, total, frac, elapsed, eta, stage))
