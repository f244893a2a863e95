"""The torch-free shared modules: error classes, names and the one atomic writer."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seemore_core import atomic
from seemore_core.errors import (
    Cancelled,
    CheckpointError,
    ConfigError,
    EngineError,
    FileError,
    ImageIOError,
    ModelNotFound,
    OutputExistsError,
    SeemoreError,
    UsageError,
)
from seemore_core.names import CHECKPOINT_SUFFIXES, dialog_patterns, is_checkpoint_path


def test_shared_modules_import_no_heavy_library() -> None:
    # The app decides "is this a model?" and the CLI parses before torch loads.
    code = (
        "import sys; import seemore_core.names, seemore_core.errors, seemore_core.atomic, "
        "seemore_core.jobs, seemore_core.cli; "
        "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_family() -> None:
    for cls in (UsageError, ConfigError, CheckpointError, ModelNotFound, EngineError, FileError):
        assert issubclass(cls, SeemoreError), cls
    assert issubclass(OutputExistsError, ImageIOError) and issubclass(OutputExistsError, OSError)
    # A stop on request is no failure: a handler of SeemoreError never swallows it.
    assert not issubclass(Cancelled, SeemoreError)
    e = ImageIOError("x.png", "too big", option="max_pixels", value=7)
    assert str(e) == "'x.png': too big" and (e.option, e.value) == ("max_pixels", 7)


def test_checkpoint_names_include_bin_everywhere() -> None:
    assert is_checkpoint_path("model.BIN") and ".bin" in CHECKPOINT_SUFFIXES
    assert dialog_patterns(CHECKPOINT_SUFFIXES) == "*.bin *.ckpt *.pt *.pth *.safetensors"


def test_writer_replaces_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    assert atomic.write_bytes_atomic(target, b"one", overwrite=False) == target
    with pytest.raises(OutputExistsError):
        atomic.write_bytes_atomic(target, b"two", overwrite=False)
    assert target.read_bytes() == b"one"
    atomic.write_bytes_atomic(target, b"three", overwrite=True)
    assert target.read_bytes() == b"three"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_writer_uses_a_fresh_hidden_temp_name_and_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temps: list[str] = []
    synced: list[int] = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (temps.append(Path(a).name), real_replace(a, b))[1]
    )
    for _ in range(2):
        atomic.write_bytes_atomic(tmp_path / "last.pth", b"x" * 10, overwrite=True)
    assert len(set(temps)) == 2 and all(t.startswith(".last.pth.") for t in temps)
    assert len(synced) >= 2  # the file each time (and the folder, where possible)


def test_writer_failure_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(FileError, match="disk is full"):
        atomic.write_bytes_atomic(target, b"new", overwrite=True)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_settings_save_goes_through_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("platformdirs")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from app.settings import Settings

    s = Settings.load(tmp_path)
    s.scale = 3
    s.save()
    assert Settings.load(tmp_path).scale == 3

    def fail(*args: object, **kwargs: object) -> None:
        raise FileError(tmp_path / "settings.json", "permission denied")

    monkeypatch.setattr("app.settings.write_bytes_atomic", fail)
    with pytest.raises(OSError, match="permission denied"):  # what the window catches
        s.save()
