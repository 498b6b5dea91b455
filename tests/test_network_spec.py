"""The network the classifier's parameters describe, rule by rule (no training)."""

from __future__ import annotations

import functools

import pytest

from skmood import HappySadClassifier, models
from skmood._augment import Augmenter
from skmood._network_spec import (
    ARCHITECTURES,
    augmentation,
    fine_tuning_stages,
    network_builder,
    pipeline_augmenter,
)

SHAPE = (32, 32, 3)
BUILDERS = {"seed": models.build_cnn, "vgg": models.build_vgg, "resnet": models.build_resnet,
            "inception": models.build_inception}


def params(**kwargs):
    """The parameters of a classifier, as the classifier passes them."""
    return HappySadClassifier(**kwargs).get_params(deep=False)


def build(owner="Owner", shape=SHAPE, seed=7, **kwargs):
    return network_builder(params(**kwargs), shape, seed, owner)


# ---------------------------------------------------------------- builders


def test_every_architecture_has_its_builder():
    assert set(BUILDERS) == set(ARCHITECTURES)
    assert HappySadClassifier().architecture in ARCHITECTURES


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_maps_to_its_builder_with_the_network_parameters(architecture):
    build_fn, kwargs = build(architecture=architecture, conv_filters=[8, 16], dropout=0.25,
                             blocks_per_stage=(1, 2), kernel_size=5, dense_units=12,
                             batch_norm=True)
    assert build_fn is BUILDERS[architecture]
    common = {"input_shape": SHAPE, "dropout": 0.25, "conv_filters": (8, 16), "seed": 7,
              "rotation": 0.0, "horizontal_flip": False, "zoom": 0.0, "shift": 0.0}
    specific = {
        "seed": {"kernel_size": 5, "dense_units": 12, "batch_norm": True},
        "vgg": {"blocks_per_stage": (1, 2), "kernel_size": 5},
        "resnet": {"blocks_per_stage": (1, 2), "kernel_size": 5},
        "inception": {"blocks_per_stage": (1, 2)},
    }[architecture]
    assert kwargs == {**common, **specific}


def test_the_builder_arguments_make_the_network():
    build_fn, kwargs = build(architecture="vgg", conv_filters=(4, 8), blocks_per_stage=1)
    model = build_fn(**kwargs)
    assert model.input_shape == (None, *SHAPE) and model.output_shape == (None, 1)


def test_a_blocks_per_stage_int_is_repeated_per_stage():
    _, kwargs = build(architecture="resnet", conv_filters=(4, 8, 16), blocks_per_stage=2)
    assert kwargs["blocks_per_stage"] == (2, 2, 2)


def test_a_user_model_takes_precedence_and_gets_only_the_input_shape():
    own = functools.partial(models.build_cnn, conv_filters=(4,))
    build_fn, kwargs = build(model=own, backbone="mobilenetv2", architecture="vgg",
                             conv_filters=(), weights="nowhere.h5")
    assert build_fn is own and kwargs == {"input_shape": SHAPE}


def test_a_backbone_takes_precedence_over_the_architecture():
    build_fn, kwargs = build(backbone="mobilenetv2", backbone_alpha=0.5, architecture="vgg",
                             conv_filters=(), rotation=5)
    assert build_fn is models.build_backbone
    assert kwargs == {"input_shape": SHAPE, "dropout": 0.0, "rotation": 5.0,
                      "horizontal_flip": False, "zoom": 0.0, "shift": 0.0, "seed": 7,
                      "backbone": "mobilenetv2", "weights": None, "alpha": 0.5}


# ------------------------------------------------------------ augmentation


def test_augmentation_is_taken_as_floats_and_a_bool():
    assert augmentation(params(rotation=10, horizontal_flip=1, zoom=0, shift=0.1)) == {
        "rotation": 10.0, "horizontal_flip": True, "zoom": 0.0, "shift": 0.1}


def test_without_xla_the_augmentation_is_in_the_network():
    p = dict(rotation=10, horizontal_flip=True, zoom=0.1, shift=0.2)
    _, kwargs = build(**p)
    assert {k: kwargs[k] for k in p} == {"rotation": 10.0, "horizontal_flip": True,
                                         "zoom": 0.1, "shift": 0.2}
    assert pipeline_augmenter(params(**p)) is None


