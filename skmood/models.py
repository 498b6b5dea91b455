"""Keras model builders.

Pure Keras: functions here know nothing of scikit-learn. Each returns an
*uncompiled* :class:`keras.Model` taking float32 images in [0, 1]; the
classifier compiles it. Pass your own builder with the same calling
convention as ``HappySadClassifier(model=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._keras_backend import keras

__all__ = ["augmentation_layers", "build_cnn"]


def augmentation_layers(
    *,
    rotation: float = 0.0,
    horizontal_flip: bool = False,
    zoom: float = 0.0,
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
    return layers


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
    seed: int | None = None,
) -> keras.Model:
    """Build the original recipe's CNN, with optional extras.

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
    rotation, horizontal_flip, zoom, seed
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
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for layer in augmentation_layers(
        rotation=rotation, horizontal_flip=horizontal_flip, zoom=zoom, seed=seed
    ):
        x = layer(x)
    for i, filters in enumerate(conv_filters):
        x = keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=not batch_norm,
            activation=None if batch_norm else "relu",
            name=f"conv{i}",
        )(x)
        if batch_norm:
            # momentum 0.9 (Keras: 0.99) so the moving statistics used at inference
            # converge within the few hundred steps of a short fit.
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
            x = keras.layers.Activation("relu", name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name="happy_sad_cnn")
