"""skmood.models: the Keras builders on their own (no scikit-learn, no training)."""

from __future__ import annotations

import os
import socket
import warnings

import keras
import numpy as np
import pytest

from skmood import _backbones
from skmood.exceptions import ModelFileError
from skmood.models import (
    build_backbone,
    build_cnn,
    build_inception,
    build_resnet,
    build_vgg,
    freeze_backbone,
    inception_branch_widths,
    stage_depths,
)


def _kinds(model):
    return [layer.__class__.__name__ for layer in model.layers]


def _images(shape, n=3, seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _infer(model, x):
    """Inference-mode outputs, run eagerly (no tracing: faster than predict here)."""
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download or open a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]!r}")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache: ``KERAS_HOME`` points to a fresh folder."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


# ------------------------------------------------------------ from scratch


def test_resnet_has_stages_of_residual_blocks_with_batch_norm():
    model = build_resnet((32, 32, 1), conv_filters=(8, 16, 24), blocks_per_stage=2,
                         kernel_size=5)
    kinds = _kinds(model)
    assert kinds.count("Add") == 3 * 2
    assert model.get_layer("stem_conv").filters == 8
    assert model.get_layer("stage2_block1_a_conv").filters == 24
    assert model.get_layer("stage1_block0_a_conv").kernel_size == (5, 5)
    assert model.get_layer("stage1_block0_a_conv").strides == (2, 2)  # each stage halves
    assert model.get_layer("stage1_block1_a_conv").strides == (1, 1)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(bn.momentum == pytest.approx(0.9) for bn in bns)
    assert "GlobalAveragePooling2D" in kinds and "Flatten" not in kinds
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)


def test_inception_modules_concatenate_parallel_branches_to_the_stage_width():
    model = build_inception((32, 32, 3), conv_filters=(16, 32), blocks_per_stage=2)
    assert _kinds(model).count("Concatenate") == 2 * 2
    assert model.get_layer("stage0_module1_concat").output.shape[-1] == 16
    assert model.get_layer("stage1_module0_concat").output.shape[-1] == 32
    for branch in ("1x1", "3x3", "5x5b", "pool_proj"):  # 1x1, 3x3, 5x5 field, pooling
        assert model.get_layer(f"stage1_module0_{branch}_bn").momentum == pytest.approx(0.9)
    assert model.get_layer("stage1_module0_5x5a_conv").kernel_size == (3, 3)
    assert model.get_layer("stage1_pool").strides == (2, 2)
    assert "GlobalAveragePooling2D" in _kinds(model)
    assert model.output_shape == (None, 1)


def _convs_per_stage(model, n_stages):
    names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    return [sum(name.startswith(f"stage{s}_") for name in names) for s in range(n_stages)]


def test_blocks_per_stage_can_set_each_stage_depth():
    vgg = build_vgg((32, 32, 1), conv_filters=(8, 16, 24), blocks_per_stage=(1, 1, 3))
    assert _convs_per_stage(vgg, 3) == [1, 1, 3]
    resnet = build_resnet((32, 32, 1), conv_filters=(8, 16), blocks_per_stage=(1, 3))
    assert [sum(n.startswith(f"stage{s}_") and n.endswith("_add") for n in
                (layer.name for layer in resnet.layers)) for s in range(2)] == [1, 3]
    inception = build_inception((32, 32, 1), conv_filters=(8, 16), blocks_per_stage=(2, 1))
    assert _kinds(inception).count("Concatenate") == 3


def test_one_depth_for_every_stage_is_the_same_as_repeating_it():
    assert stage_depths(2, 4) == stage_depths((2, 2, 2, 2), 4) == (2, 2, 2, 2)
    same = build_vgg((32, 32, 1), conv_filters=(8, 16), blocks_per_stage=2)
    explicit = build_vgg((32, 32, 1), conv_filters=(8, 16), blocks_per_stage=[2, 2])
    assert same.count_params() == explicit.count_params()


