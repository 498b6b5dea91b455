"""The evaluation report: an ``index.html`` with PNG figures beside it, readable offline.

:func:`evaluation_report` is the Python API; ``skmood evaluate --report
OUT_DIR`` calls :func:`write_report` on the predictions it has already made.
The metrics come from :mod:`skmood._evaluation`, the figures from
:mod:`skmood._figures` (matplotlib, the ``skmood[plots]`` extra), the
accuracy-versus-coverage table from :mod:`skmood._confidence`.
"""

from __future__ import annotations

import glob
import html
import logging
import os
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from . import _figures
from ._confidence import coverage_curve
from ._evaluation import LabelledPredictions, labelled_predictions, report_of
from ._version import __version__

__all__ = ["COVERAGE_THRESHOLDS", "check_out_dir", "evaluation_report", "write_report"]

logger = logging.getLogger(__name__)

#: The ``min_confidence`` values of the accuracy-versus-coverage table.
COVERAGE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
#: Longest side of the gallery's thumbnails, in pixels.
THUMBNAIL_SIZE = 128
_OWNER = "evaluation_report"


def evaluation_report(model, X, y, out_dir, *, max_mistakes=12, title=None):
    """Evaluate a fitted model and write an HTML report with figures.

    Predicts ``X`` once, then writes to ``out_dir`` an ``index.html`` that
    shows, with the figures as PNG files beside it (no network access needed
    to read it): the metrics (accuracy, balanced accuracy, ROC AUC, average
    precision, log loss, Brier score), the confusion matrix in counts and
    normalised, the ROC and precision-recall curves, the reliability
    (calibration) curve, accuracy against coverage for ``min_confidence``
    thresholds (the images :meth:`HappySadClassifier.predict` would answer
    rather than call ``"unsure"``), the training curves of ``history_``, the
    per-class report and a gallery of the most confident mistakes. ``skmood
    evaluate --report OUT_DIR`` writes the same.

    Needs matplotlib: ``pip install 'skmood[plots]'``.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline or classifier
        Fitted; anything with ``predict_proba`` and two ``classes_``, such as
        a :class:`~sklearn.calibration.CalibratedClassifierCV` around a
        skmood model. The training curves come from the ``history_`` of the
        classifier (the last step of a pipeline); the gallery shows face
        crops when that classifier crops faces (``face_detector``).
    X : array-like of shape (n_samples,) or ndarray of shape \
(n_samples, height, width, channels)
        Image file paths or pixel arrays.
    y : array-like of shape (n_samples,)
        True labels.
    out_dir : str or path-like
        Folder for ``index.html`` and the PNG files, created if needed; files
        of an earlier report there are replaced.
    max_mistakes : int, default=12
        Most misclassified images shown, most confident first.
    title : str or None, default=None
        Heading of the page; default ``"skmood evaluation report"``.

    Returns
    -------
    report : dict
        The metrics, as ``skmood evaluate --format json`` prints them, plus
        ``coverage`` (one dict per ``min_confidence`` threshold:
        ``coverage``, ``n_answered``, ``accuracy``), ``index`` (the path of
        ``index.html``) and ``files`` (the PNG files written, relative to
        ``out_dir``).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    DatasetError
        If ``y`` has a class the model does not know, or no image can be read.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmood import HappySadClassifier, evaluation_report, make_faces
    >>> X, y = make_faces(40, image_size=(16, 16), random_state=0)
    >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
    ...                          epochs=1, random_state=0).fit(X, y)
    >>> out = tempfile.mkdtemp()
    >>> report = evaluation_report(clf, X, y, out)
    >>> sorted(os.listdir(out))[:3]
    ['confusion_matrix.png', 'coverage.png', 'index.html']
    >>> 0 <= report["roc_auc"] <= 1
    True
    """
    _figures.require_matplotlib(f"skmood.{_OWNER}")
    _check_max_mistakes(max_mistakes)
    check_out_dir(out_dir)
    found = labelled_predictions(model, X, y)
    return write_report(model, X, found, report_of(found, model.classes_), out_dir,
                        max_mistakes=max_mistakes, title=title)


