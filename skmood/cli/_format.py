"""What the command line prints and writes: tables, predictions, evaluations.

Pure text formatting (no Keras): aligned tables, predictions as a table, CSV
or JSON, the evaluation report of :func:`skmood._evaluation.metrics_report`,
and :func:`prepare_output` for the files the commands write.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _paths
from .._confidence import labels_from_proba
from .._validation import python_scalar

__all__ = [
    "EVALUATION_FORMATS",
    "PREDICTION_FORMATS",
    "class_counts",
    "format_evaluation",
    "format_predictions",
    "format_table",
    "prepare_output",
]


def prepare_output(path: str | os.PathLike[str]) -> str:
    """Return ``path`` absolute after creating its folder; raise if it is unusable.

    A URL (``s3://bucket/model.skmood``) is returned as given: object storage
    has no folders to create, and a refused write fails when it happens.
    """
    if _paths.is_url(path):
        return path
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"output {path!r} is a directory; expected a file path.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.access(os.path.dirname(path), os.W_OK):
        raise PermissionError(f"cannot write to folder {os.path.dirname(path)!r}.")
    return path


#: Output formats of :func:`format_predictions` (``skmood predict --format``).
PREDICTION_FORMATS = ("table", "csv", "json")
#: Output formats of ``skmood evaluate --format``.
EVALUATION_FORMATS = ("text", "json")


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """Format rows of strings as aligned text columns.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequence of str
        Cells, one sequence per row, as many as ``header``.
    align : str
        One character per column: ``"<"`` aligns left, ``">"`` right.

    Returns
    -------
    text : str
        One line per row (header first), columns separated by two spaces,
        ending with a newline.
    """
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = []
    for cells in [list(header), *rows]:
        parts = [c.ljust(w) if a == "<" else c.rjust(w) for c, w, a in zip(cells, widths, align)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def format_predictions(
    paths: Sequence[str], classes: Sequence[Any], proba: np.ndarray, fmt: str = "table",
    boxes: Sequence[Any] | None = None, min_confidence: float | None = None,
) -> str:
    """Format one prediction per image: path, label and class probabilities.

    Parameters
    ----------
    paths : sequence of str
        The image files, in the order of ``proba``'s rows.
    classes : sequence
        The classifier's ``classes_``, the order of ``proba``'s columns. Each
        probability column is named after its class (prefixed with ``p_`` if
        that would clash with ``path`` or ``label``).
    proba : ndarray of shape (n_images, n_classes)
        Predicted probabilities; the label is the most probable class. A row
        of NaN (an unreadable image skipped with ``on_error="skip"``) gives an
        empty label and empty probabilities (``null`` in JSON).
    fmt : {"table", "csv", "json"}, default="table"
        Aligned text, CSV with a header row, or a JSON list of objects with
        keys ``path``, ``label`` and one per class.
    boxes : sequence of (x, y, width, height) or None, default=None
        The face box of each row: adds a column ``face_box`` after ``label``
        (``x,y,width,height``, empty for the whole image; in JSON an object
        with those keys, or ``null``).
    min_confidence : float or None, default=None
        Rows whose most probable class is less probable than this get the
        label ``unsure`` (their probabilities are shown as usual).

    Returns
    -------
    text : str
        The formatted predictions, ending with a newline.
    """
    if fmt not in PREDICTION_FORMATS:
        raise ValueError(
            f"format_predictions: fmt must be one of {PREDICTION_FORMATS}, got {fmt!r}."
        )
    columns = [f"p_{c}" if str(c) in ("path", "label") else str(c) for c in classes]
    failed = np.isnan(proba).any(axis=1)
    labels = [python_scalar(v) for v in labels_from_proba(proba, classes, min_confidence)]
    probs = [[None] * len(columns) if bad else [float(v) for v in row]
             for bad, row in zip(failed, proba)]
    with_boxes = boxes is not None
    boxes = list(boxes) if with_boxes else [None] * len(paths)
    box_text = ["" if b is None else ",".join(str(int(v)) for v in b) for b in boxes]
    box_column = ["face_box"] if with_boxes else []
    if fmt == "json":
        objects = [{"path": str(p), "label": lab,
                    **({"face_box": None if b is None else dict(
                        zip(("x", "y", "width", "height"), map(int, b)))} if with_boxes else {}),
                    **dict(zip(columns, ps))}
                   for p, lab, b, ps in zip(paths, labels, boxes, probs)]
        return json.dumps(objects, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "label", *box_column, *columns])
        for p, lab, bt, ps in zip(paths, labels, box_text, probs):
            writer.writerow([str(p), "" if lab is None else lab, *([bt] if with_boxes else []),
                             *("" if v is None else repr(v) for v in ps)])
        return buffer.getvalue()
    cells = [[str(p), "(unreadable)" if lab is None else str(lab),
              *([bt or "whole image"] if with_boxes else []),
              *("" if v is None else f"{v:.4f}" for v in ps)]
             for p, lab, bt, ps in zip(paths, labels, box_text, probs)]
    return format_table(["path", "label", *box_column, *columns], cells,
                        "<<" + "<" * len(box_column) + ">" * len(columns))


def format_evaluation(report: dict[str, Any]) -> str:
    """Format :func:`skmood._evaluation.metrics_report`'s dict as readable text.

    Parameters
    ----------
    report : dict
        As returned by :func:`skmood._evaluation.metrics_report`.

    Returns
    -------
    text : str
        Accuracy, balanced accuracy, the probability metrics (ROC AUC, average
        precision, log loss, Brier score) when the report has them, a
        per-class precision/recall/F1 table and the confusion matrix with
        labelled rows (true) and columns (predicted).
    """
    names = [str(c) for c in report["classes"]]
    per_class = [
        [n, *(f"{report['per_class'][n][k]:.4f}" for k in ("precision", "recall", "f1")),
         str(report["per_class"][n]["support"])]
        for n in names
    ]
    matrix = [[f"true {n}", *map(str, row)] for n, row in zip(names, report["confusion_matrix"])]
    unreadable = report.get("n_unreadable", 0)
    return (
        (f"unreadable images left out: {unreadable}\n" if unreadable else "")
        + f"accuracy           {report['accuracy']:.4f}\n"
        f"balanced accuracy  {report['balanced_accuracy']:.4f}\n"
        + _probability_lines(report) + "\n"
        + format_table(["class", "precision", "recall", "f1-score", "support"], per_class, "<>>>>")
        + "\nconfusion matrix (rows: true class, columns: predicted class)\n"
        + format_table(["", *(f"pred {n}" for n in names)], matrix, "<" + ">" * len(names))
    )


def _probability_lines(report: dict[str, Any]) -> str:
    """ROC AUC, average precision, log loss and Brier score, when the report has them."""
    if "log_loss" not in report:
        return ""

    def number(value: float | None) -> str:
        return "n/a (one class only)" if value is None else f"{value:.4f}"

    return (f"ROC AUC            {number(report['roc_auc'])}  "
            f"(positive class: {report['positive_class']})\n"
            f"average precision  {number(report['average_precision'])}\n"
            f"log loss           {report['log_loss']:.4f}\n"
            f"Brier score        {report['brier_score']:.4f}\n")


def class_counts(labels: Any) -> str:
    """``"happy: 12, sad: 12"``: the number of images of each class."""
    names, counts = np.unique(labels, return_counts=True)
    return ", ".join(f"{n}: {c}" for n, c in zip(names, counts))
