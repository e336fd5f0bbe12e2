"""User-facing errors.

Every problem a user can cause (bad config, unknown name, missing file, corrupt checkpoint)
raises a :class:`TorchslimError`. The CLI prints its message as one line and exits with code 2,
so users never see a traceback for their own mistakes.
"""

from __future__ import annotations


class TorchslimError(Exception):
    """A problem with the user's input, reported as one clear line."""


class ConfigError(TorchslimError):
    """A config file or override that does not validate."""


class UnknownNameError(TorchslimError):
    """A registry lookup for a name that is not registered."""


class DataNotFoundError(TorchslimError):
    """A dataset root that does not hold the expected files."""


class CheckpointError(TorchslimError):
    """A checkpoint that cannot be read as plain tensors."""


class TrainingDivergedError(TorchslimError):
    """The loss became NaN or infinite; continuing would only waste time."""