@pytest.mark.parametrize("depths", [(1, 2, 3), (1,), (1, 0), (1, 2.5), "12", True])
def test_blocks_per_stage_that_does_not_match_the_stages_is_refused(depths):
    with pytest.raises(ValueError, match=r"blocks_per_stage must be .* sequence of 2 positive"):
        build_vgg((32, 32, 1), conv_filters=(8, 16), blocks_per_stage=depths)


@pytest.mark.parametrize("width", [1, 4, 7, 8, 32, 100, 128])
def test_inception_branch_widths_are_positive_and_add_up(width):
    widths = inception_branch_widths(width)
    assert all(w >= 1 for w in widths)
    if width >= 8:
        assert sum(widths) == width


@pytest.mark.parametrize("build", [build_cnn, build_resnet, build_inception],
                         ids=["seed", "resnet", "inception"])
def test_every_architecture_takes_augmentation_and_dropout(build):
    model = build((16, 16, 1), conv_filters=(4,), rotation=10, horizontal_flip=True,
                  zoom=0.1, dropout=0.3, seed=0)
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["flip", "rotate", "zoom"]
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    x = _images((16, 16, 1))
    np.testing.assert_array_equal(_infer(model, x), _infer(model, x))


#: Parameter counts at the default widths (quoted in docs/user_guide/architectures.rst).
PARAMETER_COUNTS = {
    ("seed", (48, 48, 1)): 682_753, ("seed", (128, 128, 3)): 4_287_809,
    ("resnet", (48, 48, 1)): 698_273, ("resnet", (128, 128, 3)): 698_849,
    ("inception", (48, 48, 1)): 83_105, ("inception", (128, 128, 3)): 83_681,
    ("vgg", (48, 48, 1)): 1_174_817, ("vgg", (128, 128, 3)): 1_175_393,
}


@pytest.mark.parametrize("name, shape", sorted(PARAMETER_COUNTS), ids=str)
def test_documented_parameter_counts(name, shape):
    build = {"seed": build_cnn, "resnet": build_resnet, "inception": build_inception,
             "vgg": build_vgg}[name]
    assert build(shape).count_params() == PARAMETER_COUNTS[name, shape]


@pytest.mark.parametrize("shape, count", [((48, 48, 1), 1_128_353), ((128, 128, 3), 1_128_929)])
def test_documented_parameter_count_of_the_recommended_network(shape, count):
    from skmood import recommended_params

    params = recommended_params()
    model = build_vgg(shape, conv_filters=params["conv_filters"],
                      blocks_per_stage=params["blocks_per_stage"])
    assert model.count_params() == count


# --------------------------------------------------------------- backbones


@pytest.mark.parametrize("backbone, preprocess", [
    ("mobilenetv2", "mobilenet_v2"),
    ("resnet50", "resnet"),
    ("inceptionv3", "inception_v3"),
    ("efficientnetb0", "efficientnet"),
])
@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "grayscale"])
def test_backbone_input_is_its_keras_preprocess_input_of_0_255_pixels(
        backbone, preprocess, channels):
    from skmood._transfer import _preprocessing

    inputs = keras.Input((8, 8, channels))
    to_backbone = keras.Model(inputs, _preprocessing(inputs, backbone, channels))
    x = _images((8, 8, channels))
    rgb = np.repeat(x, 3, axis=-1) if channels == 1 else x
    expected = getattr(keras.applications, preprocess).preprocess_input(rgb * 255.0)
    np.testing.assert_allclose(_infer(to_backbone, x), expected, atol=1e-4)
    assert not to_backbone.trainable_weights  # fixed: fine-tuning never changes it


def test_backbone_network_layout():
    model = build_backbone((32, 32, 1), "resnet50", dropout=0.2, horizontal_flip=True, seed=0)
    assert [layer.name for layer in model.layers] == [
        "image", "flip", "to_rgb", "preprocess", "backbone", "gap", "dropout", "output"]
    assert model.get_layer("backbone").input_shape == (None, 32, 32, 3)
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert model.count_params() == 23_589_761  # quoted in the user guide


