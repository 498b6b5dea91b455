"""HappySadClassifier's architectures and backbones: fit, predict, persist, fine-tune.

Networks are tiny and trained for one or two epochs on synthetic faces. Every
backbone fit costs tens of seconds on a CPU (Keras traces the whole backbone),
so the classifier is trained on MobileNetV2 (alpha 0.35, 32x32) only, the
network-level tests of all four backbones being in ``test_models.py``: the
classifier's code is the same for every backbone.
"""

from __future__ import annotations

import io
import os
import re
import socket

import joblib
import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import skmood
from skmood import HappySadClassifier
from skmood.datasets import make_faces
from skmood.models import build_backbone


@pytest.fixture(scope="module")
def faces32():
    """16 synthetic 32x32 RGB faces, ``(X uint8, y str)``."""
    return make_faces(16, image_size=(32, 32), random_state=5)


def _backbone_weights(path, backbone, size, **kwargs):
    """Write the weights of a randomly initialised backbone; return the path."""
    build_backbone((size, size, 3), backbone, **kwargs).get_layer("backbone").save_weights(path)
    return path


def _assert_round_trips(clf, X, tmp_path):
    """joblib and skmood.save/load give back identical probabilities."""
    proba = clf.predict_proba(X)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict_proba(X), proba)
    skmood.save(clf, tmp_path / "model.skmood")
    loaded = skmood.load(tmp_path / "model.skmood")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.get_params() == {**clf.get_params(), "weights": (
        None if clf.weights is None else os.fspath(clf.weights))}
    return loaded


def _layer_weights(layers):
    return {f"{layer.name}/{i}": w.numpy().copy()
            for layer in layers for i, w in enumerate(layer.weights)}


# ---------------------------------------------------------------- from scratch


@pytest.mark.parametrize("architecture, augmentation", [
    ("resnet", dict(rotation=10, horizontal_flip=True, zoom=0.1)),
    ("inception", dict(horizontal_flip=True)),  # all three: see test_models
])
def test_architecture_fits_predicts_and_round_trips(architecture, augmentation, face_pixels,
                                                    tmp_path):
    X, y = face_pixels
    clf = HappySadClassifier(architecture=architecture, image_size=(16, 16),
                             color_mode="grayscale", conv_filters=(4,), blocks_per_stage=1,
                             dropout=0.2, epochs=1, batch_size=16, random_state=0,
                             **augmentation).fit(X, y)
    assert clf.model_.name == f"happy_sad_{architecture}"
    names = {layer.name for layer in clf.model_.layers}
    assert {"flip", "dropout", "gap", "output"} <= names
    assert set(clf.predict(X[:5])) <= {"happy", "sad"}
    _assert_round_trips(clf, X[:10], tmp_path)


def test_warm_start_continues_a_resnet(face_pixels, make_clf):
    X, y = face_pixels
    X = X.copy()
    X[y == "sad"] //= 4  # an easy rule, so the loss falls fast
    first_batch_losses = []

    class FirstBatchLoss(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.first = True

        def on_train_batch_end(self, batch, logs=None):
            if self.first:
                first_batch_losses.append(logs["loss"])
                self.first = False

    clf = make_clf(architecture="resnet", image_size=(24, 24), conv_filters=(4, 8),
                   blocks_per_stage=1, learning_rate=0.01, epochs=6)
    clf.fit(X, y, callbacks=[FirstBatchLoss()])
    first_fit_end = clf.history_["loss"][-1]
    network = clf.model_
    clf.set_params(warm_start=True, epochs=1).fit(X, y, callbacks=[FirstBatchLoss()])
    assert clf.model_ is network and clf.n_iter_ == 7
    fresh_start, second_fit_start = first_batch_losses
    assert fresh_start > 0.5  # a new network starts near ln 2 = 0.69 on balanced labels
    # The second fit starts where the first ended (or lower: it was still falling),
    # far below where a new network starts.
    assert second_fit_start < 1.5 * first_fit_end
    assert second_fit_start < 0.5 * fresh_start


def test_grid_search_over_architecture(face_paths):
    paths, labels = face_paths
    base = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), blocks_per_stage=1,
                              epochs=1, batch_size=8, random_state=0)
    # Log loss, not accuracy: a continuous score, so two different networks cannot tie.
    search = GridSearchCV(base, {"architecture": ["seed", "resnet"]}, cv=2, refit=False,
                          scoring="neg_log_loss", error_score="raise")
    search.fit(paths, labels)
    scores = search.cv_results_["mean_test_score"]
    assert list(search.cv_results_["param_architecture"]) == ["seed", "resnet"]
    assert np.isfinite(scores).all()
    assert scores[0] != scores[1]  # each candidate trained its own architecture
    assert search.best_params_ == {"architecture": ["seed", "resnet"][int(np.argmax(scores))]}


