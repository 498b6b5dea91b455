"""The training recipe of the recommended configuration, part by part.

``architecture="vgg"``, ``shift`` augmentation, ``label_smoothing``,
``weight_decay`` (AdamW), ``lr_schedule="cosine"``, ``jit_compile`` (XLA,
augmentation moved to the input pipeline), ``flip_averaging`` and
:func:`skmood.recommended_params`. Networks are tiny; one or two epochs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import skmood
import skmood._keras_backend as backend
from skmood import HappySadClassifier, recommended_params
from skmood._augment import Augmenter
from skmood._network_spec import pipeline_augmenter
from skmood._sequence import ImageSequence
from skmood._validation import check_images
from skmood.models import augmentation_layers, build_vgg

def schedule_of(model):
    """The compiled optimizer's learning-rate schedule, rebuilt from its public config."""
    return keras.optimizers.schedules.deserialize(model.optimizer.get_config()["learning_rate"])


TINY_VGG = dict(architecture="vgg", image_size=(16, 16), color_mode="grayscale",
                conv_filters=(4, 8), blocks_per_stage=1, epochs=1, batch_size=16,
                random_state=0)


# ------------------------------------------------------------------ the network
def test_vgg_has_stages_of_convolutions_and_late_dropout():
    model = build_vgg((48, 48, 1), conv_filters=(8, 16, 32, 64), blocks_per_stage=2,
                      dropout=0.4)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [c.filters for c in convs] == [8, 8, 16, 16, 32, 32, 64, 64]
    assert len(pools) == 4 and model.get_layer("gap").output.shape[1:] == (64,)
    rates = {layer.name: layer.rate for layer in model.layers
             if isinstance(layer, keras.layers.Dropout)}
    # a quarter and a half of `dropout` after the last two stages, all of it at the head
    assert rates == {"stage2_dropout": 0.1, "stage3_dropout": 0.2, "dropout": 0.4}
    assert model.output_shape == (None, 1)


def test_shift_adds_a_translation_layer():
    layers = augmentation_layers(shift=0.1)
    assert [type(layer).__name__ for layer in layers] == ["RandomTranslation"]
    assert augmentation_layers() == []


# ------------------------------------------------------------------ pipeline augmentation
def test_augmenter_mirrors_exactly_when_only_flipping():
    batch = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)
    out = Augmenter(horizontal_flip=True).apply(batch, np.random.default_rng(1))
    mirrored = np.array([np.array_equal(o, b[:, ::-1]) for o, b in zip(out, batch)])
    unchanged = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
    assert (mirrored | unchanged).all() and 0 < mirrored.sum() < 32


def test_augmenter_shift_moves_the_content_and_repeats_with_the_seed():
    batch = np.zeros((1, 21, 21, 1), np.float32)
    batch[0, 10, 10, 0] = 1.0  # one bright pixel in the middle
    augmenter = Augmenter(shift=0.3)
    out = augmenter.apply(batch, np.random.default_rng(3))
    assert out.shape == batch.shape and out.dtype == np.float32
    assert np.unravel_index(out[0, ..., 0].argmax(), (21, 21)) != (10, 10)
    np.testing.assert_array_equal(out, augmenter.apply(batch, np.random.default_rng(3)))
    np.testing.assert_array_equal(Augmenter().apply(batch, np.random.default_rng(3)), batch)


def test_sequence_pads_short_batches_and_collects_real_rows_only():
    pixels = np.arange(300, dtype=np.float32).reshape(300, 1, 1, 1) * np.ones((1, 4, 4, 1))
    seq = ImageSequence(check_images(pixels / 300, "t"), image_size=(4, 4),
                        color_mode="grayscale", batch_size=256, pad=True, mirror=True)
    assert [seq.batch_rows(i) for i in range(len(seq))] == [(256, 256), (44, 64)]
    assert seq[1][0].shape == (128, 4, 4, 1)  # 64 padded rows, then their mirror images
    # A "network" returning each image's top-left pixel, as the model would row by row.
    outputs = np.concatenate([seq[i][0][:, 0, 0, 0] for i in range(len(seq))])
    np.testing.assert_allclose(seq.collect(outputs), np.arange(300) / 300, rtol=1e-6)
    with pytest.raises(RuntimeError, match="expected"):
        seq.collect(outputs[:-1])


