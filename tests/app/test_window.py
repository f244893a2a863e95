"""The main window end to end: load, upscale, inspect, cancel, export, settings."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QImage

RUN_TIMEOUT_MS = 60_000


def drop(window, paths: list[Path]) -> None:
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(
        QPoint(50, 50),
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(ev)
    # Images are decoded off the UI thread: wait until the dropped one is shown.
    assert window.bg.wait_idle(30_000)


def run_upscale(qtbot, window) -> None:
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
    assert blocker.args == [True], window.errors


def test_drop_image_shows_it(window, small_png: Path) -> None:
    drop(window, [small_png])
    assert window.loaded is not None
    assert window.loaded.rgb.shape == (24, 32, 3)
    assert "small.png" in window.windowTitle()
    assert window.view.visible_input_region() == (0, 0, 32, 24)  # fitted: all of it
    assert not window.errors
    assert str(small_png.resolve()) in window.settings.recent_files


def test_drop_folder_makes_a_batch(window, tmp_path: Path, png_factory) -> None:
    folder = tmp_path / "many"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        png_factory(folder / f"img{i}.png", seed=i)
    png_factory(folder / "sub" / "img9.png", seed=9)
    (folder / "notes.txt").write_text("not an image")
    drop(window, [folder])
    # Subfolders are searched too.
    assert [p.name for p in window.batch] == ["img0.png", "img1.png", "img2.png", "img9.png"]
    assert window.batch_list.count() == 4
    assert window.loaded is not None and window.loaded.source.name == "img0.png"
    window.batch_list.itemClicked.emit(window.batch_list.item(2))
    assert window.loading  # decoded off the UI thread
    assert window.bg.wait_idle(30_000)
    assert window.loaded.source.name == "img2.png"


def test_bad_image_file_gives_a_message_not_a_crash(window, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("this is text, not a PNG\n")
    drop(window, [bad])
    assert window.loaded is None
    assert window.errors and "bad.png" in window.errors[-1]
    window.upscale()  # nothing loaded: a message, not an exception
    assert "Open an image first" in window.errors[-1]


def test_bad_checkpoint_gives_a_message(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x00garbage" * 10)
    drop(window, [bad])
    qtbot.waitUntil(lambda: any("broken.pth" in e for e in window.errors), timeout=RUN_TIMEOUT_MS)
    assert window._checkpoint_dialog is None


def test_dropped_checkpoint_shows_details_then_is_used(
    qtbot, window, checkpoint: Path, tmp_path: Path
) -> None:
    other = tmp_path / "mine.safetensors"
    other.write_bytes(checkpoint.read_bytes())
    drop(window, [other])
    qtbot.waitUntil(lambda: window._checkpoint_dialog is not None, timeout=RUN_TIMEOUT_MS)
    dlg = window._checkpoint_dialog
    from PySide6.QtWidgets import QLabel

    text = " ".join(lab.text() for lab in dlg.findChildren(QLabel))
    assert "SeemoRe-T" in text and "x2" in text and "GMACs" in text
    assert dlg.info["params"] > 100_000
    assert window.model_choice().name != str(other.resolve())  # not before the user agrees
    dlg.accept()
    assert window.model_choice().name == str(other.resolve())
    assert window.model_choice().scale == 2


def test_upscale_shows_result_and_real_routing(qtbot, window, small_png: Path, checkpoint) -> None:
    drop(window, [small_png])
    run_upscale(qtbot, window)
    out = window.result
    assert out.image.shape == (48, 64, 3)
    assert window.view.has_result()
    routing = window.inside.routing.records
    assert len(routing) == 6
    # The panel shows what the engine itself decides for this image.
    from seemore_core.checkpoint import load_model
    from seemore_core.engine import Engine

    ref = Engine(load_model(checkpoint), "cpu").upscale(window.loaded.rgb)
    for shown, r in zip(routing, ref.routing, strict=True):
        np.testing.assert_allclose(shown.probs, r.probs[0].numpy(), atol=1e-5)
        assert list(shown.chosen) == r.chosen[0].tolist()
    np.testing.assert_allclose(out.image, ref.image, atol=1e-5)
    # The Features tab was not open: the run recorded no maps (they cost memory).
    assert out.features == {} and window.inside.features.features == {}
    # Opening it asks for them, and they arrive by a second pass.
    fp = window.inside.features
    with qtbot.waitSignal(fp.drawn, timeout=RUN_TIMEOUT_MS):
        window.inside.show_panel("features")
    key = (fp.selected_block(), fp.selected_point())
    assert key in fp.features and fp.features[key].shape == (36, 24, 32)
    assert fp.last_vector is not None and fp.last_vector.shape == (36,)
    assert fp.grid is not None and fp.grid.cols * fp.grid.rows >= 36
    assert window.save_action.isEnabled()


def test_expert_feature_maps_on_request(qtbot, window, small_png: Path) -> None:
    drop(window, [small_png])
    window.inside.show_panel("features")  # open: the run records the maps itself
    run_upscale(qtbot, window)
    fp = window.inside.features
    assert window.result.features  # recorded by the run, no second pass needed
    chosen = int(window.inside.routing.records[1].chosen[0])
    fp.block.setCurrentIndex(1)
    point = f"expert_lowrank/{chosen}"
    assert fp.point.findData(point) >= 0
    with qtbot.waitSignal(window.worker.output, timeout=RUN_TIMEOUT_MS):
        fp.set_point(point)
    qtbot.waitUntil(lambda: (1, point) in fp.features)
    rank = window.result.ranks[chosen]
    assert fp.features[(1, point)].shape == (rank, 24, 32)
    fp.mode.setCurrentIndex(fp.mode.findData("channel"))
    fp.show_vector(3, 4)
    assert fp.last_vector.shape == (rank,)


def test_preview_of_the_visible_region_comes_first(
    qtbot, window, tmp_path: Path, png_factory
) -> None:
    drop(window, [png_factory(tmp_path / "wide.png", 40, 64)])
    window.view.set_zoom(40.0)  # only part of the image on screen
    region = window.view.visible_input_region()
    assert region[2] * region[3] < 40 * 64 * 0.6
    kinds: list[str] = []
    window.worker.output.connect(lambda out: kinds.append(out.kind))
    run_upscale(qtbot, window)
    assert kinds == ["preview", "full"]
    assert window.preview.region == region
    assert window.preview.image.shape == (region[3] * 2, region[2] * 2, 3)
    assert not window.view.has_preview() and window.view.has_result()


def test_cancel_stops_the_run(qtbot, window, small_png: Path) -> None:
    drop(window, [small_png])
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
        assert window.cancel_button.isEnabled()
        window.cancel()
    assert blocker.args == [False]
    assert window.result is None and not window.view.has_result()
    qtbot.waitUntil(lambda: not window.cancel_button.isEnabled())
    assert not window.errors


def test_run_states_busy_stale_and_no_restart(qtbot, window, small_png: Path) -> None:
    drop(window, [small_png])
    assert window.upscale_button.text() == "Upscale" and window.upscale_button.isEnabled()
    assert "No run yet" in window.inside.routing.empty.text()
    run_upscale(qtbot, window)
    first = window.result
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
        job = window._upscale_id
        assert window.upscale_button.text() == "Upscaling…"
        assert not window.upscale_button.isEnabled() and not window.upscale_action.isEnabled()
        assert window.cancel_button.isEnabled()
        # What is on screen is the previous run's, and says so.
        assert window.view.stale and "previous run" in window.view._texts()["after"]
        assert "Previous run" in window.inside.routing.header.text()
        assert window.view.busy_text.startswith("Upscaling")
        window.upscale()  # a second press must not throw the running job away
        assert window._upscale_id == job
    assert blocker.args == [True]
    assert window.result is not first and not window.view.stale
    assert window.upscale_button.text() == "Upscale" and window.upscale_button.isEnabled()
    assert window.view.busy_text == "" and "Previous run" not in window.inside.routing.header.text()


def test_upscale_asked_while_the_image_is_opening_starts_after(
    qtbot, window, small_png: Path
) -> None:
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.load_image(small_png)
        window.upscale()  # before the decode is done
    assert blocker.args == [True] and window.result.image.shape == (48, 64, 3)


def test_event_loop_keeps_running_during_an_upscale(
    qtbot, window, tmp_path: Path, png_factory
) -> None:
    drop(window, [png_factory(tmp_path / "bigger.png", 96, 128)])
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    t0 = time.monotonic()
    run_upscale(qtbot, window)
    elapsed = time.monotonic() - t0
    timer.stop()
    gaps = np.diff(ticks)
    # The UI thread keeps turning: ticks throughout the run, no long freeze.
    assert len(ticks) >= max(5, 0.25 * elapsed / 0.010), (len(ticks), elapsed)
    assert gaps.max() < 0.5, gaps.max()


def _rgba_png_with_icc(path: Path) -> bytes:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    h, w = 24, 32
    rgb = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    a = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    Image.fromarray(np.dstack([rgb, a]), "RGBA").save(path, icc_profile=icc)
    return icc


def test_export_keeps_alpha_and_icc_and_never_overwrites_silently(
    qtbot, window, tmp_path: Path
) -> None:
    src = tmp_path / "alpha.png"
    icc = _rgba_png_with_icc(src)
    drop(window, [src])
    run_upscale(qtbot, window)
    out = tmp_path / "out" / "alpha_x2.png"
    out.parent.mkdir()
    with qtbot.waitSignal(window.export_done, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.export_to(out)
    assert blocker.args == [True], window.errors
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGBA" and im.size == (64, 48)
        assert im.info.get("icc_profile") == icc
        alpha = np.asarray(im)[:, :, 3]
    assert alpha[:, 0].mean() < 40 and alpha[:, -1].mean() > 215  # the ramp survived

    before = out.read_bytes()
    asked: list[str] = []
    window._confirm = lambda title, text: asked.append(text) or False
    assert not window.export_to(out)  # the user said no: nothing happens
    assert asked and out.read_bytes() == before
    window._confirm = lambda title, text: True
    with qtbot.waitSignal(window.export_done, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.export_to(out)
    assert blocker.args == [True], window.errors


def test_batch_export_to_folder_with_pattern(qtbot, window, tmp_path: Path, png_factory) -> None:
    files = [png_factory(tmp_path / f"b{i}.png", seed=i) for i in range(2)]
    drop(window, files)
    dest = tmp_path / "dest"
    (dest).mkdir()
    (dest / "b1_x2.png").write_bytes(b"keep me")
    with qtbot.waitSignal(window.queue_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.start_batch(files, dest, "{stem}_x{scale}", "png")
    summary = blocker.args[0]
    assert [p.name for p in summary.written] == ["b0_x2.png"]
    assert [p.name for p, _ in summary.skipped] == ["b1.png"]
    assert (dest / "b1_x2.png").read_bytes() == b"keep me"
    with Image.open(dest / "b0_x2.png") as im:
        assert im.size == (64, 48)
    states = [it.state for it in window.batch_panel.items]
    assert states == ["done", "skipped"] and "exists" in window.batch_panel.items[1].message


def test_batch_queue_remove_reorder_retry(qtbot, window, tmp_path: Path, png_factory) -> None:
    src = tmp_path / "src"
    (src / "deeper").mkdir(parents=True)
    good = [png_factory(src / "a.png", seed=1), png_factory(src / "deeper" / "c.png", seed=3)]
    bad = src / "b.png"
    bad.write_text("not a picture")
    extra = png_factory(tmp_path / "extra.png", seed=4)
    panel = window.batch_panel
    panel.add_paths([src])  # the folder, searched with its subfolder
    assert [p.name for p in window.batch] == ["a.png", "b.png", "c.png"]
    panel.add_paths([extra, good[0]])  # a file already queued is not added twice
    assert [p.name for p in window.batch] == ["a.png", "b.png", "c.png", "extra.png"]
    panel.list.item(3).setSelected(True)
    panel.remove_selected()
    panel.list.item(2).setSelected(True)
    panel.move_selected(-1)  # c before b
    assert [p.name for p in window.batch] == ["a.png", "c.png", "b.png"]
    assert [panel.list.item(i).toolTip() for i in range(3)] == [str(p) for p in window.batch]
    dest = tmp_path / "out"
    with qtbot.waitSignal(window.queue_done, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.start_batch(window.batch, dest, "{stem}_up", "png")
        assert panel.running and panel.start.text() == "Stop"
    summary = blocker.args[0]
    assert sorted(p.name for p in summary.written) == ["a_up.png", "c_up.png"]
    assert [it.state for it in panel.items] == ["done", "done", "failed"]
    assert panel.items[0].seconds is not None and panel.items[0].seconds > 0
    assert "1 failed" in panel.eta.text() and panel.retry.isEnabled()
    assert window.errors and "b.png" in window.errors[-1]
    # Fixed on disk, retried: only the failed item runs again.
    png_factory(bad, seed=2)
    assert panel.retry_failed() == 1
    with qtbot.waitSignal(window.queue_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.start_batch([bad], dest, "{stem}_up", "png")
    assert [p.name for p in blocker.args[0].written] == ["b_up.png"]
    assert [it.state for it in panel.items] == ["done", "done", "done"]
    assert not panel.running and panel.overall.value() == 1000


def test_batch_queue_stops_and_keeps_the_rest(qtbot, window, tmp_path: Path, png_factory) -> None:
    files = [png_factory(tmp_path / f"s{i}.png", 96, 128, seed=i) for i in range(3)]
    window.set_batch(files)
    with qtbot.waitSignal(window.queue_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.start_batch(files, tmp_path / "o", "{stem}", "png")
        window.stop_queue()  # while the first item runs
    assert blocker.args[0].cancelled
    states = [it.state for it in window.batch_panel.items]
    assert states.count("waiting") >= 2 and "running" not in states
    assert not window.batch_panel.running


def test_paste_image_from_clipboard(qapp, window) -> None:
    img = QImage(20, 12, QImage.Format.Format_RGB32)
    img.fill(0xFF3366CC)
    qapp.clipboard().setImage(img)
    window.paste()
    assert window.loaded is not None and window.loaded.rgb.shape == (12, 20, 3)
    assert np.allclose(window.loaded.rgb[0, 0], [0x33 / 255, 0x66 / 255, 0xCC / 255], atol=1e-6)


def test_settings_survive_a_restart(qtbot, config_dir: Path) -> None:
    from seemore_app.mainwindow import MainWindow
    from seemore_app.settings import Settings

    w = MainWindow(Settings.load())
    qtbot.addWidget(w)
    w.device_combo.setCurrentIndex(w.device_combo.findData("cpu"))
    w.tile_combo.setCurrentIndex(w.tile_combo.findData(256))
    w.set_compare_mode("side")
    w.set_before_mode("nearest")
    w.per_tile.setChecked(True)
    w.resize(700, 500)  # inside the offscreen screen (800x600): no clamping
    w.close()
    assert (config_dir / "settings.json").is_file()

    w2 = MainWindow(Settings.load())
    qtbot.addWidget(w2)
    assert w2.device_combo.currentData() == "cpu"
    assert w2.tile_combo.currentData() == 256
    assert w2.view.mode == "side" and w2.view.before_mode == "nearest"
    assert w2.per_tile.isChecked()
    assert (w2.width(), w2.height()) == (700, 500)
    w2.close()


def test_export_choices_are_remembered_for_the_next_export_and_batch(
    qtbot, window, small_png: Path, tmp_path: Path, config_dir: Path
) -> None:
    """The JPEG quality and PNG level last used start the next dialog, and after a
    restart the batch panel's PNG level too."""
    from seemore_app.mainwindow import MainWindow
    from seemore_app.settings import Settings

    window.load_image(small_png)
    assert window.bg.wait_idle(30_000)
    with qtbot.waitSignal(window.run_done, timeout=60_000) as blocker:
        window.upscale()
    assert blocker.args == [True], window.errors
    fresh = window.save_dialog()
    assert fresh.quality.value() == 95 and fresh.png_level.value() == 6
    fresh.reject()

    def export(fmt: str, set_up) -> None:  # noqa: ANN001
        d = window.save_dialog()
        d.format.setCurrentIndex(d.format.findData(fmt))
        d.path_edit.setText(str(tmp_path / f"out.{fmt}"))
        set_up(d)
        with qtbot.waitSignal(window.export_done, timeout=60_000) as b:
            d.accept()
        assert b.args == [True], window.errors

    export("jpg", lambda d: d.quality.setValue(42))
    export("png", lambda d: d.png_level.setValue(2))
    d = window.save_dialog()
    assert (d.quality.value(), d.png_level.value(), d.lossless.isChecked()) == (42, 2, False)
    d.reject()
    export("webp", lambda d: d.lossless.setChecked(True))
    d = window.save_dialog()
    assert d.lossless.isChecked() and d.quality.value() == 42  # lossless kept the quality
    d.reject()
    window.close()

    w2 = MainWindow(Settings.load())
    qtbot.addWidget(w2)
    assert w2.batch_panel.png_level.value() == 2
    assert w2.batch_panel.options().png_level == 2
    w2.close()


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"device": 7, "tile": "big", "scale": 9, "png_level": 12, "export_quality": 0}'],
)
def test_damaged_settings_fall_back_to_defaults(config_dir: Path, content: str) -> None:
    from seemore_app.settings import Settings

    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(content)
    s = Settings.load()
    assert (s.device, s.tile, s.scale) == ("auto", None, 4)
    assert (s.png_level, s.export_quality) == (6, 95)
    s.save()
    assert Settings.load().device == "auto"


