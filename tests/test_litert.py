"""``inference``: the fitted network run by LiteRT gives Keras' probabilities."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import skmood._keras_backend as backend
from skmood import _litert
from skmood.exceptions import SkmoodWarning

# float32 networks, two kernels libraries: equal to rounding, not bit for bit
ATOL = 1e-5


@pytest.mark.parametrize("params", [
    {},
    # augmentation layers and dropout inside the network: inactive at prediction
    {"rotation": 10.0, "horizontal_flip": True, "zoom": 0.1, "shift": 0.1, "dropout": 0.3},
    {"architecture": "vgg", "conv_filters": (4, 8), "batch_norm": True},
    {"architecture": "resnet", "conv_filters": (4, 8), "blocks_per_stage": 1},
    {"flip_averaging": True},
    {"color_mode": "grayscale", "jit_compile": True},
], ids=["seed", "augmented", "vgg", "resnet", "flip-averaging", "grayscale-xla"])
def test_litert_gives_the_probabilities_of_keras(face_paths, make_clf, params):
    paths, labels = face_paths
    clf = make_clf(**params).fit(paths, labels)
    keras_proba = clf.set_params(inference="keras").predict_proba(paths)
    lite_proba = clf.set_params(inference="litert").predict_proba(paths)
    assert lite_proba.shape == keras_proba.shape == (len(paths), 2)
    np.testing.assert_allclose(lite_proba, keras_proba, atol=ATOL)


def test_a_network_trained_further_is_converted_again(face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf(inference="litert", learning_rate=0.05).fit(paths, labels)
    before = clf.predict_proba(paths)
    clf.set_params(warm_start=True).fit(paths, labels)  # new weights, same Keras model
    after = clf.predict_proba(paths)
    assert not np.allclose(after, before, atol=1e-4)  # not the stale conversion
    np.testing.assert_allclose(after, clf.set_params(inference="keras").predict_proba(paths),
                               atol=ATOL)


def test_auto_uses_litert_for_large_calls_only(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)  # inference="auto" by default
    assert clf.inference == "auto"
    monkeypatch.setattr(_litert, "AUTO_MIN_IMAGES", len(paths))
    clf.predict_proba(paths[:-1])
    assert clf.model_ not in _litert._CACHE  # a small call: Keras, nothing converted
    clf.predict_proba(paths)
    assert clf.model_ in _litert._CACHE


@pytest.mark.parametrize("step", ["export", "interpreter"])
def test_an_unconvertible_network_falls_back_to_keras_under_auto(face_paths, make_clf,
                                                                monkeypatch, step):
    import tensorflow as tf

    def refuse(*args, **kwargs):
        raise ValueError("custom op nobody knows")

    if step == "export":
        monkeypatch.setattr(backend, "export_inference", refuse)
    else:  # e.g. a TensorFlow release without tf.lite.Interpreter
        monkeypatch.setattr(tf.lite, "Interpreter", refuse)
    monkeypatch.setattr(_litert, "AUTO_MIN_IMAGES", 1)
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    expected = clf.set_params(inference="keras").predict_proba(paths)
    with pytest.warns(SkmoodWarning, match="custom op nobody knows.*predicting with Keras"):
        proba = clf.set_params(inference="auto").predict_proba(paths)
    np.testing.assert_array_equal(proba, expected)
    for engine in ("litert", "litert-int8"):  # asked for by name: an error, no fallback
        with pytest.raises(RuntimeError, match=f"inference='{engine}'.*custom op nobody knows"):
            clf.set_params(inference=engine).predict_proba(paths)


def _int8_tensors(network):
    return [t["name"] for t in network._interpreter.get_tensor_details()
            if t["dtype"] == np.int8]


def test_litert_int8_runs_int8_weights_close_to_the_float_network(face_pixels, make_clf):
    X, y = face_pixels
    clf = make_clf(image_size=(24, 24), conv_filters=(8, 16), dense_units=32, epochs=3,
                   learning_rate=0.01).fit(X, y)
    keras_proba = clf.set_params(inference="keras").predict_proba(X)
    int8_proba = clf.set_params(inference="litert-int8").predict_proba(X)

    float_net = _litert.lite_network(clf.model_)
    int8_net = _litert.lite_network(clf.model_, quantize=True)
    assert _int8_tensors(int8_net) and not _int8_tensors(float_net)
    assert len(int8_net.flatbuffer) < len(float_net.flatbuffer) / 2  # 1 byte per weight, not 4
    # close to the float network, not equal to it
    assert np.abs(int8_proba - keras_proba).max() < 0.05
    assert not np.allclose(int8_proba, keras_proba, atol=ATOL)
    assert np.mean(int8_proba.argmax(axis=1) == keras_proba.argmax(axis=1)) >= 0.95


def test_float_and_int8_conversions_are_cached_side_by_side(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    float_proba = clf.set_params(inference="litert").predict_proba(paths)
    int8_proba = clf.set_params(inference="litert-int8").predict_proba(paths)
    assert set(_litert._CACHE[clf.model_]) == {False, True}

    def no_more_conversions(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(_litert, "LiteNetwork", no_more_conversions)
    np.testing.assert_array_equal(clf.predict_proba(paths), int8_proba)
    np.testing.assert_array_equal(clf.set_params(inference="litert").predict_proba(paths),
                                  float_proba)


def test_the_conversion_is_never_pickled(face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf(inference="litert").fit(paths, labels)
    proba = clf.predict_proba(paths)
    clone = pickle.loads(pickle.dumps(clf))
    assert clone.model_ not in _litert._CACHE
    np.testing.assert_allclose(clone.predict_proba(paths), proba, atol=ATOL)


def test_threads_may_share_one_converted_network(face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf(inference="litert").fit(paths, labels)
    expected = clf.predict_proba(paths)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(clf.predict_proba, [paths] * 4))
    for proba in results:
        np.testing.assert_array_equal(proba, expected)


def test_a_bad_engine_is_named(face_paths, make_clf):
    paths, labels = face_paths
    with pytest.raises(ValueError, match="'inference' parameter.*'onnx'"):
        make_clf(inference="onnx").fit(paths, labels)
    clf = make_clf().fit(paths, labels).set_params(inference="onnx")  # after fit
    with pytest.raises(ValueError, match="inference='onnx'; expected 'auto', 'keras'"):
        clf.predict(paths)


def test_conversion_errors_are_remembered(face_paths, make_clf, monkeypatch):
    calls = []

    def refuse(model, directory):
        calls.append(1)
        raise ValueError("no")

    monkeypatch.setattr(backend, "export_inference", refuse)
    paths, labels = face_paths
    clf = make_clf(inference="litert").fit(paths, labels)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="could not convert"):
            clf.predict_proba(paths)
    assert len(calls) == 1  # the same weights are not converted twice


# --------------------------------------------------- conversions stored in model files
def _conversions_made(monkeypatch) -> list:
    """Count the LiteRT conversions from here on (stored flatbuffers are not conversions)."""
    made = []
    convert = _litert.convert_saved_model

    def counting(*args, **kwargs):
        made.append(kwargs.get("quantize"))
        return convert(*args, **kwargs)

    monkeypatch.setattr(_litert, "convert_saved_model", counting)
    return made


def test_a_saved_model_carries_its_conversion_and_loads_without_converting(
        face_paths, make_clf, tmp_path, monkeypatch):
    import skmood

    paths, labels = face_paths
    clf = make_clf(inference="litert-int8").fit(paths, labels)
    proba = clf.predict_proba(paths)  # converts once, in this process
    skmood.save(clf, tmp_path / "model.skmood")
    stored = skmood.read_info(tmp_path / "model.skmood")["litert"]
    assert [(e["file"], e["quantize"]) for e in stored] == [("litert-int8.tflite", True)]
    made = _conversions_made(monkeypatch)
    again = skmood.load(tmp_path / "model.skmood")
    np.testing.assert_array_equal(again.predict_proba(paths), proba)
    assert made == []  # the stored flatbuffer ran: nothing converted
    again.set_params(warm_start=True, learning_rate=0.05).fit(paths, labels)
    retrained = again.predict_proba(paths)  # new weights: the stored conversion is stale
    assert made == [True]
    np.testing.assert_allclose(retrained, again.set_params(inference="keras").predict_proba(paths),
                               atol=0.05)


def test_saving_never_converts(face_paths, make_clf, tmp_path, monkeypatch):
    import skmood

    paths, labels = face_paths
    clf = make_clf(inference="litert-int8").fit(paths, labels)
    made = _conversions_made(monkeypatch)
    skmood.save(clf, tmp_path / "model.skmood")  # no prediction yet: nothing to store
    assert made == [] and "litert" not in skmood.read_info(tmp_path / "model.skmood")


def test_a_stored_conversion_of_other_weights_or_unreadable_is_not_used(
        face_paths, make_clf, tmp_path, monkeypatch):
    import json
    import zipfile

    import skmood

    paths, labels = face_paths
    clf = make_clf(inference="litert-int8").fit(paths, labels)
    proba = clf.predict_proba(paths)
    skmood.save(clf, tmp_path / "model.skmood")
    with zipfile.ZipFile(tmp_path / "model.skmood") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(members["skmood.json"])
    for name, change in (("other-weights", {"weights": "0" * 32}), ("garbage", {})):
        edited = dict(members)
        edited["skmood.json"] = json.dumps({**meta, "litert": [{**meta["litert"][0], **change}]})
        if name == "garbage":
            edited["litert-int8.tflite"] = b"not a flatbuffer"
        with zipfile.ZipFile(tmp_path / f"{name}.skmood", "w") as archive:
            for member, data in edited.items():
                archive.writestr(member, data)
        made = _conversions_made(monkeypatch)
        loaded = skmood.load(tmp_path / f"{name}.skmood")
        np.testing.assert_allclose(loaded.predict_proba(paths), proba, atol=ATOL)
        assert made == [True], name  # converted afresh, as if nothing were stored


def test_a_stored_conversion_of_another_network_is_caught_by_the_probe(
        face_paths, make_clf, tmp_path, monkeypatch):
    import zipfile

    import skmood

    paths, labels = face_paths
    ours = make_clf(inference="litert-int8", random_state=0).fit(paths, labels)
    theirs = make_clf(inference="litert-int8", random_state=1, learning_rate=0.05,
                      epochs=4).fit(paths, labels)
    proba = ours.predict_proba(paths)
    theirs.predict_proba(paths)
    skmood.save(ours, tmp_path / "ours.skmood")
    skmood.save(theirs, tmp_path / "theirs.skmood")
    # A file whose metadata vouch for our weights, but whose flatbuffer is another network's.
    with zipfile.ZipFile(tmp_path / "ours.skmood") as a, \
            zipfile.ZipFile(tmp_path / "theirs.skmood") as b, \
            zipfile.ZipFile(tmp_path / "forged.skmood", "w") as out:
        for name in a.namelist():
            out.writestr(name, b.read(name) if name.endswith(".tflite") else a.read(name))
    made = _conversions_made(monkeypatch)
    forged = skmood.load(tmp_path / "forged.skmood")
    np.testing.assert_allclose(forged.predict_proba(paths), proba, atol=ATOL)
    assert made == [True]  # the probe disagreed: converted from the stored network


def test_a_pipeline_file_carries_the_conversion_too(face_paths, make_clf, tmp_path,
                                                    monkeypatch):
    from sklearn.pipeline import make_pipeline

    import skmood

    paths, labels = face_paths
    pipe = make_pipeline(skmood.ImageLoader(), skmood.ImageResizer(image_size=(16, 16)),
                         make_clf(inference="litert"))
    pipe.fit(paths, labels)
    proba = pipe.predict_proba(paths)
    skmood.save(pipe, tmp_path / "pipe.skmood")
    assert [e["file"] for e in skmood.read_info(tmp_path / "pipe.skmood")["litert"]] == [
        "litert.tflite"]
    made = _conversions_made(monkeypatch)
    np.testing.assert_allclose(skmood.load(tmp_path / "pipe.skmood").predict_proba(paths), proba,
                               atol=ATOL)
    assert made == []
