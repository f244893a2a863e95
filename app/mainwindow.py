"""The main window: compare view, controls, inside-view dock, batch queue, model grid.

The window owns no model maths. It hands jobs to the `Worker` in its thread and draws
what comes back; everything slow that is not the model (decoding, the pictures for the
screen, writing exports) runs on a `Background` pool, so the UI thread only ever hands
over ready pictures. Torch is not loaded by the UI thread: the worker's `warm_up` does
it, so the window is on screen while torch loads, and the pre-run estimate (which reads
the network's description) is made only after that.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt, QThread, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
    QResizeEvent,
    QShowEvent,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
)

from seemore_core.imageio import (
    ImageIOError,
    LoadedImage,
    image_from_array,
    read_image,
)
from seemore_core.names import (
    CHECKPOINT_SUFFIXES,
    LOSSY_FORMATS,
    PHOTO_MODEL,
    READ_SUFFIXES,
    dialog_patterns,
    model_name,
)
from seemore_core.progress import Progress
from seemore_core.target import TargetSize

from . import qtfix, theme
from .background import Background, qimage_from_rgb
from .batch_panel import BatchPanel, collect_images
from .compare_view import CompareView, with_pyramid
from .dialogs import AboutDialog, BatchExportDialog, CheckpointDialog
from .export_dialog import (
    SUFFIX_FORMATS,
    ExportDialog,
    ExportOptions,
    ExportOutcome,
    auto_name,
    options_used,
    run_export,
)
from .inside_view import InsideView
from .model_grid import ModelGrid, crop_region
from .model_info import (
    Estimator,
    ModelFacts,
    RunEstimate,
    bundled_facts,
    fmt_bytes,
    fmt_duration,
)
from .settings import Settings
from .worker import (
    BatchJob,
    BatchSummary,
    CheckpointJob,
    ExportJob,
    ModelChoice,
    RunOutput,
    SizedExportJob,
    UpscaleJob,
    Worker,
    is_checkpoint_path,
)

# Qt paints every widget made dirty in one event-loop turn in one pass. The result, the
# routing bars, the heat map and the feature panel filled in the same turn (or in
# zero-delay turns, which run before the paint) were painted together and held the UI
# thread for 130-170 ms (bench_ui_latency --whole-path --profile result); filled this far
# apart, each gets a pass of its own.
PAINT_PASS_MS = 30
# A preview of the visible region is worth it only when that region is clearly smaller
# than the image; otherwise the whole run is barely longer than the preview would be.
PREVIEW_MAX_FRACTION = 0.6
TILE_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Auto", None),
    ("No tiles", 0),
    ("128 px", 128),
    ("192 px", 192),
    ("256 px", 256),
    ("512 px", 512),
    ("1024 px", 1024),
)
# From the shared lists, so the dialogs take every format the core reads (HEIC, AVIF,
# JPEG XL) and every checkpoint suffix (.bin too).
CHECKPOINT_FILTER = f"Checkpoints ({dialog_patterns(CHECKPOINT_SUFFIXES)});;All files (*)"
OPEN_FILTER = (
    f"Images ({dialog_patterns(READ_SUFFIXES)});;"
    f"Models ({dialog_patterns(CHECKPOINT_SUFFIXES)});;All files (*)"
)


def photo_model_hint(
    fmt: str | None,
    chosen: str | None,
    bundled: Mapping[str, list[int]],
    scale: int | None = None,
) -> str:
    """The hint beside the model picker (rich text with a link), or "" for none.

    A lossy input (`fmt`, as the reader names it) gets the photo model suggested, if it
    is here and not already ``chosen`` (the bundled name picked, None for a file). When
    the photo model lacks the ``scale`` picked now, the hint says which it has, since
    following the link changes the scale too.
    """
    if fmt not in LOSSY_FORMATS or PHOTO_MODEL not in bundled or chosen == PHOTO_MODEL:
        return ""
    label = "JPEG" if fmt == "MPO" else fmt
    text = f'{label} input: <a href="{PHOTO_MODEL}">use {PHOTO_MODEL}</a>, the photo model'
    scales = sorted(bundled[PHOTO_MODEL])
    if scale and scales and scale not in scales:
        text += f" ({'/'.join(f'x{s}' for s in scales)} only)"
    return text


def _canonical(name: str) -> str:
    """A bundled model name as the core spells it ("t-photo" -> "T-photo")."""
    return model_name(name) or name.upper()


@dataclass
class QueueRun:
    """The batch queue's settings and bookkeeping while it runs."""

    folder: Path
    pattern: str
    format: str
    model: ModelChoice
    device: str
    tile: int | None
    overwrite: bool
    png_level: int | None = None  # PNG output only; None: the core's default
    target: TargetSize | None = None  # an output size instead of the model's scale
    summary: BatchSummary = field(default_factory=BatchSummary)
    job_id: int | None = None  # the item's job now in the worker
    item_path: Path | None = None
    started: float = 0.0
    stopping: bool = False


@dataclass
class StatsRun:
    """Routing statistics over the batch, being gathered one image at a time."""

    model: ModelChoice
    paths: list[Path]
    names: list[str] = field(default_factory=list)
    probs: list[list[list[float]]] = field(default_factory=list)
    chosen: list[list[int]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    job_id: int | None = None
    label: str = ""
    ranks: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Decoded:
    """An image file read off the UI thread, with its picture for the view, or why not."""

    path: Path
    image: LoadedImage | None
    picture: QImage | None
    error: str = ""


def decode_for_view(path: Path) -> Decoded:
    """Read `path` and make the view's QImage (runs on a background thread)."""
    try:
        img = read_image(path)
    except ImageIOError as e:
        return Decoded(path, None, None, str(e))
    except OSError as e:  # a vanished file or a permission problem
        return Decoded(path, None, None, f"{path}: {e.strerror or e}")
    return Decoded(path, img, qimage_from_rgb(img.rgb))


def icon_path() -> Path | None:
    here = Path(__file__).resolve().parent
    for p in (
        here.parent / "resources" / "icons" / "seemore.svg",  # source tree
        here.parent / "seemore_core" / "resources" / "icons" / "seemore.svg",  # installed
    ):
        if p.is_file():
            return p
    return None


def qimage_to_array(img: QImage) -> np.ndarray:
    """A QImage -> (H, W, 3|4) uint8, with alpha only when the image has an alpha channel."""
    has_alpha = img.hasAlphaChannel()
    img = img.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    arr = buf.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4).copy()
    return arr if has_alpha else arr[:, :, :3]


