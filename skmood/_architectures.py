"""From-scratch networks: the recipe's CNN, a VGG-style net, a compact ResNet, an Inception-style net (private).

Pure Keras; public through :mod:`skmood.models`. Every builder returns an
*uncompiled* :class:`keras.Model` taking float32 images in [0, 1] and giving one
sigmoid unit, and starts with the same optional augmentation layers. The layers
follow Keras' dtype policy (``keras.config.set_dtype_policy``, e.g.
``"mixed_bfloat16"``) except the output unit, which is always float32, as are
the probabilities and the loss.

Width and depth are set the same way in all of them: ``conv_filters`` gives the
width of each stage, one stage per entry, and every stage halves the image
(so each side needs at least ``2 ** len(conv_filters)`` pixels);
``blocks_per_stage`` is the number of convolutions, residual blocks or
Inception modules per stage: one int for every stage, or one int per stage.
"""

from __future__ import annotations

import contextvars
import functools
import zlib
from collections.abc import Sequence

from ._keras_backend import keras
from ._validation import is_positive_int

__all__ = [
    "augmentation_layers",
    "build_cnn",
    "build_inception",
    "build_resnet",
    "build_vgg",
    "stage_depths",
]

#: Batch-norm momentum: 0.9 (Keras: 0.99) so that the moving statistics used at
#: inference converge within the few hundred steps of a short fit.
BN_MOMENTUM = 0.9

#: The ``seed`` of the builder running in this thread (None: Keras' own draws).
_BUILD_SEED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "skmood_build_seed", default=None)


def seeded_build(builder):
    """Decorate a builder: with a ``seed``, its layers' initial weights derive from it.

    Keras draws the seed of each layer's default initializer from Python's
    global ``random`` module, which any other thread of the process may draw
    from in between (a Dask worker's event loop does, for every message it
    compresses): seeded fits would then differ from run to run. With a
    ``seed``, :func:`kernel_initializer` gives each layer its own seed,
    derived from the builder's and the layer's name instead.
    """

    @functools.wraps(builder)
    def build(*args, seed: int | None = None, **kwargs):
        token = _BUILD_SEED.set(seed)
        try:
            return builder(*args, seed=seed, **kwargs)
        finally:
            _BUILD_SEED.reset(token)

    return build


def kernel_initializer(name: str):
    """Glorot-uniform initializer of layer ``name``: seeded inside a seeded build."""
    seed = _BUILD_SEED.get()
    if seed is None:
        return "glorot_uniform"  # Keras' default for Conv2D and Dense
    return keras.initializers.GlorotUniform(
        seed=zlib.crc32(f"{seed}/{name}".encode()) & 0x7FFFFFFF)


def augmentation_layers(
    *,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> list:
    """Random augmentation layers, active only in training.

    Parameters
    ----------
    rotation : float, default=0.0
        Maximum rotation in degrees, either way (``20`` rotates by up to ±20°).
    horizontal_flip : bool, default=False
        Mirror images left-right at random.
    zoom : float, default=0.0
        Maximum zoom as a fraction (``0.2`` zooms in or out by up to 20 %).
    shift : float, default=0.0
        Maximum translation as a fraction of the height and of the width
        (``0.1`` moves the image by up to 10 % either way, in both directions).
    seed : int or None, default=None
        Seed of the layers' random generators.

    Returns
    -------
    layers : list of keras.layers.Layer
        Empty when every augmentation is off.
    """
    layers = []
    if horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if rotation:
        layers.append(
            keras.layers.RandomRotation(rotation / 360.0, fill_mode="reflect", seed=seed, name="rotate")
        )
    if zoom:
        layers.append(
            keras.layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed, name="zoom")
        )
    if shift:
        layers.append(
            keras.layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed,
                                           name="shift")
        )
    return layers


