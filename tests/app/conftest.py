"""Fixtures for the app's tests: offscreen Qt, a private settings folder, a tiny model.

QT_QPA_PLATFORM is set before anything imports Qt, so the tests run without a display.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import importlib.util  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

# Without the GUI extra (PySide6, pyqtgraph) or pytest-qt these tests cannot run: leave
# them out of the collection rather than fail it.
_MISSING = [m for m in ("PySide6", "pyqtgraph", "pytestqt") if importlib.util.find_spec(m) is None]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]

ENGINE_TIMEOUT_MS = 90_000  # the first torch import on a loaded 2-core machine is slow
RUN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def _refcount_guard(qapp) -> Iterator[None]:
    """PySide6 6.12.0 leaks references to None and True; see seemore_app.qtfix."""
    from seemore_app import qtfix

    qtfix.install()
    yield
    qtfix.top_up()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SeemoRe-T x2 with random weights: real routing, meaningless pixels."""
    import torch

    import seemore_core

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "seemore_T_x2_test.safetensors"
    seemore_core.save_safetensors(seemore_core.build("T", scale=2), path)
    return path


def make_png(path: Path, h: int = 24, w: int = 32, alpha: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    # Smooth-ish content so that the image is not pure noise (any content works).
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 3.0)], axis=-1)
    rgb = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    u8 = (rgb * 255).astype(np.uint8)
    if alpha:
        a = (np.linspace(0, 255, w)[None, :].repeat(h, 0)).astype(np.uint8)
        Image.fromarray(np.dstack([u8, a]), "RGBA").save(path)
    else:
        Image.fromarray(u8, "RGB").save(path)
    return path


@pytest.fixture
def png_factory():
    """make_png(path, h=24, w=32, alpha=False, seed=0) -> path."""
    return make_png


@pytest.fixture
def small_png(tmp_path: Path) -> Path:
    return make_png(tmp_path / "small.png")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("SEEMORE_CONFIG_DIR", str(d))
    return d


@pytest.fixture
def window(qtbot, config_dir: Path, checkpoint: Path) -> Iterator[object]:
    """A main window whose engine has loaded, with the test checkpoint as its model."""
    from seemore_app.mainwindow import MainWindow
    from seemore_app.settings import Settings

    settings = Settings.load()
    settings.device = "cpu"
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.engine_info is not None, timeout=ENGINE_TIMEOUT_MS)
    w.use_checkpoint(checkpoint)
    qtbot.waitUntil(lambda: w.model_choice() is not None and w.model_choice().scale == 2)
    yield w
    w.close()
