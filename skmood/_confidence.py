"""Labels from probabilities, with an "unsure" answer below a confidence (private).

One home for turning ``predict_proba`` rows into labels, shared by
:meth:`HappySadClassifier.predict <skmood.HappySadClassifier.predict>`, the
command line (``skmood predict --min-confidence``) and the server
(``?min_confidence=``); and for the accuracy-versus-coverage trade-off that
the evaluation report shows for such thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["UNSURE", "check_min_confidence", "coverage_curve", "labels_from_proba"]

#: The label given when the most probable class is less probable than ``min_confidence``.
UNSURE = "unsure"


def check_min_confidence(value: Any, owner: str) -> float | None:
    """``value`` as a float in [0, 1], or None; raise ``ValueError`` naming ``owner`` otherwise.

    >>> check_min_confidence(0.7, "predict")
    0.7
    >>> check_min_confidence(1.5, "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: min_confidence must be a number in [0, 1] or None, got 1.5.
    """
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value)
            or not 0 <= value <= 1):
        raise ValueError(
            f"{owner}: min_confidence must be a number in [0, 1] or None, got {value!r}.")
    return float(value)


def labels_from_proba(proba: np.ndarray, classes: Sequence[Any],
                      min_confidence: float | None = None) -> np.ndarray:
    """The most probable class of each row; ``"unsure"`` and ``None`` where there is none.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``classes``. A row of NaN
        (an unreadable image skipped with ``on_error="skip"``) gets ``None``.
    classes : sequence
        The classifier's ``classes_``.
    min_confidence : float or None, default=None
        Rows whose top probability is below it get :data:`UNSURE`. Checked by
        :func:`check_min_confidence` beforehand.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Entries of ``classes``, of ``classes``' dtype when every row has one;
        of dtype object when a row is NaN, and always with ``min_confidence``
        (so the dtype does not depend on the data).
    """
    classes = np.asarray(classes)
    proba = np.asarray(proba, dtype=float)
    labels = classes[np.argmax(np.nan_to_num(proba, nan=0.0), axis=1)]
    failed = np.isnan(proba).any(axis=1)
    if min_confidence is None and not failed.any():
        return labels
    labels = labels.astype(object)
    if min_confidence is not None:
        labels[np.nan_to_num(proba, nan=1.0).max(axis=1) < min_confidence] = UNSURE
    labels[failed] = None
    return labels


def coverage_curve(y_true: Sequence[Any], proba: np.ndarray, classes: Sequence[Any],
                   thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """Accuracy on the answered images and the share answered, per ``min_confidence``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities (no NaN), columns in the order of ``classes``.
    classes : sequence
        The classifier's ``classes_``.
    thresholds : sequence of float
        Values of ``min_confidence``.

    Returns
    -------
    curve : list of dict
        One per threshold: ``min_confidence``, ``coverage`` (the fraction of
        images answered, not ``"unsure"``), ``n_answered`` and ``accuracy``
        on those (``None`` when none is answered).

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> [(c["coverage"], c["accuracy"]) for c in coverage_curve(
    ...     ["happy", "sad", "sad"], proba, ["happy", "sad"], [0.5, 0.7])]
    [(1.0, 0.6666666666666666), (0.6666666666666666, 1.0)]
    """
    y_true = np.asarray(y_true, dtype=object)
    proba = np.asarray(proba, dtype=float)
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == y_true
    confidence = proba.max(axis=1)
    curve = []
    for t in thresholds:
        answered = confidence >= t
        n = int(answered.sum())
        curve.append({"min_confidence": float(t),
                      "coverage": n / len(y_true) if len(y_true) else 0.0,
                      "n_answered": n,
                      "accuracy": float(correct[answered].mean()) if n else None})
    return curve
