"""Grad-CAM: where in the image a network's answer comes from (private).

Gradient-weighted class activation mapping (Selvaraju et al., 2017): the
network's last convolutional feature map ``A`` (``k`` channels of ``h x w``),
each channel weighted by the mean gradient of the class score over it,
summed, kept where positive, brought to the input size and scaled to [0, 1].
The class score is the logit, not the probability: a confident network's
sigmoid saturates, and the gradient of a probability of 1.0 is zero.

Works on every network skmood builds and on most of your own: the feature
map is found by walking the layers backwards, into a nested model (a
``keras.applications`` backbone) when needed, and read through a functional
copy of the network's graph that shares its layers (so its weights), made
with ``keras.models.clone_model``. A network trained in mixed precision is
explained through a float32 copy (the LiteRT path's
:func:`~skmood._litert.float32_network`): bfloat16 gradients are too coarse.
Pure Keras here; the gradient tape is
:func:`skmood._keras_backend.gradient_function`.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from typing import Any

import numpy as np

from . import _training
from ._face_boxes import input_faces
from ._image import resize_image
from ._litert import computes_in_float32, fingerprint, float32_network
from ._validation import check_images
from .exceptions import SkmoodWarning

__all__ = ["AveragedGradCam", "GradCam", "class_indices", "explain_classifier", "feature_layer",
           "grad_cam"]

#: Images per gradient pass: the tape keeps every activation of the batch.
EXPLAIN_BATCH_SIZE = 32

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _keras():
    from ._keras_backend import keras

    return keras


def _spatial_size(layer) -> tuple[int, int] | None:
    """``(h, w)`` of a layer's single 4-D output, else None."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError, RuntimeError):  # unbuilt or used several times
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _is_nested(layer) -> bool:
    keras = _keras()
    return isinstance(layer, keras.Model) and bool(getattr(layer, "layers", None))


def _sources(config) -> set[str]:
    """Names of the layers whose outputs a layer's ``inbound_nodes`` config takes."""
    if isinstance(config, dict):
        history = config.get("keras_history")
        found = {history[0]} if isinstance(history, (list, tuple)) and history else set()
        return found.union(*(_sources(value) for value in config.values()))
    if isinstance(config, (list, tuple)):
        return set().union(*(_sources(value) for value in config))
    return set()


def _cuts(model) -> set[str]:
    """Layers of a functional ``model`` that every path from input to output goes through.

    In the topological order of ``model.layers``, a layer is such a cut
    when no connection jumps over it (from a layer before it to one after
    it): the output of a residual block's addition or of an Inception
    module's concatenation, not the layers inside them. The connections
    are read from the model's config (its ``inbound_nodes``).
    """
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    edges = [(order[src], order[cfg["name"]]) for cfg in model.get_config().get("layers", [])
             if cfg.get("name") in order
             for src in _sources(cfg.get("inbound_nodes", [])) if src in order]
    return {name for name, i in order.items()
            if not any(u < i < v for u, v in edges)}


def _candidates(network, every: bool = False) -> list[tuple[str, ...]]:
    """Layer paths ``(name,)`` or ``(nested model, name)`` of spatial maps, in order.

    Only layers that all of the network's computation goes through (see
    :func:`_cuts`), and no pooling, padding or dropout (their input is the
    same map, sharper or aligned with the image); ``every``: all of them.
    """
    keras = _keras()
    passive = () if every else (
        keras.layers.InputLayer, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
        keras.layers.ZeroPadding2D, keras.layers.Dropout, keras.layers.SpatialDropout2D)

    def kept(model):
        cuts = None if every else _cuts(model)
        return [lyr for lyr in model.layers if (cuts is None or lyr.name in cuts)
                and not isinstance(lyr, passive)]

    paths: list[tuple[str, ...]] = []
    for layer in kept(network):
        if _is_nested(layer):
            paths += [(layer.name, lyr.name) for lyr in kept(layer) if _spatial_size(lyr)]
        elif _spatial_size(layer):
            paths.append((layer.name,))
    return paths


def _layer_at(network, path: tuple[str, ...]):
    layer = network.get_layer(path[0])
    return layer if len(path) == 1 else layer.get_layer(path[1])


