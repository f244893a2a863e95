"""Dark and light: the app follows the system's colour scheme, plots included.

Qt widgets take their colours from the application palette. On Linux the Fusion style
keeps a light palette even when the desktop is dark, so a dark palette is set here when
the system asks for dark. pyqtgraph plots draw their own backgrounds and axes and do not
read the palette: widgets that hold plots call `plot_colours()` when they are built and
again on every palette change (`QEvent.PaletteChange` reaches every widget).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

SCHEMES = ("auto", "dark", "light")


@dataclass(frozen=True)
class PlotColours:
    background: str
    text: str
    axis: str
    mark: str  # chosen-expert outlines, the uniform line, markers
    dark: bool


LIGHT = PlotColours(
    background="#ffffff", text="#333333", axis="#888888", mark="#111111", dark=False
)
DARK = PlotColours(background="#232327", text="#d8d8dc", axis="#7c7c84", mark="#f2f2f2", dark=True)

_state: dict[str, object] = {"scheme": "auto", "light_palette": None, "hooked": False}


def system_is_dark() -> bool:
    """The system's preference where Qt knows it, else the palette's own lightness."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def is_dark() -> bool:
    scheme = _state["scheme"]
    if scheme == "dark":
        return True
    if scheme == "light":
        return False
    return system_is_dark()


def plot_colours() -> PlotColours:
    return DARK if is_dark() else LIGHT


def dark_palette() -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    base, window, text = QColor(30, 30, 34), QColor(45, 45, 50), QColor(225, 225, 230)
    for r, c in (
        (role.Window, window),
        (role.WindowText, text),
        (role.Base, base),
        (role.AlternateBase, window),
        (role.ToolTipBase, QColor(60, 60, 66)),
        (role.ToolTipText, text),
        (role.PlaceholderText, QColor(140, 140, 146)),
        (role.Text, text),
        (role.Button, window),
        (role.ButtonText, text),
        (role.BrightText, QColor(255, 90, 90)),
        (role.Link, QColor(110, 170, 255)),
        (role.Highlight, QColor(60, 120, 210)),
        (role.HighlightedText, QColor(255, 255, 255)),
    ):
        p.setColor(r, c)
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(120, 120, 126))
    return p


def apply(scheme: str | None = None) -> bool:
    """Use `scheme` ("auto" follows the system; None keeps the current one); return
    whether the result is dark."""
    app = QApplication.instance()
    if scheme is None:
        scheme = str(_state["scheme"])
    if scheme not in SCHEMES:
        scheme = "auto"
    _state["scheme"] = scheme
    if not isinstance(app, QApplication):
        return is_dark()
    if _state["light_palette"] is None:
        _state["light_palette"] = QPalette(app.palette())
    hints = QGuiApplication.styleHints()
    want_dark = scheme == "dark" or (
        scheme == "auto" and hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark
    )
    if want_dark:
        app.setPalette(dark_palette())
    elif scheme == "light" or app.palette().color(QPalette.ColorRole.Window).lightness() < 128:
        app.setPalette(_state["light_palette"])  # type: ignore[arg-type]
    if not _state["hooked"] and hints is not None:
        # Follow the desktop when the user flips it while the app runs.
        hints.colorSchemeChanged.connect(lambda _s: apply(str(_state["scheme"])))
        _state["hooked"] = True
    return is_dark()


__all__ = ["DARK", "LIGHT", "PlotColours", "apply", "is_dark", "plot_colours", "system_is_dark"]
