"""Errors a user can act on.

Every error raised on purpose by visionflow is a `VisionflowError`; the CLI prints its message as
one line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class VisionflowError(Exception):
    """Base class: the message alone tells the user what went wrong and what to do."""

    exit_code = 2


class ConfigError(VisionflowError, ValueError):
    """A setting is unknown or has a value outside its allowed range."""


class DataError(VisionflowError, ValueError):
    """The image folder cannot be used as given (no images, missing split, too few per class)."""


class ModelError(VisionflowError):
    """A model cannot be built, loaded or trusted."""


class TrainingFailed(VisionflowError):
    """Training stopped because it could not go on (for example the loss became NaN)."""

    exit_code = 1


class ExportFailed(VisionflowError):
    """An exported model did not reproduce the Keras model's outputs within tolerance."""

    exit_code = 1