def feature_layer(network, layer: str | None = None, owner: str = "explain") -> tuple[str, ...]:
    """Where Grad-CAM reads the feature map: ``(name,)`` or ``(nested model, name)``.

    By default the last layer with a spatial (4-D) output larger than 1x1
    that all of the computation goes through (an Inception module's
    concatenation, a residual block's output, not a layer inside them),
    looking into nested models, and passing over pooling, padding and
    dropout; a backbone whose own output is 1x1 at a small input size is
    explained at its last larger map. ``layer`` names a layer of ``network``
    or of a model nested in it instead (any layer with a spatial output).
    """
    paths = _candidates(network)
    if layer is not None:
        found = [p for p in _candidates(network, every=True) if p[-1] == layer]
        if not found:
            names = [p[-1] for p in paths[-5:]]
            raise ValueError(
                f"{owner}: layer={layer!r} is not a layer with a spatial (4-D) output in the "
                f"network or in a model nested in it; the last such layers are {names}.")
        return found[-1]
    larger = [p for p in paths if np.prod(_spatial_size(_layer_at(network, p))) > 1]
    if not (larger or paths):
        raise ValueError(f"{owner}: the network {network.name!r} has no layer with a spatial "
                         "(4-D) output; Grad-CAM needs a convolutional network.")
    return (larger or paths)[-1]


def _head(network):
    """The layer giving the network's output, and how to read its logits from its input."""
    if len(network.outputs) != 1:
        raise ValueError(f"explain: the network {network.name!r} has {len(network.outputs)} "
                         "outputs; Grad-CAM here needs one (the class probabilities).")
    keras = _keras()
    head = next((layer for layer in reversed(network.layers)
                 if _single_output(layer) is network.outputs[0]), None)
    activation = getattr(getattr(head, "activation", None), "__name__", "")
    if activation in ("sigmoid", "softmax"):
        if isinstance(head, keras.layers.Dense):
            return head, "dense"
        if isinstance(head, keras.layers.Activation):
            return head, "activation"
    return head, "probability"


def _single_output(layer):
    try:
        return layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None


class GradCam:
    """Grad-CAM heat maps of one Keras network.

    Parameters
    ----------
    network : keras.Model
        A functional network with one image input and one output: one
        sigmoid unit (probability of class 1) or one unit per class.
    layer : str or None, default=None
        See :func:`feature_layer`.
    owner : str, default="explain"
        Named in error messages.

    Attributes
    ----------
    path : tuple of str
        The feature map used (:func:`feature_layer`).
    """

    def __init__(self, network, layer: str | None = None, owner: str = "explain") -> None:
        keras = _keras()
        network = float32_network(network)  # compute in float32 (bfloat16 gradients are coarse)
        self.path = feature_layer(network, layer, owner)
        self.input_size = tuple(int(v) for v in network.input_shape[1:3])
        target = network.get_layer(self.path[0])
        dual = None
        if len(self.path) == 2:  # inside a nested model: it also returns the inner map
            dual = keras.Model(target.inputs, [target.get_layer(self.path[1]).output,
                                               *target.outputs])
        self.head, self.mode = _head(network)
        seen: dict[str, Any] = {}

        def call(layer, *args, **kwargs):
            if layer is target and dual is not None:
                seen["features"], out = dual(*args, **kwargs)
                return out
            if layer is self.head and self.mode != "probability":
                seen["logits_input"] = args[0]
            out = layer(*args, **kwargs)
            if layer is target:
                seen["features"] = out
            return out

        # The same layers (so the same weights) called on a new graph, with the feature
        # map and the head's input as outputs too.
        graph = keras.models.clone_model(network, clone_function=lambda layer: layer,
                                         call_function=call)
        self.model = keras.Model(graph.inputs, [seen["features"],
                                                seen.get("logits_input", graph.outputs[0])])
        from . import _keras_backend as backend

        self._gradient = backend.gradient_function(self._forward, network.input_shape[1:])

    def _forward(self, x, index):
        """``(feature map, score of class index[i] for image i)``."""
        ops = _keras().ops
        features, head_input = self.model([x], training=False)
        if self.mode == "dense":
            z = ops.matmul(head_input, ops.cast(self.head.kernel, head_input.dtype))
            if self.head.use_bias:
                z = z + ops.cast(self.head.bias, head_input.dtype)
        else:
            z = head_input
        if z.shape[-1] == 1:  # one sigmoid unit: class 1's logit, and minus it for class 0
            if self.mode == "probability":
                return features, ops.where(index == 1, z[:, 0], 1.0 - z[:, 0])
            return features, ops.where(index == 1, z[:, 0], -z[:, 0])
        return features, ops.take_along_axis(z, ops.expand_dims(index, 1), axis=1)[:, 0]

    def __call__(self, x: np.ndarray, class_index: np.ndarray) -> np.ndarray:
        """Heat maps ``(n, height, width)`` in [0, 1] at the network's input size."""
        features, grads = self._gradient(x, class_index)
        weights = grads.mean(axis=(1, 2))  # one weight per channel and image
        cams = np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0.0)
        out = np.empty((len(cams), *self.input_size), np.float32)
        for i, cam in enumerate(cams):
            up = resize_image(cam[:, :, None].astype(np.float32), self.input_size)[:, :, 0]
            top = float(up.max())
            out[i] = np.clip(up / top, 0.0, 1.0) if top > 0 else 0.0
        return out


