"""The inside view: what the network did for this image, drawn with pyqtgraph.

Two panels, filled from a `RunOutput` after each run:
* routing: the router's probabilities per block as bars (chosen expert marked, the
  uniform level 1/E drawn), the depth x expert heat map of the paper's Figure 5 on a
  scale anchored at 0, and with per-tile routing a map over the image of the expert each
  tile chose;
* features: the feature map at a chosen block and point, as a grid of numbered channels
  or one channel with a colour map, with values on hover and the feature vector of a
  clicked pixel (marked in every tile). The maps are recorded on demand: only when this
  panel is on screen, by a second pass of the model.
Only numpy arrays and plain records arrive here; nothing in this module computes
anything about the network. Colouring a channel grid (millions of pixels) runs on a
background thread; the UI thread only hands the finished picture to pyqtgraph.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QShowEvent, QTransform
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
    QStackedLayout,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from seemore_core.names import FEATURE_POINTS

from . import theme
from .background import Background
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
# The feature points one map each (expert_lowrank is per expert, shown elsewhere).
POINTS = tuple(p for p in FEATURE_POINTS if p != "expert_lowrank")
COLORMAPS = ("viridis", "inferno", "magma", "plasma", "CET-D1", "CET-L1")
GRID_GAP = 2
# The heat map is drawn this long after the bars: a zero-delay turn runs before Qt's
# paint pass, and the two plots would then be painted in one long pass.
HEAT_DELAY_MS = 30
# A channel grid larger than this is shown with every n-th map pixel: 64 channels of a
# 1 MP region would be a 64 MP picture, which no screen shows and pyqtgraph would
# colour on the UI thread at every repaint.
GRID_MAX_PIXELS = 2_000_000
BLOCK_TICKS_SPELLED = 6  # up to this many blocks, bar ticks read "block N"

ROUTING_EMPTY = (
    "<b>No run yet.</b><br>Upscale an image (Ctrl+Enter) to see, block by block, how "
    "the router weighs the experts and which one it picks (▲). The dashed line is the "
    "uniform level 1/E: a bar well above it is a confident choice."
)
ROUTING_RUNNING = "<b>Upscaling…</b><br>The routing of this run appears when it ends."
FEATURES_EMPTY = (
    "<b>No feature maps yet.</b><br>Feature maps show what one block of the network "
    "computes, as one small picture per channel.<br><br>Upscale an image first. While "
    "this tab is open the maps are computed for the region in view (a second, quicker "
    "pass: a normal run does not keep them, to save memory)."
)


def expert_colour(j: int, alpha: int = 255) -> QColor:
    r, g, b = EXPERT_COLOURS[j % len(EXPERT_COLOURS)]
    return QColor(r, g, b, alpha)


def _cell_text(text: str, colour: str, centred: bool = True) -> QGraphicsSimpleTextItem:
    """A label on a point (centred, or hanging from it), the same size at any zoom.

    A plain Qt item rather than pyqtgraph's TextItem: with PySide6 6.12, TextItems that
    are removed and re-added around a range change crash the interpreter at exit.
    """
    t = QGraphicsSimpleTextItem(text)
    t.setBrush(QBrush(QColor(colour)))
    t.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
    if centred:
        br = t.boundingRect()
        t.setTransform(QTransform.fromTranslate(-br.width() / 2, -br.height() / 2))
    else:
        t.setTransform(QTransform.fromTranslate(2, 1))
    return t


def _style_plot(w: pg.PlotWidget) -> None:
    c = theme.plot_colours()
    w.setBackground(c.background)
    for ax in ("left", "bottom", "right"):
        axis = w.getPlotItem().getAxis(ax)
        axis.setTextPen(c.text)
        axis.setPen(c.axis)


def _plot() -> pg.PlotWidget:
    w = pg.PlotWidget()
    w.setMenuEnabled(False)
    w.hideButtons()
    _style_plot(w)
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


def _empty_label(html: str) -> QLabel:
    lab = QLabel(html)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setMargin(18)
    lab.setAutoFillBackground(True)  # it covers the plots laid out beneath it
    return lab


class _FollowsPalette(QWidget):
    """A panel whose plots follow the palette: pyqtgraph takes its colours when a plot is
    styled, so a dark/light switch (a palette change event) must restyle them."""

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()

    def _restyle(self) -> None:
        """Give the panel's plots the current theme's colours."""
        raise NotImplementedError


class _Pages(QWidget):
    """An "empty" page over a "content" page, both always laid out.

    A stacked widget would show the plots for the first time when the first result
    arrives, and polishing and laying out pyqtgraph's views then takes tens of
    milliseconds on the UI thread; here that happens at start-up, behind the label.
    """

    def __init__(self, empty: QWidget, content: QWidget) -> None:
        super().__init__()
        self._lay = QStackedLayout(self)
        self._lay.setStackingMode(QStackedLayout.StackingMode.StackAll)
        self._lay.addWidget(content)
        self._lay.addWidget(empty)
        self.empty, self.content = empty, content
        self.setCurrentWidget(empty)

    def setCurrentWidget(self, w: QWidget) -> None:  # noqa: N802 (Qt's name)
        self._current = w
        self._lay.setCurrentWidget(w)
        self.empty.setVisible(w is self.empty)
        w.raise_()

    def currentWidget(self) -> QWidget:  # noqa: N802 (Qt's name)
        return self._current


def nice_ceiling(x: float) -> float:
    """The next 0.05 step above x (axes and colour scales that end on a round value)."""
    return max(0.05, math.ceil(x * 20.0 - 1e-6) / 20.0)


def grid_shape(c: int, h: int, w: int) -> tuple[int, int]:
    """(columns, rows) for c tiles of h x w: the grid near square, with few empty cells.

    36 channels give 6 x 6, not 5 columns and an orphan row.
    """
    best = (math.inf, 1, c)
    for cols in range(1, c + 1):
        rows = math.ceil(c / cols)
        aspect = (cols * w) / max(1, rows * h)
        empty = rows * cols - c
        score = abs(math.log(aspect)) + 2.0 * empty / c
        if score < best[0]:
            best = (score, cols, rows)
    return best[1], best[2]


@dataclass
class GridPicture:
    """A coloured channel grid (or one channel), ready for the screen."""

    rgba: np.ndarray  # (H, W, 4) uint8; gaps transparent
    cols: int
    rows: int
    stride: int  # every stride-th map pixel is shown
    tile_w: int  # shown pixels per tile
    tile_h: int
    levels: tuple[float, float]  # the colour scale's ends, in feature values
    per_channel: bool  # each tile stretched to its own min..max


def render_grid(
    fm: np.ndarray, lut: np.ndarray, per_channel: bool, channel: int | None = None
) -> GridPicture:
    """Colour the maps (C, h, w) through `lut` (256, 3): all channels as a grid, or one.

    Runs on a background thread. Per-channel: each tile from its own min (first colour)
    to max (last colour); shared: one scale from the grid's min to max.
    """
    if channel is not None:
        fm = fm[channel : channel + 1]
    c, h, w = fm.shape
    stride = max(1, math.ceil(math.sqrt(c * h * w / GRID_MAX_PIXELS)))
    small = fm[:, ::stride, ::stride].astype(np.float32, copy=False)
    th, tw = small.shape[1:]
    cols, rows = (1, 1) if c == 1 else grid_shape(c, th, tw)
    flat = small.reshape(c, -1)
    finite = np.isfinite(flat)
    lo = np.where(finite, flat, np.inf).min(axis=1)
    hi = np.where(finite, flat, -np.inf).max(axis=1)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    if per_channel:
        levels = (0.0, 1.0)
        span = np.where(hi > lo, hi - lo, 1.0)
        norm = (small - lo[:, None, None]) / span[:, None, None]
    else:
        g_lo, g_hi = float(lo.min()), float(hi.max())
        levels = (g_lo, g_hi if g_hi > g_lo else g_lo + 1e-6)
        norm = (small - levels[0]) / (levels[1] - levels[0])
    idx = np.clip(np.nan_to_num(norm, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    g = GRID_GAP if c > 1 else 0
    out = np.zeros((rows * (th + g) - g, cols * (tw + g) - g, 4), dtype=np.uint8)
    for i in range(c):
        r, q = divmod(i, cols)
        tile = out[r * (th + g) : r * (th + g) + th, q * (tw + g) : q * (tw + g) + tw]
        tile[..., :3] = lut[idx[i]]
        tile[..., 3] = 255
    return GridPicture(out, cols, rows, stride, tw, th, levels, per_channel)


class _CellOverlay(pg.GraphicsObject):
    """Numbers and chosen-expert boxes over the heat map, painted as one item.

    One item instead of one per cell: adding and removing dozens of items to a pyqtgraph
    plot costs tens of milliseconds on the UI thread at every run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[float, float, str, QColor]] = []
        self.boxes: list[tuple[float, float]] = []
        self._rect = QRectF()

    def set_cells(
        self,
        cells: list[tuple[float, float, str, QColor]],
        boxes: list[tuple[float, float]],
        rect: QRectF,
    ) -> None:
        self.prepareGeometryChange()
        self.cells, self.boxes, self._rect = cells, boxes, rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._rect

    def paint(self, p: QPainter, *args: object) -> None:
        pen = QPen(QColor("#ff3030"), 2.5)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for x, y in self.boxes:
            p.drawRect(QRectF(x - 0.46, y - 0.46, 0.92, 0.92))
        # Text at a fixed pixel size: drawn in device coordinates at the mapped centre.
        tr = p.transform()
        p.resetTransform()
        for x, y, text, colour in self.cells:
            c = tr.map(QPointF(x, y))
            p.setPen(colour)
            p.drawText(QRectF(c.x() - 40, c.y() - 10, 80, 20), Qt.AlignmentFlag.AlignCenter, text)
        p.setTransform(tr)


