"""Preparing training data for the classifier: targets, weights, splits (private).

Pure functions of arrays and parameters, so the estimator module keeps only
the orchestration and each rule is tested on its own.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from . import _paths
from ._image import read_images
# describe_failures: also importable from here (the classifier's messages)
from ._validation import N_SHOWN, PATHS, ImageInput, check_images, describe_failures  # noqa: F401
from .exceptions import DatasetError, ImageReadError, SkmoodWarning


@dataclass
class Split:
    """Images and encoded labels of one part (training or validation)."""

    data: ImageInput
    y: np.ndarray
    weights: np.ndarray | None
    indices: np.ndarray


def has_strings(y: Any) -> bool:
    """True when ``y`` holds strings (kept as Python objects, not fixed-width)."""
    return np.asarray(y).dtype.kind in "OUS"


def encode_targets(y: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Check binary labels; return ``(classes, y_encoded)`` with ``y_encoded`` in {0, 1}."""
    if y is None:
        raise ValueError(f"{owner}: requires y to be passed, but the target y is None.")
    y = column_or_1d(np.asarray(y, dtype=object) if has_strings(y) else y, warn=True)
    if len(y) == 0:
        raise DatasetError(f"{owner}: y is empty; expected one label per image.")
    missing = [i for i, v in enumerate(y) if v is None or (isinstance(v, float) and v != v)]
    if missing:
        raise DatasetError(
            f"{owner}: y has {len(missing)} missing labels (None or NaN), first at "
            f"index {missing[0]}; label every image."
        )
    check_classification_targets(y)
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) != 2:
        raise DatasetError(
            f"{owner}: needs exactly two classes (e.g. 'happy' and 'sad'), got "
            f"{len(classes)}: {list(classes)[:10]!r}."
        )
    return classes, y_enc.astype(np.int64)