class AveragedGradCam:
    """Grad-CAM of an averaged network (:func:`skmood.average_models`): the members' mean.

    Each member network is explained by its own :class:`GradCam` (``layer``
    names a layer of each member); the maps are averaged and scaled to [0, 1].
    """

    def __init__(self, members, layer: str | None = None, owner: str = "explain") -> None:
        self.members = [_explainer(member, layer, owner) for member in members]  # nested too
        self.path = self.members[0].path
        self.input_size = self.members[0].input_size

    def __call__(self, x: np.ndarray, class_index: np.ndarray) -> np.ndarray:
        """Heat maps ``(n, height, width)`` in [0, 1] at the network's input size."""
        mean = np.mean([member(x, class_index) for member in self.members], axis=0)
        top = mean.max(axis=(1, 2), keepdims=True)
        return np.where(top > 0, mean / np.where(top > 0, top, 1.0), 0.0).astype(np.float32)


def _explainer(network, layer: str | None, owner: str) -> GradCam | AveragedGradCam:
    """A :class:`GradCam`, or an :class:`AveragedGradCam` for an averaged network."""
    from ._ensemble import member_networks

    members = member_networks(network)
    return (GradCam(network, layer, owner) if members is None
            else AveragedGradCam(members, layer, owner))


def grad_cam(network, layer: str | None = None,
             owner: str = "explain") -> GradCam | AveragedGradCam:
    """The :class:`GradCam` of ``network`` (kept while the network lives).

    A float32 copy of a mixed-precision network is remade when the network's
    weights change (a warm start), as LiteRT conversions are. An averaged
    network gets an :class:`AveragedGradCam`.
    """
    with _cache_lock:
        mine = _cache.setdefault(network, {})
        # A float32 copy does not follow the network's weights: remade when they change.
        stamp = None if computes_in_float32(network) else fingerprint(network)
        entry = mine.get(layer)
        if entry is None or entry[0] != stamp:
            entry = mine[layer] = (stamp, _explainer(network, layer, owner))
        return entry[1]


def class_indices(target: Any, classes: np.ndarray, n: int, owner: str) -> np.ndarray | None:
    """Column of ``classes`` of each image's ``target`` (one label, or one per image)."""
    if target is None:
        return None
    labels = np.asarray(target, dtype=object)
    if labels.ndim == 0:
        labels = np.full(n, labels.item(), dtype=object)
    if labels.shape != (n,):
        raise ValueError(f"{owner}: target must be one class label or one per image ({n}), "
                         f"got an array of shape {labels.shape}.")
    known = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(classes)}
    index = [known.get(v.item() if isinstance(v, np.generic) else v) for v in labels]
    bad = sorted({repr(v) for v, i in zip(labels, index) if i is None})
    if bad:
        raise ValueError(f"{owner}: target {', '.join(bad[:5])} is not a class of this model; "
                         f"expected one of {list(classes)}.")
    return np.asarray(index, dtype=int)


def explain_classifier(clf, X, target=None, *, layer: str | None = None, boxes=None,
                       owner: str = "HappySadClassifier") -> np.ndarray:
    """:meth:`HappySadClassifier.explain`: the images as ``predict`` sees them, explained.

    ``boxes``: known face boxes (``None``: whole image), as for
    ``_predict_proba``. Unreadable files (``on_error="skip"``) get maps of NaN.
    """
    clf._check_fitted()
    data = check_images(X, owner)
    wanted = class_indices(target, clf.classes_, len(data), owner)
    explainer = grad_cam(clf.model_, layer, owner)
    split = _training.Split(data, None, None, np.arange(len(data)))
    seq = clf._sequence(split, batch_size=EXPLAIN_BATCH_SIZE, on_error=clf.on_error,
                        faces=input_faces(clf.face_detector, clf.face_margin, boxes))
    out = []
    for b in range(len(seq)):
        (x,) = seq[b]
        rows = slice(b * EXPLAIN_BATCH_SIZE, b * EXPLAIN_BATCH_SIZE + len(x))
        if wanted is None:  # the class predict answers (its engine, its flip averaging)
            proba = clf._predict_proba(x, boxes=[None] * len(x), stacklevel=5)
            index = np.argmax(proba, axis=1)
        else:
            index = wanted[rows]
        out.append(explainer(x, index))
    maps = np.concatenate(out)
    if seq.failures:
        maps[sorted(seq.failures)] = np.nan
        warnings.warn(f"{owner}: {_training.describe_failures(seq.failures, len(data))}; "
                      "their heat maps are NaN (on_error='skip').", SkmoodWarning, stacklevel=3)
    return maps