def image_input(input_shape: Sequence[int], *, rotation: float = 0.0,
                horizontal_flip: bool = False, zoom: float = 0.0, shift: float = 0.0,
                seed: int | None = None):
    """``(inputs, x)``: the ``"image"`` input and the tensor after augmentation."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in augmentation_layers(
        rotation=rotation, horizontal_flip=horizontal_flip, zoom=zoom, shift=shift, seed=seed
    ):
        x = layer(x)
    return inputs, x


def sigmoid_head(inputs, x, *, dropout: float, seed: int | None, name: str) -> keras.Model:
    """Global average pooling (of a feature map), optional dropout and one sigmoid unit."""
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="output",
                                 kernel_initializer=kernel_initializer("output"))(x)
    return keras.Model(inputs, outputs, name=name)


@seeded_build
def build_cnn(
    input_shape: Sequence[int],
    *,
    conv_filters: Sequence[int] = (32, 64, 128),
    kernel_size: int = 3,
    dense_units: int = 128,
    dropout: float = 0.0,
    batch_norm: bool = False,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Build the original recipe's CNN, with optional extras (``architecture="seed"``).

    One block per entry of ``conv_filters``: Conv2D (``kernel_size``, ReLU,
    optional batch norm) then 2x2 max pooling; then Flatten, Dense
    ``dense_units`` (ReLU), optional dropout and one sigmoid unit giving the
    probability of the second class. With the defaults this is the recipe's
    Conv 32 → 64 → 128, Dense 128, sigmoid.

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)`` of the input images.
    conv_filters : sequence of int, default=(32, 64, 128)
        Number of filters of each convolution block.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    dense_units : int, default=128
        Width of the hidden dense layer; ``0`` leaves it out.
    dropout : float, default=0.0
        Dropout rate before the output layer.
    batch_norm : bool, default=False
        Batch normalisation after each convolution.
    rotation, horizontal_flip, zoom, shift, seed
        Augmentation, see :func:`augmentation_layers`.

    Returns
    -------
    model : keras.Model
        Uncompiled; input float32 in [0, 1], output shape ``(None, 1)``.

    Examples
    --------
    >>> from skmood.models import build_cnn
    >>> model = build_cnn((32, 32, 3), conv_filters=(8, 16))
    >>> model.output_shape
    (None, 1)
    """
    inputs, x = image_input(input_shape, rotation=rotation, horizontal_flip=horizontal_flip,
                            zoom=zoom, shift=shift, seed=seed)
    for i, filters in enumerate(conv_filters):
        x = keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=not batch_norm,
            activation=None if batch_norm else "relu",
            name=f"conv{i}",
            kernel_initializer=kernel_initializer(f"conv{i}"),
        )(x)
        if batch_norm:
            # momentum 0.9 (Keras: 0.99) so the moving statistics used at inference
            # converge within the few hundred steps of a short fit.
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
            x = keras.layers.Activation("relu", name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="dense",
                               kernel_initializer=kernel_initializer("dense"))(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="output",
                                 kernel_initializer=kernel_initializer("output"))(x)
    return keras.Model(inputs, outputs, name="happy_sad_cnn")


