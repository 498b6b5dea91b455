"""Calibrated probabilities and the "unsure" answer.

scikit-learn's calibration and threshold tuning on a fitted skmood model with
path inputs, and ``min_confidence`` in the Python API, the command line and
the server, on the tiny classifier the tests share (conftest ``tiny_fitted``).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.pipeline import make_pipeline

import skmood
from skmood import ImageLoader
from skmood._confidence import UNSURE, coverage_curve, labels_from_proba
from skmood.cli import main


@pytest.fixture(scope="module")
def clf(tiny_fitted):
    return tiny_fitted


@pytest.fixture(scope="module")
def proba(clf, face_paths):
    return clf.predict_proba(face_paths[0])


@pytest.fixture(scope="module")
def threshold(proba):
    """A min_confidence with images on both sides of it."""
    top = np.sort(proba.max(axis=1))
    assert top[0] < top[-1]
    return float((top[len(top) // 2 - 1] + top[len(top) // 2]) / 2)


@pytest.fixture(scope="module")
def model_file(tiny_fitted_file):
    return tiny_fitted_file


def expected_labels(proba, classes, t):
    return [UNSURE if row.max() < t else classes[row.argmax()] for row in proba]


# ------------------------------------------------------------------ the Python API
def test_predict_min_confidence_answers_unsure_below_it_and_keeps_every_row(
        clf, face_paths, proba, threshold):
    paths, _ = face_paths
    labels = clf.predict(paths, min_confidence=threshold)
    assert labels.dtype == object and len(labels) == len(paths)
    assert list(labels) == expected_labels(proba, list(clf.classes_), threshold)
    assert 0 < (labels == UNSURE).sum() < len(paths)
    np.testing.assert_array_equal(clf.predict(paths, min_confidence=0.0), clf.predict(paths))
    assert (clf.predict(paths, min_confidence=1.0) == UNSURE).all()


def test_predict_without_min_confidence_is_unchanged(clf, face_paths, proba):
    labels = clf.predict(face_paths[0])
    assert labels.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(labels, clf.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.7", True])
def test_min_confidence_outside_0_1_is_a_clear_error(clf, bad):
    with pytest.raises(ValueError, match=r"HappySadClassifier.predict: min_confidence must "
                                         r"be a number in \[0, 1\] or None, got"):
        clf.predict(["never-read.png"], min_confidence=bad)


def test_a_pipeline_routes_min_confidence_to_the_classifier(clf, face_paths, proba, threshold):
    paths, _ = face_paths
    pipe = make_pipeline(ImageLoader(), clf)  # the classifier is already fitted
    assert list(pipe.predict(paths, min_confidence=threshold)) == expected_labels(
        proba, list(clf.classes_), threshold)


def test_labels_from_proba_rules():
    proba = np.array([[0.7, 0.3], [0.45, 0.55], [np.nan, np.nan], [0.2, 0.8]])
    assert list(labels_from_proba(proba, ["happy", "sad"], 0.7)) == [
        "happy", UNSURE, None, "sad"]  # exactly at the threshold answers
    ints = labels_from_proba(proba[[0, 1, 3]], np.array([0, 1]), 0.6)
    assert ints.dtype == object and list(ints) == [0, UNSURE, 1]
    plain = labels_from_proba(proba[[0, 3]], np.array([0, 1]))
    assert plain.dtype.kind == "i" and list(plain) == [0, 1]


def test_coverage_curve_counts_answers_and_their_accuracy():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55], [0.2, 0.8]])
    curve = coverage_curve(["happy", "sad", "sad", "happy"], proba, ["happy", "sad"],
                           [0.5, 0.7, 0.95])
    assert [(c["n_answered"], c["coverage"], c["accuracy"]) for c in curve] == [
        (4, 1.0, 0.5), (2, 0.5, 0.5), (0, 0.0, None)]


# -------------------------------------------------- scikit-learn's tools on paths
def test_calibrated_classifier_cv_on_a_frozen_model_with_paths(clf, face_paths):
    paths, labels = face_paths
    calibrated = CalibratedClassifierCV(FrozenEstimator(clf), method="sigmoid").fit(
        paths, labels)
    p = calibrated.predict_proba(paths)
    assert p.shape == (len(paths), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(calibrated.classes_, clf.classes_)
    assert set(calibrated.predict(paths)) <= set(clf.classes_)
    # One sigmoid on the frozen model's output: the ranking of the images is kept.
    raw = clf.predict_proba(paths)[:, 1]
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(p[order, 1]) >= -1e-12) or np.all(np.diff(p[order, 1]) <= 1e-12)


@pytest.mark.parametrize("frozen", [False, True], ids=["prefit", "FrozenEstimator"])
def test_tuned_threshold_classifier_cv_with_paths(clf, face_paths, proba, frozen):
    paths, labels = face_paths
    tuner = (TunedThresholdClassifierCV(FrozenEstimator(clf), cv=2) if frozen else
             TunedThresholdClassifierCV(clf, cv="prefit", refit=False))
    tuner.fit(paths, labels)
    assert 0.0 <= tuner.best_threshold_ <= 1.0
    expected = np.where(proba[:, 1] >= tuner.best_threshold_, "sad", "happy")
    np.testing.assert_array_equal(tuner.predict(paths), expected)


# ----------------------------------------------------------------- command line
def test_cli_predict_min_confidence(capsys, model_file, face_folder, face_paths, proba,
                                    threshold):
    paths, _ = face_paths
    code = main(["predict", str(model_file), str(face_folder), "--format", "json",
                 "--min-confidence", str(threshold)])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == len(paths)
    by_path = dict(zip(map(str, paths), expected_labels(proba, ["happy", "sad"], threshold)))
    assert {r["path"]: r["label"] for r in rows} == by_path
    assert all(r["happy"] + r["sad"] == pytest.approx(1.0) for r in rows)  # still given

    assert main(["predict", str(model_file), str(face_folder), "--format", "csv",
                 "--min-confidence", str(threshold)]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["path"]: r["label"] for r in table} == by_path
    assert main(["predict", str(model_file), str(face_folder), "--min-confidence", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == len(paths) and all(line.split()[1] == "unsure" for line in lines)


@pytest.mark.parametrize("bad", ["1.5", "-0.2", "high"])
def test_cli_min_confidence_outside_0_1_is_a_usage_error(capsys, model_file, face_folder, bad):
    assert main(["predict", str(model_file), str(face_folder), "--min-confidence", bad]) == 2
    assert "expected a number in [0, 1], got" in capsys.readouterr().err


# ------------------------------------------------------------------------ server
def test_server_min_confidence_query(clf, face_paths):
    pytest.importorskip("fastapi", reason="skmood serve needs pip install 'skmood[serve]'")
    from fastapi.testclient import TestClient

    from skmood.serve import create_app

    paths, _ = face_paths
    body = io.BytesIO()
    Image.open(paths[0]).save(body, format="PNG")
    p = clf.predict_proba(paths[:1])[0]
    with TestClient(create_app(clf, crop_faces=False)) as client:
        def post(query):
            return client.post(f"/predict{query}", content=body.getvalue(),
                               headers={"content-type": "image/png"})

        plain, unsure = post(""), post("?min_confidence=1")
        assert plain.status_code == unsure.status_code == 200
        (a,), (b,) = plain.json()["predictions"], unsure.json()["predictions"]
        assert a["label"] == clf.classes_[p.argmax()] and b["label"] == UNSURE
        assert a["probabilities"] == b["probabilities"] == pytest.approx(
            dict(zip(clf.classes_, p)))
        assert set(a) == set(b)  # the same JSON, only the label differs
        assert post(f"?min_confidence={p.max() - 1e-6}").json()["predictions"][0][
            "label"] == a["label"]
        for bad in ("1.5", "-1", "sure"):
            response = post(f"?min_confidence={bad}")
            assert response.status_code == 422 and "min_confidence" in response.json()["detail"]
