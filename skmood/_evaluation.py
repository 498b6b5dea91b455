"""Evaluation of a fitted model on labelled images (private).

:func:`evaluate_model` predicts and :func:`metrics_report` computes the
metrics of ``skmood evaluate`` on top of :mod:`sklearn.metrics`, as a
JSON-ready dict; the command line formats it (``skmood.cli._format``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import python_scalar
from .exceptions import DatasetError

__all__ = ["evaluate_model", "metrics_report"]

logger = logging.getLogger(__name__)


def evaluate_model(model: Any, paths: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """Predict labelled images and compute :func:`metrics_report`.

    Parameters
    ----------
    model : HappySadClassifier or sklearn.pipeline.Pipeline
        A fitted model, as :func:`skmood.load` returns.
    paths : array-like of shape (n_samples,)
        Image files.
    labels : array-like of shape (n_samples,)
        Their true labels.

    Returns
    -------
    report : dict
        :func:`metrics_report` on the images the model could read, plus
        ``n_unreadable``: images left out because they could not be read
        (only with ``on_error="skip"``; otherwise reading fails with an error).

    Raises
    ------
    DatasetError
        If ``labels`` has a class the model was not trained on, or no image
        could be read.
    """
    classes = model.classes_
    unknown = sorted({str(v) for v in labels} - {str(c) for c in classes})
    if unknown:
        raise DatasetError(
            f"the data has classes {unknown} the model was not trained on; the model's "
            f"classes are {[str(c) for c in classes]}."
        )
    y_pred = np.asarray(model.predict(paths), dtype=object)
    read = np.array([p is not None for p in y_pred], dtype=bool)
    if not read.any():
        raise DatasetError(f"none of the {len(read)} images could be read.")
    if not read.all():
        logger.warning("left %d unreadable image(s) out of the evaluation", (~read).sum())
    y_true = np.asarray(labels, dtype=object)[read]
    return {**metrics_report(y_true, y_pred[read], classes), "n_unreadable": int((~read).sum())}


def metrics_report(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any]
) -> dict[str, Any]:
    """Compute the metrics of ``skmood evaluate`` as a JSON-ready dict.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    classes : sequence
        Labels in the order of the per-class metrics and of the confusion
        matrix's rows (true) and columns (predicted).

    Returns
    -------
    report : dict
        Keys ``n_images``, ``accuracy``, ``balanced_accuracy``, ``classes``,
        ``per_class`` (label to ``precision``, ``recall``, ``f1``,
        ``support``) and ``confusion_matrix`` (list of rows).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    labels = [python_scalar(c) for c in classes]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n_images": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "classes": labels,
        "per_class": {
            str(c): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
