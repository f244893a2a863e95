"""A guard against PySide6 6.12.0's reference leaks on None and True (Python 3.10, 3.11).

The PySide6-Essentials 6.12.0 wheels return the singletons without taking a reference:
every call from Python to a Qt method returning void takes one reference from `None`
for good, and every `SignalInstance.emit()` one from `True`. From Python 3.12 on these
objects are immortal and nothing happens; before that their counts fall with each call
and, at zero, the interpreter aborts ("Fatal Python error: none_dealloc" or
"bool_dealloc"). A Qt app on Python 3.11 gets there within seconds to minutes: a
repaint alone makes dozens of such calls.

`install()` measures whether this PySide6 leaks; only then does it add the lost
references back, at once with a wide margin and then about once a second. These are
singletons that are never freed, so extra references to them are harmless. On a
fixed PySide6 or on Python 3.12+ it does nothing. The real fix is a PySide6 without
the bug (or Python 3.12+); this keeps the app alive until then.
"""

from __future__ import annotations

import atexit
import ctypes
import sys

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

# References held in reserve per singleton: far more than the calls made in one tick.
HEADROOM = 2_000_000
TICK_MS = 1000

_state: dict[str, object] = {}
_targets: dict[int, int] = {}  # id(singleton) -> count to keep it at
_SINGLETONS = (None, True, False)


class _Probe(QObject):
    sig = Signal()


def leaking() -> list[object]:
    """The singletons that lose references through PySide6 calls here."""
    if sys.version_info >= (3, 12):
        return []  # immortal objects: counts never move
    probe = _Probe()
    n = 32
    counts = [sys.getrefcount(o) for o in _SINGLETONS]
    for _ in range(n):
        probe.setObjectName("probe")  # a void method
        probe.sig.emit()
    after = [sys.getrefcount(o) for o in _SINGLETONS]
    # Half of n: another thread may move a count a little meanwhile.
    return [o for o, b, a in zip(_SINGLETONS, counts, after, strict=True) if b - a >= n // 2]


def _add_refs(obj: object, n: int) -> None:
    if n <= 0:
        return
    if hasattr(sys, "getobjects"):  # a Py_TRACE_REFS build: the header is different
        incref = ctypes.pythonapi.Py_IncRef
        incref.argtypes = [ctypes.py_object]
        incref.restype = None
        for _ in range(n):
            incref(obj)
        return
    # ob_refcnt is the first field of every object in release builds before 3.12.
    # Another thread may change the count between this read and write; at worst a few
    # references are miscounted against a reserve of millions, on an object never freed.
    ctypes.c_ssize_t.from_address(id(obj)).value += n


def top_up() -> None:
    """Give back the references lost since the last call, keeping the reserve full."""
    for obj in _SINGLETONS:
        target = _targets.get(id(obj))
        if target is not None:
            _add_refs(obj, target - sys.getrefcount(obj))


def install() -> bool:
    """Start the guard if this PySide6 needs it; idempotent. Returns whether it runs."""
    if "active" in _state:
        if _state["active"] and "timer" not in _state:
            _start_timer()
        return bool(_state["active"])
    leaks = leaking()
    _state["active"] = bool(leaks)
    if not leaks:
        return False
    for obj in _SINGLETONS:  # all three: a leak not caught by the probe is covered too
        _targets[id(obj)] = sys.getrefcount(obj) + HEADROOM
    top_up()
    atexit.register(top_up)
    _start_timer()
    return True


def _start_timer() -> None:
    app = QCoreApplication.instance()
    if app is None:
        return  # started by a later install() call, once an application exists
    timer = QTimer(app)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(top_up)
    timer.start()
    _state["timer"] = timer
