"""Helpers of the command line (private): files, models and reports.

Finding images, saving and loading models atomically and safely, and
formatting predictions and evaluation reports on top of
:mod:`sklearn.metrics`. Nothing here imports Keras; joblib and scikit-learn
submodules are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._classifier import HappySadClassifier
from .datasets import IMAGE_EXTENSIONS
from .exceptions import DatasetError, ModelFileError

__all__ = [
    "evaluate_model",
    "evaluation_report",
    "find_images",
    "format_evaluation",
    "format_predictions",
    "format_table",
    "load_model",
    "prepare_output",
    "save_model",
]

logger = logging.getLogger(__name__)

_MODEL_HINT = "expected a model file saved by 'skmood train'"


#: Extension of the safe model format (:func:`skmood.save`): no pickle.
SAFE_EXTENSION = ".skmood"


def is_safe_format(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a ``.skmood`` file (safe format), else joblib."""
    return os.fspath(path).lower().endswith(SAFE_EXTENSION)


def save_model(model: Any, path: str | os.PathLike[str]) -> int:
    """Save ``model`` atomically; return the file size in bytes.

    A path ending in ``.skmood`` is written with :func:`skmood.save` (Keras
    format + JSON, no pickle); any other with joblib. The model is written to a
    temporary file in the destination folder (created if needed) and moved into
    place with :func:`os.replace`, so a crash never leaves a half-written model.

    Parameters
    ----------
    model : object
        The fitted estimator or pipeline.
    path : str or os.PathLike
        Destination file; an existing file is replaced.

    Returns
    -------
    size : int
        Size of the written file in bytes.
    """
    import joblib

    path = prepare_output(path)
    if is_safe_format(path):
        from ._persistence import save

        save(model, path)  # atomic itself
        return os.path.getsize(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            joblib.dump(model, fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates files readable by the owner only
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)


def load_model(path: str | os.PathLike[str], *, on_error: str | None = None) -> Any:
    """Load a fitted skmood model: ``.skmood`` safely, others with joblib.

    A ``.skmood`` file is read by :func:`skmood.load` without unpickling
    anything. Any other file is unpickled by joblib, which can run arbitrary
    code: only load such files if you trust them.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``skmood train`` or ``joblib.dump``.
    on_error : {"raise", "skip"} or None, default=None
        If given, replaces the classifier's ``on_error`` (what an unreadable
        image does at prediction time).

    Returns
    -------
    model : HappySadClassifier or sklearn.pipeline.Pipeline
        A fitted classifier, or a fitted pipeline whose last step is one.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file cannot be unpickled or holds something else than a fitted
        skmood model (a ``ValueError``).
    """
    import joblib

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist; {_MODEL_HINT}.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"model path {path!r} is a directory; {_MODEL_HINT}.")
    try:
        if is_safe_format(path):
            from ._persistence import load

            model = load(path)
        else:
            model = joblib.load(path)
    except ModelFileError:
        raise
    except Exception as exc:  # a foreign or corrupt file can fail in many ways
        raise ModelFileError(
            f"{path!r} is not a skmood model: it cannot be loaded "
            f"({type(exc).__name__}: {exc}); {_MODEL_HINT}."
        ) from exc
    final = _final_estimator(model)
    if not isinstance(final, HappySadClassifier):
        raise ModelFileError(
            f"{path!r} is not a skmood model: it holds a {type(model).__name__}; expected a "
            "fitted HappySadClassifier or a Pipeline ending in one, saved by 'skmood train'."
        )
    if not hasattr(final, "model_"):
        raise ModelFileError(f"{path!r} holds an unfitted HappySadClassifier; {_MODEL_HINT}.")
    if on_error is not None:
        final.set_params(on_error=on_error)
    return model