def sample_weights(
    y_enc: np.ndarray, classes: np.ndarray, class_weight: Any, sample_weight: Any, owner: str
) -> np.ndarray | None:
    """Combine ``class_weight`` and ``sample_weight`` into one weight per sample."""
    weights = None
    if class_weight is not None:
        if class_weight == "balanced":
            per_class = compute_class_weight("balanced", classes=np.arange(2), y=y_enc)
        else:
            unknown = set(class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(
                    f"{owner}: class_weight has labels {sorted(map(str, unknown))} that "
                    f"are not in y; expected keys among {list(classes)}."
                )
            per_class = np.array([float(class_weight.get(c, 1.0)) for c in classes])
        weights = per_class[y_enc]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != y_enc.shape or not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError(
                f"{owner}: sample_weight must be {len(y_enc)} finite, non-negative "
                f"numbers, got shape {sw.shape}."
            )
        weights = sw if weights is None else weights * sw
    return weights


def validation_split(
    data: ImageInput, y_enc: np.ndarray, weights, fraction: float, seed, owner: str
) -> tuple[Split, Split | None]:
    """Hold out a stratified, shuffled ``fraction`` of the data for validation."""
    indices = np.arange(len(data))
    if not fraction:
        return Split(data, y_enc, weights, indices), None
    counts = np.bincount(y_enc, minlength=2)
    stratify = y_enc if counts.min() >= 2 else None
    try:
        train_idx, val_idx = train_test_split(
            indices, test_size=fraction, stratify=stratify, random_state=seed
        )
    except ValueError as exc:
        raise ValueError(
            f"{owner}: cannot hold out validation_split={fraction!r} of "
            f"{len(indices)} images: {exc}"
        ) from exc
    return (Split(data, y_enc, weights, np.sort(train_idx)),
            Split(data, y_enc, weights, np.sort(val_idx)))


def validation_data(validation: Any, classes: np.ndarray, owner: str) -> Split:
    """Check a ``(X_val, y_val)`` tuple and encode its labels with ``classes``."""
    if len(validation) != 2:
        raise ValueError(
            f"{owner}: validation_data must be a tuple (X_val, y_val), got a tuple of "
            f"length {len(validation)}."
        )
    X_val, y_val = validation
    data = check_images(X_val, f"{owner} (validation_data)")
    y_val = np.asarray(y_val, dtype=object if has_strings(y_val) else None)
    if len(y_val) != len(data):
        raise DatasetError(
            f"{owner}: validation_data has {len(data)} images but {len(y_val)} labels."
        )
    unknown = sorted({str(v) for v in y_val} - {str(c) for c in classes})
    if unknown:
        raise DatasetError(
            f"{owner}: validation_data has labels {unknown} not seen in y {list(classes)}."
        )
    y_enc = np.searchsorted(classes, y_val.astype(classes.dtype))
    return Split(data, y_enc, None, np.arange(len(data)))


def unreadable(data: ImageInput, color_mode: str, cache=None) -> dict[int, ImageReadError]:
    """Decode every file once (two threads); return ``{index: error}`` of the failures.

    With a :class:`~skmood._cache.DecodedCache` of ``data``, the decoded images
    are kept there, so that training does not decode them again.
    """
    if data.kind != PATHS:
        return {}
    if cache is not None:
        failures: dict[int, ImageReadError] = {}
        chunks = np.array_split(np.arange(len(data)), -(-len(data) // 256))
        with ThreadPoolExecutor(max_workers=2) as pool:  # list(): errors propagate
            list(pool.map(lambda chunk: len(cache.take(chunk, failures)), chunks))
        return dict(sorted(failures.items()))

    def errors(chunk: np.ndarray) -> list[tuple[int, ImageReadError]]:
        images = read_images(data.data[chunk], color_mode=color_mode)  # 64 at most at once
        return [(int(i), exc) for i, exc in zip(chunk, images) if isinstance(exc, ImageReadError)]

    chunks = np.array_split(np.arange(len(data)), -(-len(data) // 64))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pair for found in pool.map(errors, chunks) for pair in found)


def check_files_exist(data: ImageInput, owner: str) -> None:
    """Raise one :class:`ImageReadError` listing the paths that are not files.

    A cheap ``os.path.isfile`` per path, so a typo fails at once rather than
    when its batch is reached, possibly epochs into training; URLs are looked
    up with one listing per folder (:func:`skmood._paths.missing`).
    """
    if data.kind != PATHS:
        return
    urls = [p for p in data.data if _paths.is_url(p)]
    gone = set(_paths.missing(urls)) if urls else set()
    missing = [p for p in data.data
               if (p in gone if _paths.is_url(p) else not os.path.isfile(p))]
    if missing:
        shown = ", ".join(repr(p) for p in missing[:N_SHOWN])
        more = f" (and {len(missing) - N_SHOWN} more)" if len(missing) > N_SHOWN else ""
        raise ImageReadError(
            f"{owner}: {len(missing)} of {len(data)} image paths are not existing files: "
            f"{shown}{more}; fix the paths or pass on_error='skip'."
        )


def _without(split: Split, failures: dict[int, Exception], owner: str) -> Split:
    keep = np.array([i for i in split.indices if i not in failures], dtype=np.int64)
    if len(keep) == 0 or len(np.unique(split.y[keep])) < 2:
        raise DatasetError(
            f"{owner}: after skipping unreadable images, fewer than two classes remain; "
            "fix or remove the files listed in the warning."
        )
    return Split(split.data, split.y, split.weights, keep)


def skip_unreadable(
    train: Split, val: Split | None, color_mode: str, owner: str, caches=None
) -> tuple[Split, Split | None]:
    """Drop unreadable files from both splits, warning once with the count and examples.

    ``caches`` (by ``id`` of the data, :func:`skmood._cache.fit_caches`) keep
    the images decoded by this check for training.
    """
    caches = caches or {}
    failures = unreadable(train.data, color_mode, caches.get(id(train.data)))
    total = len(train.data)
    val_failures = failures
    if val is not None and val.data is not train.data:
        val_failures = unreadable(val.data, color_mode, caches.get(id(val.data)))
        total += len(val.data)
    shown = {("train", i): e for i, e in failures.items()}
    if val_failures is not failures:
        shown.update({("val", i): e for i, e in val_failures.items()})
    if shown:
        warnings.warn(
            f"{owner}: {describe_failures(shown, total)}; they were left out of training "
            "(on_error='skip').",
            SkmoodWarning,
            stacklevel=3,
        )
    if failures:
        train = _without(train, failures, owner)
    if val is not None and val_failures:
        val = _without(val, val_failures, owner)
    return train, val


def known_boxes(face_boxes: Any, n_images: int, owner: str) -> dict[int, tuple] | None:
    """``{index: (x, y, width, height)}`` of the faces given to ``fit`` (None: all unknown)."""
    if face_boxes is None:
        return None
    boxes = list(face_boxes)
    if len(boxes) != n_images:
        raise ValueError(f"{owner}: face_boxes has {len(boxes)} entries for {n_images} images; "
                         "expected one box or None per image.")
    known = {}
    for i, box in enumerate(boxes):
        if box is None:
            continue
        values = tuple(box) if isinstance(box, (tuple, list, np.ndarray)) else ()
        if len(values) != 4 or not all(isinstance(v, (int, np.integer)) and not
                                       isinstance(v, bool) for v in values) \
                or values[2] < 1 or values[3] < 1:
            raise ValueError(f"{owner}: face_boxes[{i}] must be None or (x, y, width, height) "
                             f"ints with a positive width and height, got {box!r}.")
        known[i] = tuple(int(v) for v in values)
    return known
