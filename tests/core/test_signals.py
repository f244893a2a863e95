"""SIGTERM as a stop, and the sweep of abandoned temporary files, in-process.

The process-level tests (real signals to a running `seemore`) are in tests/cli/test_hostile.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seemore_core import signals
from seemore_core.errors import Terminated


def _aged(path: Path, seconds: float, data: bytes = b"part") -> Path:
    path.write_bytes(data)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_only_our_abandoned_files_are_swept(tmp_path: Path) -> None:
    old = _aged(tmp_path / ".photo.png.a1b2c3d4.part", 60)
    fresh = _aged(tmp_path / ".photo.jpg.zz_9yy8x.part", 1)  # a writer may be between calls
    other_kind = _aged(tmp_path / ".song.mp3.a1b2c3d4.part", 3600)
    visible = _aged(tmp_path / "photo.png.a1b2c3d4.part", 3600)
    held = _aged(tmp_path / ".held.webp.q1w2e3r4.part", 3600)
    with open(held, "ab"):  # open in this process, as a live writer's is
        sweep = signals.sweep_stale_parts(tmp_path)
    assert sweep.removed == (old,)
    assert all(p.exists() for p in (fresh, other_kind, visible, held))
    note = sweep.note(tmp_path)
    assert note is not None and "removed 1 temporary file" in note


def test_without_proc_only_old_files_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signals, "_open_files", lambda: None)  # no way to see open files
    recent = _aged(tmp_path / ".a.png.a1b2c3d4.part", 120)
    old = _aged(tmp_path / ".b.png.a1b2c3d4.part", signals.STALE_AFTER_S + 60)
    assert signals.sweep_stale_parts(tmp_path).removed == (old,)
    assert recent.exists()


def test_sweeping_a_missing_folder_is_quiet(tmp_path: Path) -> None:
    sweep = signals.sweep_stale_parts(tmp_path / "nope")
    assert sweep.removed == () and sweep.note(tmp_path) is None
    assert signals.sweep_before_run(tmp_path / "nope" / "out.png", is_folder=False) is None


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.mark.usefixtures("handlers")
def test_sigterm_raises_terminated_and_maps_to_143() -> None:
    assert signals.stop_on_sigterm()
    with pytest.raises(Terminated) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs at the next bytecode
    assert isinstance(stop.value, KeyboardInterrupt)
    assert signals.exit_code(stop.value) == 143
    assert "SIGTERM" in signals.stop_message(stop.value)
    # A second SIGTERM during clean-up is no longer caught: the default action is back.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signals.exit_code(KeyboardInterrupt()) == 130


@pytest.mark.usefixtures("handlers")
def test_an_ignored_signal_stays_ignored() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    signals.stop_on_sigterm()
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_abandoned_feature_map_folders_are_swept(tmp_path: Path) -> None:
    import numpy as np

    from seemore_core.tiling import FeatureStore

    # The tiled runner names its map folder so that a later run can find it.
    store = FeatureStore(tmp_path)
    store.new(4, 8, 8)
    assert [p.name[: len(signals.MAP_DIR_PREFIX)] for p in tmp_path.iterdir()] == [
        signals.MAP_DIR_PREFIX
    ]
    store.close()
    # What a SIGKILLed run leaves: such a folder, its map mapped by no process.
    dead_dir = tmp_path / f"{signals.MAP_DIR_PREFIX}dead"
    dead_dir.mkdir()
    np.memmap(dead_dir / "map1.f32", dtype=np.float32, mode="w+", shape=(64,)).flush()
    # A live run's: its map still mapped (by this process).
    live_dir = tmp_path / f"{signals.MAP_DIR_PREFIX}live"
    live_dir.mkdir()
    mapped = np.memmap(live_dir / "map1.f32", dtype=np.float32, mode="w+", shape=(64,))
    unrelated = tmp_path / "tmp_other"
    unrelated.mkdir()
    hour_ago = time.time() - 3600
    for d in (dead_dir, live_dir, unrelated):
        os.utime(d, (hour_ago, hour_ago))
    import gc

    gc.collect()  # the dead folder's memmap object is gone, as the killed process is
    sweep = signals.sweep_stale_map_dirs(tmp_path)
    assert sweep.removed == (dead_dir,)
    assert live_dir.is_dir() and unrelated.is_dir()
    mapped.flush()