@seeded_build
def build_vgg(
    input_shape: Sequence[int],
    *,
    conv_filters: Sequence[int] = (32, 64, 128, 256),
    blocks_per_stage: int | Sequence[int] = 2,
    kernel_size: int = 3,
    dropout: float = 0.4,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Build a VGG-style network with batch norm (``architecture="vgg"``).

    One stage per entry of ``conv_filters``: ``blocks_per_stage`` convolutions
    (``kernel_size``, no bias, batch norm, ReLU) at full resolution, then 2x2
    max pooling. The last two stages end in dropout at a quarter and at half
    of ``dropout``; global average pooling, dropout ``dropout`` and one
    sigmoid unit finish the network. With the defaults (four stages of two
    convolutions, 32 to 256 filters, about 1.2 million parameters) it is the
    network of skmood's recommended configuration for 48x48 grayscale faces
    (:func:`skmood.recommended_params`): on FER2013 it is the most accurate of
    skmood's networks per minute of CPU training (see the benchmarks page).

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)`` of the input images.
    conv_filters : sequence of int, default=(32, 64, 128, 256)
        Width of each stage; one stage per entry.
    blocks_per_stage : int or sequence of int, default=2
        Convolutions per stage (the depth knob): one number for every stage,
        or one per entry of ``conv_filters``.
    kernel_size : int, default=3
        Side of the square kernels.
    dropout : float, default=0.4
        Dropout rate before the output layer (and a fraction of it after the
        last two stages).
    rotation, horizontal_flip, zoom, shift, seed
        Augmentation, see :func:`augmentation_layers`.

    Returns
    -------
    model : keras.Model
        Uncompiled; input float32 in [0, 1], output shape ``(None, 1)``.

    Examples
    --------
    >>> from skmood.models import build_vgg
    >>> model = build_vgg((48, 48, 1), conv_filters=(8, 16), blocks_per_stage=1)
    >>> model.output_shape
    (None, 1)
    """
    inputs, x = image_input(input_shape, rotation=rotation, horizontal_flip=horizontal_flip,
                            zoom=zoom, shift=shift, seed=seed)
    n_stages = len(conv_filters)
    depths = stage_depths(blocks_per_stage, n_stages)
    for stage, filters in enumerate(conv_filters):
        for conv in range(depths[stage]):
            x = _conv_bn(x, filters, kernel_size, name=f"stage{stage}_conv{conv}")
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        late = stage - (n_stages - 3)  # 1 and 2 for the last two stages
        if dropout and late > 0:
            x = keras.layers.Dropout(dropout * late / 4, seed=seed,
                                     name=f"stage{stage}_dropout")(x)
    return sigmoid_head(inputs, x, dropout=dropout, seed=seed, name="happy_sad_vgg")


def stage_depths(blocks_per_stage: int | Sequence[int], n_stages: int) -> tuple[int, ...]:
    """Blocks of each of ``n_stages`` stages from ``blocks_per_stage`` (an int or one per stage).

    Examples
    --------
    >>> from skmood.models import stage_depths
    >>> stage_depths(2, 3), stage_depths((1, 1, 2), 3)
    ((2, 2, 2), (1, 1, 2))
    """
    if is_positive_int(blocks_per_stage):
        depths: tuple = (blocks_per_stage,) * n_stages
    elif isinstance(blocks_per_stage, (str, bytes)) or not isinstance(blocks_per_stage, Sequence):
        depths = ()
    else:
        depths = tuple(blocks_per_stage)
    if len(depths) != n_stages or not all(is_positive_int(d) for d in depths):
        raise ValueError(
            f"blocks_per_stage must be a positive int or a sequence of {n_stages} positive "
            f"ints (one per entry of conv_filters), got {blocks_per_stage!r}."
        )
    return tuple(int(d) for d in depths)


def _conv_bn(x, filters: int, kernel_size: int, *, name: str, strides: int = 1,
             relu: bool = True):
    """Conv2D (no bias) → batch norm → optional ReLU."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                            use_bias=False, name=f"{name}_conv",
                            kernel_initializer=kernel_initializer(f"{name}_conv"))(x)
    # momentum 0.9 (Keras: 0.99) so the moving statistics used at inference
    # converge within the few hundred steps of a short fit.
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _residual_block(x, filters: int, kernel_size: int, *, strides: int, name: str):
    """Two convolutions with batch norm plus a shortcut (ResNet v1 "basic" block)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:  # project to the new shape
        shortcut = _conv_bn(x, filters, 1, strides=strides, relu=False, name=f"{name}_proj")
    y = _conv_bn(x, filters, kernel_size, strides=strides, name=f"{name}_a")
    y = _conv_bn(y, filters, kernel_size, relu=False, name=f"{name}_b")
    x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


@seeded_build
def build_resnet(
    input_shape: Sequence[int],
    *,
    conv_filters: Sequence[int] = (32, 64, 128),
    blocks_per_stage: int | Sequence[int] = 2,
    kernel_size: int = 3,
    dropout: float = 0.0,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Build a compact residual network for small faces (``architecture="resnet"``).

    A stem convolution (``conv_filters[0]`` filters, batch norm, ReLU) at full
    resolution, then one stage per entry of ``conv_filters``, each of
    ``blocks_per_stage`` residual blocks (two ``kernel_size`` convolutions with
    batch norm, identity shortcut); the first block of every stage halves the
    image with stride 2 and a 1x1 projection shortcut. Global average pooling,
    optional dropout and one sigmoid unit finish it. Sized for 48-128 pixel
    faces on a CPU: the defaults are ResNet-18's layout (two blocks per stage)
    at half its width and with three stages instead of four (about 0.7
    million parameters).

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)`` of the input images.
    conv_filters : sequence of int, default=(32, 64, 128)
        Width of each stage (its number of filters); one stage per entry.
    blocks_per_stage : int or sequence of int, default=2
        Residual blocks per stage (the depth knob): one number for every
        stage, or one per entry of ``conv_filters``.
    kernel_size : int, default=3
        Side of the square kernels of the residual blocks.
    dropout : float, default=0.0
        Dropout rate before the output layer.
    rotation, horizontal_flip, zoom, shift, seed
        Augmentation, see :func:`augmentation_layers`.

    Returns
    -------
    model : keras.Model
        Uncompiled; input float32 in [0, 1], output shape ``(None, 1)``.

    Examples
    --------
    >>> from skmood.models import build_resnet
    >>> model = build_resnet((48, 48, 1), conv_filters=(8, 16), blocks_per_stage=1)
    >>> model.output_shape
    (None, 1)
    """
    inputs, x = image_input(input_shape, rotation=rotation, horizontal_flip=horizontal_flip,
                            zoom=zoom, shift=shift, seed=seed)
    depths = stage_depths(blocks_per_stage, len(conv_filters))
    x = _conv_bn(x, conv_filters[0], kernel_size, name="stem")
    for stage, filters in enumerate(conv_filters):
        for block in range(depths[stage]):
            x = _residual_block(x, filters, kernel_size, strides=2 if block == 0 else 1,
                                name=f"stage{stage}_block{block}")
    return sigmoid_head(inputs, x, dropout=dropout, seed=seed, name="happy_sad_resnet")


