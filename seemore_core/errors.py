"""The error types seemore raises on purpose.

Everything a user can cause (a bad file, a wrong option) ends in a subclass of
`SeemoreError`, whose message is meant to be printed as is: the CLI shows it on one
line and the app in a dialog, never as a traceback.
"""


class SeemoreError(Exception):
    """Base of every error seemore raises on purpose."""


class CheckpointError(SeemoreError):
    """A file is not a loadable SeemoRe checkpoint; the message names the file and why."""


class Cancelled(SeemoreError):
    """A long operation was stopped on request."""


class WorkTooLargeError(SeemoreError):
    """An upscale would exceed the pixel limit or this machine's memory and disk."""
