"""skmood.save / skmood.load: a safe model file (Keras format + JSON, no pickle)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

import skmood
from skmood import ImageLoader, ImageResizer, ModelFileError, PixelNormalizer, SkmoodWarning


@pytest.fixture(scope="module")
def fitted(face_pixels):
    from skmood import HappySadClassifier

    X, y = face_pixels
    clf = HappySadClassifier(image_size=(24, 24), conv_filters=(4,), dense_units=8, epochs=1,
                             batch_size=8, random_state=0, class_weight={"sad": 2.0})
    return clf.fit(X, y)


def test_round_trip_gives_identical_predictions(fitted, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(fitted, tmp_path / "m.skmood")
    loaded = skmood.load(tmp_path / "m.skmood")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.history_ == fitted.history_ and loaded.input_shape_ == fitted.input_shape_
    assert loaded.keras_classifier_.model_ is loaded.model_


def test_the_file_holds_no_pickle(fitted, tmp_path):
    skmood.save(fitted, tmp_path / "m.skmood")
    with zipfile.ZipFile(tmp_path / "m.skmood") as archive:
        assert sorted(archive.namelist()) == ["model.keras", "skmood.json"]
        meta = json.loads(archive.read("skmood.json"))
    assert meta["format"] == "skmood-model" and meta["classes"] == ["happy", "sad"]


def test_integer_labels_and_pipelines_round_trip(face_paths, make_clf, tmp_path):
    paths, labels = face_paths
    y = (labels == "sad").astype(int)
    pipe = make_pipeline(ImageLoader(), ImageResizer(image_size=(16, 16)), PixelNormalizer(),
                         make_clf()).fit(paths, y)
    skmood.save(pipe, tmp_path / "p.skmood")
    loaded = skmood.load(tmp_path / "p.skmood")
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    np.testing.assert_array_equal(loaded.predict(paths), pipe.predict(paths))
    assert loaded.predict(paths).dtype.kind == "i"


def test_custom_builder_is_not_stored_and_says_so(face_pixels, make_clf, tmp_path):
    from skmood.models import build_cnn

    X, y = face_pixels

    def builder(input_shape):
        return build_cnn(input_shape, conv_filters=(2,), dense_units=0)

    clf = make_clf(image_size=(24, 24), model=builder).fit(X, y)
    with pytest.warns(SkmoodWarning, match="not stored: model=.*builder"):
        skmood.save(clf, tmp_path / "c.skmood")
    loaded = skmood.load(tmp_path / "c.skmood")
    assert loaded.model is None
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda data: b"not a zip at all", "corrupt or truncated"),
        (lambda data: data[: len(data) // 2], "corrupt or truncated"),
    ],
    ids=["random-bytes", "truncated"],
)
def test_corrupt_files_are_clear_errors(fitted, tmp_path, damage, match):
    good = tmp_path / "m.skmood"
    skmood.save(fitted, good)
    bad = tmp_path / "bad.skmood"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ModelFileError, match=match):
        skmood.load(bad)


def test_foreign_files_and_newer_formats_are_refused(fitted, tmp_path):
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError, match="not a skmood model file"):
        skmood.load(foreign)

    skmood.save(fitted, tmp_path / "m.skmood")
    with zipfile.ZipFile(tmp_path / "m.skmood") as archive:
        meta = json.loads(archive.read("skmood.json"))
        network = archive.read("model.keras")
    meta["format_version"] = 99
    newer = tmp_path / "newer.skmood"
    with zipfile.ZipFile(newer, "w") as archive:
        archive.writestr("skmood.json", json.dumps(meta))
        archive.writestr("model.keras", network)
    with pytest.raises(ModelFileError, match="format 99.*upgrade skmood"):
        skmood.load(newer)


def test_networks_with_code_are_refused_by_keras_safe_mode(face_pixels, make_clf, tmp_path):
    import keras

    def with_lambda(input_shape):
        inputs = keras.Input(input_shape)
        x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))

    X, y = face_pixels
    clf = make_clf(image_size=(24, 24), model=with_lambda).fit(X, y)
    with pytest.warns(SkmoodWarning):
        skmood.save(clf, tmp_path / "l.skmood")
    with pytest.raises(ModelFileError, match="cannot be read"):
        skmood.load(tmp_path / "l.skmood")


def test_missing_file_and_unfitted_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        skmood.load(tmp_path / "nothing.skmood")
    with pytest.raises(skmood.NotFittedError):
        skmood.save(skmood.HappySadClassifier(), tmp_path / "x.skmood")
    with pytest.raises(TypeError, match="expected a fitted HappySadClassifier"):
        skmood.save(object(), tmp_path / "x.skmood")


def test_a_file_from_another_skmood_version_loads_with_a_warning(fitted, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(fitted, tmp_path / "m.skmood")
    with zipfile.ZipFile(tmp_path / "m.skmood") as archive:
        meta = json.loads(archive.read("skmood.json"))
        network = archive.read("model.keras")
    meta["skmood_version"] = "0.0.1"  # same format version, older package
    older = tmp_path / "older.skmood"
    with zipfile.ZipFile(older, "w") as archive:
        archive.writestr("skmood.json", json.dumps(meta))
        archive.writestr("model.keras", network)
    with pytest.warns(SkmoodWarning, match="written by skmood 0.0.1"):
        loaded = skmood.load(older)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