def inception_branch_widths(width: int) -> tuple[int, int, int, int]:
    """Output widths of an Inception module's 1x1, 3x3, double-3x3 and pooling branches.

    A quarter, a half, an eighth and the rest of ``width`` (as GoogLeNet's
    first module), at least 1 each; they add up to ``width`` from 8 on.
    """
    b1, b3, b5 = max(1, width // 4), max(1, width // 2), max(1, width // 8)
    return b1, b3, b5, max(1, width - b1 - b3 - b5)


def _inception_module(x, width: int, *, name: str):
    """Parallel 1x1 / 3x3 / double-3x3 (5x5 field) / pooling branches, concatenated."""
    b1, b3, b5, bp = inception_branch_widths(width)
    branch1 = _conv_bn(x, b1, 1, name=f"{name}_1x1")
    branch3 = _conv_bn(x, max(1, b3 // 2), 1, name=f"{name}_3x3_reduce")
    branch3 = _conv_bn(branch3, b3, 3, name=f"{name}_3x3")
    # Two 3x3 convolutions see a 5x5 field for fewer weights (Inception v3).
    branch5 = _conv_bn(x, max(1, b5 // 2), 1, name=f"{name}_5x5_reduce")
    branch5 = _conv_bn(branch5, b5, 3, name=f"{name}_5x5a")
    branch5 = _conv_bn(branch5, b5, 3, name=f"{name}_5x5b")
    pool = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    pool = _conv_bn(pool, bp, 1, name=f"{name}_pool_proj")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, pool])


@seeded_build
def build_inception(
    input_shape: Sequence[int],
    *,
    conv_filters: Sequence[int] = (32, 64, 128),
    blocks_per_stage: int | Sequence[int] = 2,
    dropout: float = 0.0,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
    shift: float = 0.0,
    seed: int | None = None,
) -> keras.Model:
    """Build a compact Inception-style network (``architecture="inception"``).

    A 3x3 stem convolution (``conv_filters[0]`` filters, batch norm, ReLU),
    then one stage per entry of ``conv_filters``: 3x3 max pooling with stride
    2, then ``blocks_per_stage`` Inception modules whose parallel branches (1x1;
    1x1 then 3x3; 1x1 then two 3x3, a 5x5 field; 3x3 max pooling then 1x1),
    each convolution with batch norm and ReLU, are concatenated to
    ``conv_filters[i]`` channels (see :func:`inception_branch_widths`). Global
    average pooling, optional dropout and one sigmoid unit finish it.

    Parameters
    ----------
    input_shape : tuple of (int, int, int)
        ``(height, width, channels)`` of the input images.
    conv_filters : sequence of int, default=(32, 64, 128)
        Output width of the modules of each stage; one stage per entry.
    blocks_per_stage : int or sequence of int, default=2
        Inception modules per stage (the depth knob): one number for every
        stage, or one per entry of ``conv_filters``.
    dropout : float, default=0.0
        Dropout rate before the output layer.
    rotation, horizontal_flip, zoom, shift, seed
        Augmentation, see :func:`augmentation_layers`.

    Returns
    -------
    model : keras.Model
        Uncompiled; input float32 in [0, 1], output shape ``(None, 1)``.

    Examples
    --------
    >>> from skmood.models import build_inception
    >>> model = build_inception((48, 48, 1), conv_filters=(8, 16), blocks_per_stage=1)
    >>> model.output_shape
    (None, 1)
    """
    inputs, x = image_input(input_shape, rotation=rotation, horizontal_flip=horizontal_flip,
                            zoom=zoom, shift=shift, seed=seed)
    depths = stage_depths(blocks_per_stage, len(conv_filters))
    x = _conv_bn(x, conv_filters[0], 3, name="stem")
    for stage, width in enumerate(conv_filters):
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"stage{stage}_pool")(x)
        for block in range(depths[stage]):
            x = _inception_module(x, width, name=f"stage{stage}_module{block}")
    return sigmoid_head(inputs, x, dropout=dropout, seed=seed, name="happy_sad_inception")