def write_report(model: Any, X: Any, found: LabelledPredictions, metrics: dict[str, Any],
                 out_dir: str | os.PathLike[str], *, max_mistakes: int = 12,
                 title: str | None = None) -> dict[str, Any]:
    """Write the report of predictions already made; see :func:`evaluation_report`."""
    _figures.require_matplotlib(f"skmood.{_OWNER}")
    _check_max_mistakes(max_mistakes)
    out = check_out_dir(out_dir)
    os.makedirs(out, exist_ok=True)
    for stale in glob.glob(os.path.join(out, "mistake_*.png")):
        os.unlink(stale)

    classes = list(model.classes_)
    y_true, proba = found.y_true, found.proba
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    score = proba[:, 1]  # the probability of the positive class, classes[1]
    curve = coverage_curve(y_true, proba, classes, COVERAGE_THRESHOLDS)
    files: list[str] = []

    def figure(name: str, fig: Any, alt: str) -> str:
        _figures.save_png(fig, os.path.join(out, name))
        files.append(name)
        return f'<img src="{name}" alt="{html.escape(alt)}">'

    sections = [_summary(model, metrics)]
    sections.append(_section("Confusion matrix", figure(
        "confusion_matrix.png", _figures.confusion_figure(y_true, y_pred, classes),
        "confusion matrix, counts and normalised")))
    if metrics["roc_auc"] is None:
        sections.append(_section("ROC and precision-recall curves", "<p>Not drawn: the data "
                                 "has images of one class only.</p>"))
    else:
        sections.append(_section("ROC and precision-recall curves", figure(
            "roc_curve.png", _figures.roc_figure(y_true, score, classes[1]), "ROC curve")
            + figure("precision_recall.png", _figures.precision_recall_figure(
                y_true, score, classes[1]), "precision-recall curve")))
    sections.append(_section("Reliability (calibration)", figure(
        "reliability.png", _figures.reliability_figure(y_true, score, classes[1],
                                                       metrics["brier_score"]),
        "reliability curve") + _RELIABILITY_NOTE))
    sections.append(_section("Accuracy vs coverage", figure(
        "coverage.png", _figures.coverage_figure(curve), "accuracy against coverage")
        + _coverage_table(curve)))
    history = getattr(_classifier_of(model), "history_", None) or {}
    history_fig = _figures.history_figure(history)
    sections.append(_section("Training curves", "<p>This model has no training history "
                             "(its <code>history_</code> is empty or absent).</p>"
                             if history_fig is None else figure(
                                 "training_curves.png", history_fig, "training curves")))
    sections.append(_section("Per-class report", _class_report(y_true, y_pred, classes)))
    mistakes = _gallery(model, X, found, y_pred, classes, max_mistakes, out, files)
    sections.append(_section("Most confident mistakes", mistakes))

    index = os.path.join(out, "index.html")
    page = _PAGE.format(title=html.escape(title or "skmood evaluation report"),
                        body="\n".join(sections), version=html.escape(__version__))
    tmp = index + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, index)
    logger.info("wrote the evaluation report to %r (and %d PNG files beside it)", index,
                len(files))
    return {**metrics, "coverage": curve, "index": index, "files": files}


def check_out_dir(out_dir: str | os.PathLike[str]) -> str:
    """``out_dir`` as an absolute path; raise if it is an existing file."""
    out = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out) and not os.path.isdir(out):
        raise NotADirectoryError(f"{_OWNER}: out_dir {out!r} is a file; expected a folder "
                                 "for index.html and its figures.")
    return out


def _check_max_mistakes(value: Any) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{_OWNER}: max_mistakes must be an int >= 0, got {value!r}.")


def _classifier_of(model: Any) -> Any:
    from ._predict import final_estimator

    return final_estimator(model)


def _section(heading: str, body: str) -> str:
    return f"<section>\n<h2>{html.escape(heading)}</h2>\n{body}\n</section>"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _summary(model: Any, m: dict[str, Any]) -> str:
    from sklearn.pipeline import Pipeline

    clf = _classifier_of(model)
    steps = (" → ".join(type(s).__name__ for _, s in model.steps) if isinstance(model, Pipeline)
             else type(model).__name__)
    shape = getattr(clf, "input_shape_", None)
    rows = [("model", steps),
            ("network input", "n/a" if shape is None else "x".join(map(str, shape))),
            ("epochs trained", str(getattr(clf, "n_iter_", "n/a"))),
            ("images evaluated", str(m["n_images"])),
            ("unreadable images left out", str(m.get("n_unreadable", 0))),
            ("accuracy", _number(m["accuracy"])),
            ("balanced accuracy", _number(m["balanced_accuracy"])),
            (f"ROC AUC (positive class: {m['positive_class']})", _number(m["roc_auc"])),
            ("average precision", _number(m["average_precision"])),
            ("log loss", _number(m["log_loss"])),
            ("Brier score", _number(m["brier_score"]))]
    cells = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                      for k, v in rows)
    return _section("Summary", f'<table class="summary">\n{cells}\n</table>')


_RELIABILITY_NOTE = (
    "<p>Of the images given a probability near <i>p</i> of the positive class, a "
    "fraction <i>p</i> should truly be of it: above the diagonal, the model says less "
    "than it should, below it more. <code>CalibratedClassifierCV(FrozenEstimator(model))"
    "</code> fitted on held-out images corrects this.</p>")


