"""Which engine runs the fitted network, rule by rule (stand-in networks, no Keras)."""

from __future__ import annotations

import pytest

from skmood import SkmoodWarning, _litert
from skmood._inference import INFERENCE_ENGINES, choose_engine, network_predictor


class Network:
    """Stands in for a Keras model or a LiteRT conversion."""

    def __init__(self, jit_compile=False):
        self.jit_compile = jit_compile

    def predict_on_batch(self, x):  # pragma: no cover - never run here
        raise AssertionError("not called")


@pytest.fixture
def conversions(monkeypatch):
    """Replace the LiteRT conversion; records ``(model, quantize)`` of each call."""
    calls = []

    def convert(model, quantize=False):
        calls.append((model, quantize))
        return Network()

    monkeypatch.setattr(_litert, "lite_network", convert)
    return calls


def test_the_engines_are_the_classifiers_choices():
    from skmood import HappySadClassifier
    from skmood._classifier import INFERENCE_ENGINES as reexported

    assert reexported is INFERENCE_ENGINES
    assert HappySadClassifier().inference in INFERENCE_ENGINES


def test_auto_picks_litert_from_the_threshold_on(monkeypatch):
    threshold = _litert.AUTO_MIN_IMAGES
    assert choose_engine("auto", threshold - 1, "Owner") == "keras"
    assert choose_engine("auto", threshold, "Owner") == "litert"
    monkeypatch.setattr(_litert, "AUTO_MIN_IMAGES", 10)  # read at each call
    assert choose_engine("auto", 9, "Owner") == "keras"
    assert choose_engine("auto", 10, "Owner") == "litert"


@pytest.mark.parametrize("engine", ["keras", "litert", "litert-int8"])
@pytest.mark.parametrize("n_images", [1, 10**6])
def test_an_engine_named_is_used_for_any_number_of_images(engine, n_images):
    assert choose_engine(engine, n_images, "Owner") == engine


@pytest.mark.parametrize("engine", ["onnx", "LiteRT", None, ""])
def test_an_unknown_engine_is_named_with_the_choices(engine):
    with pytest.raises(ValueError) as info:
        choose_engine(engine, 10, "Owner")
    assert str(info.value) == (f"Owner: inference={engine!r}; expected 'auto', 'keras', "
                               "'litert' or 'litert-int8'.")


@pytest.mark.parametrize("jit", [False, True])
def test_keras_runs_the_model_in_one_batch_shape_only_when_compiled(jit, conversions):
    model = Network(jit_compile=jit)
    predict, fixed_shape = network_predictor(model, "keras", 10**6, "Owner")
    assert predict == model.predict_on_batch and fixed_shape is jit
    assert conversions == []  # nothing converted


@pytest.mark.parametrize("engine, quantize", [("litert", False), ("litert-int8", True),
                                              ("auto", False)])
def test_litert_runs_the_conversion_in_one_batch_shape(engine, quantize, conversions):
    model = Network()
    predict, fixed_shape = network_predictor(model, engine, _litert.AUTO_MIN_IMAGES, "Owner")
    assert conversions == [(model, quantize)]
    assert predict != model.predict_on_batch and predict.__name__ == "predict_on_batch"
    assert fixed_shape is True


@pytest.fixture
def unconvertible(monkeypatch):
    def refuse(model, quantize=False):
        raise _litert.LiteRTConversionError("could not convert the network to LiteRT (no)")

    monkeypatch.setattr(_litert, "lite_network", refuse)


@pytest.mark.parametrize("jit", [False, True])
def test_auto_falls_back_to_keras_with_a_warning(unconvertible, jit):
    model = Network(jit_compile=jit)
    with pytest.warns(SkmoodWarning) as record:
        predict, fixed_shape = network_predictor(model, "auto", 10**6, "Owner")
    assert predict == model.predict_on_batch and fixed_shape is jit
    assert [str(w.message) for w in record] == [
        "Owner: could not convert the network to LiteRT (no); predicting with Keras instead "
        "(inference='auto')."]


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_litert_asked_for_by_name_fails_without_fallback(unconvertible, engine):
    with pytest.raises(RuntimeError) as info:
        network_predictor(Network(), engine, 1, "Owner")
    assert str(info.value) == (f"Owner: inference={engine!r}: could not convert the network "
                               "to LiteRT (no); use inference='keras'.")
    assert isinstance(info.value.__cause__, _litert.LiteRTConversionError)


def test_the_fallback_warning_points_at_the_users_call(unconvertible, monkeypatch, face_paths,
                                                       make_clf):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    monkeypatch.setattr(_litert, "AUTO_MIN_IMAGES", 1)
    with pytest.warns(SkmoodWarning, match="predicting with Keras instead") as record:
        clf.predict_proba(paths)  # this line, not skmood's, is the warning's origin
    assert [w.filename for w in record] == [__file__]