# ------------------------------------------------------------------ compile options
def test_recipe_options_reach_the_compiled_network(face_pixels):
    X, y = face_pixels
    clf = HappySadClassifier(**TINY_VGG, label_smoothing=0.1, weight_decay=1e-3,
                             lr_schedule="cosine", learning_rate=3e-3, shift=0.1).fit(X, y)
    model = clf.model_
    assert model.name == "happy_sad_vgg"
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(1e-3)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    schedule = schedule_of(model)
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    # one epoch only: no warm-up, the cosine starts at the peak
    assert schedule.warmup_steps == 0 and schedule.initial_learning_rate == pytest.approx(3e-3)
    assert "shift" in {layer.name for layer in model.layers}


def test_cosine_warms_up_over_the_first_epoch(face_pixels):
    X, y = face_pixels  # 120 images, batch 16: 8 steps per epoch
    clf = HappySadClassifier(**{**TINY_VGG, "epochs": 3}, lr_schedule="cosine").fit(X, y)
    schedule = schedule_of(clf.model_)
    assert schedule.warmup_steps == 8 and schedule.decay_steps == 16
    assert float(schedule(0)) == 0.0 and float(schedule(8)) == pytest.approx(1e-3)
    assert float(schedule(24)) == pytest.approx(1e-5)  # 1 % of the peak at the end


def test_defaults_keep_adam_plain_cross_entropy_and_a_constant_rate(face_pixels, make_clf):
    X, y = face_pixels
    model = make_clf().fit(X, y).model_
    assert type(model.optimizer) is keras.optimizers.Adam
    assert isinstance(model.optimizer.get_config()["learning_rate"], float)  # no schedule
    assert model.jit_compile is False


# In a fresh interpreter, where skmood's seeded fit is the first to ask TensorFlow
# about op determinism (TensorFlow reads TF_DETERMINISTIC_OPS at that first question).
_DETERMINISM = """
import json, sys
import tensorflow as tf
sys.path.insert(0, TESTS)
from conftest import tiny_classifier
from skmood._keras_backend import op_determinism_enabled
from skmood.datasets import make_faces

X, y = make_faces(16, image_size=(16, 16), random_state=0)
tiny_classifier(random_state=0).fit(X, y)
after_seeded_fit = op_determinism_enabled()
tf.config.experimental.enable_op_determinism()  # the user's choice
tiny_classifier(random_state=0).fit(X, y)
print(json.dumps({"after_seeded_fit": after_seeded_fit, "kept_on": op_determinism_enabled()}))
"""