def find_images(paths: Sequence[str]) -> list[str]:
    """List image files: files as given, folders searched recursively.

    Parameters
    ----------
    paths : sequence of str
        Image files (kept whatever their extension) and folders. In folders,
        files with an extension in :data:`skmood.datasets.IMAGE_EXTENSIONS`
        are kept, hidden files and folders skipped, in sorted order.

    Returns
    -------
    files : list of str
        The images, in the order of ``paths``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    DatasetError
        If no image is found.
    """
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for folder, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found += [os.path.join(folder, f) for f in filenames if not f.startswith(".")
                          and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
            logger.debug("found %d image(s) in folder %r", len(found), path)
            files += sorted(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise FileNotFoundError(
                f"image path {path!r} does not exist; expected image files or folders of images."
            )
    if not files:
        raise DatasetError(
            f"no image found in {', '.join(map(repr, paths[:5]))}; expected image files or "
            f"folders holding files with extensions {', '.join(IMAGE_EXTENSIONS)}."
        )
    return files


def prepare_output(path: str | os.PathLike[str]) -> str:
    """Return ``path`` absolute after creating its folder; raise if it is unusable."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"output {path!r} is a directory; expected a file path.")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.access(os.path.dirname(path), os.W_OK):
        raise PermissionError(f"cannot write to folder {os.path.dirname(path)!r}.")
    return path


#: Output formats of :func:`format_predictions`.
PREDICTION_FORMATS = ("table", "csv", "json")


def _plain(value: Any) -> Any:
    """Turn NumPy scalars (labels, counts) into Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


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
    paths: Sequence[str], classes: Sequence[Any], proba: np.ndarray, fmt: str = "table"
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
    best = np.argmax(np.nan_to_num(proba, nan=0.0), axis=1)
    labels = [None if bad else _plain(classes[i]) for bad, i in zip(failed, best)]
    probs = [[None] * len(columns) if bad else [float(v) for v in row]
             for bad, row in zip(failed, proba)]
    if fmt == "json":
        objects = [{"path": str(p), "label": lab, **dict(zip(columns, ps))}
                   for p, lab, ps in zip(paths, labels, probs)]
        return json.dumps(objects, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "label", *columns])
        for p, lab, ps in zip(paths, labels, probs):
            writer.writerow([str(p), "" if lab is None else lab,
                             *("" if v is None else repr(v) for v in ps)])
        return buffer.getvalue()
    cells = [[str(p), "(unreadable)" if lab is None else str(lab),
              *("" if v is None else f"{v:.4f}" for v in ps)]
             for p, lab, ps in zip(paths, labels, probs)]
    return format_table(["path", "label", *columns], cells, "<<" + ">" * len(columns))


def _final_estimator(model: Any) -> HappySadClassifier:
    """The classifier itself, or the last step of a pipeline."""
    from sklearn.pipeline import Pipeline

    return model.steps[-1][1] if isinstance(model, Pipeline) and model.steps else model


def evaluate_model(model: Any, paths: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """Predict labelled images and compute :func:`evaluation_report`.

    Parameters
    ----------
    model : HappySadClassifier or sklearn.pipeline.Pipeline
        A fitted model, as :func:`load_model` returns.
    paths : array-like of shape (n_samples,)
        Image files.
    labels : array-like of shape (n_samples,)
        Their true labels.

    Returns
    -------
    report : dict
        :func:`evaluation_report` on the images the model could read, plus
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
    return {**evaluation_report(y_true, y_pred[read], classes), "n_unreadable": int((~read).sum())}


def evaluation_report(
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

    labels = [_plain(c) for c in classes]
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


def format_evaluation(report: dict[str, Any]) -> str:
    """Format :func:`evaluation_report`'s dict as readable text.

    Parameters
    ----------
    report : dict
        As returned by :func:`evaluation_report`.

    Returns
    -------
    text : str
        Accuracy, balanced accuracy, a per-class precision/recall/F1 table and
        the confusion matrix with labelled rows (true) and columns (predicted).
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
        f"balanced accuracy  {report['balanced_accuracy']:.4f}\n\n"
        + format_table(["class", "precision", "recall", "f1-score", "support"], per_class, "<>>>>")
        + "\nconfusion matrix (rows: true class, columns: predicted class)\n"
        + format_table(["", *(f"pred {n}" for n in names)], matrix, "<" + ">" * len(names))
    )
