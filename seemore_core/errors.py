"""Every error type seemore raises on purpose, in one place.

Everything a user can cause (a bad file, a wrong option) ends in a subclass of
`SeemoreError`, whose message is meant to be printed as is: the CLI shows it on one
line and the app in a dialog, never as a traceback. Messages raised inside the core name
no command-line flag: the same text reaches the app, which has no flags; the CLI adds
its own hint where one helps.

`Cancelled` is deliberately *not* a `SeemoreError`: a stop the user asked for is not a
failure, and keeping it apart means no handler has to catch it before `SeemoreError`.
"""

from __future__ import annotations

import os
from pathlib import Path


class SeemoreError(Exception):
    """Base of every error seemore raises on purpose.

    ``option`` names the setting that would change the outcome ("tile", "max_pixels")
    and ``value`` a value of it that would work, where one is known: the CLI turns them
    into a flag hint, the app may point at its own control.
    """

    def __init__(self, *args: object, option: str | None = None, value: object = None) -> None:
        super().__init__(*args)
        self.option = option
        self.value = value


class UsageError(SeemoreError):
    """A mistake in what was asked for (an option, a combination of inputs): exit code 2."""


class ConfigError(UsageError, ValueError):
    """A configuration names an unknown key or gives a value of the wrong kind.

    Also a `ValueError`, which is what configuration code raised before it had a type.
    """


class CheckpointError(SeemoreError):
    """A file is not a loadable SeemoRe checkpoint; the message names the file and why."""


class ModelNotFound(SeemoreError):
    """A model name is neither a file nor a bundled model, or its weights are missing."""


class EngineError(SeemoreError):
    """The engine cannot run as asked (no such device, not enough memory, ...)."""


class FileError(SeemoreError):
    """A file could not be read or written; the message names the file and the reason."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        reason: str,
        *,
        option: str | None = None,
        value: object = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        where = f"'{self.path}'" if self.path is not None else "image"
        super().__init__(f"{where}: {reason}", option=option, value=value)


class ImageIOError(FileError):
    """An image could not be read or written; the message names the file and the reason."""


class OutputExistsError(ImageIOError, FileExistsError):
    """The output file exists and overwriting was not allowed."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        ImageIOError.__init__(self, path, reason)

    def __str__(self) -> str:
        # FileExistsError formats its own args otherwise ("[Errno ...]").
        return ImageIOError.__str__(self)


class Cancelled(Exception):
    """A long operation was stopped on request (not a failure, so not a SeemoreError)."""


class WorkTooLargeError(SeemoreError):
    """An upscale would exceed the pixel limit or this machine's memory and disk."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: stop as Ctrl+C would (see `seemore_core.signals`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
