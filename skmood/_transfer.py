"""Networks on a pretrained backbone, and freezing it for fine-tuning (private).

The backbones are the ``keras.applications`` networks and ``"onet"``, MTCNN's
last stage rebuilt here from built-in layers (:func:`onet_trunk`).

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

__all__ = ["build_backbone", "freeze_backbone", "load_onet_weights", "onet_trunk"]

#: ``(scale, offset)`` from [0, 1] pixels to the backbone's input, per
#: ``BackboneSpec.preprocessing``: its ``preprocess_input`` applied to 0-255.
_SCALING = {
    # caffe: BGR, ImageNet mean subtracted (after the RGB->BGR reordering).
    "caffe": (255.0, [-103.939, -116.779, -123.68]),
    # tf: x / 127.5 - 1 on 0-255.
    "tf": (2.0, -1.0),
    # raw: 0-255; EfficientNet rescales and normalises inside the network.
    "raw": (255.0, 0.0),
    # mtcnn: (x - 127.5) / 128 on 0-255, as MTCNN feeds its networks.
    "mtcnn": (255.0 / 128.0, -127.5 / 128.0),
}
#: ONet's layers up to its last hidden one: (name, kind, arguments), as in mtcnn 1.x
#: (``mtcnn/network/onet.py``); its weights file lists their weights in this order.
_ONET_LAYERS = (
    ("conv1", "conv", (32, 3)), ("prelu1", "prelu", (1, 2)), ("maxpooling1", "pool", (3, "same")),
    ("conv2", "conv", (64, 3)), ("prelu2", "prelu", (1, 2)), ("maxpooling2", "pool", (3, "valid")),
    ("conv3", "conv", (64, 3)), ("prelu3", "prelu", (1, 2)), ("maxpooling3", "pool", (2, "same")),
    ("conv4", "conv", (128, 2)), ("prelu4", "prelu", (1, 2)),
    ("flatten4", "flatten", ()), ("fc5", "dense", (256,)), ("prelu5", "prelu", None),
)
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


def onet_trunk(name: str = BACKBONE_LAYER) -> keras.Model:
    """MTCNN's ONet without its three outputs: 48x48 RGB -> 256 features.

    Built from built-in layers only (loads in Keras' safe mode). MTCNN's own
    ONet transposes the last feature map before flattening it (a ``Permute``
    inherited from Caffe); here the map is flattened as it is and the rows
    of ``fc5``'s kernel are reordered instead (:func:`load_onet_weights`), so
    that the last spatial layer, which Grad-CAM reads, is the map itself.
    """
    inputs = keras.Input((48, 48, 3), name="onet_input")
    x = inputs
    for layer_name, kind, args in _ONET_LAYERS:
        if kind == "conv":
            x = keras.layers.Conv2D(args[0], args[1], name=layer_name)(x)
        elif kind == "prelu":
            x = keras.layers.PReLU(shared_axes=list(args) if args else None, name=layer_name)(x)
        elif kind == "pool":
            x = keras.layers.MaxPooling2D(args[0], strides=2, padding=args[1], name=layer_name)(x)
        elif kind == "flatten":
            x = keras.layers.Flatten(name=layer_name)(x)
        else:
            x = keras.layers.Dense(args[0], name=layer_name)(x)
    return keras.Model(inputs, x, name=name)


def load_onet_weights(trunk: keras.Model, path: str) -> None:
    """Set an :func:`onet_trunk`'s weights from MTCNN's ``onet.lz4`` file.

    The file (a joblib dump of ONet's weights, in layer order) holds the
    three output layers' weights too; they are left out. ``fc5``'s kernel
    rows are reordered from MTCNN's transposed flattening to Keras' own.
    """
    import joblib

    arrays = list(joblib.load(path))
    weights = [w for layer in trunk.layers for w in layer.weights]
    arrays = arrays[:len(weights)]
    if [tuple(a.shape) for a in arrays] != [tuple(w.shape) for w in weights]:
        raise ModelFileError(f"build_backbone: {path!r} does not hold MTCNN's ONet weights "
                             "(the shapes of its arrays differ from ONet's).")
    height, width, channels = trunk.get_layer("prelu4").output.shape[1:]
    fc5 = trunk.get_layer("fc5")
    kernel_index = [w.path for w in weights].index(fc5.kernel.path)
    order = np.arange(height * width * channels).reshape(width, height, channels)
    arrays[kernel_index] = arrays[kernel_index][order.transpose(1, 0, 2).ravel()]
    trunk.set_weights(arrays)


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
    """Build a network on a backbone (keras.applications or ONet) with a new sigmoid head.

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
    backbone : {"mobilenetv2", "efficientnetb0", "resnet50", "inceptionv3", "onet"}, \
default="mobilenetv2"
        Which ``keras.applications`` network, or ``"onet"``: the last stage of
        the MTCNN face detector (:func:`onet_trunk`; exactly 48x48 pixels, its
        256 features go to the head without pooling).
    weights : None, "imagenet", "mtcnn" or path, default=None
        ``None``: random initialisation. ``"imagenet"``: the Keras ImageNet
        weights file, which must already be in ``$KERAS_HOME/models/`` (default
        ``~/.keras/models/``); nothing is downloaded. ``"mtcnn"`` (``"onet"``
        only): MTCNN's weights, inside the installed ``mtcnn`` package. A path: a ``.weights.h5``
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
    if backbone == "onet":
        base = onet_trunk()
    else:
        base = getattr(keras.applications, spec.keras_name)(
            include_top=False, weights=None, input_shape=(*tuple(input_shape[:2]), 3),
            name=BACKBONE_LAYER, **kwargs)
    if path is not None:
        try:
            if backbone == "onet" and path.endswith(".lz4"):
                load_onet_weights(base, path)
            else:
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
