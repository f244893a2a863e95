"""`seemore-gui [IMAGE...]`: start the desktop app, or capture it headless.

`seemore-gui --screenshot OUT.png [--upscale] [--panel routing|features] IMAGE` renders
the window (after the run with --upscale), saves it as a PNG and exits: 0 when the
picture shows what was asked, 1 when something failed on the way (the picture is still
saved, showing the error), 2 for a bad command line. Without a display it switches Qt to
its offscreen platform by itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seemore-gui",
        description="Image super-resolution with SeemoRe, with a look inside the network.",
    )
    # seemore_core's package root is cheap to import (torch loads lazily), so --version
    # answers at once.
    from seemore_core import __version__
    from seemore_core.names import BUNDLED_NAMES, DEFAULT_VARIANT, DEVICES, SCALES

    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="images or folders to open")
    p.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help=f"a bundled model name ({', '.join(BUNDLED_NAMES)}; any case) or a checkpoint "
        f"file; default: the last one used, else {DEFAULT_VARIANT}",
    )
    p.add_argument("--scale", type=int, choices=SCALES, help="scale for a bundled model")
    p.add_argument("--device", choices=DEVICES, help="inference device")
    p.add_argument("--tile", type=int, metavar="N", help="tile side in input pixels; 0 whole image")
    p.add_argument(
        "--per-tile", action="store_true", help="route each tile on its own (the tile map)"
    )
    p.add_argument("--screenshot", metavar="OUT.png", help="save a picture of the window and exit")
    p.add_argument("--upscale", action="store_true", help="upscale the image before the picture")
    p.add_argument("--panel", choices=("routing", "features"), help="inside-view panel to show")
    p.add_argument("--compare", choices=("slider", "side"), help="slider or side by side")
    p.add_argument("--before", choices=("bicubic", "nearest"), help="how the input is enlarged")
    p.add_argument("--zoom", type=float, metavar="PERCENT", help="zoom (100 = pixel for pixel)")
    p.add_argument("--size", default="1500x900", metavar="WxH", help="window size for --screenshot")
    p.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="give up --screenshot after S s"
    )
    return p


def _size(text: str) -> tuple[int, int] | None:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    return (w, h) if w >= 320 and h >= 240 else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    size = _size(args.size)
    if size is None:
        parser.print_usage(sys.stderr)
        print("seemore-gui: --size must be like 1500x900 (at least 320x240)", file=sys.stderr)
        return EXIT_USAGE
    if args.upscale and not args.images:
        print("seemore-gui: --upscale needs an IMAGE", file=sys.stderr)
        return EXIT_USAGE
    if args.screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow, make_app_icon
    from .settings import Settings

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "seemore-gui"])
    from . import qtfix

    qtfix.install()  # before any other Qt call from Python: see qtfix for why
    app.setApplicationName("seemore")
    app.setApplicationDisplayName("seemore")
    app.setDesktopFileName("io.github.seemore.Seemore")
    icon = make_app_icon()
    if icon is not None:
        app.setWindowIcon(icon)

    headless = bool(args.screenshot)
    # A capture must neither depend on nor change the user's saved window layout.
    settings = Settings() if headless else Settings.load()
    if args.device:
        settings.device = args.device
    if args.scale:
        settings.scale = args.scale
    if args.tile is not None:
        settings.tile = max(0, args.tile)
    if args.per_tile:
        settings.per_tile_routing = True
    if args.compare:
        settings.compare_mode = args.compare
    if args.before:
        settings.before_mode = args.before
    window = MainWindow(settings)
    window.persist = not headless
    if headless:
        window.resize(*size)
    window.show()

    if args.model:
        if Path(args.model).exists():
            window.use_checkpoint(args.model)
        else:
            window.select_bundled(args.model, args.scale)
    if args.images:
        window.open_paths(args.images)
    if args.panel:
        window.inside.show_panel(args.panel)
    if args.zoom:
        # After the first layout, so that the zoom centres on the window's real size.
        from PySide6.QtCore import QTimer

        app.processEvents()
        window.view.set_zoom(args.zoom / 100.0)
        QTimer.singleShot(0, lambda: window.view.set_zoom(args.zoom / 100.0))

    if headless:
        from .capture import Capture

        capture = Capture(window, Path(args.screenshot), args.upscale, args.timeout)
        capture.start()
        rc = app.exec()
        window.close()
        return int(rc)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
