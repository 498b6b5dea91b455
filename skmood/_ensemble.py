"""Averaging fitted classifiers into one (``skmood.average_models``; private module).

Networks trained apart (different data, seeds or recipes) make different
mistakes; the mean of their probabilities is usually better than either.
:func:`average_models` puts such networks side by side in *one* Keras
network: one input, each member network as a nested model, and a final
``Average`` layer (named :data:`AVERAGE_LAYER`) over their probabilities.
Everything that takes a network takes it unchanged: the input pipeline and
its face detector run once per image, the safe format stores it as any
network (``model.keras``), LiteRT converts it to one int8 flatbuffer, a warm
start fine-tunes every member, and Grad-CAM averages the members' heat maps
(:func:`member_networks` finds them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["AVERAGE_LAYER", "average_models", "averaged_network", "member_networks"]

#: Name of the layer averaging the members' probabilities.
AVERAGE_LAYER = "average_of_networks"
_OWNER = "average_models"


def averaged_network(networks: Sequence, name: str = "averaged_network"):
    """One Keras network returning the mean of ``networks``' outputs.

    Each member is copied (same architecture and weights) under the name
    ``network_0``, ``network_1``, ... so that members built alike (same layer
    and model names) can sit side by side. The result is compiled as the
    first member was.
    """
    from ._keras_backend import keras  # the one module that imports Keras

    members = []
    for i, network in enumerate(networks):
        config = network.get_config()
        config["name"] = f"network_{i}"
        member = type(network).from_config(config)
        member.set_weights(network.get_weights())
        members.append(member)
    image = keras.Input(shape=tuple(networks[0].input_shape[1:]), name="image")
    output = keras.layers.Average(name=AVERAGE_LAYER, dtype="float32")(
        [member(image) for member in members])
    averaged = keras.Model(image, output, name=name)
    compile_config = networks[0].get_compile_config()
    if compile_config:
        averaged.compile_from_config(compile_config)
    return averaged


def member_networks(network) -> list | None:
    """The member networks of an :func:`averaged_network`, or None for any other network."""
    from ._keras_backend import keras  # the one module that imports Keras

    layers = list(network.layers)
    if not layers or layers[-1].name != AVERAGE_LAYER:
        return None
    members = [layer for layer in layers[:-1] if not isinstance(layer, keras.layers.InputLayer)]
    if not members or not all(isinstance(m, keras.Model) for m in members):
        return None
    return members


def average_models(models: Sequence) -> HappySadClassifier:  # noqa: F821 (lazy import)
    """One classifier answering the mean probability of fitted classifiers.

    The networks of ``models`` are put side by side in one network (see
    :func:`averaged_network`), so the result is an ordinary fitted
    :class:`~skmood.HappySadClassifier`: one input pipeline (one face
    detection per image), one network call per batch, stored in the safe
    format by :func:`skmood.save`, and fine-tuned as a whole with
    ``warm_start=True`` (one stage at ``learning_rate``: members with a
    pretrained backbone do not repeat their two fine-tuning stages). It takes
    the parameters of the first model (``flip_averaging``, ``inference``,
    ``precision``, ...; the others' are not read); refitting it from scratch
    (``warm_start=False``) trains one network of those parameters, not an
    average.

    Parameters
    ----------
    models : sequence of HappySadClassifier
        At least two fitted classifiers with the same classes, input shape
        (``image_size`` and ``color_mode``) and face detection
        (``face_detector``, ``face_margin``).

    Returns
    -------
    model : HappySadClassifier
        Fitted; its ``predict_proba`` is the mean of the members'.

    Raises
    ------
    TypeError
        When an item is not a :class:`~skmood.HappySadClassifier`.
    ValueError
        When fewer than two are given, or they disagree on classes, input
        shape or face detection.

    Examples
    --------
    >>> import numpy as np
    >>> from skmood import HappySadClassifier, make_faces
    >>> from skmood import average_models
    >>> X, y = make_faces(32, image_size=(32, 32), random_state=0)
    >>> kw = dict(image_size=(32, 32), conv_filters=(4,), dense_units=8, epochs=1,
    ...           verbose=0)
    >>> a = HappySadClassifier(random_state=0, **kw).fit(X, y)
    >>> b = HappySadClassifier(random_state=1, **kw).fit(X, y)
    >>> both = average_models([a, b])
    >>> mean = (a.predict_proba(X) + b.predict_proba(X)) / 2
    >>> bool(np.allclose(both.predict_proba(X), mean, atol=1e-5))
    True
    """
    from ._classifier import HappySadClassifier
    from .exceptions import NotFittedError

    models = list(models)
    if len(models) < 2:
        raise ValueError(f"{_OWNER}: expected at least two fitted classifiers, got "
                         f"{len(models)}.")
    for i, model in enumerate(models):
        if not isinstance(model, HappySadClassifier):
            raise TypeError(f"{_OWNER}: models[{i}] is a {type(model).__name__}; expected a "
                            "fitted HappySadClassifier (a pipeline's last step, for one).")
        if not hasattr(model, "model_"):
            raise NotFittedError(f"{_OWNER}: models[{i}] is not fitted yet; call its fit "
                                 "first.")
    first = models[0]
    for i, model in enumerate(models[1:], start=1):
        checks = {
            "classes_": (list(model.classes_), list(first.classes_)),
            "input_shape_": (tuple(model.input_shape_), tuple(first.input_shape_)),
            "face_detector": (model.face_detector, first.face_detector),
            "face_margin": (model.face_margin, first.face_margin),
            "output shape": (tuple(model.model_.output_shape[1:]),
                             tuple(first.model_.output_shape[1:])),
        }
        for name, (theirs, ours) in checks.items():
            if theirs != ours:
                raise ValueError(f"{_OWNER}: models[{i}] has {name} {theirs!r}, models[0] "
                                 f"{ours!r}; averaged models must see the same input and "
                                 "answer the same classes.")
    network = averaged_network([model.model_ for model in models])
    averaged = HappySadClassifier(**first.get_params(deep=False))
    classes = np.asarray(first.classes_)
    return averaged._restore_fitted(network, classes=classes, input_shape=first.input_shape_,
                                    history={})
