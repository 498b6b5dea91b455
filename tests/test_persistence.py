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


# ------------------------------------------------ every parameter and fitted attribute
#: A value other than the default for every parameter the safe format stores. A new
#: estimator parameter must be added here (or to NOT_STORED) or the test below fails.
NON_DEFAULT = {
    "architecture": "vgg", "backbone": "mobilenetv2", "weights": "backbone.weights.h5",
    "backbone_alpha": 0.5, "image_size": (24, 24), "color_mode": "grayscale",
    "conv_filters": (4, 8), "blocks_per_stage": (1, 2), "kernel_size": 5, "dense_units": 7,
    "dropout": 0.3, "batch_norm": True, "rotation": 10.0, "horizontal_flip": True,
    "zoom": 0.1, "shift": 0.05, "learning_rate": 3e-3, "lr_schedule": "cosine",
    "weight_decay": 1e-4, "label_smoothing": 0.1, "epochs": 3, "head_epochs": 1,
    "fine_tune_layers": "all", "fine_tune_learning_rate": 1e-4, "batch_size": 8,
    "jit_compile": True, "class_weight": {"happy": 1.0, "sad": 2.5},
    "validation_split": 0.2, "early_stopping": True, "patience": 2, "flip_averaging": True,
    "inference": "keras", "precision": "mixed_bfloat16", "distribution": "mirrored",
    "on_error": "skip", "cache": False,
    "face_detector": "mtcnn", "face_margin": 0.35, "warm_start": True,
    "random_state": 7, "verbose": 2,
}
#: Parameters the safe format does not store, and why (a warning says so on save).
NOT_STORED = {"model": "a Python callable", "validation_data": "arrays or paths, not settings"}


def test_every_parameter_and_fitted_attribute_round_trips(face_pixels, make_clf, tmp_path):
    X, y = face_pixels
    clf = make_clf(image_size=(24, 24)).fit(X, y)
    assert set(NON_DEFAULT) | set(NOT_STORED) == set(clf.get_params()), (
        "a parameter is missing from NON_DEFAULT/NOT_STORED: is it stored by skmood.save?")
    defaults = skmood.HappySadClassifier().get_params()
    assert all(NON_DEFAULT[k] != defaults[k] for k in NON_DEFAULT)
    clf.set_params(**NON_DEFAULT)  # settings only: the trained network is unchanged
    skmood.save(clf, tmp_path / "all.skmood")
    loaded = skmood.load(tmp_path / "all.skmood")

    params = loaded.get_params()
    for name, value in NON_DEFAULT.items():
        assert params[name] == value and type(params[name]) is type(value), name
    fitted = {k for k in vars(clf) if k.endswith("_") and not k.startswith("_")}
    assert fitted == {k for k in vars(loaded) if k.endswith("_") and not k.startswith("_")}
    for name in fitted - {"model_", "keras_classifier_"}:
        np.testing.assert_equal(getattr(loaded, name), getattr(clf, name), err_msg=name)
    assert loaded.keras_classifier_.model_ is loaded.model_
    for saved, read in zip(clf.model_.get_weights(), loaded.model_.get_weights()):
        np.testing.assert_array_equal(read, saved)


def test_joblib_files_load_only_when_allowed(fitted, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(fitted, tmp_path / "m.joblib", format="joblib")
    with pytest.raises(ModelFileError, match="allow_pickle=True"):
        skmood.load(tmp_path / "m.joblib")
    loaded = skmood.load(tmp_path / "m.joblib", allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_file_named_skmood_is_never_unpickled(fitted, tmp_path):
    skmood.save(fitted, tmp_path / "m.joblib", format="joblib")
    disguised = tmp_path / "disguised.skmood"
    disguised.write_bytes((tmp_path / "m.joblib").read_bytes())
    # Read as an archive only (the pickle holds the network's own zip bytes): refused.
    with pytest.raises(ModelFileError, match="not a skmood model file"):
        skmood.load(disguised, allow_pickle=True)


def test_the_format_is_recognised_from_the_contents(fitted, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(fitted, tmp_path / "model.bin")  # the safe format, whatever the name
    np.testing.assert_array_equal(skmood.load(tmp_path / "model.bin").predict_proba(X),
                                  fitted.predict_proba(X))
    with pytest.raises(ValueError, match="format='pickle'; expected 'skmood' or 'joblib'"):
        skmood.save(fitted, tmp_path / "x", format="pickle")


def test_saved_files_get_the_usual_permissions(fitted, tmp_path):
    import os
    import stat

    skmood.save(fitted, tmp_path / "m.skmood")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "m.skmood").st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["m.skmood"]  # no temporary file left


def test_metadata_and_a_file_without_optimizer_state(fitted, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(fitted, tmp_path / "full.skmood")
    skmood.save(fitted, tmp_path / "lean.skmood", include_optimizer=False,
                metadata={"data": "synthetic", "scores": {"accuracy": 0.5}})
    assert (tmp_path / "lean.skmood").stat().st_size < 0.6 * (tmp_path / "full.skmood").stat().st_size
    lean = skmood.load(tmp_path / "lean.skmood")
    np.testing.assert_array_equal(lean.predict_proba(X), fitted.predict_proba(X))
    info = skmood.read_info(tmp_path / "lean.skmood")
    assert info["metadata"] == {"data": "synthetic", "scores": {"accuracy": 0.5}}
    assert info["classes"] == ["happy", "sad"] and info["n_iter"] == fitted.n_iter_
    assert skmood.read_info(tmp_path / "full.skmood")["metadata"] == {}
    lean.set_params(warm_start=True).fit(*face_pixels)  # fine-tunes with a fresh optimizer
    assert lean.n_iter_ == fitted.n_iter_ + 1
    with pytest.raises(TypeError, match="metadata must be JSON-serialisable"):
        skmood.save(fitted, tmp_path / "x.skmood", metadata={"f": object()})
