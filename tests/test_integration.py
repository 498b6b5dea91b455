"""HappySadClassifier inside larger scikit-learn / imbalanced-learn workflows."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline

from skmood import HappySadClassifier, ImageLoader, ImageResizer, PixelNormalizer


def test_pipeline_of_the_three_transformers_and_the_classifier(face_paths, make_clf):
    paths, labels = face_paths
    pipe = make_pipeline(ImageLoader(), ImageResizer(image_size=(16, 16)), PixelNormalizer(),
                         make_clf())
    pipe.fit(paths, labels)
    direct = make_clf().fit(paths, labels)
    # Same seed, same pixels: the pipeline and the direct path model agree.
    np.testing.assert_allclose(pipe.predict_proba(paths), direct.predict_proba(paths),
                               atol=1e-5)
    assert pipe.score(paths, labels) == pytest.approx(direct.score(paths, labels))


def test_imblearn_oversampling_of_path_columns(face_paths, make_clf):
    import keras
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline as make_imb_pipeline

    paths, labels = face_paths
    keep = np.r_[np.flatnonzero(labels == "happy"), np.flatnonzero(labels == "sad")[:4]]
    X, y = paths[keep].reshape(-1, 1), labels[keep]  # 12 happy, 4 sad
    sampler = RandomOverSampler(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert (y_res == "sad").sum() == (y_res == "happy").sum() == 12
    assert set(X_res.ravel()) <= set(X.ravel())  # only paths are duplicated, no pixels

    class BatchCounter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

    counter = BatchCounter()
    pipe = make_imb_pipeline(RandomOverSampler(random_state=0), make_clf())
    pipe.fit(X, y, happysadclassifier__callbacks=[counter])
    assert pipe.predict(X).shape == (len(X),)
    # The classifier saw the resampled, balanced set: 24 images -> 3 batches of 8.
    assert pipe[-1].n_iter_ == 1 and counter.batches == 3


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_architecture(face_paths, make_clf, n_jobs):
    paths, labels = face_paths
    grid = [(4,), (4, 8)]
    # Log loss, not accuracy: a continuous score, so two different networks cannot tie.
    search = GridSearchCV(make_clf(), {"conv_filters": grid}, cv=2, n_jobs=n_jobs,
                          scoring="neg_log_loss", error_score="raise")
    search.fit(paths, labels)
    scores = search.cv_results_["mean_test_score"]
    assert [params["conv_filters"] for params in search.cv_results_["params"]] == grid
    assert scores[0] != scores[1]  # each candidate's conv_filters reached its networks
    assert search.best_params_ == {"conv_filters": grid[int(np.argmax(scores))]}
    # The refit on all the images is the network a direct fit of the best candidate gives.
    direct = make_clf(**search.best_params_).fit(paths, labels)
    np.testing.assert_array_equal(search.best_estimator_.predict_proba(paths),
                                  direct.predict_proba(paths))


@pytest.mark.slow
def test_grid_search_over_a_pipeline(face_paths, make_clf):
    paths, labels = face_paths
    pipe = Pipeline([("load", ImageLoader()), ("resize", ImageResizer(image_size=(16, 16))),
                     ("scale", PixelNormalizer()), ("clf", make_clf())])
    search = GridSearchCV(pipe, {"clf__dropout": [0.0, 0.5]}, cv=2, scoring="neg_log_loss",
                          error_score="raise")
    search.fit(paths, labels)
    scores = search.cv_results_["mean_test_score"]
    assert list(search.cv_results_["param_clf__dropout"]) == [0.0, 0.5]
    assert scores[0] != scores[1]  # the nested parameter reached the classifier
    assert search.best_params_ == {"clf__dropout": [0.0, 0.5][int(np.argmax(scores))]}
    direct = clone(pipe).set_params(**search.best_params_).fit(paths, labels)
    np.testing.assert_array_equal(search.best_estimator_.predict_proba(paths),
                                  direct.predict_proba(paths))


@pytest.mark.slow
def test_cross_val_score_in_two_processes(face_paths, make_clf):
    paths, labels = face_paths
    scores = cross_val_score(make_clf(), paths, labels, cv=2, n_jobs=2,
                             scoring="neg_log_loss", error_score="raise")
    # The worker processes train the networks this process trains with the same seed.
    in_process = cross_val_score(make_clf(), paths, labels, cv=2, scoring="neg_log_loss",
                                 error_score="raise")
    np.testing.assert_allclose(scores, in_process, rtol=1e-5)


@pytest.mark.slow
def test_joblib_round_trip_in_a_fresh_process(face_paths, make_clf, tmp_path):
    paths, labels = face_paths
    pipe = make_pipeline(ImageLoader(), ImageResizer(image_size=(16, 16)), PixelNormalizer(),
                         make_clf()).fit(paths, labels)
    model_file = tmp_path / "model.joblib"
    joblib.dump(pipe, model_file)
    expected = pipe.predict_proba(paths)
    np.save(tmp_path / "paths.npy", paths.astype(str))
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        model = joblib.load({str(model_file)!r})
        paths = np.load({str(tmp_path / "paths.npy")!r})
        np.save({str(tmp_path / "proba.npy")!r}, model.predict_proba(paths))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), expected)


def test_joblib_round_trip_in_process_keeps_the_network(face_pixels, make_clf, tmp_path):
    X, y = face_pixels
    clf = make_clf(image_size=(24, 24)).fit(X, y)
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    assert isinstance(loaded, HappySadClassifier)
    assert loaded.keras_classifier_.model_ is loaded.model_
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.history_ == clf.history_