def test_about_shows_versions_and_model_card(window) -> None:
    from PySide6.QtWidgets import QLabel, QTextBrowser

    dlg = window.about()
    text = " ".join(lab.text() for lab in dlg.findChildren(QLabel))
    assert window.engine_info["torch"] in text and "PySide6" in text
    card = dlg.findChild(QTextBrowser).toPlainText()
    first_words = window.engine_info["model_card"].split()[:2]
    assert first_words and all(w.strip("#*_") in card for w in first_words)
    dlg.close()


def test_recent_files_menu_reopens(window, small_png: Path) -> None:
    drop(window, [small_png])
    window.set_image(window.loaded, "other")  # forget which file is shown
    window._fill_recent()
    actions = [a for a in window.recent_menu.actions() if a.text() == "small.png"]
    assert actions
    window.loaded = None
    actions[0].trigger()
    assert window.bg.wait_idle(30_000)
    assert window.loaded is not None and window.loaded.source == small_png


def test_progress_is_throttled(qapp) -> None:
    from seemore_app.worker import Worker

    from seemore_core.progress import ProgressInfo

    w = Worker()
    got: list[float] = []
    w.progress.connect(lambda job, frac, stage, eta: got.append(frac))
    cb = w._callback(1, "upscale")
    for i in range(1, 1001):  # a thousand tiles in a few milliseconds
        cb(ProgressInfo(i, 1000, i / 1000, 0.001 * i, 0.0, "upscale"))
    assert 1 <= len(got) <= 5 and got[-1] == 1.0  # the final report always gets through


