"""Shared test fixtures: where the project's research data lives.

The data sits beside the repository (``/work/shared/data`` next to ``/work/main``), not in
it, so tests that need it skip cleanly on a checkout without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
BENCHMARK_ROOT = DATA_ROOT / "benchmark"


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA_ROOT.is_dir():
        pytest.skip(f"research data not found at {DATA_ROOT}")
    return DATA_ROOT


@pytest.fixture(scope="session")
def benchmark_root(data_root: Path) -> Path:
    root = data_root / "benchmark"
    if not (root / "Set5" / "HR").is_dir():
        pytest.skip(f"benchmark data not found at {root}")
    return root


GOLDEN_ROOT = REPO_ROOT.parent / "shared" / "testdata" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not (GOLDEN_ROOT / "seemore_T_x4_random.pth").is_file():
        pytest.skip(f"golden test vectors not found at {GOLDEN_ROOT}")
    return GOLDEN_ROOT


@pytest.fixture(autouse=True)
def _flush_denormal_stays_in_its_test() -> object:
    """A Trainer turns on flushing denormal floats for the whole process (training
    speed); a later Hypothesis test drawing floats then refuses to run. Reset it after
    every test that had torch loaded."""
    yield
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
