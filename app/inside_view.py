"""The inside view: what the network did for this image, drawn with pyqtgraph.

Two panels, filled from a `RunOutput` after each run:
* routing: the router's probabilities per block as bars (chosen expert marked), the
  depth x expert heat map of the paper's Figure 5, and with per-tile routing a map over
  the image of the expert each tile chose;
* features: the feature map at a chosen block and point, as a grid of channels or one
  channel with a colour map, with values on hover and the feature vector of a clicked
  pixel.
Only numpy arrays and plain records arrive here; nothing in this module computes
anything about the network.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen, QShowEvent, QTransform
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .worker import RoutingRecord, RunOutput

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

# Per-expert colours; an expert keeps its colour in every plot.
EXPERT_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
)
POINTS = ("rme_in", "more_out", "rme_out", "sme_in", "see_out", "sme_out")
COLORMAPS = ("viridis", "inferno", "magma", "plasma", "CET-D1", "CET-L1")
GRID_GAP = 2


def expert_colour(j: int, alpha: int = 255) -> QColor:
    r, g, b = EXPERT_COLOURS[j % len(EXPERT_COLOURS)]
    return QColor(r, g, b, alpha)


def _cell_text(text: str, colour: str) -> QGraphicsSimpleTextItem:
    """A label centred on a point, the same size at any zoom.

    A plain Qt item rather than pyqtgraph's TextItem: with PySide6 6.12, TextItems that
    are removed and re-added around a range change crash the interpreter at exit.
    """
    t = QGraphicsSimpleTextItem(text)
    t.setBrush(QBrush(QColor(colour)))
    t.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
    br = t.boundingRect()
    t.setTransform(QTransform.fromTranslate(-br.width() / 2, -br.height() / 2))
    return t


def _plot() -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setMenuEnabled(False)
    w.hideButtons()
    for ax in ("left", "bottom"):
        w.getAxis(ax).setTextPen("#333")
        w.getAxis(ax).setPen("#888")
    return w


def _titled(title: QLabel, plot: QWidget) -> QWidget:
    """A plot under a Qt label: pyqtgraph's own titles set a minimum width that a
    narrow dock cannot give, and the plot is then cut off instead of shrunk."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    title.setWordWrap(True)
    lay.addWidget(title)
    lay.addWidget(plot, 1)
    return box


class RoutingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[RoutingRecord] = []
        self.tile_routing: object = None
        self.kind = ""
        self._input: np.ndarray | None = None
        self._ranks: list[int] = []
        self._legend_key: tuple[int, tuple[int, ...]] | None = None

        self.header = QLabel("No run yet: upscale an image to see which experts each block chose.")
        self.header.setWordWrap(True)
        self.bars = _plot()
        self.bars.setLabel("left", "probability")
        self.bars.setYRange(0, 1.12, padding=0)
        self.bars.setMouseEnabled(x=False, y=False)
        self.legend = self.bars.addLegend(offset=(-6, 4), colCount=4, labelTextColor="#333")
        self.heat = _plot()
        self.heat.setMouseEnabled(x=False, y=False)
        self.heat.invertY(True)
        self.heat_img = pg.ImageItem()
        self.heat_img.setColorMap(pg.colormap.get("viridis"))
        self.heat.addItem(self.heat_img)
        self.heat_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"), interactive=False, width=10, values=(0, 1)
        )
        self.heat_bar.setImageItem(self.heat_img, insert_in=self.heat.getPlotItem())
        self._heat_extra: list[object] = []

        self.tile_box = QWidget()
        tl = QVBoxLayout(self.tile_box)
        tl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Per-tile routing, block"))
        self.tile_block = QSpinBox()
        self.tile_block.setRange(0, 0)
        self.tile_block.valueChanged.connect(self._draw_tiles)
        row.addWidget(self.tile_block)
        self.tile_legend = QLabel()
        row.addWidget(self.tile_legend, 1)
        tl.addLayout(row)
        self.tile_view = pg.GraphicsLayoutWidget()
        self.tile_view.setBackground("w")
        self.tile_vb = self.tile_view.addViewBox(lockAspect=True, invertY=True)
        self.tile_vb.setMenuEnabled(False)
        self.tile_img = pg.ImageItem()
        self.tile_vb.addItem(self.tile_img)
        self._tile_items: list[object] = []
        tl.addWidget(self.tile_view, 1)
        self.tile_box.setVisible(False)

        # Empty axes before a run would only show meaningless ticks.
        self.plots = split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(_titled(QLabel("Router probabilities per block (▲ chosen)"), self.bars))
        split.addWidget(_titled(QLabel("Depth x expert (probability)"), self.heat))
        split.addWidget(self.tile_box)
        split.setVisible(False)
        self.header.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)

    def set_input(self, rgb: np.ndarray | None) -> None:
        self._input = rgb

    def set_ranks(self, ranks: list[int]) -> None:
        self._ranks = list(ranks)

    def clear(self) -> None:
        self.records = []
        self.tile_routing = None
        self.bars.clear()
        self.legend.clear()
        self._legend_key = None
        self.heat_img.clear()
        for it in self._heat_extra:
            self.heat.removeItem(it)
        self._heat_extra = []
        self.tile_box.setVisible(False)
        self.plots.setVisible(False)
        self.header.setText("No run yet: upscale an image to see which experts each block chose.")

    def set_output(self, out: RunOutput) -> None:
        if not out.routing:
            return
        self.records = out.routing
        self.kind = out.kind
        self.tile_routing = out.tile_routing
        where = (
            "preview: routed on the visible region only" if out.kind == "preview" else "whole image"
        )
        self.header.setText(f"<b>{out.model_label}</b> · {where} · {len(out.routing)} blocks")
        self.plots.setVisible(True)
        self._draw_bars()
        self._draw_heat()
        has_tiles = out.tile_routing is not None and out.kind != "preview"
        self.tile_box.setVisible(has_tiles)
        if has_tiles:
            self.tile_block.setRange(0, max(0, len(out.routing) - 1))
            self._draw_tiles()

    def _expert_name(self, j: int) -> str:
        return f"E{j} (rank {self._ranks[j]})" if j < len(self._ranks) else f"E{j}"

    def _draw_bars(self) -> None:
        self.bars.clear()
        recs = self.records
        n_e = len(recs[0].probs)
        # The legend is slow to build and rarely changes: only when the experts do.
        legend_key = (n_e, tuple(self._ranks))
        new_legend = legend_key != self._legend_key
        if new_legend:
            self.legend.clear()
            self._legend_key = legend_key
        width = 0.8 / n_e
        for j in range(n_e):
            xs = [r.block + (j - (n_e - 1) / 2) * width for r in recs]
            hs = [float(r.probs[j]) for r in recs]
            chosen = [j in r.chosen for r in recs]
            brushes = [expert_colour(j, 255 if c else 90) for c in chosen]
            pens = [pg.mkPen("#111", width=1.5) if c else pg.mkPen(None) for c in chosen]
            bar = pg.BarGraphItem(x=xs, height=hs, width=width * 0.92, brushes=brushes, pens=pens)
            self.bars.addItem(bar)
            if new_legend:
                # A legend entry needs a plot item to sample; a bare thick line does.
                sample = pg.PlotDataItem([], [], pen=pg.mkPen(expert_colour(j), width=6))
                self.legend.addItem(sample, self._expert_name(j))
            mx = [x for x, c in zip(xs, chosen, strict=True) if c]
            my = [h + 0.05 for h, c in zip(hs, chosen, strict=True) if c]
            if mx:
                marks = pg.ScatterPlotItem(
                    mx, my, symbol="t1", size=9, brush=pg.mkBrush("#111"), pen=None
                )
                self.bars.addItem(marks)
        ax = self.bars.getAxis("bottom")
        ax.setTicks([[(r.block, f"B{r.block}") for r in recs]])
        self.bars.setXRange(-0.6, len(recs) - 0.4, padding=0)
        self.bars.setYRange(0, 1.15, padding=0)

    def _draw_heat(self) -> None:
        for it in self._heat_extra:
            self.heat.removeItem(it)
        self._heat_extra = []
        probs = np.stack([r.probs for r in self.records]).astype(np.float32)  # (B, E)
        n_b, n_e = probs.shape
        # Trained routers are often only mildly sure (0.3 vs 0.4): stretch the colours
        # over the values present, and let the colour bar say what they mean.
        lo, hi = float(probs.min()), float(probs.max())
        if hi - lo < 1e-3:
            lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
        self.heat_img.setImage(probs, levels=(lo, hi))
        self.heat_bar.setLevels((lo, hi))
        self.heat_img.setRect(QRectF(-0.5, -0.5, n_e, n_b))
        big = n_b * n_e <= 200  # numbers only where they fit
        for r in self.records:
            for j in range(n_e):
                if big:
                    p = float(r.probs[j])
                    light = (p - lo) / (hi - lo) > 0.6  # viridis is light at the top
                    t = _cell_text(f"{p:.2f}", "black" if light else "white")
                    t.setPos(j, r.block)
                    self.heat.addItem(t)
                    self._heat_extra.append(t)
            for j in r.chosen:
                box = QGraphicsRectItem(QRectF(int(j) - 0.46, r.block - 0.46, 0.92, 0.92))
                box.setPen(pg.mkPen("#ff3030", width=2.5))
                self.heat.addItem(box)
                self._heat_extra.append(box)
        self.heat.getAxis("bottom").setTicks([[(j, self._expert_name(j)) for j in range(n_e)]])
        self.heat.getAxis("left").setTicks([[(b, f"block {b}") for b in range(n_b)]])
        self.heat.setXRange(-0.5, n_e - 0.5, padding=0)
        self.heat.setYRange(-0.5, n_b - 0.5, padding=0)

    def _draw_tiles(self) -> None:
        tr = self.tile_routing
        for it in self._tile_items:
            self.tile_vb.removeItem(it)
        self._tile_items = []
        if tr is None:
            return
        if self._input is not None:
            self.tile_img.setImage((self._input * 255).astype(np.uint8), levels=(0, 255))
        b = self.tile_block.value()
        chosen = np.asarray(tr.chosen)
        used: set[int] = set()
        for (x, y, w, h), row in zip(tr.tiles, chosen, strict=False):
            j = int(row[b]) if b < len(row) else 0
            used.add(j)
            rect = QGraphicsRectItem(QRectF(x, y, w, h))
            rect.setBrush(expert_colour(j, 110))
            rect.setPen(QPen(QColor(255, 255, 255, 160), 0))
            self.tile_vb.addItem(rect)
            self._tile_items.append(rect)
        names = ", ".join(
            f"<span style='color:{expert_colour(j).name()}'>■</span> {self._expert_name(j)}"
            for j in sorted(used)
        )
        self.tile_legend.setText(f"{len(tr.tiles)} tiles: {names}")
        self.tile_vb.autoRange(padding=0.01)


