"""Stopping cleanly: SIGTERM acts like Ctrl+C, and what a killed run left is swept.

`stop_on_sigterm` makes SIGTERM (and SIGHUP, a closed terminal) raise `Terminated`, a
`KeyboardInterrupt`, in the main thread, so every path that already cleans up after
Ctrl+C (the atomic writer's temporary file, the tiled runner's map files) does the same
for a polite kill; the exit code is then 128 + the signal (143 for SIGTERM).

A SIGKILL or a power cut gives no such chance, and leaves a hidden temporary file
``.NAME.XXXXXXXX.part`` beside the output, and for a huge image a folder of feature maps
(``seemore-maps-*``, gigabytes) in the temp folder. `sweep_stale_parts` and
`sweep_stale_map_dirs` remove those of ours that no run can still be using.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .errors import Terminated

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C

# Our writer's names: ".<target name>.<8 random characters>.part" (mkstemp's), for the
# kinds of file an upscale writes; another program's temporary files look different.
_TEMP_NAME = re.compile(
    r"^\..+\.(?:png|jpe?g|webp|tiff?|bmp)\.[A-Za-z0-9_]{8}\.part$", re.IGNORECASE
)
# Where the system can show which files are open (Linux /proc), a temporary file that no
# process holds open and that is older than this is abandoned: our writer keeps it open
# from creation until a moment before its rename.
UNOPENED_STALE_AFTER_S = 5.0
# Elsewhere, age alone: a writer touches its file every 16 MB, so one untouched this long
# is abandoned.
STALE_AFTER_S = 600.0

_HANDLED = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s
)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # A second signal while we clean up must still stop the process: back to default.
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated(signum)


def stop_on_sigterm() -> bool:
    """Turn SIGTERM/SIGHUP into `Terminated` in this process; False where that is not
    possible (not the main thread, or the signal is ignored on purpose, as under nohup)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    installed = False
    for sig in _HANDLED:
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue  # nohup and the like asked for this signal to be ignored
        signal.signal(sig, _raise_terminated)
        installed = True
    return installed


def exit_code(stop: KeyboardInterrupt) -> int:
    """The exit status for a stop: 128 + the signal, as a shell reports it."""
    return 128 + stop.signum if isinstance(stop, Terminated) else EXIT_INTERRUPTED


def stop_message(stop: KeyboardInterrupt) -> str:
    if isinstance(stop, Terminated):
        name = signal.Signals(stop.signum).name if stop.signum in _HANDLED else "a signal"
        return f"stopped by {name}; nothing half-written was left"
    return "interrupted"


@dataclass(frozen=True)
class Sweep:
    """What `sweep_stale_parts` removed, and what it left because it could not."""

    removed: tuple[Path, ...]
    failed: tuple[Path, ...]

    def note(self, folder: Path) -> str | None:
        if not self.removed and not self.failed:
            return None
        parts = []
        if self.removed:
            parts.append(
                f"removed {len(self.removed)} temporary file(s) an interrupted earlier run "
                f"left in {folder}"
            )
        if self.failed:
            parts.append(f"could not remove {len(self.failed)} (e.g. {self.failed[0].name})")
        return "; ".join(parts)


def _open_files(mapped: bool = False) -> set[str] | None:
    """Every file some process we may inspect holds open (Linux), else None (unknown);
    with ``mapped``, memory-mapped files too (the tiled runner maps its feature maps and
    closes their descriptors).

    Our own runs are ours to inspect, which is all that matters here: a temporary file
    of this user's writer is open in a process of this user.
    """
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    found: set[str] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                found.add(os.readlink(fd_dir / fd))
            except OSError:
                continue
        if mapped:
            try:
                with open(proc / pid / "maps") as f:
                    found.update(ln.split(None, 5)[5].strip() for ln in f if ln.count(" ") >= 5)
            except (OSError, IndexError):
                continue
    return found