class MainWindow(QMainWindow):
    submit = Signal(object)  # a job for the worker (queued across threads)
    engine_ready = Signal()
    run_done = Signal(bool)  # a full upscale ended: True with a result
    export_done = Signal(bool)
    image_loaded = Signal(bool)  # an image opened from a file is shown (False: it failed)
    queue_done = Signal(object)  # the batch queue ended: a BatchSummary of all its items
    compare_done = Signal()  # every model of a model comparison has answered
    stats_done = Signal(bool)  # routing statistics over the batch: shown (True) or not

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        qtfix.install()
        theme.apply()  # dark or light as the system says (unless chosen), plots included
        self.settings = settings or Settings.load()
        self.loaded: LoadedImage | None = None
        self.image_name = ""
        self.result: RunOutput | None = None
        self.preview: RunOutput | None = None
        self.engine_info: dict[str, Any] | None = None
        self.errors: list[str] = []  # every message shown to the user, newest last
        self.persist = True  # save settings on close (a headless capture does not)
        self._restoring = False
        self._jobs: dict[int, object] = {}
        self._ask_checkpoint: set[int] = set()
        self._job_seq = 0
        self._upscale_id: int | None = None
        self._last_job: UpscaleJob | None = None
        # Exports at a target beyond the result, running in the worker: their options.
        self._sized_exports: dict[int, ExportOptions] = {}
        self._pending_upscale = False
        self._checkpoint_scales: dict[str, int] = {}
        self._checkpoint_dialog: CheckpointDialog | None = None
        self._message_boxes: list[QMessageBox] = []
        self._running = False  # an upscale of the shown image is under way
        self._queue: QueueRun | None = None  # the batch queue being run
        self._compare_jobs: dict[int, int] = {}  # job id -> cell of the model grid
        self._stats: StatsRun | None = None  # routing statistics being gathered
        self._export_dialog: ExportDialog | None = None
        self.estimator = Estimator()
        self.facts: dict[tuple[str, int], ModelFacts] = {}
        self._checkpoint_variants: dict[str, str] = {}
        self._run_nominal_s: float | None = None  # the formula's time for the run going on
        self.last_export: Path | None = None
        # Decoding and picture conversion, off the UI thread.
        self.bg = Background(self)

        self.setWindowTitle("seemore")
        self.setAcceptDrops(True)
        ip = icon_path()
        if ip is not None:
            self.setWindowIcon(QIcon(str(ip)))

        self.view = CompareView()
        self.setCentralWidget(self.view)
        self._build_controls()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._apply_settings()

        self.view.hovered.connect(self._on_hover)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.inside.features.request.connect(self._on_feature_request)
        self.inside.routing.stats_requested.connect(self.routing_over_batch)
        # Feature maps are recorded on demand: when their tab comes into view.
        self.inside.currentChanged.connect(lambda _=0: self._features_shown())
        self.inside_dock.visibilityChanged.connect(lambda _=False: self._features_shown())

        self._thread = QThread(self)
        self._thread.setObjectName("seemore-worker")
        self.worker = Worker()
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.warm_up)
        self._thread.finished.connect(self.worker.deleteLater)
        self.submit.connect(self.worker.run)
        # Plain methods of this window, so Qt queues each call from the worker's thread
        # onto the UI thread. Not @Slot: PySide6 6.12 runs a @Slot override of a
        # subclass in the emitting thread, even on a queued connection.
        self.worker.ready.connect(self._on_ready)
        self.worker.progress.connect(self._on_progress)
        self.worker.output.connect(self._on_output)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.checkpoint_info.connect(self._on_checkpoint_info)
        self.worker.exported.connect(self._on_exported)
        self.worker.batch_item.connect(self._on_batch_item)
        self.worker.batch_done.connect(self._on_worker_batch_done)
        self.worker.finished.connect(self._on_job_finished)
        self._thread.start()
        self._update_actions()

    # ================================================================== building

    def _build_controls(self) -> None:
        self.controls_bar = bar = QToolBar("Upscale")
        bar.setObjectName("controls")
        bar.setMovable(False)
        bar.setIconSize(QSize(16, 16))
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(14)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.addItem("loading engine…", None)
        self.scale_combo = QComboBox()
        self.device_combo = QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device_combo.addItem(d, d)
        self.tile_combo = QComboBox()
        for label, value in TILE_CHOICES:
            self.tile_combo.addItem(label, value)
        self.tile_combo.setToolTip(
            "Input pixels per tile side: smaller uses less memory."
            " No tiles: the whole image in one pass."
        )
        # "JPEG input: try the photo model" beside the picker; a link selects it.
        self.model_hint = QLabel("")
        self.model_hint.setContentsMargins(4, 0, 4, 0)
        self.model_hint.setTextFormat(Qt.TextFormat.RichText)
        self.model_hint.linkActivated.connect(lambda _: self.select_bundled(PHOTO_MODEL))
        self.per_tile = QCheckBox("Per-tile")
        self.per_tile.setToolTip(
            "Per-tile routing: let each tile choose its own experts (shown in the routing panel)"
        )
        self.upscale_button = QPushButton("Upscale")
        self.upscale_button.setDefault(True)
        self.upscale_button.setStyleSheet("QPushButton { font-weight: bold; padding: 3px 14px; }")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)

        for label, w in (
            ("Model", self.model_combo),
            ("Scale", self.scale_combo),
            ("Device", self.device_combo),
            ("Tile", self.tile_combo),
        ):
            lab = QLabel(f" {label} ")
            bar.addWidget(lab)
            bar.addWidget(w)
            if w is self.model_combo:
                self._model_hint_action = bar.addWidget(self.model_hint)
                self._model_hint_action.setVisible(False)  # until an input asks for it
        bar.addSeparator()
        bar.addWidget(self.per_tile)
        bar.addSeparator()
        bar.addWidget(self.upscale_button)
        bar.addWidget(self.cancel_button)
        # The cost of the next run, before it starts (time on this machine, memory).
        self.estimate_label = QLabel("")
        self.estimate_label.setContentsMargins(6, 0, 4, 0)
        bar.addWidget(self.estimate_label)

        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.scale_combo.currentIndexChanged.connect(self._scale_changed)
        self.device_combo.currentIndexChanged.connect(self._controls_changed)
        self.tile_combo.currentIndexChanged.connect(self._controls_changed)
        self.per_tile.toggled.connect(self._controls_changed)
        self.upscale_button.clicked.connect(self.upscale)
        self.cancel_button.clicked.connect(self.cancel)

    def _build_docks(self) -> None:
        self.inside = InsideView()
        self.inside_dock = QDockWidget("Inside the network", self)
        self.inside_dock.setObjectName("inside")
        self.inside_dock.setWidget(self.inside)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inside_dock)

        self.batch_panel = BatchPanel()
        self.batch_panel.png_level.setValue(self.settings.png_level)
        self.batch_list = self.batch_panel.list
        self.batch_panel.activated.connect(self._batch_path_activated)
        self.batch_panel.start_requested.connect(self.batch_dialog)
        self.batch_panel.stop_requested.connect(self.stop_queue)
        self.batch_dock = QDockWidget("Batch", self)
        self.batch_dock.setObjectName("batch")
        self.batch_dock.setWidget(self.batch_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.batch_dock)
        self.batch_dock.hide()

        self.model_grid = ModelGrid()
        self.model_grid.run_requested.connect(self.compare_models)
        self.grid_dock = QDockWidget("Compare models", self)
        self.grid_dock.setObjectName("models")
        self.grid_dock.setWidget(self.model_grid)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.grid_dock)
        self.grid_dock.hide()

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.pixel_label = QLabel("")
        self.zoom_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        self.eta_label = QLabel("")
        sb.addPermanentWidget(self.pixel_label)
        sb.addPermanentWidget(self.zoom_label)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.eta_label)
        sb.showMessage("Loading the inference engine…")

    def _act(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self._act(f, "Open &Folder…", self.open_folder_dialog)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._act(f, "&Paste Image", self.paste, QKeySequence.StandardKey.Paste)
        f.addSeparator()
        self._act(f, "Load &Model…", self.load_model_dialog, "Ctrl+M")
        f.addSeparator()
        self.save_action = self._act(
            f, "&Save Result As…", self.save_dialog, QKeySequence.StandardKey.Save
        )
        self.batch_action = self._act(f, "Upscale &Batch to Folder…", self.batch_dialog, "Ctrl+B")
        f.addSeparator()
        self._act(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        v = mb.addMenu("&View")
        self._act(v, "&Fit", self.view.fit, "Ctrl+0")
        self._act(v, "&100%", lambda: self.view.set_zoom(1.0), "Ctrl+1")
        self._act(v, "&200%", lambda: self.view.set_zoom(2.0), "Ctrl+2")
        self._act(
            v,
            "Zoom &In",
            lambda: self.view.set_zoom(self.view.zoom * 1.25),
            QKeySequence.StandardKey.ZoomIn,
        )
        self._act(
            v,
            "Zoom &Out",
            lambda: self.view.set_zoom(self.view.zoom / 1.25),
            QKeySequence.StandardKey.ZoomOut,
        )
        v.addSeparator()
        mode = QActionGroup(self)
        self.slider_action = self._act(
            v, "Before/After &Slider", lambda: self.set_compare_mode("slider"), "Ctrl+Shift+S"
        )
        self.side_action = self._act(
            v, "Side by Si&de", lambda: self.set_compare_mode("side"), "Ctrl+Shift+D"
        )
        for a in (self.slider_action, self.side_action):
            a.setCheckable(True)
            mode.addAction(a)
        v.addSeparator()
        before = QActionGroup(self)
        self.bicubic_action = self._act(
            v, "Before: &Bicubic", lambda: self.set_before_mode("bicubic")
        )
        self.nearest_action = self._act(
            v, "Before: &Nearest", lambda: self.set_before_mode("nearest")
        )
        for a in (self.bicubic_action, self.nearest_action):
            a.setCheckable(True)
            before.addAction(a)
        self.preview_action = self._act(v, "&Preview Visible Region First", self._toggle_preview)
        self.preview_action.setCheckable(True)
        v.addSeparator()
        v.addAction(self.inside_dock.toggleViewAction())
        v.addAction(self.batch_dock.toggleViewAction())
        v.addAction(self.grid_dock.toggleViewAction())

        r = mb.addMenu("&Run")
        self.upscale_action = self._act(r, "&Upscale", self.upscale, "Ctrl+Return")
        self.cancel_action = self._act(r, "&Cancel", self.cancel, "Esc")
        r.addSeparator()
        self._act(r, "Compare &Models on the View", self.compare_models, "Ctrl+Shift+M")

        h = mb.addMenu("&Help")
        self._act(h, "&About seemore", self.about)

        # A second toolbar for the view, so the common switches are one click away.
        self.view_bar = vb = QToolBar("View")
        vb.setObjectName("viewbar")
        vb.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, vb)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Slider", "slider")
        self.mode_combo.addItem("Side by side", "side")
        self.mode_combo.currentIndexChanged.connect(
            lambda: self.set_compare_mode(self.mode_combo.currentData())
        )
        self.before_combo = QComboBox()
        self.before_combo.addItem("Bicubic", "bicubic")
        self.before_combo.addItem("Nearest", "nearest")
        self.before_combo.currentIndexChanged.connect(
            lambda: self.set_before_mode(self.before_combo.currentData())
        )
        vb.addWidget(QLabel(" Compare "))
        vb.addWidget(self.mode_combo)
        vb.addWidget(QLabel(" Before "))
        vb.addWidget(self.before_combo)
        vb.addSeparator()
        # Real buttons (raised, with tooltips): flat ones read as plain labels.
        for text, slot, tip in (
            ("Fit", self.view.fit, "Whole image in view, never enlarged past 100% (Ctrl+0)"),
            ("100%", lambda: self.view.set_zoom(1.0), "One output pixel per screen pixel"),
            ("200%", lambda: self.view.set_zoom(2.0), "Each output pixel as 2x2 (Ctrl+2)"),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setStyleSheet("QPushButton { padding: 2px 8px; }")
            b.clicked.connect(slot)
            vb.addWidget(b)
        vb.addSeparator()
        self.lens_button = QPushButton("Lens")
        self.lens_button.setCheckable(True)
        self.lens_button.setStyleSheet("QPushButton { padding: 2px 8px; }")
        self.lens_button.setToolTip(
            "Magnifier under the mouse, 4x the view's zoom (M). Hold Space to swap before/after."
        )
        self.lens_button.toggled.connect(self.view.set_lens)
        self.view.lens_changed.connect(self.lens_button.setChecked)
        vb.addWidget(self.lens_button)
        self.mode_combo.setToolTip("Hold Space over the image to swap before and after")

    def _apply_settings(self) -> None:
        s = self.settings
        # Setting one control fires its change handler, which would write the other
        # controls' (not yet restored) values back into the settings.
        self._restoring = True
        self._select_data(self.device_combo, s.device)
        i = self.tile_combo.findData(s.tile)
        if i < 0 and s.tile is not None:
            self.tile_combo.addItem(f"{s.tile} px", s.tile)
            i = self.tile_combo.count() - 1
        self.tile_combo.setCurrentIndex(max(0, i))
        self.per_tile.setChecked(s.per_tile_routing)
        self.set_compare_mode(s.compare_mode)
        self.set_before_mode(s.before_mode)
        self.preview_action.setChecked(s.preview_first)
        self.inside.features.set_colormap(s.feature_colormap)
        self.inside.features.set_point(s.feature_point)
        self.scale_combo.addItem(f"x{s.scale}", s.scale)
        self.view.set_scale(s.scale)
        if s.geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))
        else:
            self.resize(1400, 880)
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        self._first_layout = not s.window_state
        self._restoring = False

    @staticmethod
    def _select_data(combo: QComboBox, value: Any) -> bool:
        i = combo.findData(value)
        if i >= 0:
            combo.setCurrentIndex(i)
        return i >= 0

    # ============================================================== engine ready

    def _on_ready(self, info: dict[str, Any]) -> None:
        self.engine_info = info
        if "error" in info:
            self.show_error(info["error"])
            self.statusBar().showMessage("The inference engine could not be loaded.")
            self.engine_ready.emit()  # "ready" as in "settled": waiters must not hang
            if self._pending_upscale:
                self._pending_upscale = False
                self._set_busy(False)
                self.run_done.emit(False)
            return
        model = self.device_combo.model()
        if isinstance(model, QStandardItemModel):
            item = model.item(self.device_combo.findData("cuda"))
            if item is not None and not info.get("cuda"):
                item.setEnabled(False)
                item.setToolTip("No CUDA GPU found")
        if info.get("mps") and self.device_combo.findData("mps") < 0:
            self.device_combo.addItem("mps", "mps")
        if not info.get("cuda") and self.device_combo.currentData() == "cuda":
            self._select_data(self.device_combo, "auto")
        try:
            self.facts = bundled_facts()
        except Exception:  # no records: the picker just says less
            self.facts = {}
        self._fill_models()
        dev = info.get("cuda_name") or ("Apple MPS" if info.get("mps") else "CPU")
        self.statusBar().showMessage(f"Ready · PyTorch {info.get('torch')} · {dev}", 8000)
        current = self.model_choice()
        if (
            current is not None
            and current.kind == "file"
            and current.name not in self._checkpoint_scales
        ):
            self.inspect_checkpoint(current.name, ask=False)
        self._update_actions()
        self.engine_ready.emit()
        if self._pending_upscale:
            self._pending_upscale = False
            self.upscale()

    def _bundled(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for v, s, _ in (self.engine_info or {}).get("bundled", []):
            found.setdefault(v, []).append(int(s))
        return found

    def _fill_models(self, select: str | None = None) -> None:
        want = select if select is not None else self.settings.model
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for v, scales in self._bundled().items():
            self.model_combo.addItem(f"SeemoRe-{v} (bundled)", ("bundled", v))
            lines = [self.facts[(v, s)].summary() for s in sorted(scales) if (v, s) in self.facts]
            purpose = next((f.purpose for f in self.facts.values() if f.variant == v), "")
            tip = "\n".join([*lines, purpose]) if lines else ""
            if tip:
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
                )
        for p in self.settings.checkpoints:
            if Path(p).is_file():
                self.model_combo.addItem(Path(p).name, ("file", p))
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, p, Qt.ItemDataRole.ToolTipRole
                )
        if self.model_combo.count() == 0:
            self.model_combo.addItem("no bundled weights: load a checkpoint", None)
        idx = 0
        for i in range(self.model_combo.count()):
            d = self.model_combo.itemData(i)
            if d is not None and (
                d[1] == want or (d[0] == "bundled" and d[1] == _canonical(str(want)))
            ):
                idx = i
        self.model_combo.setCurrentIndex(idx)
        self.model_combo.blockSignals(False)
        self._model_changed()

    def _model_changed(self) -> None:
        d = self.model_combo.currentData()
        keep = self.scale_combo.currentData() or self.settings.scale
        self.scale_combo.blockSignals(True)
        self.scale_combo.clear()
        if d is None:
            self.scale_combo.addItem(f"x{keep}", keep)
        elif d[0] == "bundled":
            for s in sorted(self._bundled().get(d[1], [])):
                self.scale_combo.addItem(f"x{s}", s)
                f = self.facts.get((d[1], s))
                if f is not None:
                    self.scale_combo.setItemData(
                        self.scale_combo.count() - 1, f.summary(), Qt.ItemDataRole.ToolTipRole
                    )
            self._select_data(self.scale_combo, keep)
        else:
            s = self._checkpoint_scales.get(d[1])
            self.scale_combo.addItem(f"x{s}" if s else "x?", s or 0)
        self.scale_combo.setEnabled(self.scale_combo.count() > 1)
        self.scale_combo.blockSignals(False)
        if d is not None and self.engine_info is not None:
            self.settings.model = d[1]
        self._scale_changed()
        self._update_model_hint()
        # A long checkpoint name widens the model box.
        self.arrange_toolbars()

    def _update_model_hint(self) -> None:
        """Suggest the photo model for a lossy input while another model is chosen."""
        d = self.model_combo.currentData()
        text = photo_model_hint(
            self.loaded.format if self.loaded is not None else None,
            d[1] if d is not None and d[0] == "bundled" else None,
            self._bundled(),
            self.scale_combo.currentData(),
        )
        self.model_hint.setText(text)
        self.model_hint.setToolTip(
            f"{PHOTO_MODEL} was trained on JPEG, noise and blur; the clean model sharpens "
            "compression blocks into visible contours. Nothing switches by itself."
            if text
            else ""
        )
        # The toolbar shows a widget through its action.
        self._model_hint_action.setVisible(bool(text))

    def _scale_changed(self) -> None:
        s = self.scale_combo.currentData()
        if s:
            if self.engine_info is not None:
                self.settings.scale = int(s)
            self.view.set_scale(int(s))
        self.update_estimate()
        self._update_model_hint()  # it names the photo model's scales when this one is not

    def run_estimate(self) -> RunEstimate | None:
        """The cost of upscaling the shown image with the chosen model, or None."""
        choice = self.model_choice()
        if self.loaded is None or self.engine_info is None or choice is None:
            return None
        variant = (
            choice.name
            if choice.kind == "bundled"
            else self._checkpoint_variants.get(choice.name, "")
        )
        if not variant or variant == "custom" or not choice.scale:
            return None  # a custom network: no formula for it here
        try:
            return self.estimator.estimate(
                self.loaded.width, self.loaded.height, variant, choice.scale
            )
        except Exception:  # an unknown variant name: no estimate rather than no app
            return None

    def update_estimate(self) -> None:
        est = self.run_estimate()
        if est is None or self.loaded is None:
            self.estimate_label.setText("")
            self.estimate_label.setToolTip("")
            return
        s = int(self.scale_combo.currentData() or 0)
        gpu = (self.device_combo.currentData() or "auto") in ("cuda", "auto") and bool(
            (self.engine_info or {}).get("cuda")
        )
        if gpu:
            # The formula is for the CPU; a GPU is far faster and varies too much to say.
            self.estimate_label.setText(f"GPU · ≈ {fmt_bytes(est.ram_bytes)}")
        else:
            self.estimate_label.setText(est.short())
        self.estimate_label.setToolTip(est.details(self.loaded.width, self.loaded.height, s))
        self.arrange_toolbars()  # a longer text may no longer fit beside the view bar

    def _controls_changed(self) -> None:
        if self._restoring:
            return
        self.update_estimate()
        self.settings.device = self.device_combo.currentData() or "auto"
        self.settings.tile = self.tile_combo.currentData()
        self.settings.per_tile_routing = self.per_tile.isChecked()

    def model_choice(self) -> ModelChoice | None:
        d = self.model_combo.currentData()
        if d is None:
            if self.engine_info is None and self.settings.model:
                # Not loaded yet: the saved choice stands in.
                m = self.settings.model
                if Path(m).suffix and Path(m).is_file():
                    return ModelChoice("file", m, self._checkpoint_scales.get(m, 0))
                return ModelChoice("bundled", _canonical(m), self.settings.scale)
            return None
        if d[0] == "file":
            return ModelChoice("file", d[1], self._checkpoint_scales.get(d[1], 0))
        return ModelChoice(
            "bundled", d[1], int(self.scale_combo.currentData() or self.settings.scale)
        )

    # ============================================================ loading input

    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open what was dropped or chosen: images, folders (a batch) and checkpoints."""
        images: list[Path] = []
        checkpoints: list[Path] = []
        folder_given = False
        for raw in paths:
            p = Path(raw)
            if p.is_dir():
                folder_given = True
                images += collect_images([p])  # with its subfolders
            elif is_checkpoint_path(p):
                checkpoints.append(p)
            else:
                images.append(p)
        if checkpoints:
            self.inspect_checkpoint(checkpoints[-1], ask=True)
        if folder_given and not images:
            self.show_error("No images found in the dropped folder.")
            return
        if not images:
            return
        self.set_batch(images if (len(images) > 1 or folder_given) else [])
        self.load_image(images[0])

    def load_image(self, path: str | os.PathLike[str]) -> None:
        """Open an image file: decoded off the UI thread, then shown (`image_loaded`).

        A newer open supersedes one still decoding. An upscale asked for meanwhile
        starts once the image is in.
        """
        p = Path(path)
        self.statusBar().showMessage(f"Opening {p.name}…")
        self.bg.submit(
            "open",
            decode_for_view,
            p,
            on_done=self._on_decoded,
            on_error=lambda msg: self._on_decoded(Decoded(p, None, None, msg)),
        )

    @property
    def loading(self) -> bool:
        """Whether an image file is being decoded."""
        return self.bg.pending("open")

    def _on_decoded(self, d: Decoded) -> None:
        p = d.path
        if d.image is None:
            self.show_error(d.error, title="Cannot open image")
            if self._pending_upscale and self.engine_info is not None:
                self._pending_upscale = False
                self._set_busy(False)
                self.run_done.emit(False)
            self.image_loaded.emit(False)
            return
        img = d.image
        self.set_image(img, p.name, d.picture)
        self.settings.add_recent(p)
        self.settings.last_open_dir = str(p.resolve().parent)
        self._select_batch_item(p)
        for note in img.notes:
            self.statusBar().showMessage(f"{p.name}: {note}", 8000)
        self.image_loaded.emit(True)
        if self._pending_upscale and self.engine_info is not None:
            self._pending_upscale = False
            self.upscale()

    def set_image(self, img: LoadedImage, name: str, picture: QImage | None = None) -> None:
        self._cancel_upscale()
        self.bg.cancel("result")
        self.bg.cancel("preview")
        self.loaded = img
        self.image_name = name
        self.result = None
        self.preview = None
        scale = int(self.scale_combo.currentData() or self.settings.scale)
        self.view.set_input(img.rgb, scale, picture)
        self.inside.routing.clear()
        self.inside.routing.set_input(img.rgb)
        self.inside.features.clear()
        extra = " · alpha" if img.alpha is not None else ""
        self.setWindowTitle(f"{name} ({img.width}x{img.height}) — seemore")
        self.update_estimate()
        self._update_model_hint()
        self.statusBar().showMessage(
            f"{name}: {img.width}x{img.height}, {img.format}, {img.bit_depth}-bit{extra}", 6000
        )
        self._update_actions()

    @property
    def batch(self) -> list[Path]:
        """The files in the batch queue, in its order."""
        return self.batch_panel.paths()

    def set_batch(self, files: list[Path]) -> None:
        if self._queue is not None:
            # A queue is running: new files join it rather than replace it.
            self.batch_panel.add_paths(files)
        else:
            self.batch_panel.set_paths(files)
        n = len(self.batch)
        self.batch_dock.setVisible(n > 1)
        self.batch_dock.setWindowTitle(f"Batch ({n})")
        self._update_actions()

    def _select_batch_item(self, p: Path) -> None:
        for i in range(self.batch_list.count()):
            it = self.batch_list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == str(p):
                self.batch_list.setCurrentItem(it)

    def _batch_path_activated(self, p: Path) -> None:
        if self.loaded is None or self.loaded.source is None or self.loaded.source != p:
            self.load_image(p)

    def paste(self) -> None:
        md = QApplication.clipboard().mimeData()
        if md is None:
            return
        if md.hasUrls():
            local = [u.toLocalFile() for u in md.urls() if u.isLocalFile()]
            if local:
                self.open_paths(local)
                return
        if md.hasImage():
            qimg = QImage(md.imageData())
            if qimg.isNull():
                self.show_error("The clipboard image could not be read.")
                return
            img = image_from_array(qimage_to_array(qimg))
            self.set_batch([])
            self.set_image(img, "clipboard image")
            return
        self.statusBar().showMessage("The clipboard holds no image.", 4000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt's name)
        md = event.mimeData()
        local = [u.toLocalFile() for u in md.urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if local:
            self.open_paths(local)
        elif md.hasImage():
            img = image_from_array(qimage_to_array(QImage(md.imageData())))
            self.set_batch([])
            self.set_image(img, "dropped image")

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images or a model", self.settings.last_open_dir, OPEN_FILTER
        )
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(
            self, "Open a folder of images", self.settings.last_open_dir
        )
        if d:
            self.open_paths([d])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        live = [r for r in self.settings.recent_files if Path(r).exists()]
        for r in live:
            a = self.recent_menu.addAction(Path(r).name)
            a.setToolTip(r)
            a.triggered.connect(lambda _=False, r=r: self.open_paths([r]))
        if not live:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.recent_files = []

    # ================================================================== models

    def load_model_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(
            self,
            "Load a SeemoRe checkpoint",
            self.settings.last_open_dir,
            CHECKPOINT_FILTER,
        )
        if f:
            self.inspect_checkpoint(f, ask=True)

    def inspect_checkpoint(self, path: str | os.PathLike[str], ask: bool = True) -> int:
        """Read a checkpoint's details in the worker; with `ask`, show them before use."""
        job_id = self._submit(CheckpointJob(0, Path(path)), busy=False)
        if ask:
            self._ask_checkpoint.add(job_id)
            self.statusBar().showMessage(f"Reading {Path(path).name}…")
        return job_id

    def _on_checkpoint_info(self, job_id: int, info: dict[str, Any]) -> None:
        self._checkpoint_scales[info["path"]] = int(info["scale"])
        self._checkpoint_variants[info["path"]] = str(info.get("variant", ""))
        if job_id in self._ask_checkpoint:
            self._ask_checkpoint.discard(job_id)
            dlg = CheckpointDialog(info, self)
            dlg.accepted.connect(lambda: self.use_checkpoint(info["path"]))
            self._checkpoint_dialog = dlg
            dlg.open()
        elif self.model_choice() is not None and self.model_choice().name == info["path"]:
            self._model_changed()

    def use_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Make a checkpoint file the current model (its details already known or not)."""
        p = str(Path(path).resolve())
        if str(path) in self._checkpoint_scales:
            self._checkpoint_scales[p] = self._checkpoint_scales[str(path)]
        self.settings.add_checkpoint(p)
        self.settings.model = p
        if self.engine_info is not None:
            self._fill_models(select=p)
        else:
            self.model_combo.clear()
            self.model_combo.addItem(Path(p).name, ("file", p))
        if p not in self._checkpoint_scales:
            self.inspect_checkpoint(p, ask=False)
        self.statusBar().showMessage(f"Model: {Path(p).name}", 5000)

    def select_bundled(self, variant: str, scale: int | None = None) -> None:
        self.settings.model = _canonical(variant)
        if scale:
            self.settings.scale = scale
        if self.engine_info is not None:
            self._fill_models(select=_canonical(variant))
            if scale:
                self._select_data(self.scale_combo, scale)

    # ================================================================= upscale

    def _next_id(self) -> int:
        self._job_seq += 1
        return self._job_seq

    def _submit(self, job: Any, busy: bool = True) -> int:
        job.job_id = self._next_id()
        self._jobs[job.job_id] = job
        if busy:
            self._set_busy(True)
        self.submit.emit(job)
        return job.job_id

    def upscale(self) -> None:
        if self.loading:
            self._pending_upscale = True
            self.statusBar().showMessage("Upscale starts as soon as the image is open…")
            return
        if self._upscale_id is not None:
            # Upscale is disabled during a run; a shortcut pressed anyway must not throw
            # away minutes of work by restarting it.
            self.statusBar().showMessage("An upscale is already running: Cancel it first.", 4000)
            return
        if self.loaded is None:
            self.show_error(
                "Open an image first (drop it on the window, paste it, or File > Open)."
            )
            self.run_done.emit(False)
            return
        if self.engine_info is None:
            self._pending_upscale = True
            self.statusBar().showMessage("Upscale starts as soon as the engine has loaded…")
            self._set_busy(True)
            return
        choice = self.model_choice()
        if choice is None:
            self.show_error(
                "No model: there are no bundled weights yet. Drop a SeemoRe checkpoint "
                "(.pth or .safetensors) on the window, or use File > Load Model."
            )
            self.run_done.emit(False)
            return
        self._cancel_upscale()
        img = self.loaded
        full = (0, 0, img.width, img.height)
        visible = self.view.visible_input_region() or full
        area = visible[2] * visible[3]
        preview = None
        if (
            self.preview_action.isChecked()
            and area <= PREVIEW_MAX_FRACTION * img.width * img.height
        ):
            preview = visible
        fp = self.inside.features
        job = UpscaleJob(
            0,
            img.rgb,
            choice,
            device=self.device_combo.currentData() or "auto",
            tile=self.tile_combo.currentData(),
            per_tile_routing=self.per_tile.isChecked(),
            preview_region=preview,
            # Feature maps cost memory (up to FEATURE_BUDGET_BYTES) and time: recorded
            # only while someone looks at them; the panel asks for them later otherwise.
            feature_point=fp.selected_point() if self.features_wanted() else None,
            feature_block=fp.selected_block(),
            feature_region=self._feature_region(fp.selected_region_mode()),
            region_mode=fp.selected_region_mode(),
            progress=Progress(),
        )
        self._upscale_id = self._submit(job)
        self._last_job = job
        self.preview = None
        self.view.clear_preview()
        self._set_running(True)
        est = self.run_estimate()
        self._run_nominal_s = None
        about = ""
        if est is not None:
            ratio = self.estimator.ratio or 1.0
            self._run_nominal_s = est.seconds / ratio
            about = f" (about {fmt_duration(est.seconds)} on the CPU)"
        self.statusBar().showMessage(f"Upscaling with {choice.label}…{about}")

    def features_wanted(self) -> bool:
        """Whether the feature panel is on screen (so a run should record maps)."""
        return self.inside_dock.isVisible() and self.inside.currentWidget() is self.inside.features

    def _set_running(self, running: bool) -> None:
        """Upscale <-> "Upscaling…": the run's controls, the panels' busy and stale states."""
        self._running = running
        self.upscale_button.setText("Upscaling…" if running else "Upscale")
        self.cancel_button.setEnabled(running or bool(self._jobs))
        has_old = self.result is not None
        self.view.set_stale(running and has_old)
        self.view.set_busy_text("Upscaling…" if running else "")
        self.inside.set_running(running)
        self._update_actions()

    def _feature_region(self, mode: str) -> tuple[int, int, int, int] | None:
        if mode != "view" or self.loaded is None:
            return None
        r = self.view.visible_input_region()
        if r is None or (r[2] >= self.loaded.width and r[3] >= self.loaded.height):
            return None
        return r

    def _on_feature_request(self, point: str, region_mode: str, block: int) -> None:
        last = self._last_job
        if (
            last is None
            or self.loaded is None
            or last.rgb is not self.loaded.rgb
            or self.result is None
        ):
            return
        job = UpscaleJob(
            0,
            last.rgb,
            last.model,
            device=last.device,
            tile=last.tile,
            per_tile_routing=last.per_tile_routing,
            feature_point=point,
            feature_block=block,
            feature_region=self._feature_region(region_mode),
            features_only=True,
            region_mode=region_mode,
            progress=Progress(),
        )
        self._submit(job)

    def cancel(self) -> None:
        """Stop every running or queued job: the engine stops before its next tile."""
        if self._queue is not None:
            self._queue.stopping = True  # the batch queue stops too, not just its item
        if self._stats is not None:
            self._stats = None  # and routing statistics are not gathered further
            self.stats_done.emit(False)
        if self._pending_upscale:
            self._pending_upscale = False
            self._set_busy(False)
        for job in self._jobs.values():
            prog = getattr(job, "progress", None)
            if prog is not None:
                prog.cancel()
        if self._jobs:
            self.statusBar().showMessage("Cancelling…")

    def _cancel_upscale(self) -> None:
        if self._upscale_id is not None and self._upscale_id in self._jobs:
            job = self._jobs[self._upscale_id]
            job.progress.cancel()  # type: ignore[attr-defined]
        self._upscale_id = None
        if self._running:
            self._set_running(False)

    def _on_progress(self, job_id: int, fraction: float, stage: str, eta: object) -> None:
        if job_id not in self._jobs:
            return
        q = self._queue
        if q is not None and job_id == q.job_id and q.item_path is not None:
            i = self.batch_panel.index_of(q.item_path)
            if i is not None and not stage.startswith("loading"):
                self.batch_panel.set_progress(i, fraction)
        self.progress_bar.show()
        if stage.startswith(("loading", "reading")) or stage == "saving":
            self.progress_bar.setRange(0, 0)  # no fraction to show: a busy indicator
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(fraction * 1000))
        self.progress_bar.setFormat(f"{stage} %p%")
        eta_text = f"ETA {_fmt_seconds(float(eta))}" if isinstance(eta, float) else ""
        self.eta_label.setText(eta_text)
        if job_id == self._upscale_id:
            pct = "" if stage.startswith("loading") else f" {fraction * 100:.0f}%"
            self.view.set_busy_text(
                f"{stage.capitalize()}{pct}" + (f" · {eta_text}" if eta_text else "")
            )

    def _on_output(self, out: RunOutput) -> None:
        st = self._stats
        if st is not None and out.job_id == st.job_id:
            st.names.append(str(st.paths[len(st.names) + len(st.failed)]))
            st.probs.append([[float(v) for v in r.probs] for r in out.routing])
            st.chosen.append([int(r.chosen[0]) for r in out.routing])
            st.label = out.model_label
            st.ranks = list(out.ranks)
            return
        if out.job_id in self._compare_jobs:
            self._compare_output(out)
            return
        job = self._jobs.get(out.job_id)
        if job is None or self.loaded is None or getattr(job, "rgb", None) is not self.loaded.rgb:
            return  # from an image no longer shown, or a job replaced by a newer one
        mode = out.region_mode
        if out.kind == "preview":
            if out.job_id != self._upscale_id:
                return
            self.preview = out
            # Converted off the UI thread; drawn when ready unless the full image came first.
            self.bg.submit(
                "preview",
                qimage_from_rgb,
                out.image,
                on_done=lambda q, o=out: self._show_preview(o, q),
            )
            self._fill_inside(out, mode)
            self.statusBar().showMessage(
                "Preview of the visible region ready; upscaling the whole image…"
            )
        elif out.kind == "full":
            if out.job_id != self._upscale_id:
                return
            self.result = out
            self.bg.cancel("preview")
            # A 16 MP result takes a quarter of a second to convert, and as long again to
            # halve for the screen: both off the UI thread.
            self.bg.submit(
                "result",
                lambda img=out.image: with_pyramid(qimage_from_rgb(img)),
                on_done=lambda pair, o=out: self._show_result(o, *pair),
                on_error=lambda msg: self._result_failed(msg),
            )
        else:
            self.inside.features.set_output(out, mode)
        self._update_actions()

    def _show_preview(self, out: RunOutput, picture: QImage) -> None:
        if out is self.preview and self.result is None:
            self.view.set_preview(picture, out.region, out.scale)

    def _result_failed(self, message: str) -> None:
        self.show_error(f"Cannot show the result: {message}", title="Upscale failed")
        self.run_done.emit(False)

    def _show_result(
        self, out: RunOutput, picture: QImage, pyramid: list[QImage] | None = None
    ) -> None:
        if out is not self.result:
            return  # a newer image or run came in meanwhile
        mode = out.region_mode
        self.view.set_result(picture, out.scale, f"After · {out.model_label}", pyramid)
        r = out.report
        if r is not None and self._run_nominal_s and str(getattr(r, "device", "")) == "cpu":
            # Later estimates follow what this machine really does.
            self.estimator.learn(self._run_nominal_s, float(r.seconds))
            self._run_nominal_s = None
            self.update_estimate()
        tiles = f", {r.tiles} tiles" if r is not None and r.tiles > 1 else ""
        msg = (
            f"Upscaled x{out.scale} in {r.seconds:.2f} s on {r.device} ({r.precision}{tiles})"
            if r
            else "Done"
        )
        for w in getattr(r, "warnings", []) or []:
            msg += f" · {w}"
        self.statusBar().showMessage(msg)

        # The panels later, a paint pass apart: the image shows first, and no single
        # pass paints everything at once (see PAINT_PASS_MS).
        # Each step starts the next, so that late timers on a busy machine cannot bunch up.
        def features() -> None:
            self._fill_features(out, mode, done=True)

        def routing() -> None:
            self._fill_routing(out, then=lambda: QTimer.singleShot(PAINT_PASS_MS, features))

        QTimer.singleShot(PAINT_PASS_MS, routing)

    def _fill_inside(self, out: RunOutput, region_mode: str) -> None:
        self._fill_routing(out)
        if out.kind == "full":
            self._fill_features(out, region_mode)

    def _fill_routing(self, out: RunOutput, then: Callable[[], None] | None = None) -> None:
        if out is not self.result and out is not self.preview:
            return  # a newer image or run came in meanwhile (its own steps follow)
        self.inside.routing.set_ranks(out.ranks)
        self.inside.routing.set_output(out, spread=True, then=then)

    def _fill_features(self, out: RunOutput, region_mode: str, done: bool = False) -> None:
        if out is not self.result:
            return
        self.inside.features.set_structure(out.num_blocks, out.routing)
        self.inside.features.set_output(out, region_mode)
        if done:
            self._features_shown()
            self.run_done.emit(True)

    def _features_shown(self) -> None:
        """The feature panel came into view: compute its maps if the last run has none."""
        if self.features_wanted() and self.result is not None and not self._running:
            self.inside.features.ask_if_missing()

    def _on_failed(self, job_id: int, message: str) -> None:
        st = self._stats
        if st is not None and job_id == st.job_id:
            st.failed.append(f"{st.paths[len(st.names) + len(st.failed)].name}: {message}")
            return
        if job_id in self._compare_jobs:
            self.model_grid.set_error(self._compare_jobs[job_id], message)
            return
        if job_id not in self._jobs:
            return
        job = self._jobs[job_id]
        self._ask_checkpoint.discard(job_id)
        title = "Cannot load the model" if isinstance(job, CheckpointJob) else "Upscale failed"
        if isinstance(job, (ExportJob, SizedExportJob)):
            self._sized_exports.pop(job_id, None)
            title = "Cannot save"
            self.export_done.emit(False)
        self.show_error(message, title=title)
        if job_id == self._upscale_id:
            self.view.clear_preview()
            self.run_done.emit(False)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._upscale_id or job_id in self._jobs:
            self.statusBar().showMessage("Cancelled.", 5000)
        if self._sized_exports.pop(job_id, None) is not None:
            self.export_done.emit(False)
        if job_id == self._upscale_id:
            if self.result is None:
                self.view.clear_preview()
            self.run_done.emit(False)

    def _on_job_finished(self, job_id: int) -> None:
        self._jobs.pop(job_id, None)
        if self._stats is not None and job_id == self._stats.job_id:
            self._stats.job_id = None
            QTimer.singleShot(0, self._stats_next)
        if self._compare_jobs.pop(job_id, None) is not None and not self._compare_jobs:
            QTimer.singleShot(0, self._compare_finished)
        if job_id == self._upscale_id:
            self._upscale_id = None
            self._set_running(False)
        if not any(not isinstance(j, CheckpointJob) for j in self._jobs.values()):
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        if not busy:
            self.progress_bar.hide()
            self.progress_bar.setRange(0, 1000)
            self.eta_label.setText("")
        else:
            self.progress_bar.show()
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat("waiting %p%")

    def _update_actions(self) -> None:
        has_img = self.loaded is not None
        self.upscale_button.setEnabled(has_img and not self._running)
        self.upscale_action.setEnabled(has_img and not self._running)
        self.save_action.setEnabled(self.result is not None)
        self.batch_action.setEnabled(len(self.batch) > 0 or self.loaded is not None)

    # ================================================================== export

    def save_dialog(self) -> ExportDialog | None:
        """The export dialog: format options, a free name next to the source, size."""
        if self.result is None or self.loaded is None or self.result.image is None:
            self.show_error("Nothing to save yet: upscale the image first.")
            return None
        folder = Path(self.settings.last_export_dir or self.settings.last_open_dir or Path.home())
        path = auto_name(
            self.loaded.source,
            self.image_name,
            self.result.scale,
            self.settings.export_format,
            folder,
        )
        h, w = self.result.image.shape[:2]
        choice = self.result_model()
        scales = [self.result.scale]
        if choice is not None and choice.kind == "bundled":
            scales += self._bundled().get(choice.name, [])
        # A target beyond the result runs the shared pipeline again, from the file.
        no_rerun = ""
        if self.loaded.source is None:
            no_rerun = "a pasted image has no file to upscale again (save it and open it)"
        elif choice is None:
            no_rerun = "no model to upscale it again"
        dlg = ExportDialog(
            path,
            (w, h),
            self.loaded.bit_depth,
            self,
            scale=self.result.scale,
            scales=scales,
            no_rerun=no_rerun,
            quality=self.settings.export_quality,
            png_level=self.settings.png_level,
            webp_lossless=self.settings.webp_lossless,
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.export_with(dlg.options()))
        self._export_dialog = dlg
        dlg.open()  # window-modal, without a nested event loop
        return dlg

    def export_to(self, path: str | os.PathLike[str]) -> bool:
        """Save the result (with the input's alpha, ICC, EXIF, bit depth) to `path`."""
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(".png")
        fmt = SUFFIX_FORMATS.get(p.suffix.lower(), p.suffix.lower().lstrip("."))
        sixteen = self.loaded is not None and self.loaded.bit_depth == 16
        return self.export_with(ExportOptions(p, fmt, sixteen_bit=sixteen))

    def export_with(self, opts: ExportOptions) -> bool:
        """Write the result as `opts` say, off the UI thread; `export_done` tells the end."""
        if self.result is None or self.loaded is None or self.result.image is None:
            self.show_error("Nothing to save yet: upscale the image first.")
            return False
        p = opts.path
        if p.exists() and not opts.overwrite:
            if not self._confirm(
                "Replace file?", f"{p.name} already exists in {p.parent}.\nReplace it?"
            ):
                return False
            opts = replace(opts, overwrite=True)
        if opts.format in ("png", "jpg", "webp", "tif"):
            self.settings.export_format = opts.format
        # The options this format used become where the next export starts.
        used = options_used(opts.format, opts.webp_lossless)
        if used["png_level"]:
            self.settings.png_level = opts.png_level
        if used["lossless"]:
            self.settings.webp_lossless = opts.webp_lossless
        if used["quality"]:
            self.settings.export_quality = opts.quality
        self.settings.last_export_dir = str(p.resolve().parent)
        if opts.run_scale is not None:
            return self._export_sized(opts)
        self.statusBar().showMessage(f"Saving {p.name}…")
        self.bg.submit(
            f"export:{p}",
            run_export,
            opts,
            self.result.image,
            self.loaded,
            self.result.scale,
            on_done=lambda outcome: self._exported(outcome, opts),
            on_error=lambda msg: self._exported(ExportOutcome(p, msg), opts),
        )
        return True

    def result_model(self) -> ModelChoice | None:
        """The model that made the result on screen (the picker may have moved since)."""
        last = self._last_job
        if last is not None and self.loaded is not None and last.rgb is self.loaded.rgb:
            return last.model
        return self.model_choice()

    def _export_sized(self, opts: ExportOptions) -> bool:
        """An export at a target beyond the result: the worker runs the shared pipeline
        (`seemore_core.jobs`, as the CLI's --width/--height/--longest) on the source file
        at the next larger scale, Lanczos to the exact size, and writes it."""
        from seemore_core.errors import UsageError
        from seemore_core.jobs import UpscaleRequest
        from seemore_core.target import TargetSize

        choice = self.result_model()
        source = self.loaded.source if self.loaded is not None else None
        if choice is None or source is None or opts.size_by is None:
            self.show_error("This export needs the image upscaled again, which cannot be done.")
            self.export_done.emit(False)
            return False
        quality = 100 if opts.format == "webp" and opts.webp_lossless else opts.quality
        try:
            request = UpscaleRequest(
                inputs=[source],
                output=opts.path,
                output_is_folder=False,
                format=opts.format,
                quality=quality if opts.format in ("jpg", "webp") else None,
                png_level=opts.png_level if opts.format == "png" else None,
                target=TargetSize(opts.size_by, opts.size_px),
                bit_depth=16 if opts.sixteen_bit else 8,
                overwrite=opts.overwrite,
                tile=self.tile_combo.currentData(),
            )
        except UsageError as e:
            self.show_error(str(e), title="Cannot save")
            self.export_done.emit(False)
            return False
        job = SizedExportJob(
            0, request, choice, self.device_combo.currentData() or "auto", Progress()
        )
        self._sized_exports[self._submit(job)] = opts
        assert request.target is not None
        self.statusBar().showMessage(
            f"Upscaling at x{opts.run_scale} for {request.target.describe()}, "
            f"then saving {opts.path.name}…"
        )
        return True

    def _exported(self, outcome: ExportOutcome, opts: ExportOptions) -> None:
        if outcome.error:
            self.show_error(outcome.error, title="Cannot save")
            self.export_done.emit(False)
            return
        self.last_export = outcome.path
        self.statusBar().showMessage(f"Saved {outcome.path}", 8000)
        if opts.open_folder:
            self.open_folder(outcome.path.parent)
        self.export_done.emit(True)

    def open_folder(self, folder: Path) -> None:
        """Show `folder` in the system's file manager (tests replace this method)."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_exported(self, job_id: int, path: str) -> None:
        opts = self._sized_exports.pop(job_id, None)
        if opts is not None:  # written by the worker's pipeline: the dialog's follow-ups
            self._exported(ExportOutcome(Path(path)), opts)
            return
        self.statusBar().showMessage(f"Saved {path}", 8000)
        self.export_done.emit(True)

    def _confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question; tests replace this method."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def batch_dialog(self) -> None:
        files = list(self.batch)
        if not files and self.loaded is not None and self.loaded.source is not None:
            files = [self.loaded.source]
        if not files:
            self.show_error("Open several images or a folder first (a pasted image has no file).")
            return
        choice = self.model_choice()
        if choice is None:
            self.show_error("No model: load a checkpoint first.")
            return
        scale = choice.scale or self._checkpoint_scales.get(choice.name, 0)
        start = self.settings.last_export_dir or str(files[0].parent / "upscaled")
        dlg = BatchExportDialog(
            len(files),
            start,
            self.settings.name_pattern,
            self.settings.export_format,
            scale,
            self,
            target=self.batch_panel.options().target,
        )
        if dlg.exec() != BatchExportDialog.DialogCode.Accepted:
            return
        folder, pattern, fmt, overwrite = dlg.values()
        self.start_batch(files, folder, pattern, fmt, overwrite)

    def start_batch(
        self, files: list[Path], folder: Path, pattern: str, fmt: str, overwrite: bool = False
    ) -> bool:
        """Run the queue: `files` (joined to it if new), one worker job per item.

        `queue_done` tells the end with every item's outcome in one BatchSummary.
        """
        choice = self.model_choice()
        if choice is None:
            self.show_error("No model: load a checkpoint first.")
            return False
        if self._queue is not None:
            self.statusBar().showMessage("The batch is already running.", 4000)
            return False
        if overwrite and folder.is_dir() and any(folder.iterdir()):
            if not self._confirm(
                "Replace files?", f"Files in {folder} with the same names will be replaced. Go on?"
            ):
                return False
        opts = self.batch_panel.options()
        png_level = opts.png_level if fmt == "png" else None
        # The request is checked as the core will check it (a {scale} in the name with
        # a target size, a level for a format without one) before anything is queued.
        from seemore_core.errors import UsageError
        from seemore_core.jobs import UpscaleRequest, check

        try:
            check(
                UpscaleRequest(
                    inputs=list(files) or [folder],
                    output=folder,
                    output_is_folder=True,
                    format=fmt,
                    png_level=png_level,
                    target=opts.target,
                    pattern=pattern,
                )
            )
        except UsageError as e:
            self.show_error(str(e), title="Cannot start the batch")
            return False
        self.settings.name_pattern = pattern
        self.settings.export_format = fmt
        self.settings.last_export_dir = str(folder)
        if png_level is not None:
            self.settings.png_level = png_level
        panel = self.batch_panel
        panel.add_paths(files)
        wanted = {Path(f).resolve() for f in files}
        for i, it in enumerate(panel.items):
            if it.path.resolve() in wanted and it.state != "running":
                panel.set_state(i, "waiting", fraction=0.0)
        self._queue = QueueRun(
            folder,
            pattern,
            fmt,
            choice,
            self.device_combo.currentData() or "auto",
            self.tile_combo.currentData(),
            overwrite,
            png_level,
            opts.target,
        )
        panel.set_running(True)
        self.batch_dock.show()
        self._queue_next()
        return True

    def _queue_next(self) -> None:
        q = self._queue
        if q is None:
            return
        panel = self.batch_panel
        i = None if q.stopping else panel.next_waiting()
        if i is None:
            self._queue = None
            panel.set_running(False)
            self._on_batch_done(0, q.summary)
            self.queue_done.emit(q.summary)
            return
        item = panel.items[i]
        job = BatchJob(
            0,
            [item.path],
            q.folder,
            q.pattern,
            q.format,
            q.model,
            device=q.device,
            tile=q.tile,
            overwrite=q.overwrite,
            progress=Progress(),
            png_level=q.png_level,
            target=q.target,
        )
        q.item_path = item.path
        q.started = time.monotonic()
        panel.set_state(i, "running", fraction=0.0)
        q.job_id = self._submit(job)

    def comparison_choices(self) -> list[ModelChoice]:
        """Every model the grid compares: each bundled variant at each scale, each
        loaded checkpoint whose scale is known."""
        out = [
            ModelChoice("bundled", v, s)
            for v, scales in self._bundled().items()
            for s in sorted(scales)
        ]
        for p in self.settings.checkpoints:
            s = self._checkpoint_scales.get(p)
            if s and Path(p).is_file():
                out.append(ModelChoice("file", p, s))
        return out

    def compare_models(self) -> bool:
        """Upscale the region in view (at most MAX_CROP a side) with every model."""
        if self.loaded is None:
            self.show_error("Open an image first, then zoom to the detail to compare.")
            return False
        if self._compare_jobs:
            self.statusBar().showMessage("A comparison is already running.", 4000)
            return False
        choices = self.comparison_choices()
        if not choices:
            self.show_error("No models to compare yet (the engine is still loading?).")
            return False
        visible = self.view.visible_input_region() or (0, 0, self.loaded.width, self.loaded.height)
        x, y, w, h = region = crop_region(visible)
        crop = np.ascontiguousarray(self.loaded.rgb[y : y + h, x : x + w])
        self.grid_dock.show()
        self.model_grid.start(choices, region)
        for i, choice in enumerate(choices):
            job = UpscaleJob(
                0,
                crop,
                choice,
                device=self.device_combo.currentData() or "auto",
                tile=self.tile_combo.currentData(),
                progress=Progress(),
            )
            self._compare_jobs[self._submit(job)] = i
        self.statusBar().showMessage(f"Comparing {len(choices)} models on {w}x{h} pixels…")
        return True

    def _compare_output(self, out: RunOutput) -> None:
        i = self._compare_jobs[out.job_id]
        seconds = float(out.report.seconds) if out.report is not None else None
        self.bg.submit(
            f"grid:{out.job_id}",
            qimage_from_rgb,
            out.image,
            on_done=lambda q: self.model_grid.set_result(i, q, seconds),
        )

    def _compare_finished(self) -> None:
        # The last picture is converted off the UI thread: wait for it, then tell.
        if self.bg.pending():
            QTimer.singleShot(20, self._compare_finished)
            return
        n = len(self.model_grid.cells)
        self.statusBar().showMessage(f"Compared {n} models on the region in view.", 8000)
        self.compare_done.emit()

    def routing_over_batch(self) -> bool:
        """Route every image of the batch (or the shown image's folder) and show, per
        block, how often each expert was chosen (`seemore_core.routing_stats`)."""
        paths = list(self.batch)
        if not paths and self.loaded is not None and self.loaded.source is not None:
            paths = collect_images([self.loaded.source.parent])
        choice = self.model_choice()
        if len(paths) < 2 or choice is None:
            self.show_error("Routing statistics need a batch: open a folder or several images.")
            return False
        if self._stats is not None:
            return False
        self._stats = StatsRun(choice, paths)
        self.inside.show_panel("routing")
        self._stats_next()
        return True

    def _stats_next(self) -> None:
        st = self._stats
        if st is None:
            return
        i = len(st.names) + len(st.failed)
        if i >= len(st.paths):
            self._stats_finish()
            return
        self.statusBar().showMessage(f"Routing {i + 1}/{len(st.paths)}: {st.paths[i].name}…")

        def decoded(d: Decoded) -> None:
            if self._stats is not st:
                return
            if d.image is None:
                st.failed.append(f"{d.path.name}: {d.error}")
                QTimer.singleShot(0, self._stats_next)
                return
            job = UpscaleJob(
                0,
                d.image.rgb,
                st.model,
                device=self.device_combo.currentData() or "auto",
                tile=self.tile_combo.currentData(),
                progress=Progress(),
            )
            st.job_id = self._submit(job)

        self.bg.submit("stats-open", decode_for_view, st.paths[i], on_done=decoded)

    def _stats_finish(self) -> None:
        from seemore_core.routing_stats import summarise

        st = self._stats
        self._stats = None
        if st is None:
            return
        if len(st.names) < 2:
            self.show_error(
                "Routing statistics need two images that open:\n" + "\n".join(st.failed[:10])
            )
            self.stats_done.emit(False)
            return
        stats = summarise(st.names, st.probs, st.chosen)
        self.inside.routing.set_ranks(st.ranks)
        self.inside.routing.set_stats(stats, st.label)
        note = f" ({len(st.failed)} could not be read)" if st.failed else ""
        self.statusBar().showMessage(f"Routing over {len(st.names)} images{note}.", 8000)
        self.stats_done.emit(True)

    def stop_queue(self) -> None:
        """Stop the batch: the item being upscaled is cancelled, the rest stays waiting."""
        q = self._queue
        if q is None:
            return
        q.stopping = True
        job = self._jobs.get(q.job_id) if q.job_id is not None else None
        if job is not None:
            job.progress.cancel()  # type: ignore[attr-defined]
        self.statusBar().showMessage("Stopping the batch…")

    def _on_queue_item_done(self, summary: BatchSummary) -> None:
        q = self._queue
        if q is None or q.item_path is None:
            return
        panel = self.batch_panel
        i = panel.index_of(q.item_path)
        took = time.monotonic() - q.started
        if i is not None:
            if summary.written:
                panel.set_state(i, "done", seconds=took)
            elif summary.skipped:
                panel.set_state(i, "skipped", summary.skipped[0][1])
            elif summary.failed:
                panel.set_state(i, "failed", summary.failed[0][1])
            else:  # cancelled before it was written: it waits for the next start
                panel.set_state(i, "waiting", fraction=0.0)
        q.summary.written += summary.written
        q.summary.skipped += summary.skipped
        q.summary.failed += summary.failed
        q.summary.cancelled = q.summary.cancelled or summary.cancelled
        q.job_id = None
        q.item_path = None
        QTimer.singleShot(0, self._queue_next)

    def _on_batch_item(self, job_id: int, index: int, line: str) -> None:
        self.statusBar().showMessage(line, 5000)

    def _on_worker_batch_done(self, job_id: int, summary: BatchSummary) -> None:
        q = self._queue
        if q is not None and job_id == q.job_id:
            self._on_queue_item_done(summary)

    def _on_batch_done(self, job_id: int, summary: BatchSummary) -> None:
        parts = [f"{len(summary.written)} written"]
        if summary.skipped:
            parts.append(f"{len(summary.skipped)} skipped (already there)")
        if summary.failed:
            parts.append(f"{len(summary.failed)} failed")
        if summary.cancelled:
            parts.append("cancelled")
        msg = "Batch: " + ", ".join(parts)
        self.statusBar().showMessage(msg)
        if summary.failed:
            details = "\n".join(f"{p.name}: {why}" for p, why in summary.failed[:10])
            self.show_error(f"{msg}.\n\n{details}", title="Batch finished with errors")

    # =================================================================== misc

    def set_compare_mode(self, mode: str) -> None:
        if mode not in ("slider", "side"):
            return
        self.view.set_mode(mode)
        self.settings.compare_mode = mode
        (self.slider_action if mode == "slider" else self.side_action).setChecked(True)
        self._select_data(self.mode_combo, mode)

    def set_before_mode(self, mode: str) -> None:
        if mode not in ("bicubic", "nearest"):
            return
        self.view.set_before_mode(mode)
        self.settings.before_mode = mode
        (self.bicubic_action if mode == "bicubic" else self.nearest_action).setChecked(True)
        self._select_data(self.before_combo, mode)

    def _toggle_preview(self) -> None:
        self.settings.preview_first = self.preview_action.isChecked()

    def _on_hover(self, cx: float, cy: float) -> None:
        if self.loaded is None or cx < 0:
            self.pixel_label.setText("")
            return
        s = self.view.scale
        ox, oy = int(cx), int(cy)
        ix, iy = min(ox // s, self.loaded.width - 1), min(oy // s, self.loaded.height - 1)
        before = self.loaded.rgb[iy, ix]
        text = f"({ox}, {oy}) in {_rgb(before)}"
        if self.result is not None and self.result.image is not None:
            img = self.result.image
            if oy < img.shape[0] and ox < img.shape[1]:
                text += f" · out {_rgb(img[oy, ox])}"
        self.pixel_label.setText(text)

    def show_error(self, message: str, title: str = "seemore") -> None:
        """Tell the user, without blocking: tests and the headless mode go on running."""
        self.errors.append(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda _=0, b=box: self._message_boxes.remove(b) if b in self._message_boxes else None
        )
        self._message_boxes.append(box)
        box.open()

    def about(self) -> AboutDialog:
        dlg = AboutDialog(self.engine_info or {}, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()  # window-modal, without a nested event loop
        return dlg

    def save_settings(self) -> None:
        s = self.settings
        s.geometry = bytes(self.saveGeometry().toBase64()).decode()
        s.window_state = bytes(self.saveState().toBase64()).decode()
        s.feature_point = self.inside.features.selected_point()
        s.feature_colormap = self.inside.features.cmap.currentText()
        self._controls_changed()
        try:
            s.save()
        except OSError as e:
            self.statusBar().showMessage(f"Settings not saved: {e}", 5000)

    def wait_display_idle(self, timeout_ms: int = 30_000) -> bool:
        """Block (running events) until decoding and picture preparation are done."""
        ok = self.bg.wait_idle(timeout_ms)
        ok = self.view.wait_idle(timeout_ms) and ok
        return self.inside.features._bg.wait_idle(timeout_ms) and ok

    def shutdown(self) -> None:
        """Stop the worker thread (after cancelling its jobs); idempotent."""
        if self._thread.isRunning():
            self.cancel()
            self._thread.quit()
            self._thread.wait(60_000)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._first_layout:
            # No saved layout: the image gets most of the width, the inside view about a
            # quarter (enough for its plots; the image is what people came for).
            self._first_layout = False
            width = max(320, min(460, int(self.width() * 0.27)))
            self.resizeDocks([self.inside_dock], [width], Qt.Orientation.Horizontal)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.arrange_toolbars()

    def arrange_toolbars(self) -> None:
        """Two rows of toolbars when one row cannot hold both.

        A toolbar that runs out of room hides its last widgets behind a chevron, and
        Cancel or the compare switches are the last ones: they must stay in sight.
        """
        need = self.controls_bar.sizeHint().width() + self.view_bar.sizeHint().width()
        # The margins and handles around the toolbars take a few pixels more.
        wrap = need + 16 > self.width()
        if wrap != self.toolBarBreak(self.view_bar):
            if wrap:
                self.insertToolBarBreak(self.view_bar)
            else:
                self.removeToolBarBreak(self.view_bar)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.persist:
            self.save_settings()
        self.shutdown()
        super().closeEvent(event)


def _rgb(v: np.ndarray) -> str:
    return "RGB " + " ".join(f"{int(round(float(c) * 255)):3d}" for c in v[:3])


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "—"
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(s), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def make_app_icon() -> QIcon | None:
    p = icon_path()
    return QIcon(str(p)) if p else None


__all__ = ["MainWindow", "make_app_icon", "qimage_to_array"]
