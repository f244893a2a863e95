from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A handful of the 291 training photos (never benchmark images)."""
    src = sorted((data_root / "train" / "T91").glob("*.png"))[:6]
    assert src, "training photos missing"
    dst = tmp_path_factory.mktemp("photos")
    for p in src:
        shutil.copy(p, dst / p.name)
    return dst
