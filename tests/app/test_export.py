"""The export dialog: names next to the source, options per format, files really written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seemore_app.export_dialog import ExportDialog, auto_name, resized_size

from seemore_core.imageio import read_image

RUN_TIMEOUT_MS = 60_000


def test_auto_name_sits_next_to_the_source_and_never_overwrites(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    src.write_bytes(b"x")
    assert auto_name(src, "photo.jpg", 4, "png", Path("/elsewhere")) == tmp_path / "photo_x4.png"
    (tmp_path / "photo_x4.png").write_bytes(b"taken")
    (tmp_path / "photo_x4 (2).png").write_bytes(b"taken")
    assert auto_name(src, "photo.jpg", 4, "png", tmp_path).name == "photo_x4 (3).png"
    # A pasted image has no file: the export folder, a readable stem.
    assert auto_name(None, "clipboard image", 2, "webp", tmp_path) == tmp_path / "clipboard_x2.webp"


def test_dialog_shows_the_options_of_the_chosen_format(qtbot, tmp_path: Path) -> None:
    dlg = ExportDialog(tmp_path / "a_x2.png", (640, 480), 8)
    qtbot.addWidget(dlg)
    dlg.show()

    def visible() -> set[str]:
        return {k for k, w in dlg._rows.items() if w.isVisibleTo(dlg)}

    assert visible() == {"png_level", "sixteen"}
    dlg.format.setCurrentIndex(dlg.format.findData("jpg"))
    assert dlg.path_edit.text().endswith("a_x2.jpg") and visible() == {"quality"}
    dlg.format.setCurrentIndex(dlg.format.findData("webp"))
    assert visible() == {"quality", "lossless"}
    dlg.lossless.setChecked(True)
    assert visible() == {"lossless"}  # lossless has no quality to choose
    dlg.size_mode.setCurrentIndex(dlg.size_mode.findData("longest"))
    dlg.longest.setValue(320)
    assert "320x240" in dlg.size_note.text()
    opts = dlg.options()
    assert (opts.format, opts.webp_lossless, opts.size_by, opts.size_px) == (
        "webp",
        True,
        "longest",
        320,
    )
    dlg.size_mode.setCurrentIndex(dlg.size_mode.findData("height"))
    dlg.longest.setValue(120)
    assert "160x120" in dlg.size_note.text()
    assert not opts.sixteen_bit  # WebP holds 8 bits
    assert resized_size(640, 480, 320) == (320, 240)
    assert resized_size(640, 480, 160, "width") == (160, 120)


def test_a_target_beyond_the_result_offers_the_next_larger_scale(qtbot, tmp_path: Path) -> None:
    # A 40x30 input at x2: 100 px wide needs x2.5, so x3 (the next larger scale).
    dlg = ExportDialog(tmp_path / "b_x2.png", (80, 60), 8, scale=2, scales=(2, 3, 4))
    qtbot.addWidget(dlg)
    assert dlg.png_level.isEnabled()  # the core writer takes the level
    dlg.size_mode.setCurrentIndex(dlg.size_mode.findData("width"))
    dlg.longest.setValue(100)
    assert dlg.size_note.text() == "→ 100x75: upscales again at x3, then Lanczos"
    assert dlg.save_button.isEnabled() and dlg.save_button.text() == "Upscale x3 and save"
    assert dlg.options().run_scale == 3
    dlg.longest.setValue(161)  # x4.03: beyond every scale
    assert "larger than any scale" in dlg.size_note.text()
    assert not dlg.save_button.isEnabled() and dlg.options().run_scale is None
    dlg.longest.setValue(70)
    assert dlg.size_note.text() == "→ 70x52 (Lanczos)" and dlg.save_button.isEnabled()
    assert dlg.save_button.text() == "Save" and dlg.options().run_scale is None
    dlg.size_mode.setCurrentIndex(0)  # the full result again: nothing to check
    assert dlg.size_note.text() == "" and dlg.save_button.isEnabled()
    # Without a file to upscale again (a pasted image) it says why and cannot save.
    pasted = ExportDialog(
        tmp_path / "c_x2.png", (80, 60), 8, scale=2, scales=(2, 3), no_rerun="no file"
    )
    qtbot.addWidget(pasted)
    pasted.size_mode.setCurrentIndex(pasted.size_mode.findData("width"))
    pasted.longest.setValue(100)
    assert pasted.size_note.text() == "larger than this x2 result, and no file"
    assert not pasted.save_button.isEnabled()


def test_export_beyond_the_result_upscales_again_in_the_worker(
    qtbot, window, small_png: Path, tmp_path: Path
) -> None:
    """32x24 at x2 is 64x48; 80 px wide needs x3 (96x72), then Lanczos to 80x60."""
    from seemore_core.engine import Engine
    from seemore_core.jobs import ModelRef, load_model
    from seemore_core.target import resize_to

    if not {2, 3} <= set(window._bundled().get("T", [])):
        pytest.skip("needs the bundled SeemoRe-T x2 and x3 weights")
    window.select_bundled("T", 2)
    window.load_image(small_png)
    assert window.bg.wait_idle(30_000)
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
    assert blocker.args == [True], window.errors
    assert window.result.image.shape[:2] == (48, 64)

    dlg = window.save_dialog()
    out = tmp_path / "wide.png"
    dlg.path_edit.setText(str(out))
    dlg.size_mode.setCurrentIndex(dlg.size_mode.findData("width"))
    dlg.longest.setValue(80)
    dlg.png_level.setValue(9)
    assert dlg.save_button.isEnabled() and dlg.save_button.text() == "Upscale x3 and save"
    with qtbot.waitSignal(window.export_done, timeout=RUN_TIMEOUT_MS) as b:
        dlg.accept()
        # Handed to the worker: the UI thread returns before anything is written.
        assert not out.exists()
        assert window.progress_bar.isVisible()
    assert b.args == [True], window.errors
    assert window.last_export == out
    with Image.open(out) as im:
        assert im.size == (80, 60)
        written = np.asarray(im.convert("RGB"))
    # The x3 network's own output, shrunk: not the x2 result blown up.
    x3 = Engine(load_model(ModelRef("T", 3)), device="cpu").upscale(read_image(small_png).rgb)
    expected = np.rint(resize_to(x3.image, (80, 60)) * np.float32(255)).astype(np.uint8)
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1
    # The result on screen is still the x2 one, and the picker did not move.
    assert window.result.scale == 2 and window.model_choice().scale == 2

    # A file in the way is asked about first; "no" writes nothing.
    asked: list[str] = []
    window._confirm = lambda title, text: asked.append(text) or False
    before = out.read_bytes()
    dlg = window.save_dialog()
    dlg.path_edit.setText(str(out))
    dlg.size_mode.setCurrentIndex(dlg.size_mode.findData("width"))
    dlg.longest.setValue(80)
    dlg.accept()
    assert asked and out.read_bytes() == before


def test_export_options_reach_the_files(qtbot, window, small_png: Path, tmp_path: Path) -> None:
    window.load_image(small_png)
    assert window.bg.wait_idle(30_000)
    with qtbot.waitSignal(window.run_done, timeout=RUN_TIMEOUT_MS) as blocker:
        window.upscale()
    assert blocker.args == [True], window.errors
    # Rounded as the writer rounds (half to even): a value of exactly 136.5 occurs.
    result_u8 = np.rint(np.clip(window.result.image, 0, 1) * np.float32(255)).astype(np.uint8)

    dlg = window.save_dialog()
    # Proposed next to the source, named after it and the scale.
    assert Path(dlg.path_edit.text()) == small_png.parent / "small_x2.png"
    asked: list[str] = []
    window._confirm = lambda title, text: asked.append(text) or False  # never a modal box
    opened: list[Path] = []
    window.open_folder = lambda folder: opened.append(folder)

    def save(set_up) -> Path:  # noqa: ANN001
        d = window.save_dialog()
        set_up(d)
        path = d.options().path
        with qtbot.waitSignal(window.export_done, timeout=RUN_TIMEOUT_MS) as b:
            d.accept()
        assert b.args == [True], window.errors
        return path

    def webp(d: ExportDialog) -> None:
        d.format.setCurrentIndex(d.format.findData("webp"))
        d.lossless.setChecked(True)
        d.open_folder.setChecked(True)

    p = save(webp)
    assert p.name == "small_x2.webp" and opened == [p.parent]
    with Image.open(p) as im:
        assert im.format == "WEBP"
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), result_u8)  # lossless

    def jpeg(quality: int):  # noqa: ANN202
        def set_up(d: ExportDialog) -> None:
            d.format.setCurrentIndex(d.format.findData("jpg"))
            d.path_edit.setText(str(tmp_path / f"q{quality}.jpg"))
            d.quality.setValue(quality)

        return set_up

    low, high = save(jpeg(30)), save(jpeg(95))
    assert low.stat().st_size < high.stat().st_size  # the quality was used

    def png16(d: ExportDialog) -> None:
        d.path_edit.setText(str(tmp_path / "deep.png"))
        d.sixteen.setChecked(True)

    deep = read_image(save(png16))
    assert deep.bit_depth == 16 and deep.rgb.shape == (48, 64, 3)

    def smaller(d: ExportDialog) -> None:
        d.path_edit.setText(str(tmp_path / "little.png"))
        d.size_mode.setCurrentIndex(d.size_mode.findData("longest"))
        d.longest.setValue(32)

    with Image.open(save(smaller)) as im:
        assert im.size == (32, 24)

    def by_height(d: ExportDialog) -> None:
        d.path_edit.setText(str(tmp_path / "tall.png"))
        d.size_mode.setCurrentIndex(d.size_mode.findData("height"))
        d.longest.setValue(30)

    with Image.open(save(by_height)) as im:
        assert im.size == (40, 30)

    def png_level(level: int):  # noqa: ANN202
        def set_up(d: ExportDialog) -> None:
            d.path_edit.setText(str(tmp_path / f"level{level}.png"))
            d.png_level.setValue(level)

        return set_up

    stored, squeezed = save(png_level(0)), save(png_level(9))
    # Level 0 stores every pixel byte as it is; 9 compresses; the pixels are the same.
    assert stored.stat().st_size > 48 * 64 * 3 > squeezed.stat().st_size
    np.testing.assert_array_equal(read_image(stored).rgb, read_image(squeezed).rgb)

    # The proposal moves on once a name is taken, so nothing is overwritten silently.
    # (The last format used, PNG, is proposed again.)
    assert Path(window.save_dialog().path_edit.text()).name == "small_x2.png"
    (small_png.parent / "small_x2.png").write_bytes(b"someone else's")
    assert Path(window.save_dialog().path_edit.text()).name == "small_x2 (2).png"
    assert asked == []
    # Over the source itself: refused by the writer, with a message, the source intact.
    before = small_png.read_bytes()
    window._confirm = lambda title, text: True
    with qtbot.waitSignal(window.export_done, timeout=RUN_TIMEOUT_MS) as b:
        assert window.export_to(small_png)
    assert b.args == [False] and "input image" in window.errors[-1]
    assert small_png.read_bytes() == before
