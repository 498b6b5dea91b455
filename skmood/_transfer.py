"""Networks on a ``keras.applications`` backbone, and freezing it for fine-tuning (private).

Pure Keras; public through :mod:`skmood.models`. The backbone is always built
with ``weights=None`` and the weights file loaded afterwards from a local path,
so nothing here can trigger a download (:mod:`skmood._backbones` finds the file).

Only built-in Keras layers are used (no ``Lambda``, no custom layers), so the
networks load in Keras' safe mode and unpickle in a fresh process without
importing skmood first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ._architectures import image_input, seeded_build, sigmoid_head
from ._backbones import (
    BACKBONE_LAYER,
    BACKBONES,
    check_input_size,
    is_imagenet_file,
    resolve_weights,
)
from ._keras_backend import keras
from .exceptions import ModelFileError

__all__ = ["build_backbone", "freeze_backbone"]

#: ``(scale, offset)`` from [0, 1] pixels to the backbone's input, per
#: ``BackboneSpec.preprocessing``: its ``preprocess_input`` applied to 0-255.
_SCALING = {
    # caffe: BGR, ImageNet mean subtracted (after the RGB->BGR reordering).
    "caffe": (255.0, [-103.939, -116.779, -123.68]),
    # tf: x / 127.5 - 1 on 0-255.
    "tf": (2.0, -1.0),
    # raw: 0-255; EfficientNet rescales and normalises inside the network.
    "raw": (255.0, 0.0),
}
#: EfficientNet's ImageNet input standard deviations (keras.applications.efficientnet).
_EFFICIENTNET_STDDEV = np.array([0.229, 0.224, 0.225])


def _preprocessing(x, backbone: str, n_channels: int):
    """Map float [0, 1] images of 1 or 3 channels to what the backbone expects."""
    mode = BACKBONES[backbone].preprocessing
    if n_channels == 1:
        x = keras.layers.Concatenate(name="to_rgb")([x, x, x])
    elif mode == "caffe":  # RGB -> BGR, as a fixed, non-trainable 1x1 convolution
        reorder = keras.layers.Conv2D(3, 1, use_bias=False, trainable=False, name="rgb_to_bgr")
        x = reorder(x)
        reorder.set_weights([np.eye(3, dtype="float32")[::-1].reshape(1, 1, 3, 3)])
    scale, offset = _SCALING[mode]
    return keras.layers.Rescaling(scale, offset=offset, name="preprocess")(x)


def _fix_efficientnet_imagenet(base) -> None:
    """Apply the input-scaling fix Keras builds into ImageNet EfficientNets.

    With ``weights="imagenet"`` Keras adds a ``Rescaling(1 / sqrt(stddev))``
    after the input normalisation (see tensorflow/tensorflow#49930). The
    network is built here with ``weights=None``, so the same factor is folded
    into the normalisation's variance instead: ``(x - mean) / sqrt(variance *
    stddev)`` equals Keras' ``(x - mean) / sqrt(variance) / sqrt(stddev)``.
    """
    norm = next(layer for layer in base.layers
                if isinstance(layer, keras.layers.Normalization))
    mean, variance, *rest = norm.get_weights()
    norm.set_weights([mean, variance * _EFFICIENTNET_STDDEV.astype(variance.dtype), *rest])
    norm.finalize_state()


def freeze_backbone(model: keras.Model, trainable_layers: int | str = 0) -> None:
    """Freeze the backbone of a :func:`build_backbone` network but its top layers.

    The new head stays trainable. Batch normalisation layers of the backbone
    always stay frozen: a frozen batch-norm layer runs in inference mode
    (its moving statistics neither used from the batch nor updated), which
    is what fine-tuning a pretrained backbone needs. Recompile the model
    afterwards for the change to take effect in training.

    Parameters
    ----------
    model : keras.Model
        A network built by :func:`build_backbone`.
    trainable_layers : int or "all", default=0
        How many of the backbone's top layers (``backbone.layers[-n:]``,
        counting layers without weights too, as the Keras guides do) to leave
        trainable; 0 freezes the whole backbone.
    """
    base = model.get_layer(BACKBONE_LAYER)
    layers = base.layers
    n = len(layers) if trainable_layers == "all" else min(int(trainable_layers), len(layers))
    base.trainable = True
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - n and not isinstance(
            layer, keras.layers.BatchNormalization)


@seeded_build
def build_backbone(
    input_shape: Sequence[int],
    backbone: str = "mobilenetv2",
    *,
    weights: str | os.PathLike | None = None,
    alpha: float = 1.0,
    dropout: float = 0.0,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Build a network on a ``keras.applications`` backbone with a new sigmoid head.

    Input float32 images in [0, 1] (1 or 3 channels) → optional augmentation →
    the backbone's own preprocessing, built in (grayscale repeated to three
    channels, scaled to what the backbone's ``preprocess_input`` gives for 0-255
    pixels) → the backbone without its ImageNet top, as a nested model named
    ``"backbone"`` → global average pooling, optional dropout and one sigmoid unit.

    With pretrained ``weights`` the backbone comes back frozen (see
    :func:`freeze_backbone`) and is called with ``training=False``, so only the
    head trains until it is unfrozen. With ``weights=None`` it is trainable from
    scratch, batch norm included.

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)``, channels 1 or 3; at least 75x75 for
        InceptionV3 and 32x32 for the others.
    backbone : {"mobilenetv2", "efficientnetb0", "resnet50", "inceptionv3"}, \
default="mobilenetv2"
        Which ``keras.applications`` network.
    weights : None, "imagenet" or path, default=None
        ``None``: random initialisation. ``"imagenet"``: the Keras ImageNet
        weights file, which must already be in ``$KERAS_HOME/models/`` (default
        ``~/.keras/models/``); nothing is downloaded. A path: a ``.weights.h5``
        or ``.h5`` file of the backbone's weights (for example
        ``model.get_layer("backbone").save_weights("backbone.weights.h5")``, or a
        Keras ImageNet file kept elsewhere).
    alpha : float, default=1.0
        MobileNetV2's width multiplier; ignored by the other backbones.
    dropout : float, default=0.0
        Dropout rate before the output layer.
    rotation, horizontal_flip, zoom, shift, seed
        Augmentation, see :func:`augmentation_layers`.

    Returns
    -------
    model : keras.Model
        Uncompiled; output shape ``(None, 1)``.

    Raises
    ------
    ValueError
        An unknown backbone, an input below its minimum size or with another
        number of channels than 1 or 3, or (:class:`~skmood.ModelFileError`) a
        weights file that does not fit the backbone.
    FileNotFoundError
        ``weights="imagenet"`` whose file is not in the Keras cache (the
        message names the file and the folder), or a path to no file.

    Examples
    --------
    >>> from skmood.models import build_backbone
    >>> model = build_backbone((32, 32, 1), "mobilenetv2", alpha=0.35)
    >>> model.get_layer("backbone").name, model.output_shape
    ('backbone', (None, 1))
    """
    owner = "build_backbone"
    check_input_size(backbone, input_shape, owner)
    if int(input_shape[-1]) not in (1, 3):
        raise ValueError(f"{owner}: input_shape {tuple(input_shape)!r} must have 1 (grayscale) "
                         f"or 3 (RGB) channels, got {input_shape[-1]!r}.")
    path = resolve_weights(backbone, weights, input_shape, alpha, owner)
    spec = BACKBONES[backbone]
    kwargs = {"alpha": float(alpha)} if backbone == "mobilenetv2" else {}
    base = getattr(keras.applications, spec.keras_name)(
        include_top=False, weights=None, input_shape=(*tuple(input_shape[:2]), 3),
        name=BACKBONE_LAYER, **kwargs)
    if path is not None:
        try:
            base.load_weights(path)
        except (ValueError, OSError, KeyError) as exc:
            raise ModelFileError(
                f"{owner}: cannot load the weights file {path!r} into the {backbone} "
                f"backbone ({spec.keras_name}{', alpha=' + str(alpha) if kwargs else ''}): "
                f"{exc}"
            ) from exc
        if backbone == "efficientnetb0" and (weights == "imagenet"
                                             or is_imagenet_file(backbone, path)):
            _fix_efficientnet_imagenet(base)

    inputs, x = image_input(input_shape, rotation=rotation, horizontal_flip=horizontal_flip,
                            zoom=zoom, shift=shift, seed=seed)
    x = _preprocessing(x, backbone, int(input_shape[-1]))
    if path is None:
        x = base(x)
    else:
        # Pretrained: batch norm in inference mode, as in the Keras transfer-learning
        # guide. Keras 3 overrides this flag with fit's training=True, so
        # freeze_backbone also keeps the batch-norm layers frozen, which is what
        # keeps them in inference mode there.
        x = base(x, training=False)
    model = sigmoid_head(inputs, x, dropout=dropout, seed=seed, name=f"happy_sad_{backbone}")
    if path is not None:
        freeze_backbone(model, 0)
    return model