def sweep_stale_parts(
    folder: str | os.PathLike[str],
    started: float | None = None,
    stale_after_s: float | None = None,
) -> Sweep:
    """Remove our abandoned temporary files from ``folder``.

    Only hidden files named as our writer names them, owned by this user, and last
    written before ``started`` (this run's start, default now) by more than
    ``stale_after_s``: 5 s where /proc shows that no process has them open, else 10 min
    (another run writing into the same folder keeps its file fresh). Never raises: a
    folder that cannot be listed is simply not swept.
    """
    start = time.time() if started is None else started
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = [e for e in os.scandir(folder) if _TEMP_NAME.match(e.name)]
    except OSError:
        return Sweep((), ())
    candidates: list[str] = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (uid is None or st.st_uid == uid):
            candidates.append(entry.path)
    if not candidates:
        return Sweep((), ())
    held = _open_files()
    if stale_after_s is None:
        stale_after_s = STALE_AFTER_S if held is None else UNOPENED_STALE_AFTER_S
    removed: list[Path] = []
    failed: list[Path] = []
    for path in candidates:
        try:
            if os.stat(path, follow_symlinks=False).st_mtime > start - stale_after_s:
                continue
            if held is not None and os.path.realpath(path) in held:
                continue  # a writer has it open right now
            os.unlink(path)
            removed.append(Path(path))
        except FileNotFoundError:
            pass  # its writer (or another sweep) finished with it meanwhile
        except OSError:
            failed.append(Path(path))
    return Sweep(tuple(removed), tuple(failed))


# The tiled runner's folder for feature maps kept in files (tiling.FeatureStore): large
# (C float32 maps of the whole input), and left behind in the temp folder by a SIGKILL.
MAP_DIR_PREFIX = "seemore-maps-"
# Where /proc cannot tell whether a run still maps them: a day, longer than any run.
MAP_DIR_STALE_WITHOUT_PROC_S = 86_400.0


def sweep_stale_map_dirs(
    folder: str | os.PathLike[str] | None = None, started: float | None = None
) -> Sweep:
    """Remove our abandoned feature-map folders from ``folder`` (default: the temp
    folder): owned by this user, older than this run, and with no file in them open or
    mapped by any process (or, without /proc, older than a day)."""
    import shutil
    import tempfile

    base = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    start = time.time() if started is None else started
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        dirs = [e for e in os.scandir(base) if e.name.startswith(MAP_DIR_PREFIX)]
    except OSError:
        return Sweep((), ())
    candidates = []
    for entry in dirs:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and (uid is None or st.st_uid == uid):
            candidates.append((Path(entry.path), st.st_mtime))
    if not candidates:
        return Sweep((), ())
    held = _open_files(mapped=True)
    age = MAP_DIR_STALE_WITHOUT_PROC_S if held is None else UNOPENED_STALE_AFTER_S
    removed: list[Path] = []
    failed: list[Path] = []
    for path, mtime in candidates:
        if mtime > start - age:
            continue
        inside = os.path.realpath(path) + os.sep
        if held is not None and any(h.startswith(inside) for h in held):
            continue  # a run is using its maps right now
        try:
            shutil.rmtree(path)
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError:
            failed.append(path)
    return Sweep(tuple(removed), tuple(failed))


def sweep_before_run(output: str | os.PathLike[str], is_folder: bool) -> str | None:
    """Sweep the folder an upscale writes into (the output itself, or its parent) and
    the temp folder's abandoned feature maps; a note when something was removed."""
    folder = Path(output) if is_folder else Path(output).parent
    notes = [sweep_stale_parts(folder).note(folder)]
    maps = sweep_stale_map_dirs()
    if maps.removed or maps.failed:
        notes.append(
            f"removed {len(maps.removed)} feature-map folder(s) an interrupted earlier run "
            f"left in {maps.removed[0].parent if maps.removed else maps.failed[0].parent}"
            + (f"; could not remove {len(maps.failed)}" if maps.failed else "")
        )
    text = "; ".join(n for n in notes if n)
    return text or None