def test_custom_model_takes_precedence_over_backbone_and_architecture(face_pixels, make_clf):
    def tiny(input_shape):
        inputs = keras.Input(input_shape)
        x = keras.layers.GlobalAveragePooling2D()(inputs)
        return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x), name="mine")

    X, y = face_pixels
    clf = make_clf(model=tiny, architecture="inception", backbone="inceptionv3",
                   weights="imagenet", image_size=(16, 16)).fit(X[:16], y[:16])
    assert clf.model_.name == "mine"


# ------------------------------------------------------------------- backbones


@pytest.mark.slow
def test_random_backbone_trains_whole(faces32):
    X, y = faces32
    clf = HappySadClassifier(backbone="mobilenetv2", backbone_alpha=0.35, image_size=(32, 32),
                             color_mode="grayscale", epochs=1, batch_size=8, random_state=0)
    clf.fit(X, y)
    assert clf.model_.name == "happy_sad_mobilenetv2" and clf.n_iter_ == 1
    base = clf.model_.get_layer("backbone")
    # weights=None: every layer trains, batch norm in training mode (its statistics move).
    assert all(layer.trainable for layer in base.layers)
    assert np.abs(base.get_layer("bn_Conv1").moving_mean.numpy()).max() > 0
    assert clf.predict_proba(X).shape == (len(X), 2)


def _network_weights(model):
    """Weights of the backbone's layers and of the output layer, by layer name."""
    return {**_layer_weights(model.get_layer("backbone").layers),
            **_layer_weights([model.get_layer("output")])}


def _changed(before, after):
    """Names of the layers whose weights differ (output layer excluded)."""
    return {key.split("/")[0] for key in before
            if not key.startswith("output/") and not np.array_equal(before[key], after[key])}