@pytest.mark.slow
@pytest.mark.parametrize("backbone, channels", [
    ("resnet50", 3), ("efficientnetb0", 1), ("inceptionv3", 3)])
def test_backbone_network_round_trips_through_a_safe_mode_file(backbone, channels, tmp_path):
    # MobileNetV2 round-trips through skmood.save and joblib in test_architectures;
    # pickling a Keras model goes through the same Keras file format.
    size = _backbones.BACKBONES[backbone].min_size
    model = build_backbone((size, size, channels), backbone, dropout=0.2, zoom=0.1, seed=0)
    x = _images((size, size, channels))
    expected = _infer(model, x)
    model.save(tmp_path / "net.keras")
    loaded = keras.saving.load_model(tmp_path / "net.keras", safe_mode=True)
    np.testing.assert_array_equal(_infer(loaded, x), expected)


@pytest.mark.parametrize("backbone, minimum", [
    ("inceptionv3", 75), ("resnet50", 32), ("mobilenetv2", 32), ("efficientnetb0", 32)])
def test_too_small_input_for_a_backbone_names_it_and_its_minimum(backbone, minimum):
    with pytest.raises(ValueError, match=rf"too small for the {backbone} backbone.*at least "
                                         rf"{minimum}x{minimum}"):
        build_backbone((minimum - 1, 200, 3), backbone)


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg16'.*'efficientnetb0'"):
        build_backbone((64, 64, 3), "vgg16")


def test_freeze_backbone_keeps_the_top_layers_trainable_but_batch_norm():
    model = build_backbone((32, 32, 3), "mobilenetv2", alpha=0.35)
    layers = model.get_layer("backbone").layers
    freeze_backbone(model, 6)
    for layer in layers[:-6]:
        assert not layer.trainable
    for layer in layers[-6:]:
        assert layer.trainable == (not isinstance(layer, keras.layers.BatchNormalization))
    freeze_backbone(model, "all")
    assert all(layer.trainable for layer in layers
               if not isinstance(layer, keras.layers.BatchNormalization))
    freeze_backbone(model, 0)
    assert not model.get_layer("backbone").trainable_weights
    assert model.get_layer("output").trainable


# ------------------------------------------------------------------ weights


def test_weights_file_reproduces_the_backbone_exactly_and_comes_frozen(tmp_path):
    source = build_backbone((32, 32, 3), "mobilenetv2", alpha=0.35)
    base = source.get_layer("backbone")  # random weights: all of it trains, batch norm too
    assert base.trainable and all(layer.trainable for layer in base.layers)
    x = _images((32, 32, 3))
    # Move the batch-norm statistics off their initial values, so they are checked too.
    for layer in source.get_layer("backbone").layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.1, "float32"))
    source.get_layer("backbone").save_weights(tmp_path / "b.weights.h5")
    loaded = build_backbone((32, 32, 1), "mobilenetv2", alpha=0.35,
                            weights=str(tmp_path / "b.weights.h5"))
    np.testing.assert_array_equal(_infer(loaded.get_layer("backbone"), x),
                                  _infer(source.get_layer("backbone"), x))
    assert not loaded.get_layer("backbone").trainable_weights  # pretrained: frozen
    assert loaded.get_layer("output").trainable_weights


@pytest.mark.filterwarnings("ignore::UserWarning")  # Keras lists every layer it skips
def test_weights_of_another_backbone_are_a_clear_error(tmp_path):
    build_backbone((32, 32, 3), "mobilenetv2", alpha=0.35).get_layer(
        "backbone").save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(ModelFileError, match=r"cannot load the weights file .*small"):
        build_backbone((32, 32, 3), "mobilenetv2", alpha=0.5,
                       weights=tmp_path / "small.weights.h5")


@pytest.mark.parametrize("weights, error, match", [
    ("missing.weights.h5", FileNotFoundError, "no weights file at"),
    ("backbone.keras", ValueError, r"\.weights\.h5 or \.h5"),
    ("ImageNet", ValueError, "'imagenet'"),
])
def test_bad_weights_paths(tmp_path, weights, error, match):
    (tmp_path / "backbone.keras").write_bytes(b"")
    with pytest.raises(error, match=match):
        build_backbone((32, 32, 3), "mobilenetv2",
                       weights=weights if weights == "ImageNet" else tmp_path / weights)


