"""Error types that reach the user, each with the CLI exit code it maps to.

Messages name the file and the problem in plain words; the CLI prints them
without a traceback (``--verbose`` adds one).
"""

from __future__ import annotations


class RestoraError(Exception):
    """Base class for errors shown to the user."""

    exit_code = 1


class UsageError(RestoraError):
    """Bad option, unknown preset, invalid preset file, parameter out of range."""

    exit_code = 2


class AudioInputError(RestoraError):
    """Missing, unreadable, corrupt or empty input; NaN/inf samples."""

    exit_code = 3


class AudioOutputError(RestoraError):
    """Output exists, equals the input, cannot be written, disk full."""

    exit_code = 3


class ModelError(RestoraError):
    """A model file is missing or fails its checksum, or its session cannot start."""

    exit_code = 5


class Cancelled(RestoraError):
    """The user pressed Ctrl-C or cancelled a job."""

    exit_code = 130