def test_seeded_fit_leaves_tensorflow_op_determinism_as_the_user_set_it():
    # scikeras' seeded build would leave it on (slower ops, no XLA) were its
    # question TensorFlow's first; a user who switched it on keeps it on.
    env = {k: v for k, v in os.environ.items() if k != "TF_DETERMINISTIC_OPS"}
    script = _DETERMINISM.replace("TESTS", repr(str(Path(__file__).parent)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"after_seeded_fit": False, "kept_on": True}


def test_only_the_first_seeded_fit_asks_about_op_determinism(face_pixels, make_clf,
                                                             monkeypatch):
    calls = []
    real = backend.op_determinism_enabled
    monkeypatch.setattr(backend, "op_determinism_enabled", lambda: calls.append(1) or real())
    backend._read_determinism_setting.cache_clear()  # as in a fresh process
    X, y = face_pixels
    make_clf(random_state=None).fit(X, y)  # scikeras' unseeded build leaves it alone
    assert calls == []
    make_clf(random_state=0).fit(X, y)
    make_clf(random_state=1).fit(X, y)
    assert calls == [1]
    assert not backend.op_determinism_enabled()


def test_jit_compile_moves_augmentation_to_the_pipeline(face_pixels, tmp_path):
    X, y = face_pixels
    clf = HappySadClassifier(**TINY_VGG, jit_compile=True, horizontal_flip=True, rotation=10,
                             zoom=0.1, shift=0.1)
    clf.fit(X, y)
    assert clf.model_.jit_compile is True
    names = {layer.name for layer in clf.model_.layers}
    assert not names & {"flip", "rotate", "zoom", "shift"}  # XLA cannot compile them
    assert pipeline_augmenter(clf.get_params()) == Augmenter(
        rotation=10.0, horizontal_flip=True, zoom=0.1, shift=0.1)
    # Odd sizes are padded to few shapes; results match the uncompiled network.
    proba = clf.predict_proba(X[:37])
    clf.model_.jit_compile = False
    np.testing.assert_allclose(clf.predict_proba(X[:37]), proba, atol=1e-5)
    clf.model_.jit_compile = True
    skmood.save(clf, tmp_path / "m.skmood")
    loaded = skmood.load(tmp_path / "m.skmood")
    assert loaded.model_.jit_compile is True
    np.testing.assert_allclose(loaded.predict_proba(X[:37]), proba, atol=1e-5)


def test_flip_averaging_averages_each_image_and_its_mirror(face_pixels, make_clf):
    X, y = face_pixels
    clf = make_clf(image_size=(24, 24)).fit(X, y)
    plain, mirrored = clf.predict_proba(X), clf.predict_proba(X[:, :, ::-1])
    averaged = clf.set_params(flip_averaging=True).predict_proba(X)
    np.testing.assert_allclose(averaged, (plain + mirrored) / 2, atol=1e-6)
    assert not np.allclose(plain, mirrored)  # the mirror changes something


def test_warm_start_with_a_cosine_schedule_starts_a_new_one(face_pixels):
    X, y = face_pixels
    clf = HappySadClassifier(**{**TINY_VGG, "epochs": 2}, lr_schedule="cosine").fit(X, y)
    first_optimizer, first = clf.model_.optimizer, schedule_of(clf.model_)
    clf.set_params(warm_start=True, epochs=1, learning_rate=1e-4).fit(X, y)
    second = schedule_of(clf.model_)
    assert clf.model_.optimizer is not first_optimizer  # a new optimizer, a new schedule
    assert first.warmup_target == pytest.approx(1e-3)
    assert second.warmup_steps == 0 and second.initial_learning_rate == pytest.approx(1e-4)
    assert clf.n_iter_ == 3


def test_optimizer_learning_rate_is_a_variable_only_for_a_constant_rate():
    # set_learning_rate relies on this Keras 3 behaviour (public API, 3.15.1).
    assert isinstance(keras.optimizers.Adam(1e-3).learning_rate, keras.Variable)
    schedule = backend.learning_rate(1e-3, "cosine", epochs=2, steps_per_epoch=4)
    assert not isinstance(keras.optimizers.Adam(schedule).learning_rate, keras.Variable)


def test_set_learning_rate_assigns_a_float_and_recompiles_for_a_schedule():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    optimizer = model.optimizer
    backend.set_learning_rate(model, 5e-4)  # in place: Adam's state is kept
    assert model.optimizer is optimizer
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(5e-4)
    schedule = backend.learning_rate(1e-3, "cosine", epochs=2, steps_per_epoch=4)
    backend.set_learning_rate(model, schedule)
    assert model.optimizer is not optimizer
    assert schedule_of(model).get_config() == schedule.get_config()
    with_schedule = model.optimizer
    backend.set_learning_rate(model, 2e-4)  # a float replacing a schedule: new optimizer
    assert model.optimizer is not with_schedule
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(2e-4)


# ------------------------------------------------------------------ the named preset
def test_recommended_params_are_a_valid_overridable_parameter_set():
    params = recommended_params(epochs=3, random_state=1)
    clf = HappySadClassifier(**params)
    assert clf.get_params()["epochs"] == 3 and clf.random_state == 1
    assert params["architecture"] == "vgg" and params["image_size"] == (48, 48)
    assert recommended_params() != params  # a fresh dict every call
    with pytest.raises(TypeError, match="unknown HappySadClassifier parameters.*'epoch'"):
        recommended_params(epoch=3)


def test_recommended_params_fit_on_small_faces(face_pixels):
    X, y = face_pixels
    params = recommended_params(image_size=(16, 16), conv_filters=(4, 8), blocks_per_stage=1,
                                epochs=1, batch_size=32, random_state=0)
    clf = HappySadClassifier(**params).fit(X, y)
    assert clf.model_.jit_compile is True and not clf.flip_averaging
    assert set(clf.history_) >= {"loss", "val_loss", "val_accuracy"}  # 10 % held out
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_cli_train_with_the_preset_and_overrides(face_folder, tmp_path, capsys):
    from skmood.cli import main

    out = tmp_path / "m.skmood"
    assert main(["train", str(face_folder), "-o", str(out), "--preset", "recommended",
                 "--image-size", "16", "16", "--conv-filters", "4", "8",
                 "--blocks-per-stage", "1", "--epochs", "1", "--flip-averaging"]) == 0
    clf = skmood.load(out)
    assert clf.architecture == "vgg" and clf.lr_schedule == "cosine"  # from the preset
    assert clf.conv_filters == (4, 8) and clf.flip_averaging is True  # the overrides
    assert clf.n_iter_ == 1 and "model saved" in capsys.readouterr().out