def _coverage_table(curve: Sequence[dict[str, Any]]) -> str:
    rows = "\n".join(
        f"<tr><td>{c['min_confidence']:g}</td><td>{c['coverage']:.3f}</td>"
        f"<td>{c['n_answered']}</td><td>{_number(c['accuracy'])}</td></tr>" for c in curve)
    return ("<p>With <code>predict(X, min_confidence=t)</code> (or <code>skmood predict "
            "--min-confidence t</code>), images whose most probable class is less probable "
            "than <i>t</i> are answered <code>unsure</code>: fewer answers, more of them "
            "right.</p>\n<table>\n<tr><th>min_confidence</th><th>coverage</th>"
            f"<th>answered</th><th>accuracy</th></tr>\n{rows}\n</table>")


def _class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> str:
    from sklearn.metrics import classification_report

    text = classification_report(y_true, y_pred, labels=classes,
                                 target_names=[str(c) for c in classes], digits=4,
                                 zero_division=0)
    return f"<pre>{html.escape(text)}</pre>"


def _gallery(model: Any, X: Any, found: LabelledPredictions, y_pred: np.ndarray,
             classes: Sequence[Any], max_mistakes: int, out: str, files: list[str]) -> str:
    """Thumbnails of the most confident mistakes, written beside ``index.html``."""
    wrong = np.flatnonzero(y_pred != found.y_true)
    if not len(wrong):
        return "<p>No mistakes.</p>"
    confidence = found.proba.max(axis=1)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:max_mistakes]
    from ._validation import check_images

    data = check_images(X, _OWNER)
    thumbnails = _thumbnails(model, data, found.index[order])
    crops = _crops_faces(model)
    figures = []
    for k, (row, image) in enumerate(zip(order, thumbnails), start=1):
        name = f"mistake_{k:02d}.png"
        _save_thumbnail(image, os.path.join(out, name))
        files.append(name)
        source = _source_name(data, int(found.index[row]))
        caption = (f"true <b>{html.escape(str(found.y_true[row]))}</b>, predicted "
                   f"<b>{html.escape(str(y_pred[row]))}</b> "
                   f"(p({html.escape(str(y_pred[row]))}) = {confidence[row]:.3f})"
                   f"<br><small>{html.escape(source)}</small>")
        figures.append(f'<figure><img src="{name}" alt="{html.escape(source)}">'
                       f"<figcaption>{caption}</figcaption></figure>")
    note = (f"<p>{len(wrong)} mistake(s); the {len(order)} most confident shown"
            + (", as the face crops the model classified" if crops else "") + ".</p>")
    return note + '\n<div class="gallery">\n' + "\n".join(figures) + "\n</div>"


def _crops_faces(model: Any) -> bool:
    from ._classifier import HappySadClassifier

    clf = _classifier_of(model)
    return isinstance(clf, HappySadClassifier) and clf.face_detector is not None


def _thumbnails(model: Any, data: Any, positions: np.ndarray) -> list[np.ndarray]:
    """The images at ``positions`` of ``data``, as the model sees them (its face crop if any)."""
    from ._sequence import image_at

    if _crops_faces(model):
        from ._predict import FacePredictor

        predictor = FacePredictor(model)
        images = [image_at(data, int(i), predictor.color_mode) for i in positions]
        return predictor.crop(images)[0]
    return [image_at(data, int(i), "rgb") for i in positions]


def _save_thumbnail(image: np.ndarray, path: str) -> None:
    from PIL import Image

    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:  # float pixel arrays in [0, 1]
        pixels = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    scale = THUMBNAIL_SIZE / max(picture.size)
    size = tuple(max(1, round(v * scale)) for v in picture.size)
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    picture.resize(size, resample).save(path, format="PNG")


def _source_name(data: Any, position: int) -> str:
    """``folder/file`` of image ``position``, or ``"image N"`` for pixel arrays."""
    from ._validation import PATHS

    if data.kind == PATHS:
        path = os.path.normpath(str(data.data[position]))
        return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    return f"image {position}"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.25em; border-bottom: 1px solid #ddd; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }}
table.summary th {{ text-align: left; font-weight: normal; }}
pre {{ background: #f6f6f6; padding: 0.8em; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; width: 160px; font-size: 0.85em; }}
figure img {{ width: {thumb}px; image-rendering: pixelated; border: 1px solid #ccc; }}
footer {{ margin-top: 3em; color: #777; font-size: 0.85em; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
<footer>Written by skmood {version}.</footer>
</body>
</html>
""".replace("{thumb}", str(THUMBNAIL_SIZE))
