"""`seemore-gui` as a program: start-up without torch on the UI thread, --screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", SEEMORE_CONFIG_DIR=str(tmp_path / "cfg"))
    return env


def test_window_appears_before_torch_is_loaded(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import seemore_app.main, seemore_app.mainwindow, seemore_app.inside_view
        print("torch imported by UI modules:", "torch" in sys.modules)
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from seemore_app.mainwindow import MainWindow
        app = QApplication([])
        w = MainWindow()
        w.show()
        print("visible before engine:", w.isVisible() and w.engine_info is None)
        w.engine_ready.connect(app.quit)
        QTimer.singleShot(120_000, app.quit)
        app.exec()
        print("engine ready:", w.engine_info is not None and "error" not in w.engine_info)
        w.close()
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    assert "torch imported by UI modules: False" in r.stdout
    assert "visible before engine: True" in r.stdout
    assert "engine ready: True" in r.stdout


def test_screenshot_after_upscale(tmp_path: Path, checkpoint: Path, small_png: Path) -> None:
    out = tmp_path / "shot.png"
    cmd = [
        sys.executable,
        "-m",
        "seemore_app.main",
        "--screenshot",
        str(out),
        "--upscale",
        "--panel",
        "routing",
        "--model",
        str(checkpoint),
        "--size",
        "1200x800",
        str(small_png),
    ]
    r = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (1200, 800)
        # Not a blank window: the routing plot and the image put many colours on it.
        assert len(im.convert("RGB").getcolors(1 << 20) or []) > 200
    assert not (tmp_path / "cfg" / "settings.json").exists()  # a capture changes no settings


def test_screenshot_of_a_bad_image_still_saves_and_fails(
    qapp, tmp_path: Path, config_dir: Path
) -> None:
    from seemore_app.main import main

    bad = tmp_path / "bad.png"
    bad.write_text("text")
    out = tmp_path / "bad_shot.png"
    rc = main(["--screenshot", str(out), "--upscale", "--size", "800x600", str(bad)])
    assert rc == 1
    with Image.open(out) as im:
        assert im.size == (800, 600)


def test_bad_command_line() -> None:
    from seemore_app.main import main

    assert main(["--upscale"]) == 2  # --upscale without an image
    assert main(["--size", "tiny", "x.png"]) == 2
