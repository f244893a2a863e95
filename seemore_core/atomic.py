"""The one atomic file writer: images, checkpoints, settings and training state use it.

A reader sees the old file or the whole new one, never a part: the bytes go to a
uniquely named temporary file in the target's folder (hidden, so folder scans skip it),
are fsynced, then renamed over the target, and the folder is fsynced so the rename
survives a power cut. Any failure, a full disk or Ctrl+C included, removes the temporary
file. Without ``overwrite`` the rename cannot replace a file that appeared meanwhile.

Torch-free and Pillow-free, so the app's settings can use it before torch is loaded.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import suppress
from pathlib import Path

from .errors import FileError, OutputExistsError

__all__ = ["os_reason", "write_bytes_atomic"]


def _umask() -> int:
    # Linux shows it; elsewhere it is only readable by setting it, which we do once, at
    # import, rather than on every write while other threads may be creating files.
    with suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_bytes_atomic(
    target: str | os.PathLike[str], data: bytes | bytearray | memoryview, overwrite: bool
) -> Path:
    """Write ``data`` to ``target`` atomically and durably; return the target's path.

    Raises `OutputExistsError` when the target exists and ``overwrite`` is off, and
    `FileError` (naming the file and the reason) for any other failure.
    """
    path = Path(target)
    folder = path.parent
    if not folder.is_dir():
        raise FileError(path, f"the folder '{folder}' does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise FileError(path, f"cannot create a file in '{folder}': {os_reason(exc)}") from None
    tmp = Path(tmp_name)
    try:
        try:
            if hasattr(os, "fchmod"):
                # mkstemp makes 0600 files; outputs get the permissions any new file would.
                os.fchmod(fd, 0o666 & ~_UMASK)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
        _fsync_folder(folder)
    except BaseException as exc:
        with suppress(OSError):
            tmp.unlink()
        if isinstance(exc, FileExistsError) and not isinstance(exc, FileError):
            raise OutputExistsError(
                path, "the file already exists (allow overwriting to replace it)"
            ) from None
        if isinstance(exc, OSError) and not isinstance(exc, FileError):
            raise FileError(path, f"could not be written: {os_reason(exc)}") from exc
        raise
    return path


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view[: 1 << 24])
        view = view[written:]


def _rename_no_clobber(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` only if ``target`` does not exist, without a race."""
    if os.name == "nt":
        os.rename(tmp, target)  # fails with FileExistsError on Windows
        return
    try:
        os.link(tmp, target)  # atomic: fails if target exists, even if created just now
    except FileExistsError:
        raise
    except OSError as exc:
        no_links = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)
        if exc.errno not in no_links:
            raise
        # File systems without hard links (FAT, some network shares): check, then rename.
        if target.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        os.replace(tmp, target)
        return
    with suppress(OSError):  # the output is complete; a leftover temp name is harmless
        os.unlink(tmp)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    with suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def os_reason(exc: OSError) -> str:
    """A short, user-facing reason for an OS error."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full (no space left on the device); nothing was written"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    if exc.errno == errno.ENOENT:
        return "no such file or folder"
    if exc.errno == errno.ELOOP:
        return "the path is a loop of symbolic links"
    return exc.strerror or str(exc)
