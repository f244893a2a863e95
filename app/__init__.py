"""seemore_app: the desktop app (Qt), installed from app/ as the package `seemore_app`.

main (entry point, --screenshot), mainwindow (the window), worker (jobs in a QThread),
compare_view (before/after view), inside_view (routing and feature panels, pyqtgraph),
dialogs, settings (JSON in the user's config folder), capture (headless pictures),
qtfix (a guard for a PySide6 6.12.0 reference leak). Nothing here imports torch at
import time: the worker loads it on its own thread.
"""