def test_toolbars_wrap_rather_than_hide_controls(qtbot, window) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.resize(820, 600)
    qtbot.waitUntil(lambda: window.toolBarBreak(window.view_bar))
    qtbot.wait(50)
    # In two rows nothing sits behind an overflow chevron.
    for w in (window.cancel_button, window.upscale_button, window.mode_combo, window.before_combo):
        assert w.isVisible(), w
    assert window.view_bar.y() > window.controls_bar.y()
    window.resize(1900, 600)
    qtbot.waitUntil(lambda: not window.toolBarBreak(window.view_bar))
    qtbot.waitUntil(lambda: window.view_bar.y() == window.controls_bar.y())
    assert window.cancel_button.isVisible() and window.before_combo.isVisible()


def test_compare_models_on_the_region_in_view(qtbot, window, small_png: Path, checkpoint) -> None:
    drop(window, [small_png])
    choices = window.comparison_choices()
    files = [c for c in choices if c.kind == "file"]
    assert files and files[0].scale == 2  # the loaded checkpoint is among them
    with qtbot.waitSignal(window.compare_done, timeout=3 * RUN_TIMEOUT_MS):
        assert window.compare_models()
    grid = window.model_grid
    assert grid.region == (0, 0, 32, 24) and grid.done() and window.grid_dock.isVisible()
    for cell in grid.cells:
        assert not cell.error, cell.error
        s = cell.choice.scale
        assert (cell.picture.width(), cell.picture.height()) == (32 * s, 24 * s)
        assert cell.seconds is not None
    # The checkpoint's cell holds what the engine makes of the same crop.
    from seemore_app.mainwindow import qimage_to_array

    from seemore_core.checkpoint import load_model
    from seemore_core.engine import Engine

    i = next(i for i, c in enumerate(grid.cells) if c.choice.kind == "file")
    ref = Engine(load_model(checkpoint), "cpu").upscale(window.loaded.rgb).image
    got = qimage_to_array(grid.cells[i].picture)
    want = (np.clip(ref, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert grid.common_size() == max((32 * c.choice.scale, 24 * c.choice.scale) for c in grid.cells)
    shot = grid.canvas.grab().toImage()
    assert shot.width() > 0 and window.result is None  # the main view is left alone


def test_routing_statistics_over_the_batch(qtbot, window, tmp_path: Path, png_factory) -> None:
    files = [png_factory(tmp_path / f"r{i}.png", 24 + 8 * i, 32, seed=i) for i in range(3)]
    bad = tmp_path / "r9.png"
    bad.write_text("not an image")
    window.set_batch([*files, bad])
    with qtbot.waitSignal(window.stats_done, timeout=3 * RUN_TIMEOUT_MS) as blocker:
        assert window.routing_over_batch()
    assert blocker.args == [True], window.errors
    panel = window.inside.routing
    stats = panel.stats
    assert stats.images == [str(f) for f in files]  # the unreadable one is left out
    assert len(stats.blocks) == 6
    for b in stats.blocks:
        assert sum(b.share) == pytest.approx(1.0) and 0.0 <= b.entropy <= 1.0
        # Shares are counts over 3 images.
        assert all(round(s * 3) == pytest.approx(s * 3, abs=1e-4) for s in b.share)
    np.testing.assert_allclose(panel.heat_img.image, [b.share for b in stats.blocks], atol=1e-6)
    assert "over 3 images" in panel.header.text() and "entropy" in panel.header.text()
    assert "Share of images" in panel.heat_title.text()
    assert "could not be read" in window.statusBar().currentMessage()