@pytest.mark.parametrize("backbone, kwargs, name", [
    ("resnet50", {}, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("inceptionv3", {}, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("efficientnetb0", {}, "efficientnetb0_notop.h5"),
    ("mobilenetv2", {}, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    ("mobilenetv2", {"alpha": 0.35, "image_size": (96, 96)},
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"),
    ("mobilenetv2", {"alpha": 0.5, "image_size": (48, 48)},
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"),
])
def test_imagenet_file_names_are_the_ones_keras_caches(backbone, kwargs, name):
    assert _backbones.imagenet_weights_file(backbone, **kwargs) == name
    assert _backbones.is_imagenet_file(backbone, f"/somewhere/{name}")


def test_mobilenet_imagenet_needs_a_published_alpha():
    with pytest.raises(ValueError, match=r"backbone_alpha in \[0.35, 0.5.*got 0.4"):
        _backbones.imagenet_weights_file("mobilenetv2", alpha=0.4)


def test_keras_cache_folder_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert _backbones.keras_models_dir() == str(tmp_path / "models")
    monkeypatch.delenv("KERAS_HOME")
    assert _backbones.keras_models_dir().endswith(os.path.join(".keras", "models"))


@pytest.mark.parametrize("backbone", sorted(
    name for name, spec in _backbones.BACKBONES.items() if spec.pretrained == "imagenet"))
def test_imagenet_missing_from_the_cache_names_file_and_folder_without_downloading(
        backbone, keras_home, no_network):
    name = _backbones.imagenet_weights_file(backbone, (75, 75))
    folder = os.path.join(str(keras_home), "models")
    with pytest.raises(FileNotFoundError) as info:
        build_backbone((75, 75, 3), backbone, weights="imagenet")
    message = str(info.value)
    assert repr(name) in message and repr(folder) in message
    assert "never downloads" in message and "https://storage.googleapis.com/" in message
    assert not os.path.exists(folder)  # nothing created, nothing fetched


def _write_keras_weights_file(model, path):
    """Write ``model`` as an old-style Keras HDF5 file, like the ImageNet downloads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)


def test_imagenet_in_the_cache_loads_without_network(keras_home, no_network):
    source = build_backbone((32, 32, 3), "mobilenetv2", alpha=0.35).get_layer("backbone")
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    _write_keras_weights_file(source, keras_home / "models" / name)
    model = build_backbone((32, 32, 1), "mobilenetv2", alpha=0.35, weights="imagenet")
    x = _images((32, 32, 3))
    np.testing.assert_array_equal(_infer(model.get_layer("backbone"), x), _infer(source, x))


@pytest.mark.slow
def test_efficientnet_imagenet_file_gets_the_keras_input_scaling_fix(keras_home, tmp_path,
                                                                     no_network):
    def variance(base):
        norm = next(layer for layer in base.layers
                    if isinstance(layer, keras.layers.Normalization))
        return norm.get_weights()[1]

    source = build_backbone((32, 32, 3), "efficientnetb0").get_layer("backbone")
    _write_keras_weights_file(source, keras_home / "models" / "efficientnetb0_notop.h5")
    _write_keras_weights_file(source, tmp_path / "other_name.h5")
    # weights="imagenet" (or the ImageNet file name): Keras' Rescaling(1/sqrt(stddev)), folded in.
    imagenet = build_backbone((32, 32, 3), "efficientnetb0", weights="imagenet")
    np.testing.assert_allclose(variance(imagenet.get_layer("backbone")),
                               variance(source) * [0.229, 0.224, 0.225], rtol=1e-6)
    # Any other file is loaded as it is.
    plain = build_backbone((32, 32, 3), "efficientnetb0", weights=tmp_path / "other_name.h5")
    np.testing.assert_array_equal(variance(plain.get_layer("backbone")), variance(source))
