"""Checks shared by the transformers and the classifier (private).

Each check returns the input in one canonical form or raises an error whose
message starts with the owner's name, names the offending value and says what
was expected.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

#: Which kind of image input an ``X`` holds.
PATHS, PIXELS, IMAGES = "paths", "pixels", "images"

#: What an unreadable image does (the classifier's ``on_error``).
ON_ERROR = ("raise", "skip")
#: How many offending files an error or warning lists.
N_SHOWN = 5

_X_EXPECTED = (
    "expected image file paths (a 1-D sequence or a single column) or pixel "
    "arrays of shape (n_samples, height, width, channels)"
)


@dataclass(frozen=True)
class ImageInput:
    """Validated image input: ``kind`` is ``"paths"``, ``"pixels"`` or ``"images"``.

    ``data`` is a 1-D object array of ``str`` paths, a 4-D numeric pixel array,
    or a 1-D object array of ``(height, width, channels)`` arrays respectively.
    """

    kind: str
    data: np.ndarray

    def __len__(self) -> int:
        return len(self.data)


def is_positive_int(value: Any) -> bool:
    """True for an int (NumPy's too) of at least 1; False for ``True``, floats, strings."""
    return isinstance(value, Integral) and not isinstance(value, bool) and value > 0


def check_image_size(image_size: Any, owner: str, name: str = "image_size") -> tuple[int, int]:
    """Return ``image_size`` as a ``(height, width)`` pair of positive ints."""
    try:
        pair = tuple(image_size)
    except TypeError:
        pair = None
    if (
        pair is None
        or len(pair) != 2
        or not all(is_positive_int(v) for v in pair)
    ):
        raise ValueError(
            f"{owner}: {name} must be a pair of positive ints (height, width), got {image_size!r}."
        )
    return int(pair[0]), int(pair[1])


def _empty_message(owner: str, shape: tuple) -> str:
    return (
        f"{owner}: X is empty: found array with 0 sample(s) (shape={shape}) while a "
        "minimum of 1 is required; expected at least one image."
    )


def reject_sparse(X: Any, owner: str) -> None:
    """Raise a clear ``TypeError`` for scipy sparse input."""
    # A sparse matrix exists only once scipy.sparse is imported: this check never
    # imports scipy itself (skmood.runtime runs without it).
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(X):
        raise TypeError(
            f"{owner}: sparse input is not supported; {_X_EXPECTED}, got a sparse "
            f"{type(X).__name__} of shape {X.shape}."
        )


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def check_image_paths(X: Any, owner: str) -> np.ndarray:
    """Return ``X`` as a 1-D object array of ``str`` paths.

    Accepts a sequence of ``str``/``os.PathLike``, a 1-D array, or a 2-D array,
    DataFrame or list of rows with exactly one column.
    """
    reject_sparse(X, owner)
    if hasattr(X, "to_numpy"):  # pandas / polars
        X = X.to_numpy()
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(
            f"{owner}: X must be a sequence of image paths, got a single path {os.fspath(X)!r}; "
            "wrap it in a list."
        )
    try:
        arr = np.empty(len(X), dtype=object)
        arr[:] = [x[0] if _is_row(x) else x for x in X]
    except TypeError as exc:
        raise TypeError(f"{owner}: {_X_EXPECTED}, got {type(X).__name__}.") from exc
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] != 1:
        raise ValueError(f"{owner}: {_X_EXPECTED}; got a 2-D array with {X.shape[1]} columns.")
    if isinstance(X, np.ndarray) and X.ndim > 2:
        raise ValueError(f"{owner}: {_X_EXPECTED}; got an array of shape {X.shape}.")
    if len(arr) == 0:
        raise ValueError(_empty_message(owner, np.shape(X)))
    bad = [i for i, x in enumerate(arr) if not _is_path(x)]
    if bad:
        examples = ", ".join(f"X[{i}]={arr[i]!r}" for i in bad[:5])
        raise TypeError(
            f"{owner}: {len(bad)} of {len(arr)} entries of X are not file paths "
            f"(str or os.PathLike): {examples}; {_X_EXPECTED}."
        )
    arr[:] = [os.fspath(x) for x in arr]
    return arr


