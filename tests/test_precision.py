"""``precision``: mixed-precision training, its "auto" detection, and serving in float32."""

from __future__ import annotations

import logging

import joblib
import numpy as np
import pytest

import skmood
from skmood import _precision

#: The real detection (conftest's autouse fixture replaces it in every test).
READ_CPU_FLAGS = _precision.cpu_flags

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx2 {extra}
bogomips\t: 4000.00

processor\t: 1
flags\t\t: fpu sse2 avx2 {extra}
"""


def _hardware(monkeypatch, flags=(), gpus=()):
    monkeypatch.setattr(_precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(_precision, "gpu_compute_capabilities", lambda: list(gpus))


def _hidden_and_output(model):
    hidden = {layer.dtype_policy.name for layer in model.layers
              if layer.name not in ("image", "output")}
    return hidden, model.get_layer("output").dtype_policy.name


@pytest.fixture(scope="module")
def bf16(face_pixels):
    """A network trained one epoch in mixed_bfloat16."""
    from skmood import HappySadClassifier

    X, y = face_pixels
    return HappySadClassifier(image_size=(24, 24), conv_filters=(4,), dense_units=8, epochs=1,
                              batch_size=8, random_state=0,
                              precision="mixed_bfloat16").fit(X, y)


# ---------------------------------------------------------------- detection
def test_cpu_flags_reads_the_flags_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra="avx512_bf16"))
    flags = READ_CPU_FLAGS(str(path))
    assert {"avx2", "avx512_bf16"} <= flags and "bogomips" not in flags
    assert READ_CPU_FLAGS(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize(("flags", "gpus", "expected"), [
    ((), (), "float32"),
    (("avx2",), (), "float32"),
    (("avx2", "avx512_bf16"), (), "mixed_bfloat16"),
    (("amx_bf16",), (), "mixed_bfloat16"),
    (("avx512_bf16",), ((7, 5),), "float32"),  # the GPU trains, and it is too old
    ((), ((8, 0),), "mixed_bfloat16"),
    ((), ((8, 6), (7, 0)), "float32"),
])
def test_auto_picks_bfloat16_only_on_fast_hardware(monkeypatch, flags, gpus, expected):
    _hardware(monkeypatch, flags, gpus)
    assert _precision.resolve_precision("auto", "Owner") == expected


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_precisions_are_taken_as_given(monkeypatch, precision):
    _hardware(monkeypatch, flags=("avx512_bf16",))
    assert _precision.resolve_precision(precision, "Owner") == precision


def test_auto_takes_bfloat16_from_a_gpu_of_capability_8(monkeypatch):
    _hardware(monkeypatch, gpus=((8, 0),))
    assert _precision.resolve_precision("auto", "Owner") == "mixed_bfloat16"
    _hardware(monkeypatch, gpus=((7, 5), (8, 6)))
    policy, reason = _precision.choose_precision("auto", "Owner")
    assert policy == "float32" and "7.5 < 8.0" in reason


def test_auto_keeps_an_own_model_in_float32(monkeypatch):
    _hardware(monkeypatch, flags=("amx_bf16",))
    assert _precision.resolve_precision("auto", "Owner", own_model=True) == "float32"
    assert _precision.resolve_precision("mixed_bfloat16", "Owner",
                                        own_model=True) == "mixed_bfloat16"


def test_an_unknown_precision_names_the_owner_and_the_choices():
    with pytest.raises(ValueError, match=r"Owner: precision='float64'; expected 'auto'.*"
                                         r"'mixed_float16'"):
        _precision.resolve_precision("float64", "Owner")


def test_fit_rejects_an_unknown_precision(face_pixels, make_clf):
    X, y = face_pixels
    with pytest.raises(ValueError, match="precision"):
        make_clf(precision="bfloat16").fit(X, y)


# --------------------------------------------------------------- training
@pytest.mark.parametrize(("precision", "hidden"), [
    ("float32", "float32"),
    ("mixed_bfloat16", "mixed_bfloat16"),
    ("mixed_float16", "mixed_float16"),
])
def test_each_precision_builds_fits_and_predicts(face_pixels, make_clf, precision, hidden):
    from skmood._keras_backend import keras

    X, y = face_pixels
    before = keras.config.dtype_policy().name
    clf = make_clf(image_size=(24, 24), precision=precision).fit(X, y)
    assert keras.config.dtype_policy().name == before == "float32"  # restored
    assert _hidden_and_output(clf.model_) == ({hidden}, "float32")
    assert clf.model_.dtype_policy.name == hidden
    scaled = isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    assert np.isfinite(clf.history_["loss"]).all()
    proba = clf.predict_proba(X[:10])
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.model_.predict_on_batch(X[:2].astype("float32") / 255).dtype == np.float32


def test_auto_trains_in_what_the_hardware_gives(face_pixels, make_clf, monkeypatch, caplog):
    X, y = face_pixels
    _hardware(monkeypatch, flags=("avx512_bf16",))
    with caplog.at_level(logging.INFO, logger="skmood"):
        clf = make_clf(precision="auto").fit(X, y)
    assert _hidden_and_output(clf.model_) == ({"mixed_bfloat16"}, "float32")
    assert "training in mixed_bfloat16 (the processor has avx512_bf16)" in caplog.text
    clf = make_clf(precision="auto", jit_compile=True).fit(X, y)  # XLA too (measured faster)
    assert _hidden_and_output(clf.model_) == ({"mixed_bfloat16"}, "float32")
    _hardware(monkeypatch)
    clf = make_clf(precision="auto").fit(X, y)
    assert _hidden_and_output(clf.model_) == ({"float32"}, "float32")


def test_verbose_output_says_which_precision(face_pixels, make_clf, monkeypatch, capsys):
    X, y = face_pixels
    _hardware(monkeypatch, flags=("amx_bf16",))
    make_clf(precision="auto", verbose=2).fit(X, y)
    assert "precision='auto': training in mixed_bfloat16" in capsys.readouterr().out


def test_a_warm_start_continues_in_the_same_precision(face_pixels, make_clf, monkeypatch):
    from skmood._keras_backend import keras

    X, y = face_pixels
    _hardware(monkeypatch, flags=("avx512_bf16",))  # "auto" would say bfloat16 here
    clf = make_clf(precision="mixed_float16", lr_schedule="cosine").fit(X, y)
    clf.set_params(warm_start=True, precision="auto", lr_schedule="constant")
    network = clf.model_
    clf.fit(X, y)
    assert clf.model_ is network and clf.n_iter_ == 2
    assert _hidden_and_output(clf.model_) == ({"mixed_float16"}, "float32")
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(clf.history_["loss"]).all()


@pytest.mark.parametrize("precision", ["auto", "float32"])
def test_a_warm_start_where_float32_is_chosen_continues_in_float32(
        face_pixels, make_clf, monkeypatch, caplog, precision):
    # E.g. fine-tuning the pretrained model (trained in bfloat16) on a laptop: emulated
    # bfloat16 would be ~5x as slow as float32.
    from skmood._keras_backend import keras

    X, y = face_pixels
    clf = make_clf(precision="mixed_bfloat16", lr_schedule="cosine").fit(X, y)
    before = clf.predict_proba(X)
    weights = [w.copy() for w in clf.model_.get_weights()]
    _hardware(monkeypatch)  # no bfloat16 instructions
    clf.set_params(warm_start=True, precision=precision, epochs=1, learning_rate=1e-12,
                   lr_schedule="constant")
    with caplog.at_level(logging.INFO, logger="skmood"):
        clf.fit(X, y)
    assert _hidden_and_output(clf.model_) == ({"float32"}, "float32")
    assert "continues in float32" in caplog.text and "mixed_bfloat16" in caplog.text
    assert clf.n_iter_ == 2 and np.isfinite(clf.history_["loss"]).all()
    assert not isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    # The same weights went on (a negligible learning rate leaves them as they were) ...
    for old, new in zip(weights, clf.model_.get_weights()):
        np.testing.assert_allclose(new, old, rtol=1e-6, atol=1e-6)
    # ... and the float32 network answers as the bfloat16 one did, to bfloat16's precision.
    np.testing.assert_allclose(clf.predict_proba(X), before, atol=0.02)


def test_a_pretrained_backbone_recompiles_with_loss_scaling(face_pixels, tmp_path):
    from skmood import HappySadClassifier
    from skmood._keras_backend import keras
    from skmood.models import build_backbone

    # A weights file of the backbone, so that the classifier runs both fine-tuning stages.
    build_backbone((32, 32, 3), "mobilenetv2", alpha=0.35).get_layer(
        "backbone").save_weights(tmp_path / "backbone.weights.h5")
    X, y = face_pixels
    clf = HappySadClassifier(backbone="mobilenetv2", backbone_alpha=0.35,
                             weights=str(tmp_path / "backbone.weights.h5"),
                             image_size=(32, 32), epochs=2, head_epochs=1,
                             fine_tune_layers=5, batch_size=16, random_state=0,
                             precision="mixed_float16").fit(X[:48], y[:48])
    assert clf.n_iter_ == 2
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    backbone = clf.model_.get_layer("backbone")
    assert {layer.dtype_policy.name for layer in backbone.layers[1:]} == {"mixed_float16"}
    assert clf.model_.get_layer("output").dtype_policy.name == "float32"


# ------------------------------------------------------- saving and serving
def test_a_bf16_model_round_trips_through_save_and_load(bf16, face_pixels, tmp_path):
    X, _ = face_pixels
    skmood.save(bf16, tmp_path / "m.skmood")
    loaded = skmood.load(tmp_path / "m.skmood")
    assert loaded.precision == "mixed_bfloat16"
    assert _hidden_and_output(loaded.model_) == ({"mixed_bfloat16"}, "float32")
    np.testing.assert_array_equal(loaded.predict_proba(X), bf16.predict_proba(X))
    assert loaded.model_.predict_on_batch(X[:2].astype("float32") / 255).dtype == np.float32


def test_a_bf16_model_round_trips_through_joblib(bf16, face_pixels, tmp_path):
    X, _ = face_pixels
    joblib.dump(bf16, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert _hidden_and_output(loaded.model_) == ({"mixed_bfloat16"}, "float32")
    np.testing.assert_array_equal(loaded.predict_proba(X), bf16.predict_proba(X))


@pytest.mark.parametrize(("inference", "atol"), [("litert", 0.02), ("litert-int8", 0.05)])
def test_litert_serves_a_bf16_model_in_float32(bf16, face_pixels, inference, atol):
    from skmood import _litert

    X, _ = face_pixels
    keras_proba = bf16.predict_proba(X)
    try:
        lite_proba = bf16.set_params(inference=inference).predict_proba(X)
    finally:
        bf16.set_params(inference="auto")
    assert np.isfinite(lite_proba).all()
    # Same network, float32 instead of bfloat16: close, not equal.
    np.testing.assert_allclose(lite_proba, keras_proba, atol=atol)
    copy = _litert.float32_network(bf16.model_)
    assert copy is not bf16.model_
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    x = X[:8].astype("float32") / 255
    np.testing.assert_allclose(copy.predict_on_batch(x), bf16.model_.predict_on_batch(x),
                               atol=atol)


def test_a_float32_network_is_converted_as_it_is(make_clf, face_pixels):
    from skmood import _litert

    X, y = face_pixels
    clf = make_clf(precision="float32").fit(X[:16], y[:16])
    assert _litert.float32_network(clf.model_) is clf.model_