@pytest.mark.slow
def test_two_stage_fine_tuning_then_warm_start(faces32, tmp_path):
    X, y = faces32
    from pathlib import Path

    weights = Path(_backbone_weights(tmp_path / "base.weights.h5", "mobilenetv2", 32,
                                    alpha=0.35))
    snapshots = []  # before and after each stage

    class Snapshot(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            snapshots.append(_network_weights(self.model))

        def on_train_end(self, logs=None):
            snapshots.append(_network_weights(self.model))

    top = 5  # block_16_project, its batch norm, Conv_1, its batch norm, out_relu
    clf = HappySadClassifier(backbone="mobilenetv2", backbone_alpha=0.35, weights=weights,
                             image_size=(32, 32), epochs=2, head_epochs=1,
                             fine_tune_layers=top, learning_rate=0.01,
                             fine_tune_learning_rate=1e-3, batch_size=8, random_state=0)
    clf.fit(X, y, callbacks=[Snapshot()])
    assert clf.n_iter_ == 2 and len(snapshots) == 4
    assert {k: len(v) for k, v in clf.history_.items()} == {"loss": 2, "accuracy": 2}
    begin1, end1, begin2, end2 = snapshots

    # Stage 1: the head trains, the backbone (batch-norm statistics included) does not.
    assert _changed(begin1, end1) == set()
    assert not np.array_equal(begin1["output/0"], end1["output/0"])
    # Stage 2: the top layers with weights train too, except batch norm (frozen,
    # so in inference mode); the lower layers do not.
    base = clf.model_.get_layer("backbone")
    assert [layer.name for layer in base.layers[-top:]] == [
        "block_16_project", "block_16_project_BN", "Conv_1", "Conv_1_bn", "out_relu"]
    assert _changed(begin2, end2) == {"block_16_project", "Conv_1"}
    # Recompiled at the stage's learning rate, with the same loss and metrics.
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(1e-3)
    assert keras.losses.get(clf.model_.get_compile_config()["loss"]).__name__ == (
        "binary_crossentropy")

    # A warm start continues the same network, here with a head-only stage.
    network, before = clf.model_, _network_weights(clf.model_)
    clf.set_params(warm_start=True, epochs=1, head_epochs=None).fit(X, y)
    assert clf.model_ is network and clf.n_iter_ == 3 and len(clf.history_["loss"]) == 3
    after = _network_weights(clf.model_)
    assert _changed(before, after) == set()
    assert not np.array_equal(before["output/0"], after["output/0"])
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.01)

    loaded = _assert_round_trips(clf, X, tmp_path)
    assert loaded.weights == str(weights)  # a Path parameter is stored as a str


# ---------------------------------------------------------------------- errors


def test_imagenet_missing_from_an_empty_cache_fails_before_training(
        face_pixels, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    X, y = face_pixels
    clf = HappySadClassifier(backbone="resnet50", weights="imagenet", image_size=(32, 32))
    folder = os.path.join(str(tmp_path), "models")
    with pytest.raises(FileNotFoundError, match=(
            r"HappySadClassifier: weights='imagenet' for the resnet50 backbone needs the Keras "
            r"weights file 'resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5' in the "
            rf"Keras cache folder '{re.escape(folder)}'")):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize("params, error, match", [
    # (unknown architecture or backbone, fine_tune_layers and head_epochs: test_classifier)
    (dict(backbone="inceptionv3", image_size=(64, 64)), ValueError,
     r"image_size \(64, 64\) is too small for the inceptionv3 backbone.*at least 75x75"),
    (dict(backbone="resnet50", image_size=(24, 24)), ValueError, "at least 32x32"),
    (dict(weights="imagenet"), ValueError, "weights='imagenet' needs a backbone"),
    (dict(backbone="mobilenetv2", weights="net.keras"), ValueError, r"\.weights\.h5 or \.h5"),
    (dict(backbone="mobilenetv2", weights="nowhere.h5"), FileNotFoundError,
     "no weights file at 'nowhere.h5'"),
    (dict(backbone="mobilenetv2", weights="imagenet", backbone_alpha=0.4), ValueError,
     r"ImageNet weights for backbone_alpha in \[0.35"),
    (dict(backbone="onet", image_size=(64, 64)), ValueError,
     r"the onet backbone takes exactly 48x48 pixels.*got image_size \(64, 64\)"),
    (dict(backbone="onet", image_size=(48, 48), weights="imagenet"), ValueError,
     r"the onet backbone has no ImageNet weights.*weights='mtcnn'"),
    (dict(backbone="mobilenetv2", weights="mtcnn"), ValueError,
     r"weights must be None, 'imagenet' or the path of a Keras weights file"),
], ids=["inception-size", "resnet-size", "weights-without-backbone", "weights-suffix",
        "weights-missing", "imagenet-alpha", "onet-size", "onet-imagenet",
        "mtcnn-weights-elsewhere"])
def test_bad_network_parameters_are_clear_errors(face_pixels, params, error, match):
    X, y = face_pixels
    clf = HappySadClassifier(**{"image_size": (32, 32), **params})
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")