def _is_row(x: Any) -> bool:
    """True for a one-element row such as ``["a.png"]`` or ``np.array(["a.png"])``."""
    if isinstance(x, (str, bytes, os.PathLike)):
        return False
    try:
        return len(x) == 1
    except TypeError:
        return False


def check_pixels(X: Any, owner: str, *, allow_float: bool = True) -> np.ndarray:
    """Check a pixel array and return it as ``(n, height, width, channels)``.

    Integer arrays must hold values in [0, 255]; float arrays values in [0, 1]
    (when ``allow_float``). A 3-D array is taken as single-channel images.
    """
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"{owner}: Complex data not supported; pixel values must be real.")
    if X.dtype.kind not in "uif":
        raise TypeError(f"{owner}: pixel arrays must be numeric, got dtype {X.dtype}.")
    if X.ndim == 3:
        X = X[..., np.newaxis]
    if X.ndim != 4:
        raise ValueError(f"{owner}: {_X_EXPECTED}; got a numeric array of shape {X.shape}.")
    if X.shape[0] == 0:
        raise ValueError(_empty_message(owner, X.shape))
    if X.shape[-1] not in (1, 3):
        raise ValueError(
            f"{owner}: pixel arrays must have 1 (grayscale) or 3 (RGB) channels in the last "
            f"axis, got shape {X.shape}."
        )
    if X.dtype.kind == "f":
        if not allow_float:
            raise TypeError(
                f"{owner}: expected integer pixel values 0-255 (uint8), got dtype {X.dtype}."
            )
        if not np.isfinite(X).all():
            raise ValueError(f"{owner}: pixel array contains NaN or infinity.")
        lo, hi = float(X.min()), float(X.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{owner}: float pixel arrays must hold values in [0, 1], got values in "
                f"[{lo:g}, {hi:g}]; divide 0-255 data by 255 or pass uint8 arrays."
            )
    elif X.dtype != np.uint8:
        lo, hi = int(X.min()), int(X.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{owner}: integer pixel arrays must hold values in [0, 255], got values in "
                f"[{lo}, {hi}]."
            )
        X = X.astype(np.uint8)
    return X


def check_images(X: Any, owner: str) -> ImageInput:
    """Classify ``X`` as paths, a pixel array or a sequence of decoded images.

    Returns an :class:`ImageInput`; raises ``TypeError``/``ValueError`` naming
    ``owner`` when ``X`` is none of these.
    """
    reject_sparse(X, owner)
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.dtype.kind in "uifbc":
        return ImageInput(PIXELS, check_pixels(X, owner))
    if isinstance(X, (list, tuple, np.ndarray)) and len(X) and all(
        isinstance(x, np.ndarray) and x.ndim in (2, 3) for x in X
    ):
        images = np.empty(len(X), dtype=object)
        for i, x in enumerate(X):
            images[i] = check_pixels(x[np.newaxis], f"{owner}: image X[{i}]")[0]
        return ImageInput(IMAGES, images)
    return ImageInput(PATHS, check_image_paths(X, owner))


def python_scalar(value: Any) -> Any:
    """A NumPy scalar (a label, a count) as the Python value it holds, for JSON; others as given."""
    return value.item() if isinstance(value, np.generic) else value


def describe_failures(failures: dict[int, Exception], total: int) -> str:
    """``"3 of 120 images ...: <first 5 messages>"`` for warnings and errors."""
    shown = "; ".join(str(failures[k]).rstrip(".") for k in sorted(failures)[:N_SHOWN])
    more = f" (and {len(failures) - N_SHOWN} more)" if len(failures) > N_SHOWN else ""
    return f"{len(failures)} of {total} images could not be read: {shown}{more}"
