"""Widgets on their own: the compare view's geometry, the inside-view panels, naming."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from seemore_app.compare_view import CompareView
from seemore_app.inside_view import (
    GRID_MAX_PIXELS,
    FeaturePanel,
    RoutingPanel,
    grid_shape,
    render_grid,
)
from seemore_app.worker import RoutingRecord, RunOutput, output_name


def _rand(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (h, w, 3)) / 255.0).astype(np.float32)


def _grab(view: CompareView) -> np.ndarray:
    from seemore_app.mainwindow import qimage_to_array

    return qimage_to_array(view.grab().toImage())[:, :, :3]


@pytest.fixture
def view(qtbot) -> CompareView:
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(400, 240)
    v.show()
    qtbot.waitExposed(v)
    return v


@pytest.mark.parametrize("zoom", [1.0, 2.0])
def test_side_by_side_is_pixel_exact(view: CompareView, zoom: float) -> None:
    lr, sr = _rand(24, 32, 0), _rand(48, 64, 1)
    view.set_input(lr, 2)
    view.set_result(sr, 2, "After")
    view.set_mode("side")
    view.set_before_mode("nearest")
    view.set_zoom(zoom)
    shot = _grab(view)
    left, right = view._panes()
    off = view._offset()
    ox, oy = int(off.x()), int(off.y())
    z = int(zoom)
    u8 = (sr * 255 + 0.5).astype(np.uint8)
    # Every output pixel repeated z x z times, nothing blended.
    after = shot[oy : oy + 48 * z, right.left() + ox : right.left() + ox + 64 * z]
    np.testing.assert_array_equal(after, np.repeat(np.repeat(u8, z, 0), z, 1))
    lr8 = (lr * 255 + 0.5).astype(np.uint8)
    before = shot[oy : oy + 48 * z, left.left() + ox : left.left() + ox + 64 * z]
    np.testing.assert_array_equal(before, np.repeat(np.repeat(lr8, 2 * z, 0), 2 * z, 1))


def test_slider_shows_before_left_and_after_right(view: CompareView) -> None:
    lr = np.zeros((24, 32, 3), np.float32)
    sr = np.ones((48, 64, 3), np.float32)
    view.set_input(lr, 2)
    view.set_result(sr, 2, "After")
    view.set_zoom(8.0)
    shot = _grab(view)
    x = int(view.divider * view.width())
    assert shot[200, x - 20].max() == 0 and shot[200, x + 20].min() == 255
    # Drag the divider to the left quarter.
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(x, 120))
    QTest.mouseMove(view, QPoint(100, 120))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 120))
    assert view.divider == pytest.approx(0.25, abs=0.01)


def test_wheel_zoom_keeps_the_point_under_the_cursor(view: CompareView) -> None:
    view.set_input(_rand(120, 160, 2), 2)
    view.set_zoom(2.0)
    anchor = QPointF(150, 100)
    before = view._to_canvas(anchor)
    ev = QWheelEvent(
        anchor,
        view.mapToGlobal(anchor),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    view.wheelEvent(ev)
    assert view.zoom == pytest.approx(2.5)
    after = view._to_canvas(anchor)
    assert abs(after.x() - before.x()) < 1.0 and abs(after.y() - before.y()) < 1.0
    x, y, w, h = view.visible_input_region()
    assert 0 < w < 160 and 0 < h < 120
    view.fit()
    assert view.visible_input_region() == (0, 0, 160, 120)


def _records(blocks: int = 4, experts: int = 3) -> list[RoutingRecord]:
    rng = np.random.default_rng(3)
    out = []
    for b in range(blocks):
        p = rng.random(experts).astype(np.float32)
        p /= p.sum()
        out.append(RoutingRecord(b, p, np.array([int(p.argmax())]), np.array([p.max()])))
    return out


def test_routing_panel_draws_bars_heatmap_and_tile_map(qtbot) -> None:
    panel = RoutingPanel()
    qtbot.addWidget(panel)
    recs = _records()
    tiles = [(0, 0, 16, 12), (16, 0, 16, 12), (0, 12, 16, 12), (16, 12, 16, 12)]
    chosen = np.array([[0, 1, 2, 0], [1, 1, 1, 1], [2, 0, 0, 0], [0, 0, 0, 2]])
    tr = SimpleNamespace(tiles=tiles, chosen=chosen, probs=np.zeros((4, 4, 3), np.float32))
    panel.set_input(_rand(24, 32, 4))
    panel.set_ranks([2, 4, 8])
    assert panel.stack.currentWidget() is panel.empty  # no empty axes before a run
    out = RunOutput(1, "full", None, 2, "SeemoRe-T x2", routing=recs, tile_routing=tr)
    panel.set_output(out)
    assert panel.stack.currentWidget() is panel.plots
    img = panel.heat_img.image
    assert img.shape == (4, 3)
    np.testing.assert_allclose(img[2], recs[2].probs)
    assert panel.tile_box.isVisibleTo(panel)
    assert len(panel._tile_items) == 4
    panel.tile_block.setValue(3)
    assert "E2 (rank 8)" in panel.tile_legend.text()
    # A preview's routing is shown but labelled, and has no tile map.
    panel.set_output(RunOutput(2, "preview", None, 2, "SeemoRe-T x2", routing=recs))
    assert "preview" in panel.header.text() and not panel.tile_box.isVisibleTo(panel)
    panel.clear()
    assert panel.stack.currentWidget() is panel.empty and "No run yet" in panel.empty.text()


def test_routing_axes_fit_the_data_and_mark_the_uniform_level(qtbot) -> None:
    panel = RoutingPanel()
    qtbot.addWidget(panel)
    # A mildly sure router, as trained ones are: 0.28-0.43 among 3 experts.
    probs = [np.array(p, np.float32) for p in ([0.29, 0.28, 0.43], [0.40, 0.32, 0.28])]
    recs = [
        RoutingRecord(b, p, np.array([int(p.argmax())]), p.max()[None]) for b, p in enumerate(probs)
    ]
    panel.set_output(RunOutput(1, "full", None, 2, "T", routing=recs))
    lo, hi = panel.bar_range
    assert lo == 0.0 and 0.43 < hi <= 0.55  # fitted, not 0-1.15
    assert panel.uniform.value() == pytest.approx(1 / 3)
    assert "uniform 1/E = 0.33" in panel.legend.text()
    # The heat map's colours start at 0, so 0.28 and 0.43 are not made to look opposite.
    assert panel.heat_levels[0] == 0.0 and panel.heat_levels[1] >= 0.43
    ticks = panel.bars.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == ["block 0", "block 1"]
    assert "E2" in panel.legend.text()
    # A run starting marks what is shown as the previous run's.
    panel.set_running(True)
    assert "Previous run" in panel.header.text()
    panel.set_running(False)
    assert "Previous run" not in panel.header.text()


def test_feature_panel_grid_hover_and_vector(qtbot) -> None:
    panel = FeaturePanel()
    qtbot.addWidget(panel)
    panel.resize(500, 500)
    panel.show()  # a hidden panel draws its maps only when it is shown
    assert panel.stack.currentWidget() is panel.empty  # explains itself before a run
    assert "Upscale an image first" in panel.empty.text()
    fm = np.random.default_rng(5).normal(size=(5, 6, 8)).astype(np.float32)
    panel.set_structure(2, _records(2))
    out = RunOutput(
        1,
        "full",
        None,
        2,
        "T",
        features={(0, "sme_out"): fm},
        feature_point="sme_out",
        feature_region=(10, 20, 8, 6),
    )
    panel.set_point("sme_out")
    panel.set_output(out, "view")
    qtbot.waitUntil(lambda: panel.grid is not None, timeout=10_000)
    pic = panel.grid
    assert (pic.cols, pic.rows) == (2, 3) and pic.stride == 1 and pic.per_channel
    lut = np.asarray(pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False))
    # Channel 4 sits at row 2, column 0; per channel, its min gets the first colour.
    tile = pic.rgba[16 : 16 + 6, 0:8, :3]
    y, x = np.unravel_index(np.argmin(fm[4]), fm[4].shape)
    np.testing.assert_array_equal(tile[y, x], lut[0])
    y, x = np.unravel_index(np.argmax(fm[4]), fm[4].shape)
    np.testing.assert_array_equal(tile[y, x], lut[255])
    assert pic.rgba[:, 8:10, 3].max() == 0  # the gap between tiles is empty
    assert [t.text() for t in panel._labels] == ["0", "1", "2", "3", "4"]
    assert panel.cbar.axis.labelText.startswith("each tile")
    panel.show_vector(2, 3)
    np.testing.assert_array_equal(panel.last_vector, fm[:, 3, 2])
    assert "(12, 23)" in panel.vector_title.text()  # input pixel, not map pixel
    xs, ys = panel.marker.getData()
    assert len(xs) == 5 and (xs[4], ys[4]) == (0 + 2.5, 16 + 3.5)  # in every tile
    # A shared scale: the colour bar states the real values.
    panel.scale_mode.setCurrentIndex(panel.scale_mode.findData("shared"))
    qtbot.waitUntil(lambda: not panel.grid.per_channel, timeout=10_000)
    assert panel.grid.levels == (pytest.approx(float(fm.min())), pytest.approx(float(fm.max())))
    panel.mode.setCurrentIndex(panel.mode.findData("channel"))
    panel.channel.setValue(4)
    qtbot.waitUntil(lambda: panel.grid.rgba.shape[:2] == (6, 8), timeout=10_000)
    assert panel._labels == []
    requested = []
    panel.request.connect(lambda *a: requested.append(a))
    panel.set_point("rme_in")  # not in the data: the panel asks for it
    assert requested == [("rme_in", "view", 0)]
    assert "Computing" in panel.status.text()


@pytest.mark.parametrize(
    ("c", "h", "w", "want"), [(36, 10, 10, (6, 6)), (36, 864, 1152, (6, 6)), (5, 6, 8, (2, 3))]
)
def test_channel_grids_are_square_ish(c: int, h: int, w: int, want: tuple[int, int]) -> None:
    assert grid_shape(c, h, w) == want


def test_big_maps_are_shown_strided(qtbot) -> None:
    fm = np.random.default_rng(1).random((16, 600, 800)).astype(np.float32)
    lut = np.zeros((256, 3), np.uint8)
    pic = render_grid(fm, lut, per_channel=True)
    assert pic.stride == 2 and pic.rgba.shape[0] * pic.rgba.shape[1] <= GRID_MAX_PIXELS


def test_output_name_pattern() -> None:
    assert output_name("{stem}_x{scale}", "cat", 4, "T", 1) == "cat_x4"
    assert output_name("{index:03d}-{model}", "cat", 2, "T", 7) == "007-T"
    for bad in ("{nope}", "{stem", "../{stem}", ""):
        with pytest.raises(ValueError):
            output_name(bad, "cat", 2, "T", 1)


def test_refcount_guard_keeps_none_and_true_alive(qapp) -> None:
    import sys

    from PySide6.QtCore import QObject, Signal
    from seemore_app import qtfix

    class Emitter(QObject):
        sig = Signal(int)

    qtfix.install()
    e = Emitter()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(20_000):
        e.sig.emit(i)
        e.setObjectName("e")  # a Qt method returning void
    qtfix.top_up()
    # Back to where it was, or (with the guard on) at least to the guard's reserve.
    assert sys.getrefcount(None) >= min(before[0], qtfix.HEADROOM) - 100
    assert sys.getrefcount(True) >= min(before[1], qtfix.HEADROOM) - 100


def test_fit_never_enlarges_a_small_image(view: CompareView) -> None:
    view.set_input(_rand(10, 10, 6), 2)  # 20x20 output in a 400x240 view
    assert view.zoom == 1.0
    view.set_input(_rand(200, 300, 6), 2)  # 600x400: shrunk to fit
    assert view.zoom == pytest.approx(min(400 / 600, 240 / 400))


def test_bicubic_before_is_built_off_the_ui_thread(qtbot, view: CompareView) -> None:
    lr = _rand(24, 32, 7)
    view.set_input(lr, 2)
    view.grab()  # the first paint asks for the bicubic picture and does not wait for it
    assert "preparing" in view._texts()["before"]
    qtbot.waitUntil(view.bicubic_ready, timeout=10_000)
    assert "preparing" not in view._texts()["before"]
    from PIL import Image

    u8 = (lr * 255 + 0.5).astype(np.uint8)
    want = np.asarray(Image.fromarray(u8).resize((64, 48), Image.Resampling.BICUBIC))
    view.set_zoom(1.0)
    shot = _grab(view)
    off = view._offset()
    ox, oy = int(off.x()), int(off.y())
    np.testing.assert_array_equal(shot[oy : oy + 48, ox : ox + 64], want)


def test_space_held_swaps_before_and_after(qtbot, view: CompareView) -> None:
    lr = np.zeros((24, 32, 3), np.float32)
    sr = np.ones((48, 64, 3), np.float32)
    view.set_input(lr, 2)
    view.set_before_mode("nearest")
    view.set_result(sr, 2, "After")
    view.set_zoom(8.0)
    x = int(view.divider * view.width())
    assert _grab(view)[200, x - 20].max() == 0
    QTest.keyPress(view, Qt.Key.Key_Space)
    assert view.flipped
    shot = _grab(view)
    assert shot[200, x - 20].min() == 255 and shot[200, x + 20].max() == 0
    assert _texts_left(view) == view._texts()["after"]
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert not view.flipped and _grab(view)[200, x - 20].max() == 0


def _texts_left(view: CompareView) -> str:
    first, _ = view._sides()
    return view._texts()[first]


def test_lens_magnifies_under_the_mouse(qtbot, view: CompareView) -> None:
    # A checkerboard of 1-pixel squares: at 100% in the view, the lens shows 4x4 blocks.
    view.resize(800, 600)
    yy, xx = np.mgrid[0:300, 0:400]
    board = ((xx + yy) % 2).astype(np.float32)[..., None].repeat(3, 2)
    view.set_input(board[::2, ::2], 2)
    view.set_result(board, 2, "After")
    view.set_zoom(1.0)  # the canvas sits at x 200-600, y 150-450
    view.set_divider(0.0)  # all "after"
    QTest.keyPress(view, Qt.Key.Key_M)
    assert view.lens
    # Sent directly: QTest.mouseMove sends nothing when the cursor is already there.
    pos = QPointF(300, 300)
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        view.mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view, move)
    assert view._mouse == pos
    shot = _grab(view)
    row = shot[300, 260:340, 0].astype(int)
    runs = np.diff(np.flatnonzero(np.diff(row) != 0))
    assert runs.size > 5 and np.all(runs == 4), row  # each pixel drawn 4 wide
    outside = shot[420, 450:550, 0].astype(int)
    assert np.all(np.abs(np.diff(outside)) == 255)  # the view itself stays at 100%
    QTest.keyPress(view, Qt.Key.Key_M)
    assert not view.lens


def test_plots_follow_the_dark_theme(qtbot) -> None:
    from seemore_app import theme

    panel = RoutingPanel()
    features = FeaturePanel()
    qtbot.addWidget(panel)
    qtbot.addWidget(features)
    try:
        assert theme.apply("dark")
        panel.set_output(RunOutput(1, "full", None, 2, "T", routing=_records()))
        # The palette change reaches the panels as an event, which restyles the plots.
        qtbot.waitUntil(lambda: panel.bars.backgroundBrush().color().lightness() < 80)
        assert panel.heat_bar.axis.textPen().color().lightness() > 150
        assert panel.palette().window().color().lightness() < 128
        qtbot.waitUntil(lambda: features.view.backgroundBrush().color().lightness() < 80)
        assert features.cbar.axis.textPen().color().lightness() > 150
    finally:
        theme.apply("light")
    qtbot.waitUntil(lambda: panel.bars.backgroundBrush().color().lightness() > 200)
    qtbot.waitUntil(lambda: features.view.backgroundBrush().color().lightness() > 200)


def test_big_results_are_drawn_from_a_pyramid_built_off_the_ui_thread(
    qtbot, view: CompareView
) -> None:
    rng = np.random.default_rng(8)
    # Smooth content: any correct downscale of it looks the same.
    small = rng.random((15, 20, 3)).astype(np.float32)
    from PIL import Image

    big = np.asarray(
        Image.fromarray((small * 255).astype(np.uint8)).resize((2400, 1800), Image.BICUBIC)
    )
    view.set_input(small, 120)  # a 2400x1800 canvas, fitted into 400x240
    view.set_before_mode("nearest")
    view.set_result(big, 120, "After")
    view.set_divider(0.0)
    direct = _grab(view)  # drawn from the full picture: the pyramid is still being built
    qtbot.waitUntil(lambda: bool(view._pyramids), timeout=10_000)
    (levels,) = view._pyramids.values()
    assert [(q.width(), q.height()) for q in levels] == [(1200, 900), (600, 450), (300, 225)]
    via_pyramid = _grab(view)
    off = view._offset()
    ox, oy = int(off.x()) + 2, int(off.y()) + 2
    a = direct[oy : oy + 150, ox : ox + 190].astype(int)
    b = via_pyramid[oy : oy + 150, ox : ox + 190].astype(int)
    assert np.abs(a - b).mean() < 3.0
