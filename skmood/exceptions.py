"""Exceptions and warnings raised by skmood.

Every error skmood raises on bad input derives from :class:`SkmoodError` and
from a builtin type (``ValueError`` or ``TypeError``), so ``except ValueError``
in user code keeps working.
"""

from __future__ import annotations

import threading

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


class SkmoodWarning(UserWarning):
    """A recoverable problem, such as an unreadable image skipped on request."""


_LOCK = threading.Lock()


def _not_fitted_error() -> type:
    """Create :class:`NotFittedError` (once): scikit-learn is imported here only.

    The exceptions module is imported by :mod:`skmood.runtime`, which must run
    without scikit-learn, so the one class that subclasses a scikit-learn
    class is made when it is first asked for (module ``__getattr__``, PEP 562).
    """
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(SkmoodError, SklearnNotFittedError):
        """An estimator was used before ``fit``.

        Subclasses scikit-learn's :class:`~sklearn.exceptions.NotFittedError`,
        so code catching that keeps working.
        """

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str):
    if name == "NotFittedError":
        with _LOCK:  # one class, however many threads ask first
            if "NotFittedError" not in globals():
                globals()["NotFittedError"] = _not_fitted_error()
        return globals()["NotFittedError"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
