"""Tests of the evaluation metrics and report (``skmood.evaluation_report``,
``skmood evaluate --report``): figures, HTML, and metrics equal to sklearn's.

The tests share one tiny fitted classifier (conftest ``tiny_fitted``, with
validation curves) and most read one report written from the command line.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (accuracy_score, average_precision_score,
                             balanced_accuracy_score, brier_score_loss, confusion_matrix,
                             log_loss, roc_auc_score)

import skmood
from skmood import evaluation_report
from skmood._evaluation import probability_metrics
from skmood.cli import main
from skmood.cli._format import format_evaluation

pytest.importorskip("matplotlib", reason="the report needs pip install 'skmood[plots]'")

FIGURES = {"confusion_matrix.png", "roc_curve.png", "precision_recall.png", "reliability.png",
           "coverage.png", "training_curves.png"}


@pytest.fixture(scope="module")
def clf(tiny_fitted):
    return tiny_fitted


@pytest.fixture(scope="module")
def model_file(tiny_fitted_file):
    return tiny_fitted_file


@pytest.fixture(scope="module")
def cli_report(model_file, face_folder, tmp_path_factory):
    """``skmood evaluate MODEL DIR --format json --report OUT``: (JSON, OUT)."""
    out = tmp_path_factory.mktemp("report") / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["evaluate", str(model_file), str(face_folder), "--format", "json",
                     "--report", str(out)])
    assert code == 0
    return json.loads(stdout.getvalue()), out


def test_every_png_exists_decodes_and_is_referenced_by_the_html(cli_report):
    _, out = cli_report
    page = (out / "index.html").read_text(encoding="utf-8")
    pngs = {p.name for p in out.glob("*.png")}
    assert FIGURES <= pngs
    assert any(name.startswith("mistake_") for name in pngs)
    referenced = set(re.findall(r'<img src="([^"]+)"', page))
    assert referenced == pngs  # every PNG shown, nothing shown that is missing
    for name in pngs:
        with Image.open(out / name) as image:
            image.verify()  # a complete, valid PNG
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) >= 16
    assert "http://" not in page and "https://" not in page  # readable offline


def test_json_metrics_equal_sklearns_on_the_same_predictions(cli_report, model_file,
                                                             face_paths):
    report, _ = cli_report
    paths, labels = face_paths
    proba = skmood.load(model_file).predict_proba(paths)
    classes = ["happy", "sad"]
    y_pred = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    positive = labels == "sad"
    assert report["positive_class"] == "sad"
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, y_pred))
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, y_pred))
    assert report["roc_auc"] == pytest.approx(roc_auc_score(positive, proba[:, 1]))
    assert report["average_precision"] == pytest.approx(
        average_precision_score(positive, proba[:, 1]))
    assert report["log_loss"] == pytest.approx(log_loss(labels, proba, labels=classes))
    assert report["brier_score"] == pytest.approx(
        brier_score_loss(labels, proba[:, 1], pos_label="sad"))
    assert report["confusion_matrix"] == confusion_matrix(labels, y_pred,
                                                          labels=classes).tolist()


def test_html_shows_metrics_class_report_coverage_and_history(cli_report):
    report, out = cli_report
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"{report['roc_auc']:.4f}" in page and f"{report['brier_score']:.4f}" in page
    assert "weighted avg" in page  # sklearn's per-class text report
    assert page.count("<tr><td>0.") >= 10  # the accuracy-vs-coverage table, a row per t
    assert 'src="training_curves.png"' in page and "no training history" not in page


def test_gallery_shows_the_most_confident_mistakes_first(cli_report, clf, face_paths):
    _, out = cli_report
    paths, labels = face_paths
    proba = clf.predict_proba(paths)
    y_pred = clf.classes_[proba.argmax(axis=1)]
    wrong = np.flatnonzero(y_pred != labels)
    assert len(wrong), "the tiny model is expected to make mistakes"
    shown = sorted(p.name for p in out.glob("mistake_*.png"))
    assert shown == [f"mistake_{k:02d}.png" for k in range(1, min(12, len(wrong)) + 1)]
    page = (out / "index.html").read_text(encoding="utf-8")
    probabilities = [float(v) for v in re.findall(r"\) = ([0-9.]+)\)", page)]
    top = np.sort(proba.max(axis=1)[wrong])[::-1][:12]
    np.testing.assert_allclose(probabilities, top, atol=5e-4)  # most confident first
    first = int(wrong[np.argmax(proba.max(axis=1)[wrong])])
    assert (f"true <b>{labels[first]}</b>, predicted <b>{y_pred[first]}</b> "
            f"(p({y_pred[first]}) = ") in page
    assert f"{len(wrong)} mistake(s)" in page


def test_gallery_shows_the_face_crop_when_the_model_crops_faces(clf, face_paths, monkeypatch):
    from skmood import FaceCropper
    from skmood._report import _thumbnails
    from skmood._validation import check_images

    paths, _ = face_paths
    cropping = copy.copy(clf).set_params(face_detector="haar")
    from skmood._faces import FaceFinder  # the detectors behind FaceCropper

    monkeypatch.setattr(FaceFinder, "detect", lambda self, X: [(4, 2, 6, 8)] * len(X))
    (crop,) = _thumbnails(cropping, check_images(paths[:1], "test"), np.array([0]))
    (whole,) = _thumbnails(clf, check_images(paths[:1], "test"), np.array([0]))
    image = np.asarray(Image.open(paths[0]).convert("RGB"))
    np.testing.assert_array_equal(whole, image)
    (expected,) = FaceCropper(margin=clf.face_margin).crop([image], [(4, 2, 6, 8)])
    np.testing.assert_array_equal(crop, expected)
    assert crop.shape[:2] != whole.shape[:2]


def test_report_of_a_calibrated_model_says_it_has_no_history(clf, face_paths, tmp_path):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    paths, labels = face_paths
    calibrated = CalibratedClassifierCV(FrozenEstimator(clf), cv=2).fit(paths, labels)
    (tmp_path / "mistake_07.png").write_bytes(b"from an earlier report")
    report = evaluation_report(calibrated, paths, labels, tmp_path, max_mistakes=0)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "This model has no training history" in page
    assert not (tmp_path / "training_curves.png").exists()
    assert not list(tmp_path.glob("mistake_*.png"))  # none asked for; old ones removed
    assert set(report["files"]) == FIGURES - {"training_curves.png"}
    assert report["n_images"] == len(paths) and report["index"] == str(tmp_path / "index.html")


def test_without_matplotlib_the_report_names_the_extra(clf, face_paths, face_folder,
                                                         model_file, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    paths, labels = face_paths
    with pytest.raises(ImportError, match=re.escape("pip install 'skmood[plots]'")):
        evaluation_report(clf, paths, labels, tmp_path)
    code = main(["evaluate", str(model_file), str(face_folder), "--report", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "skmood[plots]" in err and "evaluating" not in err  # before predicting


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_max_mistakes_is_checked_before_predicting(clf, bad, monkeypatch, tmp_path):
    monkeypatch.setattr(type(clf), "predict_proba", lambda *a: pytest.fail("predicted"))
    with pytest.raises(ValueError, match="max_mistakes must be an int >= 0"):
        evaluation_report(clf, ["a.png"], ["happy"], tmp_path, max_mistakes=bad)


def test_report_into_a_file_is_a_clear_error_before_predicting(clf, model_file, face_folder,
                                                               tmp_path, monkeypatch, capsys):
    target = tmp_path / "taken"
    target.write_text("")
    monkeypatch.setattr(type(clf), "predict_proba", lambda *a: pytest.fail("predicted"))
    with pytest.raises(NotADirectoryError, match="is a file; expected a folder"):
        evaluation_report(clf, ["a.png"], ["happy"], target)
    assert main(["evaluate", str(model_file), str(face_folder), "--report", str(target)]) == 1
    assert "'taken' is a file; expected a folder" in capsys.readouterr().err.replace(
        str(tmp_path) + "/", "")


def test_probability_metrics_of_one_class_are_undefined_not_errors():
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    m = probability_metrics(["happy", "happy"], proba, ["happy", "sad"])
    assert m["roc_auc"] is None and m["average_precision"] is None
    assert m["brier_score"] == pytest.approx((0.2**2 + 0.6**2) / 2)
    text = format_evaluation({"n_images": 2, "accuracy": 0.5, "balanced_accuracy": 0.5, **m,
                              "classes": ["happy", "sad"],
                              "per_class": {c: {"precision": 0, "recall": 0, "f1": 0,
                                                "support": 0} for c in ("happy", "sad")},
                              "confusion_matrix": [[1, 1], [0, 0]]})
    assert "ROC AUC            n/a (one class only)  (positive class: sad)" in text
    assert "Brier score        0.2000" in text


def test_evaluate_text_shows_the_probability_metrics(cli_report, model_file, face_folder,
                                                     capsys):
    report, _ = cli_report
    assert main(["evaluate", str(model_file), str(face_folder)]) == 0
    out = capsys.readouterr().out
    assert f"ROC AUC            {report['roc_auc']:.4f}  (positive class: sad)" in out
    for name, key in (("average precision", "average_precision"), ("log loss", "log_loss"),
                      ("Brier score", "brier_score")):
        assert f"{name:<19}{report[key]:.4f}" in out
