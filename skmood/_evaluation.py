"""Evaluation of a fitted model on labelled images (private).

:func:`labelled_predictions` predicts, :func:`report_of` and
:func:`metrics_report` compute the metrics of ``skmood evaluate`` on top of
:mod:`sklearn.metrics`, as a JSON-ready dict; the command line formats it
(``skmood.cli._format``) and :func:`skmood.evaluation_report` draws it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._validation import python_scalar
from .exceptions import DatasetError

__all__ = ["LabelledPredictions", "labelled_predictions", "metrics_report",
           "probability_metrics", "report_of"]

logger = logging.getLogger(__name__)


class LabelledPredictions(NamedTuple):
    """What :func:`labelled_predictions` returns: the images the model could read."""

    #: True labels of the readable images.
    y_true: np.ndarray
    #: Their class probabilities, columns in the order of ``classes_``.
    proba: np.ndarray
    #: Their positions in ``X``.
    index: np.ndarray
    #: Images left out because they could not be read (``on_error="skip"``).
    n_unreadable: int


def labelled_predictions(model: Any, X: Any, labels: Sequence[Any]) -> LabelledPredictions:
    """Class probabilities of labelled images, unreadable ones left out.

    Parameters
    ----------
    model : HappySadClassifier or sklearn.pipeline.Pipeline
        A fitted model, as :func:`skmood.load` returns.
    X : array-like of shape (n_samples,) or ndarray of shape \
(n_samples, height, width, channels)
        Image files or pixel arrays.
    labels : array-like of shape (n_samples,)
        Their true labels.

    Raises
    ------
    DatasetError
        If ``labels`` has a class the model was not trained on, is not as long
        as ``X``, or no image could be read.
    """
    classes = model.classes_
    labels = np.asarray(labels, dtype=object)
    unknown = sorted({str(v) for v in labels} - {str(c) for c in classes})
    if unknown:
        raise DatasetError(
            f"the data has classes {unknown} the model was not trained on; the model's "
            f"classes are {[str(c) for c in classes]}."
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    if len(proba) != len(labels):
        raise DatasetError(f"X and y have different lengths: {len(proba)} images but "
                           f"{len(labels)} labels.")
    read = ~np.isnan(proba).any(axis=1)
    if not read.any():
        raise DatasetError(f"none of the {len(read)} images could be read.")
    if not read.all():
        logger.warning("left %d unreadable image(s) out of the evaluation", (~read).sum())
    return LabelledPredictions(labels[read], proba[read], np.flatnonzero(read),
                               int((~read).sum()))


def report_of(found: LabelledPredictions, classes: Sequence[Any]) -> dict[str, Any]:
    """The metrics of ``skmood evaluate`` on :func:`labelled_predictions`' result.

    :func:`metrics_report` with the probability metrics, on the images the
    model could read, plus ``n_unreadable``: images left out because they
    could not be read (only with ``on_error="skip"``; otherwise reading
    fails with an error).
    """
    y_pred = np.asarray(classes, dtype=object)[found.proba.argmax(axis=1)]
    return {**metrics_report(found.y_true, y_pred, classes, proba=found.proba),
            "n_unreadable": found.n_unreadable}


def metrics_report(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any],
    proba: np.ndarray | None = None,
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
    proba : ndarray of shape (n_samples, 2) or None, default=None
        Predicted probabilities, columns in the order of ``classes``: adds
        :func:`probability_metrics`.

    Returns
    -------
    report : dict
        Keys ``n_images``, ``accuracy``, ``balanced_accuracy``, ``classes``,
        ``per_class`` (label to ``precision``, ``recall``, ``f1``,
        ``support``) and ``confusion_matrix`` (list of rows); with ``proba``
        also those of :func:`probability_metrics`.
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
        **({} if proba is None else probability_metrics(y_true, proba, classes)),
        "classes": labels,
        "per_class": {
            str(c): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def probability_metrics(y_true: Sequence[Any], proba: np.ndarray, classes: Sequence[Any]
                        ) -> dict[str, Any]:
    """Metrics of the predicted probabilities, the positive class being ``classes[1]``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : ndarray of shape (n_samples, 2)
        Predicted probabilities, columns in the order of ``classes``.
    classes : sequence of length 2
        The classifier's ``classes_``.

    Returns
    -------
    metrics : dict
        ``positive_class`` (``classes[1]``, e.g. ``"sad"``), ``roc_auc`` and
        ``average_precision`` (of ``proba[:, 1]`` for the positive class;
        ``None`` when ``y_true`` has one class only: they are undefined),
        ``log_loss`` and ``brier_score`` (of ``proba[:, 1]``; lower is
        better), all from :mod:`sklearn.metrics`.

    Examples
    --------
    >>> import numpy as np
    >>> m = probability_metrics(["happy", "sad"], np.array([[0.8, 0.2], [0.3, 0.7]]),
    ...                         ["happy", "sad"])
    >>> m["roc_auc"], round(m["brier_score"], 3)
    (1.0, 0.065)
    """
    from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss,
                                 roc_auc_score)

    labels = [python_scalar(c) for c in classes]
    y_true = np.asarray(y_true, dtype=object)
    positive = y_true == labels[1]
    score = np.asarray(proba, dtype=float)[:, 1]
    both = 0 < positive.sum() < len(positive)
    return {
        "positive_class": labels[1],
        "roc_auc": float(roc_auc_score(positive, score)) if both else None,
        "average_precision": float(average_precision_score(positive, score)) if both else None,
        "log_loss": float(log_loss(positive, score, labels=[False, True])),
        "brier_score": float(brier_score_loss(positive, score)),
    }