def test_with_xla_the_augmentation_moves_to_the_input_pipeline():
    p = dict(rotation=10, horizontal_flip=True, zoom=0.1, shift=0.2, jit_compile=True)
    _, kwargs = build(**p)
    assert {k: kwargs[k] for k in ("rotation", "horizontal_flip", "zoom", "shift")} == {
        "rotation": 0.0, "horizontal_flip": False, "zoom": 0.0, "shift": 0.0}
    assert pipeline_augmenter(params(**p)) == Augmenter(rotation=10.0, horizontal_flip=True,
                                                        zoom=0.1, shift=0.2)


def test_a_user_model_brings_its_own_augmentation():
    own = functools.partial(models.build_cnn, conv_filters=(4,))
    assert pipeline_augmenter(params(model=own, jit_compile=True, rotation=10)) is None


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("filters", [(), [], "32", (8, 0), (8, 2.0), (True, 8), (8, -4)])
def test_bad_conv_filters_are_named(filters):
    with pytest.raises(ValueError) as info:
        build(conv_filters=filters)
    assert str(info.value) == (f"Owner: conv_filters must be a non-empty sequence of positive "
                               f"ints, got {filters!r}.")


def test_an_image_too_small_for_the_stages_is_named():
    with pytest.raises(ValueError) as info:
        build(shape=(16, 40, 1), conv_filters=(4, 8, 16, 32, 64))
    assert str(info.value) == (
        "Owner: image_size (16, 40) is too small for 5 convolution blocks (each halves the "
        "image); expected at least 32 pixels per side, or fewer conv_filters.")
    build(shape=(32, 40, 1), conv_filters=(4, 8, 16, 32, 64))  # exactly enough


def test_weights_without_a_backbone_are_named():
    with pytest.raises(ValueError) as info:
        build(weights="imagenet", architecture="resnet")
    assert str(info.value) == (
        "Owner: weights='imagenet' needs a backbone (weights initialise a keras.applications "
        "backbone); got backbone=None with architecture='resnet'. Set backbone, or "
        "weights=None (to continue a fitted network, use warm_start=True).")


def test_bad_stage_depths_name_the_owner():
    with pytest.raises(ValueError, match=r"^Owner: blocks_per_stage must be a positive int or "
                                         r"a sequence of 2 positive ints .* got \(1, 2, 2\)\.$"):
        build(architecture="vgg", conv_filters=(4, 8), blocks_per_stage=(1, 2, 2))


def test_backbone_checks_run_before_the_build(tmp_path):
    with pytest.raises(ValueError, match=r"^Owner: image_size \(64, 64\) is too small for the "
                                         r"inceptionv3 backbone"):
        build(shape=(64, 64, 3), backbone="inceptionv3")
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(FileNotFoundError, match=r"^Owner: .*no weights file at"):
        build(backbone="mobilenetv2", weights=str(missing))


# ----------------------------------------------------------- fine-tuning


PRETRAINED = dict(backbone="mobilenetv2", weights="imagenet", epochs=10, learning_rate=1e-3,
                  fine_tune_layers=20, fine_tune_learning_rate=1e-5)
LAYERS = ["image", "backbone", "gap", "dropout", "output"]


@pytest.mark.parametrize("head_epochs, stages", [
    (4, [(0, 4, 0, 1e-3), (4, 10, 20, 1e-5)]),
    (None, [(0, 10, 0, 1e-3)]),  # the head only, all epochs
    (10, [(0, 10, 0, 1e-3)]),  # an empty second stage is left out
    (0, [(0, 10, 20, 1e-5)]),  # no head-only stage
])
def test_a_pretrained_backbone_trains_in_stages(head_epochs, stages):
    assert fine_tuning_stages(params(**PRETRAINED, head_epochs=head_epochs), LAYERS) == stages


@pytest.mark.parametrize("changes, layers", [
    (dict(weights=None), LAYERS),  # a random backbone trains whole from the start
    (dict(backbone=None, weights=None), ["image", "conv1", "output"]),
    (dict(model=functools.partial(models.build_cnn, conv_filters=(4,))), LAYERS),
    ({}, ["image", "conv1", "output"]),  # a network without a backbone layer
], ids=["random-backbone", "architecture", "user-model", "no-backbone-layer"])
def test_other_networks_train_in_one_stage(changes, layers):
    assert fine_tuning_stages(params(**{**PRETRAINED, **changes}), layers) is None
