"""Widgets on their own: the compare view's geometry, the inside-view panels, naming."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from seemore_app.compare_view import CompareView
from seemore_app.inside_view import FeaturePanel, RoutingPanel
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
    assert not panel.plots.isVisibleTo(panel)  # no empty axes before a run
    out = RunOutput(1, "full", None, 2, "SeemoRe-T x2", routing=recs, tile_routing=tr)
    panel.set_output(out)
    assert panel.plots.isVisibleTo(panel)
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
    assert not panel.plots.isVisibleTo(panel) and "No run yet" in panel.header.text()


def test_feature_panel_grid_hover_and_vector(qtbot) -> None:
    panel = FeaturePanel()
    qtbot.addWidget(panel)
    panel.resize(500, 500)
    panel.show()  # a hidden panel draws its maps only when it is shown
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
    mosaic = panel.img.image
    assert np.isnan(mosaic).any() and np.nanmin(mosaic) == 0.0 and np.nanmax(mosaic) == 1.0
    panel.show_vector(2, 3)
    np.testing.assert_array_equal(panel.last_vector, fm[:, 3, 2])
    assert "(12, 23)" in panel.vector_title.text()  # input pixel, not map pixel
    panel.mode.setCurrentIndex(panel.mode.findData("channel"))
    panel.channel.setValue(4)
    np.testing.assert_array_equal(panel.img.image, fm[4])
    requested = []
    panel.request.connect(lambda *a: requested.append(a))
    panel.set_point("rme_in")  # not in the data: the panel asks for it
    assert requested == [("rme_in", "view", 0)]


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
