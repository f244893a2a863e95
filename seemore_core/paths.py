"""Paths that misbehave (symlink loops, no permission, special files) in one clear line.

`Path.resolve()` raises RuntimeError on a symlink loop before Python 3.13 and OSError
for an unreadable component; planning code that only compares paths uses `resolved`,
which never raises, and leaves the reporting to the read or write that follows.
`describe_os_error` words any OSError that escapes as one line naming the path.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_REASONS = {
    errno.ELOOP: "the path is a loop of symbolic links",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "this is a folder, not a file",
    errno.EROFS: "the disk is read-only",
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENXIO: "this is a special file with nothing behind it (a device or socket)",
    errno.EBUSY: "the file is busy (in use by the system)",
}


def resolved(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute with its links followed where they can be: a symlink loop
    or an unreadable component leaves the path absolute as written, without raising."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, Python < 3.13
        return Path(os.path.abspath(path))


def os_error_reason(exc: OSError) -> str:
    """Why an OS call failed, in our words (the system's own text when we have none)."""
    if exc.errno is not None and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return exc.strerror or type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: the path it names (both, for a rename) and why."""
    where = exc.filename if exc.filename is not None else None
    if where is not None and exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    reason = os_error_reason(exc)
    return f"'{os.fsdecode(where)}': {reason}" if where is not None else reason


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is, or None for a regular file or folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def output_problem(target: str | os.PathLike[str]) -> str | None:
    """Why ``target`` cannot take an output file, found before any work; None if it can.

    A symlink loop (the name itself or its folder) and a special file are refused:
    replacing a device or FIFO with a regular file (``-o /dev/null --overwrite`` run as
    root) would break whatever uses it.
    """
    path = Path(target)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return os_error_reason(exc)
    if st is not None:
        kind = _kind(st.st_mode)
        return None if kind is None else f"the output exists and is {kind}; not replacing it"
    try:
        folder = os.stat(path.parent)
    except FileNotFoundError:
        return None  # made later, or reported by the writer
    except OSError as exc:
        return f"its folder '{path.parent}': {os_error_reason(exc)}"
    if not stat.S_ISDIR(folder.st_mode):
        return f"'{path.parent}' is not a folder"
    return None
