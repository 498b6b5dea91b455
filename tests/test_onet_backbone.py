"""The ``"onet"`` backbone: MTCNN's face network, pretrained, from the mtcnn wheel.

MTCNN's last stage (ONet) is a small network trained on faces; its weights
ship inside the ``mtcnn`` package that skmood already uses to find faces, so
``backbone="onet", weights="mtcnn"`` is a pretrained backbone that needs no
download. It is 48x48 only, and tiny: these tests train it for real.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import skmood
from skmood import HappySadClassifier
from skmood._backbones import mtcnn_onet_file
from skmood._gradcam import feature_layer
from skmood.datasets import make_faces
from skmood.models import build_backbone


@pytest.fixture(scope="module")
def faces48():
    """24 synthetic 48x48 grey faces, ``(X uint8, y str)``."""
    return make_faces(24, image_size=(48, 48), color_mode="grayscale", random_state=3)


def _backbone_weights(clf):
    return [w.numpy().copy() for w in clf.model_.get_layer("backbone").weights]


def test_the_backbone_computes_mtcnns_own_onet_features(tmp_path):
    import tensorflow as tf
    from mtcnn.network.onet import ONet
    from mtcnn.utils.tensorflow import load_weights

    onet = ONet()
    onet.build()
    onet.set_weights(load_weights("onet.lz4"))
    images = np.random.default_rng(0).uniform(0, 1, (4, 48, 48, 3)).astype("float32")
    x = tf.constant((images * 255 - 127.5) / 128)  # how MTCNN scales its input
    for name in ("conv1", "prelu1", "maxpool1", "conv2", "prelu2", "maxpool2", "conv3",
                 "prelu3", "maxpool3", "conv4", "prelu4", "permute", "flatten", "fc5", "prelu5"):
        x = getattr(onet, name)(x)

    network = build_backbone((48, 48, 3), "onet", weights="mtcnn")
    backbone = network.get_layer("backbone")
    features = backbone(network.get_layer("preprocess")(images)).numpy()
    np.testing.assert_allclose(features, x.numpy(), atol=1e-5)
    # Pretrained: it comes back frozen, only the new head trains.
    assert not any(layer.trainable for layer in backbone.layers)
    assert network.get_layer("output").trainable

    # Its weights saved to a file give the same network again (weights=PATH).
    backbone.save_weights(tmp_path / "onet.weights.h5")
    again = build_backbone((48, 48, 3), "onet", weights=tmp_path / "onet.weights.h5")
    np.testing.assert_array_equal(
        again.get_layer("backbone")(again.get_layer("preprocess")(images)).numpy(), features)


def test_it_fine_tunes_in_two_stages_and_round_trips(faces48, tmp_path):
    X, y = faces48
    pretrained = build_backbone((48, 48, 1), "onet", weights="mtcnn").get_layer("backbone")
    mtcnn_weights = [w.numpy() for w in pretrained.weights]

    head_only = HappySadClassifier(backbone="onet", weights="mtcnn", image_size=(48, 48),
                                   color_mode="grayscale", epochs=1, batch_size=8,
                                   random_state=0).fit(X, y)
    for before, after in zip(mtcnn_weights, _backbone_weights(head_only)):
        np.testing.assert_array_equal(before, after)  # stage 1 leaves MTCNN's weights alone

    clf = HappySadClassifier(backbone="onet", weights="mtcnn", image_size=(48, 48),
                             color_mode="grayscale", epochs=2, head_epochs=1,
                             fine_tune_layers="all", learning_rate=1e-2, batch_size=8,
                             random_state=0).fit(X, y)
    assert clf.n_iter_ == 2
    assert any(not np.array_equal(before, after)
               for before, after in zip(mtcnn_weights, _backbone_weights(clf)))

    proba = clf.predict_proba(X)
    skmood.save(clf, tmp_path / "onet.skmood")
    loaded = skmood.load(tmp_path / "onet.skmood")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.get_params() == clf.get_params()
    # Grad-CAM reads ONet's last feature map (3x3), not the flattened features.
    assert feature_layer(loaded.model_) == ("backbone", "prelu4")
    assert loaded.explain(X[:2]).shape[0] == 2
    # The int8 LiteRT engine runs the same network.
    int8 = loaded.set_params(inference="litert-int8").predict_proba(X)
    assert np.abs(int8 - proba).max() < 0.05


def test_without_mtcnn_installed_the_error_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mtcnn" else real(name, *a))
    with pytest.raises(FileNotFoundError, match=r"mtcnn is not installed.*pip install 'mtcnn"):
        mtcnn_onet_file("HappySadClassifier")


def test_it_averages_with_a_network_of_another_architecture(faces48, tmp_path):
    # What the shipped-model candidates of docs/benchmarks.md did: the recommended
    # network and an onet model, both 48x48 grey, in one averaged network.
    X, y = faces48
    common = dict(image_size=(48, 48), color_mode="grayscale", epochs=1, batch_size=8,
                  random_state=0)
    vgg = HappySadClassifier(conv_filters=(4, 8), dense_units=8, **common).fit(X, y)
    onet = HappySadClassifier(backbone="onet", weights="mtcnn", **common).fit(X, y)

    averaged = skmood.average_models([vgg, onet])
    proba = averaged.predict_proba(X)
    np.testing.assert_allclose(proba, (vgg.predict_proba(X) + onet.predict_proba(X)) / 2,
                               atol=1e-6)
    skmood.save(averaged, tmp_path / "average.skmood")
    loaded = skmood.load(tmp_path / "average.skmood")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    # Grad-CAM reads each member's own last map (onet's is 3x3) and averages them.
    maps = loaded.explain(X[:2], target="happy")
    assert maps.shape == (2, 48, 48) and np.nanmax(maps) <= 1.0