def _top_record(block: int, values: list[float]) -> RoutingRecord:
    """A per-block vector (mean probabilities, shares) drawn like one run's routing."""
    v = np.asarray(values, np.float32)
    return RoutingRecord(block, v, np.array([int(v.argmax())]), v[[int(v.argmax())]])


class RoutingPanel(_FollowsPalette):
    stats_requested = Signal()  # "routing statistics over the batch, please"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[RoutingRecord] = []
        self.tile_routing: object = None
        self.kind = ""
        self.stale = False
        self._input: np.ndarray | None = None
        self._ranks: list[int] = []
        self._model_label = ""

        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.empty = _empty_label(ROUTING_EMPTY)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)  # wraps in a narrow dock instead of covering the axis
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars = _plot()
        self.bars.setLabel("left", "probability")
        self.bars.setMouseEnabled(x=False, y=False)
        self.uniform = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen("#888", width=1, style=Qt.PenStyle.DashLine)
        )
        self.heat = _plot()
        self.heat.setMouseEnabled(x=False, y=False)
        self.heat.invertY(True)
        self.heat_img = pg.ImageItem()
        self.heat_img.setColorMap(pg.colormap.get("viridis"))
        self.heat.addItem(self.heat_img)
        self.heat_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"),
            interactive=False,
            width=10,
            values=(0, 1),
        )
        self.heat_bar.setImageItem(self.heat_img, insert_in=self.heat.getPlotItem())
        self.heat_levels = (0.0, 1.0)
        self.heat_cells = _CellOverlay()
        self.heat.addItem(self.heat_cells)
        # The bar plot's items, made once per number of experts and then updated in
        # place (re-creating them costs more than drawing them).
        self._bar_items: list[pg.BarGraphItem] = []
        self._bar_marks = pg.ScatterPlotItem(symbol="t1", size=9, pen=None)
        self.bars.addItem(self._bar_marks)
        self.bars.addItem(self.uniform)
        # Plain numbers: pyqtgraph would otherwise rescale 0.3 to "300 (x0.001)".
        self.bars.getAxis("left").enableAutoSIPrefix(False)
        self.heat_bar.axis.enableAutoSIPrefix(False)
        # Room above the plot for the colour bar's top label.
        self.heat.getPlotItem().setContentsMargins(0, 8, 0, 0)

        self.tile_box = QWidget()
        tl = QVBoxLayout(self.tile_box)
        tl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Per-tile routing at"))
        self.tile_block = QSpinBox()
        self.tile_block.setPrefix("block ")
        self.tile_block.setRange(0, 0)
        self.tile_block.valueChanged.connect(self._draw_tiles)
        row.addWidget(self.tile_block)
        self.tile_legend = QLabel()
        self.tile_legend.setWordWrap(True)
        row.addWidget(self.tile_legend, 1)
        tl.addLayout(row)
        self.tile_view = pg.GraphicsLayoutWidget()
        self.tile_vb = self.tile_view.addViewBox(lockAspect=True, invertY=True)
        self.tile_vb.setMenuEnabled(False)
        self.tile_img = pg.ImageItem()
        self.tile_vb.addItem(self.tile_img)
        self._tile_items: list[object] = []
        tl.addWidget(self.tile_view, 1)
        self.tile_box.setVisible(False)

        bars_box = QWidget()
        bl = QVBoxLayout(bars_box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(2)
        self.bars_title = QLabel("Router probability per block (▲ chosen)")
        self.heat_title = QLabel("Depth x expert (probability, from 0)")
        bl.addWidget(_titled(self.bars_title, self.bars), 1)
        bl.addWidget(self.legend)
        self.plots = split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(bars_box)
        split.addWidget(_titled(self.heat_title, self.heat))
        split.addWidget(self.tile_box)
        # Empty axes before a run would only show meaningless ticks: a page that says
        # what will appear instead.
        self.stack = _Pages(self.empty, split)
        self.header.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.over_batch = QPushButton("Over the batch…")
        self.over_batch.setToolTip(
            "Route every image of the batch and show, per block, how often each expert was"
            " chosen: a property of the model, not of one image (the paper's Figure 5)"
        )
        self.over_batch.clicked.connect(self.stats_requested.emit)
        head = QHBoxLayout()
        head.addWidget(self.header, 1)
        head.addWidget(self.over_batch, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(head)
        lay.addWidget(self.stack, 1)
        self.stats: object = None  # seemore_core.routing_stats.RoutingStats when shown
        self._restyle()
        self._show_state()

    # --------------------------------------------------------------- states

    def set_input(self, rgb: np.ndarray | None) -> None:
        self._input = rgb

    def set_ranks(self, ranks: list[int]) -> None:
        self._ranks = list(ranks)

    def has_data(self) -> bool:
        return bool(self.records)

    def set_running(self, running: bool) -> None:
        """A run started (the routing shown, if any, is now the previous run's) or ended."""
        self.stale = running and self.has_data()
        self._running = running
        self._show_state()

    def _show_state(self) -> None:
        running = getattr(self, "_running", False)
        if not self.records:
            self.stack.setCurrentWidget(self.empty)
            self.empty.setText(ROUTING_RUNNING if running else ROUTING_EMPTY)
            self.header.setText("")
            self.header.setVisible(False)
            return
        self.stack.setCurrentWidget(self.plots)
        self.header.setVisible(True)
        where = (
            "preview: routed on the visible region only"
            if self.kind == "preview"
            else "whole image"
        )
        text = f"<b>{self._model_label}</b> · {where} · {len(self.records)} blocks"
        if self.stats is not None:
            st = self.stats
            ent = ", ".join(f"{b.entropy:.2f}" for b in st.blocks)  # type: ignore[attr-defined]
            text = (
                f"<b>{self._model_label}</b> · over {len(st.images)} images "  # type: ignore[attr-defined]
                f"· choice entropy per block (0 always the same expert, 1 evenly spread): {ent}"
            )
        if self.stale:
            text = f"<i>Previous run</i> (upscaling…) · {text}"
        self.header.setText(text)

    def clear(self) -> None:
        self.records = []
        self.tile_routing = None
        self.stale = False
        for it in self._bar_items:
            self.bars.removeItem(it)
        self._bar_items = []
        self._bar_marks.clear()
        self.legend.setText("")
        self.heat_img.clear()
        self.heat_cells.set_cells([], [], QRectF())
        self.tile_box.setVisible(False)
        self._show_state()

    def set_stats(self, stats: object, model_label: str) -> None:
        """Routing over many images (a `RoutingStats`): mean probabilities as bars, the
        share of images choosing each expert as the heat map, entropy in the header."""
        blocks = stats.blocks  # type: ignore[attr-defined]
        self.stats = stats
        self.records = [_top_record(b.block, b.mean_probs) for b in blocks]
        self.kind = "stats"
        self.tile_routing = None
        self.tile_box.setVisible(False)
        self._model_label = model_label
        self.stale = False
        self.bars_title.setText("Mean router probability per block (▲ highest)")
        self.heat_title.setText("Share of images choosing each expert (from 0)")
        self._show_state()
        self._draw_bars()
        shares = [_top_record(b.block, b.share) for b in blocks]
        self._draw_heat(shares, label="share")

    def set_output(
        self, out: RunOutput, spread: bool = False, then: Callable[[], None] | None = None
    ) -> None:
        """Show a run's routing; with `spread`, the heat map a paint pass later, so that
        no single step (or paint) holds the UI thread for long. `then` is called once
        the heat map is drawn (or passed over for newer routing)."""
        if not out.routing:
            if then is not None:
                then()
            return
        self.stats = None
        self.bars_title.setText("Router probability per block (▲ chosen)")
        self.heat_title.setText("Depth x expert (probability, from 0)")
        self.records = out.routing
        self.kind = out.kind
        self.tile_routing = out.tile_routing
        self._model_label = out.model_label
        self.stale = False
        self._show_state()
        self._draw_bars()
        if spread:
            recs = self.records

            def heat() -> None:
                if self.records is recs:
                    self._draw_heat()
                if then is not None:
                    then()

            # Far enough on that the bars are painted in a pass of their own first.
            QTimer.singleShot(HEAT_DELAY_MS, heat)
        else:
            self._draw_heat()
            if then is not None:
                then()
        has_tiles = out.tile_routing is not None and out.kind != "preview"
        self.tile_box.setVisible(has_tiles)
        if has_tiles:
            self.tile_block.setRange(0, max(0, len(out.routing) - 1))
            self._draw_tiles()

    def _restyle(self) -> None:
        c = theme.plot_colours()
        for w in (self.bars, self.heat):
            _style_plot(w)
        self.tile_view.setBackground(c.background)
        self.uniform.setPen(pg.mkPen(c.axis, width=1, style=Qt.PenStyle.DashLine))
        self.heat_bar.axis.setTextPen(c.text)
        self.heat_bar.axis.setPen(c.axis)
        if self.records:
            self._draw_bars()

    # --------------------------------------------------------------- drawing

    def _expert_name(self, j: int) -> str:
        return f"E{j} (rank {self._ranks[j]})" if j < len(self._ranks) else f"E{j}"

    def _block_ticks(self, blocks: list[int]) -> list[tuple[int, str]]:
        if len(blocks) <= BLOCK_TICKS_SPELLED:
            return [(b, f"block {b}") for b in blocks]
        return [(b, str(b)) for b in blocks]

    def _draw_bars(self) -> None:
        c = theme.plot_colours()
        recs = self.records
        n_e = len(recs[0].probs)
        if len(self._bar_items) != n_e:
            for it in self._bar_items:
                self.bars.removeItem(it)
            self._bar_items = [pg.BarGraphItem(x=[], height=[], width=0.1) for _ in range(n_e)]
            for it in self._bar_items:
                self.bars.addItem(it)
        width = 0.8 / n_e
        top = max(float(np.max([r.probs.max() for r in recs])), 1.0 / n_e)
        # The axis fits the data (routers are often only mildly sure: 0.28 against 0.43
        # on a 0-1 axis looks flat), with headroom for the ▲ marks.
        y_max = nice_ceiling(top * 1.15)
        mx: list[float] = []
        my: list[float] = []
        for j, item in enumerate(self._bar_items):
            xs = [r.block + (j - (n_e - 1) / 2) * width for r in recs]
            hs = [float(r.probs[j]) for r in recs]
            chosen = [j in r.chosen for r in recs]
            brushes = [expert_colour(j, 255 if ch else 90) for ch in chosen]
            pens = [pg.mkPen(c.mark, width=1.5) if ch else pg.mkPen(None) for ch in chosen]
            item.setOpts(x=xs, height=hs, width=width * 0.92, brushes=brushes, pens=pens)
            mx += [x for x, ch in zip(xs, chosen, strict=True) if ch]
            my += [h + 0.03 * y_max for h, ch in zip(hs, chosen, strict=True) if ch]
        self._bar_marks.setData(mx, my, brush=pg.mkBrush(c.mark))
        u = 1.0 / n_e
        self.uniform.setValue(u)
        self.bars.getAxis("bottom").setTicks([self._block_ticks([r.block for r in recs])])
        self.bars.setLabel("bottom", "" if len(recs) <= BLOCK_TICKS_SPELLED else "block")
        self.bars.setXRange(-0.6, len(recs) - 0.4, padding=0)
        self.bars.setYRange(0, y_max, padding=0)
        self.bar_range = (0.0, y_max)
        # The legend under the plot, never over the bars; the dashed line is in it.
        self.legend.setText(
            " ".join(
                f"<span style='color:{expert_colour(j).name()}'>■</span>&nbsp;"
                f"{self._expert_name(j)}"
                for j in range(n_e)
            )
            + f" &nbsp;<span style='color:{c.axis}'>╌╌</span>&nbsp;uniform 1/E = {u:.2f}"
        )

    def _draw_heat(
        self, records: list[RoutingRecord] | None = None, label: str = "probability"
    ) -> None:
        records = self.records if records is None else records
        self.heat_bar.axis.setLabel(label)
        probs = np.stack([r.probs for r in records]).astype(np.float32)  # (B, E)
        n_b, n_e = probs.shape
        u = 1.0 / n_e
        # Anchored at 0, so colours compare like the numbers do (a min-max stretch turns
        # 0.30 against 0.33 into dark against bright); up to a round value over the max.
        hi = nice_ceiling(max(float(probs.max()), 1.5 * u))
        lo = 0.0
        self.heat_levels = (lo, hi)
        self.heat_img.setImage(probs, levels=(lo, hi))
        self.heat_bar.setLevels((lo, hi))
        self.heat_bar.axis.setTicks([[(lo, "0"), (u, "1/E"), (hi, f"{hi:.2f}")], []])
        rect = QRectF(-0.5, -0.5, n_e, n_b)
        self.heat_img.setRect(rect)
        big = n_b * n_e <= 200  # numbers only where they fit
        cells: list[tuple[float, float, str, QColor]] = []
        boxes: list[tuple[float, float]] = []
        black, white = QColor("black"), QColor("white")
        for r in records:
            if big:
                for j in range(n_e):
                    p = float(r.probs[j])
                    light = (p - lo) / (hi - lo) > 0.6  # viridis is light at the top
                    cells.append((j, r.block, f"{p:.2f}", black if light else white))
            boxes += [(int(j), r.block) for j in r.chosen]
        self.heat_cells.set_cells(cells, boxes, rect)
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


class FeaturePanel(_FollowsPalette):
    # point (base or expert_lowrank/j), "view"/"image", block: data for this is needed
    request = Signal(str, str, int)
    drawn = Signal()  # a picture (grid or channel) reached the screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.features: dict[tuple[int, str], np.ndarray] = {}
        self.region: tuple[int, int, int, int] | None = None  # input px the maps cover
        self.data_point: str | None = None  # the base point the cache holds
        self.data_region_mode = ""
        self._routing: list[RoutingRecord] = []
        self._shown: np.ndarray | None = None  # (C, h, w) on screen, full resolution
        self.grid: GridPicture | None = None  # what the picture on screen is made of
        self._updating = False
        self._running = False
        self._asked = False  # a request is out, its answer not in yet
        self.last_vector: np.ndarray | None = None  # the clicked pixel's feature vector
        self.marked: tuple[int, int] | None = None  # the clicked map pixel (x, y)
        self._dirty = False  # new data not drawn yet (the panel was hidden)
        self._bg = Background(self)
        self._labels: list[QGraphicsSimpleTextItem] = []

        self.block = QComboBox()
        self.point = QComboBox()
        self.region_mode = QComboBox()
        self.region_mode.addItem("Region in view", "view")
        self.region_mode.addItem("Whole image", "image")
        self.mode = QComboBox()
        self.mode.addItem("Channel grid", "grid")
        self.mode.addItem("One channel", "channel")
        self.scale_mode = QComboBox()
        self.scale_mode.addItem("Colours per channel", "channel")
        self.scale_mode.addItem("One shared scale", "shared")
        self.scale_mode.setToolTip(
            "Per channel: each tile from its own min to max (shapes show, values do not"
            " compare across tiles). Shared: one scale, values compare."
        )
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.refresh = QPushButton("Refresh")
        self.refresh.setToolTip("Compute the maps again for the region now in view")

        # Short rows rather than long ones: the dock may be narrow.
        top = QHBoxLayout()
        for label, w in (("Block", self.block), ("Point", self.point)):
            top.addWidget(QLabel(label))
            top.addWidget(w, 1)
        second = QHBoxLayout()
        second.addWidget(self.region_mode, 1)
        second.addWidget(self.mode, 1)
        third = QHBoxLayout()
        for w in (self.channel, self.scale_mode, self.cmap, self.refresh):
            third.addWidget(w)
        third.addStretch(1)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        self.vb = self.view.addViewBox(lockAspect=True, invertY=True)
        self.vb.setMenuEnabled(False)
        self.img = pg.ImageItem()
        self.vb.addItem(self.img)
        # Not linked to the image: the picture arrives already coloured, and the bar
        # states the scale that colouring used.
        self.cbar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"), interactive=False, width=12, values=(0, 1)
        )
        self.view.addItem(self.cbar)
        self.marker = pg.ScatterPlotItem(
            size=9, symbol="+", pen=pg.mkPen("#ff3030", width=2), brush=None
        )
        self.marker.setZValue(10)
        self.vb.addItem(self.marker)
        self.hover = QLabel(" ")
        self.vector = _plot()
        self.vector_title = QLabel("Feature vector at the clicked pixel")
        self.vector.setLabel("bottom", "channel")
        self.vector.setLabel("left", "value")
        self.vector.getAxis("left").enableAutoSIPrefix(False)
        self.cbar.axis.enableAutoSIPrefix(False)
        self.vector.setMaximumHeight(170)

        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(second)
        lay.addLayout(third)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.hover)
        vector_box = _titled(self.vector_title, self.vector)
        vector_box.setMaximumHeight(190)
        lay.addWidget(vector_box)
        self.content = content
        self.empty = _empty_label(FEATURES_EMPTY)
        self.stack = _Pages(self.empty, content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.stack)

        self.block.currentIndexChanged.connect(self._block_changed)
        self.point.currentIndexChanged.connect(self._selection_changed)
        self.region_mode.currentIndexChanged.connect(self._selection_changed)
        self.mode.currentIndexChanged.connect(self._redraw)
        self.scale_mode.currentIndexChanged.connect(self._redraw)
        self.channel.valueChanged.connect(self._redraw)
        self.cmap.currentTextChanged.connect(self._cmap_changed)
        self.refresh.clicked.connect(self._ask)
        self.view.scene().sigMouseMoved.connect(self._on_move)
        self.view.scene().sigMouseClicked.connect(self._on_click)
        self._restyle()

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
        elif self.point.count() == 0:
            # Before the first run the list is empty; keep the wish for set_structure.
            self.point.addItem(point, point)

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
        self.stack.setCurrentWidget(self.content)
        if not self.features and not self._asked:
            self.status.setText(
                "Maps not computed yet: they are computed when this tab is open (or press Refresh)."
            )

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

    def ask_if_missing(self) -> bool:
        """Request the maps of the current choice unless they are here or on their way."""
        if self._asked or not self._routing:
            return False
        if self._have(self.selected_block(), self.selected_point()):
            return False
        self._ask()
        return True

    def _ask(self) -> None:
        if not self._routing:
            return
        self._asked = True
        self.status.setText(
            f"Computing feature maps (block {self.selected_block()}, {self.selected_point()})…"
        )
        self.request.emit(self.selected_point(), self.selected_region_mode(), self.selected_block())

    def set_running(self, running: bool) -> None:
        self._running = running
        if running and self.features:
            self.status.setText("Upscaling… the maps shown are from the previous run.")
        elif running:
            self.empty.setText("<b>Upscaling…</b><br>" + FEATURES_EMPTY.split("<br>", 1)[1])

    # -------------------------------------------------------------------- data

    def clear(self) -> None:
        self.features = {}
        self._shown = None
        self.grid = None
        self._asked = False
        self._routing = []
        self._bg.cancel("grid")
        self.img.clear()
        self.marker.clear()
        self._clear_labels()
        self.vector.clear()
        self._dirty = False
        self.marked = None
        self.empty.setText(FEATURES_EMPTY)
        self.stack.setCurrentWidget(self.empty)
        self.status.setText("")

    def set_output(self, out: RunOutput, region_mode: str) -> None:
        if out.kind == "preview" or out.feature_point is None:
            return
        self._asked = False
        self.stack.setCurrentWidget(self.content)
        if not out.features and out.tile_routing is not None:
            self.features = {}
            self._shown = None
            self.img.clear()
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

    def _restyle(self) -> None:
        c = theme.plot_colours()
        _style_plot(self.vector)
        self.view.setBackground(c.background)
        self.cbar.axis.setTextPen(c.text)
        self.cbar.axis.setPen(c.axis)
        for t in self._labels:
            t.setBrush(QBrush(QColor(c.text)))

    def _render(self) -> None:
        self._dirty = False
        self._redraw()
        if self._shown is not None:
            # Something in the vector plot from the start: the centre pixel.
            _, h, w = self._shown.shape
            self.show_vector(w // 2, h // 2)

    def _cmap_changed(self, name: str) -> None:
        self.cbar.setColorMap(pg.colormap.get(name))
        self._redraw()

    def _redraw(self) -> None:
        key = (self.selected_block(), self.selected_point())
        fm = self.features.get(key)
        if fm is None:
            have = {p for (_, p) in self.features}
            if not self._asked:
                self.status.setText(
                    "No map for this choice yet: press Refresh."
                    if not have
                    else "Not in the last run: press Refresh."
                )
            self.img.clear()
            self.marker.clear()
            self._clear_labels()
            self._shown = None
            self.grid = None
            return
        self._shown = fm
        c, h, w = fm.shape
        self.channel.setRange(0, c - 1)
        one = self.mode.currentData() == "channel"
        self.channel.setEnabled(one)
        self.scale_mode.setEnabled(not one)
        per_channel = not one and self.scale_mode.currentData() == "channel"
        lut = pg.colormap.get(self.cmap.currentText()).getLookupTable(0.0, 1.0, 256, alpha=False)
        where = (
            "whole image" if self.region is None else "x {} y {} · {}x{} px".format(*self.region)
        )
        text = f"block {key[0]} · {key[1]} · {c} channels · {where}"
        self.status.setText(text + " · drawing…")
        self._bg.submit(
            "grid",
            render_grid,
            fm,
            np.asarray(lut, dtype=np.uint8),
            per_channel,
            self.channel.value() if one else None,
            on_done=lambda pic: self._show_grid(fm, pic, text),
        )

    def _show_grid(self, fm: np.ndarray, pic: GridPicture, text: str) -> None:
        if fm is not self._shown:
            return
        self.grid = pic
        self.img.setImage(pic.rgba, levels=(0, 255), autoLevels=False)
        lo, hi = pic.levels
        self.cbar.setLevels((lo, hi))
        if pic.per_channel:
            # Each tile has its own range: the bar can only say where min and max are.
            self.cbar.axis.setTicks([[(0.0, "min"), (1.0, "max")], []])
            self.cbar.axis.setLabel("each tile: own min → max")
        else:
            self.cbar.axis.setTicks(None)
            self.cbar.axis.setLabel("value")
        extra = f" · every {pic.stride}th pixel shown" if pic.stride > 1 else ""
        self.status.setText(text + extra)
        self._draw_labels(pic, fm.shape[0])
        self._draw_marker()
        self.vb.autoRange(padding=0.02)
        self.drawn.emit()

    def _clear_labels(self) -> None:
        for t in self._labels:
            self.vb.removeItem(t)
        self._labels = []

    def _draw_labels(self, pic: GridPicture, channels: int) -> None:
        """Channel numbers in the top-left corner of each tile."""
        self._clear_labels()
        if self.mode.currentData() == "channel":
            return
        g = GRID_GAP
        colour = theme.plot_colours().text
        for i in range(channels):
            r, q = divmod(i, pic.cols)
            t = _cell_text(str(i), colour, centred=False)
            t.setPos(q * (pic.tile_w + g), r * (pic.tile_h + g))
            t.setZValue(5)
            self.vb.addItem(t)
            self._labels.append(t)

    def _tile_origin(self, ch: int) -> tuple[int, int]:
        pic = self.grid
        if pic is None or self.mode.currentData() == "channel":
            return (0, 0)
        g = GRID_GAP
        r, q = divmod(ch, pic.cols)
        return (q * (pic.tile_w + g), r * (pic.tile_h + g))

    def _draw_marker(self) -> None:
        """The clicked pixel, marked in every tile of the grid (or on the one channel)."""
        pic = self.grid
        if self.marked is None or pic is None or self._shown is None:
            self.marker.clear()
            return
        x, y = self.marked
        sx, sy = (x // pic.stride) + 0.5, (y // pic.stride) + 0.5
        n = 1 if self.mode.currentData() == "channel" else self._shown.shape[0]
        pts = [self._tile_origin(i) for i in range(n)]
        self.marker.setData([ox + sx for ox, _ in pts], [oy + sy for _, oy in pts])

    def _locate(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        """Scene point -> (channel, x, y) in full-resolution map pixels, or None outside."""
        pic = self.grid
        if self._shown is None or pic is None:
            return None
        p = self.vb.mapSceneToView(scene_pos)
        c, h, w = self._shown.shape
        px, py = int(math.floor(p.x())), int(math.floor(p.y()))
        if px < 0 or py < 0:
            return None
        if self.mode.currentData() == "channel":
            ch, x, y = self.channel.value(), px, py
        else:
            g = GRID_GAP
            q, x = divmod(px, pic.tile_w + g)
            r, y = divmod(py, pic.tile_h + g)
            ch = r * pic.cols + q
            if q >= pic.cols or ch >= c:
                return None
        if x >= pic.tile_w or y >= pic.tile_h:
            return None
        x, y = min(w - 1, x * pic.stride), min(h - 1, y * pic.stride)
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
        """Plot the feature vector (all channels) at map pixel (x, y) and mark the pixel."""
        if self._shown is None:
            return
        vec = self._shown[:, y, x]
        self.vector.clear()
        bars = pg.BarGraphItem(
            x=np.arange(len(vec)), height=vec, width=0.8, brush=pg.mkBrush(60, 110, 200)
        )
        self.vector.addItem(bars)
        self.vector.setXRange(-0.6, len(vec) - 0.4, padding=0)
        ix, iy = self._input_xy(x, y)
        self.vector_title.setText(
            f"Feature vector at input pixel ({ix}, {iy}), block {self.selected_block()}, "
            f"{self.selected_point()}"
        )
        self.marked = (x, y)
        self._draw_marker()
        self.last_vector = vec


class InsideView(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.routing = RoutingPanel()
        self.features = FeaturePanel()
        self.addTab(self.routing, "Routing")
        self.addTab(self.features, "Features")

    def show_panel(self, name: str) -> None:
        self.setCurrentWidget(self.features if name == "features" else self.routing)

    def set_running(self, running: bool) -> None:
        self.routing.set_running(running)
        self.features.set_running(running)
