"""Exceptions and warnings raised by skmood.

Every error skmood raises on bad input derives from :class:`SkmoodError` and
from a builtin type (``ValueError`` or ``TypeError``), so ``except ValueError``
in user code keeps working.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "SkmoodError",
    "ImageReadError",
    "DatasetError",
    "ModelFileError",
    "NotFittedError",
    "SkmoodWarning",
]


class SkmoodError(Exception):
    """Base class of all skmood errors."""


class ImageReadError(SkmoodError, ValueError):
    """An image file could not be read or decoded.

    The message names the file and the reason.
    """


class DatasetError(SkmoodError, ValueError):
    """A data set (folder of images, labels, arrays) is not usable as given."""


class ModelFileError(SkmoodError, ValueError):
    """A file is not a readable skmood model: corrupt, truncated, foreign or too new."""


class NotFittedError(SkmoodError, _SklearnNotFittedError):
    """An estimator was used before ``fit``.

    Subclasses scikit-learn's :class:`~sklearn.exceptions.NotFittedError`,
    so code catching that keeps working.
    """


class SkmoodWarning(UserWarning):
    """A recoverable problem, such as an unreadable image skipped on request."""
