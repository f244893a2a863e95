"""Fixtures for the packaging tests: a stand-in bundle for install.sh, and the slow gate.

Tests marked `slow` here install and run the real built release (dist/), which takes
minutes; they run only with SEEMORE_PACKAGING_TESTS=1 set, after packaging/build_linux.sh.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
APP_ID = "io.github.seemore.Seemore"
SLOW_ENV = "SEEMORE_PACKAGING_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SLOW_ENV) == "1":
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"slow packaging test: set {SLOW_ENV}=1 to run it")
    for item in items:
        if "slow" in item.keywords and here in Path(str(item.path)).parents:
            item.add_marker(skip)


def make_fake_bundle(root: Path) -> Path:
    """A bundle laid out as build_linux.sh lays out the real one, with shell scripts for
    the two programs: install.sh only copies and links, so it cannot tell the difference.
    The .desktop file, metainfo and icons are the real ones."""
    b = root / "seemore-0.0.0"
    (b / "_internal" / "lib").mkdir(parents=True)
    (b / "_internal" / "lib" / "libfake.so").write_bytes(b"\x7fELF fake")
    for command in ("seemore", "seemore-gui"):
        exe = b / command
        exe.write_text(f'#!/bin/sh\necho "{command} 0.0.0"\n', encoding="utf-8")
        exe.chmod(0o755)
    share = b / "share"
    files = {
        f"applications/{APP_ID}.desktop": PACKAGING / f"{APP_ID}.desktop",
        f"metainfo/{APP_ID}.metainfo.xml": PACKAGING / f"{APP_ID}.metainfo.xml",
        f"icons/hicolor/scalable/apps/{APP_ID}.svg": REPO / "resources/icons/seemore.svg",
        f"icons/hicolor/48x48/apps/{APP_ID}.png": REPO / "resources/icons/seemore_48.png",
    }
    for rel, src in files.items():
        (share / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, share / rel)
    for script in ("install.sh", "uninstall.sh"):
        shutil.copyfile(PACKAGING / script, b / script)
        (b / script).chmod(0o755)
    return b


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    return make_fake_bundle(tmp_path / "unpacked")
