"""Faults during use: unreadable files with on_error, interrupted fits, threads."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import skmood._keras_backend as backend
from skmood import ImageReadError, SkmoodWarning
from skmood.exceptions import DatasetError


@pytest.fixture
def folder_with_bad_files(face_folder, tmp_path):
    """A copy of the face folder plus two unreadable files, one per class."""
    from skmood import load_image_folder

    root = tmp_path / "faces"
    shutil.copytree(face_folder, root)
    (root / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "sad" / "empty.jpg").write_bytes(b"")
    return load_image_folder(root)


def test_fit_raises_by_default_naming_the_file(folder_with_bad_files, make_clf):
    paths, labels = folder_with_bad_files
    with pytest.raises(ImageReadError, match=r"broken\.png|empty\.jpg"):
        make_clf().fit(paths, labels)


def test_fit_skips_unreadable_files_and_warns_once(folder_with_bad_files, make_clf):
    paths, labels = folder_with_bad_files
    with pytest.warns(SkmoodWarning, match=r"2 of 26 images could not be read.*broken\.png.*empty\.jpg.*left out"):
        clf = make_clf(on_error="skip", batch_size=4).fit(paths, labels)
    # 24 readable images in batches of 4: 6 steps; the bad two were left out.
    assert clf.n_iter_ == 1
    assert list(clf.classes_) == ["happy", "sad"]


def test_skipping_everything_of_a_class_is_an_error(face_paths, make_clf, tmp_path):
    paths, labels = face_paths
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    X = np.array(list(paths[labels == "happy"]) + [str(bad)], dtype=object)
    y = np.array(["happy"] * int((labels == "happy").sum()) + ["sad"], dtype=object)
    with pytest.warns(SkmoodWarning), pytest.raises(DatasetError, match="fewer than two classes"):
        make_clf(on_error="skip").fit(X, y)


def test_prediction_never_drops_rows(folder_with_bad_files, face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    bad_paths, _ = folder_with_bad_files
    with pytest.raises(ImageReadError):
        clf.predict(bad_paths)
    clf.set_params(on_error="skip")
    with pytest.warns(SkmoodWarning, match="2 of 26 images could not be read"):
        proba = clf.predict_proba(bad_paths)
    assert proba.shape == (26, 2)
    broken = np.array(["broken.png" in p or "empty.jpg" in p for p in bad_paths])
    assert np.isnan(proba[broken]).all() and not np.isnan(proba[~broken]).any()
    with pytest.warns(SkmoodWarning):
        pred = clf.predict(bad_paths)
    assert list(pred[broken]) == [None, None]
    good = clf.predict(bad_paths[~broken])
    np.testing.assert_array_equal(pred[~broken], good)


def test_interrupted_fit_keeps_completed_epochs(face_pixels, make_clf, monkeypatch):
    X, y = face_pixels
    original = backend.EpochLogger.on_epoch_end

    def interrupt_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(backend.EpochLogger, "on_epoch_end", interrupt_after_second_epoch)
    clf = make_clf(image_size=(24, 24), epochs=5)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    # The classifier records each epoch as it ends, before the other callbacks run:
    # the interrupt came after epoch 2 was trained and recorded, so 2 complete epochs.
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2
    assert clf.predict_proba(X[:3]).shape == (3, 2)  # usable, nothing lost


def test_predicting_from_several_threads_gives_identical_results(face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    expected = clf.predict_proba(paths)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(paths), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_missing_files_fail_before_training_listing_them(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    X = np.array(list(paths[:-7]) + [f"nowhere/{i}.png" for i in range(7)], dtype=object)
    built = []
    monkeypatch.setattr(backend, "make_keras_classifier",
                        lambda *a, **k: built.append(1))  # must not be reached
    with pytest.raises(ImageReadError,
                       match=r"7 of 24 image paths are not existing files: 'nowhere/0\.png'"
                             r".*\(and 2 more\)"):
        make_clf().fit(X, labels)
    assert built == []
