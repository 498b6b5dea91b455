"""Averaging fitted classifiers into one (``skmood.average_models``)."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest

import skmood
from skmood import HappySadClassifier, average_models
from skmood._ensemble import AVERAGE_LAYER, member_networks
from skmood.datasets import make_faces

SMALL = dict(image_size=(32, 32), conv_filters=(4, 8), dense_units=8, epochs=1, batch_size=16,
             verbose=0)


@pytest.fixture(scope="module")
def faces():
    return make_faces(48, image_size=(32, 32), random_state=0)


@pytest.fixture(scope="module")
def members(faces):
    X, y = faces
    return [HappySadClassifier(random_state=seed, **SMALL).fit(X, y) for seed in (0, 1)]


@pytest.fixture
def averaged(members):
    return average_models(members)


def test_it_answers_the_mean_of_its_members_probabilities(members, averaged, faces):
    X, _ = faces
    mean = np.mean([m.predict_proba(X) for m in members], axis=0)
    np.testing.assert_allclose(averaged.predict_proba(X), mean, atol=1e-5)
    assert list(averaged.classes_) == list(members[0].classes_)
    assert averaged.get_params() == members[0].get_params()
    assert averaged.n_iter_ == 0  # it was not trained as such


def test_its_network_holds_each_member_once(members, averaged):
    names = [layer.name for layer in averaged.model_.layers]
    assert names[-1] == AVERAGE_LAYER
    assert [m.name for m in member_networks(averaged.model_)] == ["network_0", "network_1"]
    assert member_networks(members[0].model_) is None  # an ordinary network
    # Copies: the members' own networks are not tied to the average.
    assert member_networks(averaged.model_)[0] is not members[0].model_


def test_it_round_trips_through_the_safe_format_and_joblib(averaged, faces, tmp_path):
    X, _ = faces
    expected = averaged.predict_proba(X)
    skmood.save(averaged, tmp_path / "both.skmood")
    np.testing.assert_allclose(skmood.load(tmp_path / "both.skmood").predict_proba(X), expected,
                               atol=1e-6)
    joblib.dump(averaged, tmp_path / "both.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "both.joblib").predict_proba(X), expected,
                               atol=1e-6)


def test_int8_inference_converts_the_whole_averaged_network(averaged, faces):
    X, _ = faces
    exact = averaged.predict_proba(X)
    int8 = averaged.set_params(inference="litert-int8").predict_proba(X)
    assert np.abs(int8 - exact).max() < 0.05


def test_grad_cam_averages_the_members_heat_maps(members, averaged, faces):
    X, _ = faces
    maps = averaged.explain(X[:4], target="happy")
    assert maps.shape == (4, 32, 32) and np.nanmin(maps) >= 0.0 and np.nanmax(maps) <= 1.0
    mean = np.mean([m.explain(X[:4], target="happy") for m in members], axis=0)
    top = mean.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps, np.where(top > 0, mean / np.where(top > 0, top, 1), 0),
                               atol=1e-5)


def test_a_warm_start_fine_tunes_every_member_and_warns_nothing(averaged, faces):
    X, y = faces
    before = [m.get_weights()[0].copy() for m in member_networks(averaged.model_)]
    averaged.set_params(warm_start=True, learning_rate=1e-2, lr_schedule="constant")
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmood.SkmoodWarning)
        averaged.fit(X, y)
    after = [m.get_weights()[0] for m in member_networks(averaged.model_)]
    assert all(not np.allclose(a, b) for a, b in zip(after, before))
    assert averaged.n_iter_ == 1 and member_networks(averaged.model_) is not None


def test_it_needs_two_fitted_classifiers_that_see_the_same_input(members, faces):
    X, y = faces
    with pytest.raises(ValueError, match="at least two"):
        average_models(members[:1])
    with pytest.raises(TypeError, match=r"models\[1\] is a str"):
        average_models([members[0], "model.skmood"])
    with pytest.raises(skmood.NotFittedError, match=r"models\[1\] is not fitted"):
        average_models([members[0], HappySadClassifier(**SMALL)])
    other_size = HappySadClassifier(**{**SMALL, "image_size": (24, 24)}).fit(X, y)
    with pytest.raises(ValueError, match=r"models\[1\] has input_shape_ \(24, 24, 3\)"):
        average_models([members[0], other_size])
    other_classes = HappySadClassifier(**SMALL).fit(X, np.where(y == "happy", "joy", "sad"))
    with pytest.raises(ValueError, match="classes_"):
        average_models([members[0], other_classes])
    cropping = HappySadClassifier(**{**SMALL, "face_detector": "haar"}).fit(X, y)
    with pytest.raises(ValueError, match="face_detector 'haar'"):
        average_models([members[0], cropping])


def test_it_exports_as_one_network_for_the_lean_runtime(averaged, faces, tmp_path):
    import skmood.runtime

    X, _ = faces
    skmood.export(averaged, tmp_path / "both.onnx", format="onnx")
    exported = skmood.runtime.load(tmp_path / "both.onnx")
    np.testing.assert_allclose(exported.predict_proba(X), averaged.predict_proba(X), atol=1e-5)


def test_an_average_can_be_a_member_of_another(members, averaged, faces):
    X, _ = faces
    nested = average_models([averaged, members[0]])  # (a + b) / 2 and a: 3/4 a + 1/4 b
    proba = [m.predict_proba(X) for m in members]
    np.testing.assert_allclose(nested.predict_proba(X), 0.75 * proba[0] + 0.25 * proba[1],
                               atol=1e-5)
    maps = nested.explain(X[:2], target="sad")
    assert maps.shape == (2, 32, 32) and np.nanmax(maps) <= 1.0


def test_its_int8_conversion_is_stored_and_reused(averaged, faces, tmp_path, monkeypatch):
    from skmood import _litert

    X, _ = faces
    proba = averaged.set_params(inference="litert-int8").predict_proba(X)
    skmood.save(averaged, tmp_path / "both.skmood")
    monkeypatch.setattr(_litert, "convert_saved_model", None)  # any conversion would fail
    np.testing.assert_array_equal(skmood.load(tmp_path / "both.skmood").predict_proba(X), proba)