class FeaturePanel(QWidget):
    # point (base or expert_lowrank/j), "view"/"image", block: data for this is needed
    request = Signal(str, str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.features: dict[tuple[int, str], np.ndarray] = {}
        self.region: tuple[int, int, int, int] | None = None  # input px the maps cover
        self.data_point: str | None = None  # the base point the cache holds
        self.data_region_mode = ""
        self._routing: list[RoutingRecord] = []
        self._shown: np.ndarray | None = None  # (C, h, w) on screen
        self._grid_cols = 1
        self._updating = False
        self.last_vector: np.ndarray | None = None  # the clicked pixel's feature vector
        self._dirty = False  # new data not drawn yet (the panel was hidden)

        self.block = QComboBox()
        self.point = QComboBox()
        self.region_mode = QComboBox()
        self.region_mode.addItem("Region in view", "view")
        self.region_mode.addItem("Whole image", "image")
        self.mode = QComboBox()
        self.mode.addItem("Channel grid", "grid")
        self.mode.addItem("One channel", "channel")
        self.channel = QSpinBox()
        self.channel.setPrefix("ch ")
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.refresh = QPushButton("Refresh")
        self.refresh.setToolTip("Compute the maps again for the region now in view")

        # Three short rows rather than two long ones: the dock may be narrow.
        top = QHBoxLayout()
        for label, w in (("Block", self.block), ("Point", self.point)):
            top.addWidget(QLabel(label))
            top.addWidget(w, 1)
        second = QHBoxLayout()
        second.addWidget(self.region_mode, 1)
        second.addWidget(self.mode, 1)
        third = QHBoxLayout()
        for w in (self.channel, self.cmap, self.refresh):
            third.addWidget(w)
        third.addStretch(1)

        self.status = QLabel("Feature maps appear after a run.")
        self.status.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("#202024")
        self.vb = self.view.addViewBox(lockAspect=True, invertY=True)
        self.vb.setMenuEnabled(False)
        self.img = pg.ImageItem()
        self.vb.addItem(self.img)
        self.cbar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"), interactive=False, width=12
        )
        self.cbar.setImageItem(self.img)
        self.view.addItem(self.cbar)
        self.marker = pg.ScatterPlotItem(
            size=10, symbol="+", pen=pg.mkPen("r", width=2), brush=None
        )
        self.vb.addItem(self.marker)
        self.hover = QLabel(" ")
        self.vector = _plot()
        self.vector_title = QLabel("Feature vector at the clicked pixel")
        self.vector.setLabel("bottom", "channel")
        self.vector.setMaximumHeight(170)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(second)
        lay.addLayout(third)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.hover)
        vector_box = _titled(self.vector_title, self.vector)
        vector_box.setMaximumHeight(190)
        lay.addWidget(vector_box)

        self.block.currentIndexChanged.connect(self._block_changed)
        self.point.currentIndexChanged.connect(self._selection_changed)
        self.region_mode.currentIndexChanged.connect(self._selection_changed)
        self.mode.currentIndexChanged.connect(self._redraw)
        self.channel.valueChanged.connect(self._redraw)
        self.cmap.currentTextChanged.connect(self._cmap_changed)
        self.refresh.clicked.connect(self._ask)
        self.view.scene().sigMouseMoved.connect(self._on_move)
        self.view.scene().sigMouseClicked.connect(self._on_click)

    # -------------------------------------------------------------- selection

    def selected_point(self) -> str:
        return self.point.currentData() or "sme_out"

    def selected_block(self) -> int:
        b = self.block.currentData()
        return int(b) if b is not None else 0

    def selected_region_mode(self) -> str:
        return self.region_mode.currentData() or "view"

    def set_point(self, point: str) -> None:
        i = self.point.findData(point)
        if i >= 0:
            self.point.setCurrentIndex(i)

    def set_colormap(self, name: str) -> None:
        if name in COLORMAPS:
            self.cmap.setCurrentText(name)

    def set_structure(self, blocks: int, routing: list[RoutingRecord]) -> None:
        """Fill the block and point choices for a network with `blocks` residual groups."""
        self._routing = routing
        self._updating = True
        keep_b = self.selected_block()
        keep_p = self.point.currentData() or "sme_out"
        self.block.clear()
        for b in range(blocks):
            self.block.addItem(f"block {b}", b)
        self.block.setCurrentIndex(min(keep_b, max(0, blocks - 1)))
        self._fill_points(keep_p)
        self._updating = False

    def _fill_points(self, keep: str) -> None:
        self.point.blockSignals(True)
        self.point.clear()
        for p in POINTS:
            self.point.addItem(p, p)
        b = self.selected_block()
        chosen: set[int] = set()
        for r in self._routing:
            if r.block == b:
                chosen.update(int(j) for j in r.chosen)
        for key in self.features:
            if key[0] == b and key[1].startswith("expert_lowrank/"):
                chosen.add(int(key[1].split("/")[1]))
        for j in sorted(chosen):
            self.point.addItem(f"expert_lowrank/{j}", f"expert_lowrank/{j}")
        i = self.point.findData(keep)
        if i < 0 and keep.startswith("expert_lowrank/") and chosen:
            i = self.point.findData(f"expert_lowrank/{min(chosen)}")
        self.point.setCurrentIndex(max(0, i))
        self.point.blockSignals(False)

    def _block_changed(self) -> None:
        if self._updating:
            return
        self._fill_points(self.point.currentData() or "sme_out")
        self._selection_changed()

    def _selection_changed(self) -> None:
        if self._updating:
            return
        if self._have(self.selected_block(), self.selected_point()):
            self._redraw()
        else:
            self._ask()

    def _have(self, block: int, point: str) -> bool:
        return (
            block,
            point,
        ) in self.features and self.data_region_mode == self.selected_region_mode()

    def _ask(self) -> None:
        if not self._routing:
            return
        self.status.setText("Computing feature maps…")
        self.request.emit(self.selected_point(), self.selected_region_mode(), self.selected_block())

    # -------------------------------------------------------------------- data

    def clear(self) -> None:
        self.features = {}
        self._shown = None
        self.img.clear()
        self.marker.clear()
        self.vector.clear()
        self._dirty = False
        self.status.setText("Feature maps appear after a run.")

    def set_output(self, out: RunOutput, region_mode: str) -> None:
        if out.kind == "preview" or out.feature_point is None:
            return
        if not out.features and out.tile_routing is not None:
            self.clear()
            self.status.setText(
                "Feature maps are not recorded when each tile routes on its own: "
                "turn per-tile routing off and run again to see them."
            )
            return
        self.features = out.features
        self.region = out.feature_region
        self.data_point = out.feature_point
        self.data_region_mode = region_mode
        self._fill_points(self.point.currentData() or "sme_out")
        # Drawing dozens of channel maps takes a while: only when someone looks.
        self._dirty = True
        if self.isVisible():
            self._render()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._dirty:
            self._render()

    def _render(self) -> None:
        self._dirty = False
        self._redraw()
        if self._shown is not None:
            # Something in the vector plot from the start: the centre pixel.
            _, h, w = self._shown.shape
            self.show_vector(w // 2, h // 2)

    def _cmap_changed(self, name: str) -> None:
        cm = pg.colormap.get(name)
        self.img.setColorMap(cm)
        self.cbar.setColorMap(cm)

    def _redraw(self) -> None:
        key = (self.selected_block(), self.selected_point())
        fm = self.features.get(key)
        self.marker.clear()
        if fm is None:
            have = {p for (_, p) in self.features}
            self.status.setText(
                "No map for this choice yet." if not have else "Not in the last run: press Refresh."
            )
            self.img.clear()
            self._shown = None
            return
        self._shown = fm
        c, h, w = fm.shape
        self.channel.setRange(0, c - 1)
        where = (
            "whole image" if self.region is None else "x {} y {} · {}x{} px".format(*self.region)
        )
        self.status.setText(f"block {key[0]} · {key[1]} · {c} channels · {where}")
        if self.mode.currentData() == "channel":
            ch = fm[self.channel.value()]
            lo, hi = float(np.nanmin(ch)), float(np.nanmax(ch))
            self.img.setImage(ch, levels=(lo, hi if hi > lo else lo + 1e-6))
            self.cbar.setLevels((lo, hi if hi > lo else lo + 1e-6))
            self.channel.setEnabled(True)
        else:
            self.img.setImage(self._mosaic(fm), levels=(0.0, 1.0))
            self.cbar.setLevels((0.0, 1.0))
            self.channel.setEnabled(False)
        self.vb.autoRange(padding=0.02)

    def _mosaic(self, fm: np.ndarray) -> np.ndarray:
        """Channels side by side, each stretched to [0, 1] (they differ in range a lot)."""
        c, h, w = fm.shape
        cols = max(1, math.ceil(math.sqrt(c * h / max(w, 1))))
        cols = min(c, cols)
        rows = math.ceil(c / cols)
        self._grid_cols = cols
        g = GRID_GAP
        out = np.full((rows * (h + g) - g, cols * (w + g) - g), np.nan, dtype=np.float32)
        lo = fm.reshape(c, -1).min(axis=1)
        hi = fm.reshape(c, -1).max(axis=1)
        span = np.where(hi > lo, hi - lo, 1.0)
        for i in range(c):
            r, q = divmod(i, cols)
            out[r * (h + g) : r * (h + g) + h, q * (w + g) : q * (w + g) + w] = (
                fm[i] - lo[i]
            ) / span[i]
        return out

    def _locate(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        """Scene point -> (channel or -1, x, y) in map pixels, or None outside."""
        if self._shown is None:
            return None
        p = self.vb.mapSceneToView(scene_pos)
        c, h, w = self._shown.shape
        px, py = int(math.floor(p.x())), int(math.floor(p.y()))
        if self.mode.currentData() == "channel":
            if 0 <= px < w and 0 <= py < h:
                return (self.channel.value(), px, py)
            return None
        g = GRID_GAP
        q, x = divmod(px, w + g)
        r, y = divmod(py, h + g)
        ch = r * self._grid_cols + q
        if px < 0 or py < 0 or x >= w or y >= h or q >= self._grid_cols or ch >= c:
            return None
        return (ch, x, y)

    def _input_xy(self, x: int, y: int) -> tuple[int, int]:
        ox, oy = (self.region[0], self.region[1]) if self.region else (0, 0)
        return (ox + x, oy + y)

    def _on_move(self, scene_pos: QPointF) -> None:
        loc = self._locate(scene_pos)
        if loc is None or self._shown is None:
            self.hover.setText(" ")
            return
        ch, x, y = loc
        ix, iy = self._input_xy(x, y)
        v = float(self._shown[ch, y, x])
        self.hover.setText(f"input pixel ({ix}, {iy}) · channel {ch} · value {v:.4g}")

    def _on_click(self, event: object) -> None:
        loc = self._locate(event.scenePos())  # type: ignore[attr-defined]
        if loc is None or self._shown is None:
            return
        _, x, y = loc
        self.show_vector(x, y)

    def show_vector(self, x: int, y: int) -> None:
        """Plot the feature vector (all channels) at map pixel (x, y)."""
        if self._shown is None:
            return
        vec = self._shown[:, y, x]
        self.vector.clear()
        bars = pg.BarGraphItem(
            x=np.arange(len(vec)), height=vec, width=0.8, brush=pg.mkBrush(60, 110, 200)
        )
        self.vector.addItem(bars)
        ix, iy = self._input_xy(x, y)
        self.vector_title.setText(
            f"Feature vector at input pixel ({ix}, {iy}), block {self.selected_block()}, "
            f"{self.selected_point()}"
        )
        if self.mode.currentData() == "channel":
            self.marker.setData([x + 0.5], [y + 0.5])
        else:
            self.marker.clear()
        self.last_vector = vec


class InsideView(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.routing = RoutingPanel()
        self.features = FeaturePanel()
        self.addTab(self.routing, "Routing")
        self.addTab(self.features, "Features")
        f = QFont(self.font())
        self.setFont(f)

    def show_panel(self, name: str) -> None:
        self.setCurrentWidget(self.features if name == "features" else self.routing)
