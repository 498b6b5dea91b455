"""Run a fitted Keras network with LiteRT (TensorFlow Lite) and its XNNPACK CPU kernels.

On one of this project's 2-core benchmark machines skmood's networks
predicted 1.7 to 2.3 times as fast through LiteRT as through
``Model.predict_on_batch``, on another (AVX-512) 0.9 to 1.1 times (see the
benchmarks page), with probabilities equal to float32 rounding. Converting
takes a second or two, so :class:`~skmood.HappySadClassifier` converts lazily,
once per set of weights, and keeps the conversion in a cache keyed by the
Keras model object (weakly: it disappears with the model, and pickles never
carry it). A fingerprint of the weights guards the cache, so a network trained
further (``warm_start``) or given new weights is converted again rather than
predicted with stale weights. A model file in the safe format carries the
conversions cached when it was saved, with the fingerprint of the weights
they were made from (:func:`cached_flatbuffers`, :func:`offer_flatbuffer`), so
a process that loads it need not convert again: at the first LiteRT
prediction such a conversion is used if it was made from the same weights,
holds LiteRT's built-in operators only and answers as the network does on
probe images; otherwise the network is converted as usual.

With ``quantize=True`` the converter stores the weights as int8 (TensorFlow
Lite's dynamic-range quantization: no calibration data; XNNPACK quantizes
each batch's activations on the fly and runs integer kernels). On the
benchmark machine that ran the recommended network 3.2 times as fast as the
float conversion, at a small cost in agreement with the float network that
the benchmarks page measures.

A network trained in mixed precision (``precision="mixed_bfloat16"`` or
``"mixed_float16"``) is converted from a float32 copy of itself
(:func:`float32_network`): LiteRT then serves it in float32, and its
probabilities differ from Keras' 16-bit ones by about the 16-bit rounding.

Converter and interpreter are TensorFlow's (``tf.lite``), and this module is
the only one that uses them; the SavedModel they convert comes from
:func:`skmood._keras_backend.export_inference`. TensorFlow has
deprecated its interpreter in favour of the ``ai_edge_litert`` package but
still ships it; should a release drop it, creating the interpreter fails like
a conversion, and ``inference="auto"`` falls back to Keras with a warning.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
import weakref

import numpy as np

from ._native_log import native_stderr_filtered

__all__ = ["AUTO_MIN_IMAGES", "InterpreterRunner", "LiteRTConversionError", "LiteNetwork",
           "cached_flatbuffers", "convert_saved_model", "fingerprint", "lite_network",
           "offer_flatbuffer"]

#: ``inference="auto"`` uses LiteRT for prediction calls on at least this many
#: images: about where the one-off conversion pays for itself within one call.
AUTO_MIN_IMAGES = 4096


class LiteRTConversionError(RuntimeError):
    """The network could not be converted to (or run by) LiteRT."""


def convert_saved_model(directory: str, *, quantize: bool = False) -> bytes:
    """The LiteRT flatbuffer of the SavedModel in ``directory``.

    ``quantize``: int8 weights (dynamic-range quantization, no calibration
    data). Used for :class:`LiteNetwork` and by :func:`skmood.export`.
    """
    import tensorflow as tf  # tf.lite only: the rest of TensorFlow is _keras_backend's

    converter = tf.lite.TFLiteConverter.from_saved_model(directory)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


class InterpreterRunner:
    """``predict_on_batch`` over a LiteRT interpreter with one input and one output.

    Works with TensorFlow's ``tf.lite.Interpreter`` and with ``ai_edge_litert``'s
    (the lean runtime, :mod:`skmood.runtime`). The input tensor is resized when
    the batch shape changes; calls from several threads take turns.
    """

    def __init__(self, interpreter):
        self._interpreter = interpreter
        self._lock = threading.Lock()
        details = interpreter.get_input_details()[0]
        self._input, self._dtype = details["index"], details["dtype"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._batch = None

    def predict_on_batch(self, x) -> np.ndarray:
        """The network's outputs for one batch (converted to the input's dtype)."""
        x = np.ascontiguousarray(x, dtype=self._dtype)
        with self._lock:  # one interpreter: calls from several threads take turns
            if self._batch != x.shape:  # a new batch shape: resize the input tensor
                self._interpreter.resize_tensor_input(self._input, list(x.shape))
                with native_stderr_filtered():  # "Created ... XNNPACK delegate", under the CLI
                    self._interpreter.allocate_tensors()
                self._batch = x.shape
            self._interpreter.set_tensor(self._input, x)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def fingerprint(model) -> str:
    """A digest of the model's weights (values, shapes and order)."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _float32_config(config):
    """``config`` with every dtype policy replaced by ``"float32"`` (nested models too)."""
    if isinstance(config, dict):
        if str(config.get("class_name", "")).endswith("DTypePolicy"):
            return "float32"
        return {key: _float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_config(value) for value in config]
    return config


def float32_network(model):
    """``model`` itself if it computes in float32, else a float32 copy of it.

    LiteRT's built-in kernels have no bfloat16 or float16 convolutions, so a
    network trained under a mixed-precision policy (``precision``) is
    converted as the same architecture under the float32 policy, with the
    same weights (which mixed policies keep in float32 anyway).
    """
    if computes_in_float32(model):
        return model
    copy = type(model).from_config(_float32_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def computes_in_float32(model) -> bool:
    """Whether every layer of ``model`` (nested models too) computes in float32."""
    return not reduced_precision_policies(model)


def reduced_precision_policies(model) -> list[str]:
    """The names of the dtype policies of ``model``'s layers that do not compute in float32."""
    return sorted({layer.dtype_policy.name for layer in _all_layers(model)
                   if layer.dtype_policy.compute_dtype != "float32"})


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model (a backbone)
            yield from _all_layers(layer)


class LiteNetwork:
    """A Keras network converted to a LiteRT flatbuffer, with a ``predict_on_batch``.

    Parameters
    ----------
    model : keras.Model or None
        A built network with one float32 image input and one output (None
        with ``flatbuffer``).
    num_threads : int or None, default=None
        Threads of the interpreter; None uses every CPU this process may use.
    quantize : bool, default=False
        Store the weights as int8 (dynamic-range quantization) for integer
        kernels: faster, and close to, not equal to, the float network.
    flatbuffer : bytes or None, default=None
        A conversion made before (e.g. read from a model file): run it
        instead of converting ``model``.

    Attributes
    ----------
    flatbuffer : bytes
        The converted network.
    """

    def __init__(self, model, num_threads: int | None = None, quantize: bool = False,
                 *, flatbuffer: bytes | None = None):
        import tensorflow as tf  # tf.lite only: the rest of TensorFlow is _keras_backend's

        from . import _keras_backend as backend

        try:
            if flatbuffer is None:
                with tempfile.TemporaryDirectory(prefix="skmood-litert-") as tmp:
                    backend.export_inference(float32_network(model), tmp)
                    flatbuffer = convert_saved_model(tmp, quantize=quantize)
            self.flatbuffer = flatbuffer
            with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
                warnings.simplefilter("ignore", UserWarning)
                self._interpreter = tf.lite.Interpreter(
                    model_content=self.flatbuffer, num_threads=int(num_threads or _cpu_count()))
            self._runner = InterpreterRunner(self._interpreter)
        except Exception as exc:  # the converter raises many types; report them as one
            what = ("convert the network to LiteRT" if model is not None
                    else "run the stored LiteRT flatbuffer")
            raise LiteRTConversionError(
                f"could not {what} ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
            ) from exc

    def predict_on_batch(self, x) -> np.ndarray:
        """The network's outputs for one batch of float images."""
        return self._runner.predict_on_batch(x)


#: Keras model -> {quantize: (weights fingerprint, LiteNetwork, or the
#: LiteRTConversionError it raised)}
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


#: Keras model -> {quantize: (weights fingerprint, flatbuffer)}: conversions read
#: from a model file, checked and adopted when LiteRT is first needed.
_STORED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Largest difference allowed between a stored conversion's outputs and the
#: network's on probe images (int8 weights move them by up to a few hundredths).
STORED_TOLERANCE = {False: 1e-4, True: 0.05}


def cached_flatbuffers(model) -> tuple[str, dict[bool, bytes]]:
    """``(weights fingerprint, {quantize: flatbuffer})``: conversions of the current weights.

    Those converted in this process, or read from the model's file and not
    used yet (the int8 one under ``True``). Never converts.
    """
    key = fingerprint(model)
    with _CACHE_LOCK:
        cached = dict(_CACHE.get(model, {}))
        stored = dict(_STORED.get(model, {}))
    found = {}
    for quantize in (False, True):
        entry = cached.get(quantize)
        if entry is not None and not isinstance(entry[1], Exception) and entry[0] == key:
            found[quantize] = entry[1].flatbuffer
        elif stored.get(quantize) is not None and stored[quantize][0] == key:
            found[quantize] = stored[quantize][1]
    return key, found


def offer_flatbuffer(model, flatbuffer: bytes, weights: str, quantize: bool = False) -> None:
    """Remember a conversion of ``model`` read from a file, made from the weights ``weights``.

    Nothing is parsed or run here: :func:`lite_network` adopts it, instead of
    converting, only if ``weights`` is the :func:`fingerprint` of the
    network's weights by then, the flatbuffer uses LiteRT's built-in operators
    only, and its outputs on probe images agree with the network's (within
    :data:`STORED_TOLERANCE`).
    """
    with _CACHE_LOCK:
        _STORED.setdefault(model, {})[quantize] = (str(weights), bytes(flatbuffer))


def _checked_stored(model, stored, key: str, quantize: bool) -> LiteNetwork | None:
    """The stored conversion ``(weights, flatbuffer)`` as a :class:`LiteNetwork`, if it passes."""
    if stored is None or stored[0] != key:
        return None
    try:
        network = LiteNetwork(None, flatbuffer=stored[1])
        ops = {str(op.get("op_name", "")) for op in network._interpreter._get_ops_details()}
        if any(name == "CUSTOM" or name.startswith("Flex") for name in ops):
            return None  # TensorFlow ("Flex") or custom kernels: never from a file
        probe = np.random.default_rng(0).uniform(
            0.0, 1.0, (2, *model.input_shape[1:])).astype(np.float32)
        expected = np.asarray(model(probe, training=False), dtype=np.float32)
        got = np.asarray(network.predict_on_batch(probe), dtype=np.float32)
        if got.shape != expected.shape or np.abs(got - expected).max() > STORED_TOLERANCE[quantize]:
            return None
    except Exception:  # unreadable or unexpected: convert afresh, as without it
        return None
    return network


def lite_network(model, quantize: bool = False) -> LiteNetwork:
    """The LiteRT conversion of ``model`` with its current weights (cached).

    ``quantize`` picks the int8 conversion; the float and the int8 one are
    cached side by side.

    Raises
    ------
    LiteRTConversionError
        If the network cannot be converted (remembered: not retried for the
        same weights).
    """
    key = fingerprint(model)
    with _CACHE_LOCK:
        conversions = _CACHE.setdefault(model, {})
        cached = conversions.get(quantize)
        if cached is not None and cached[0] == key:
            if isinstance(cached[1], Exception):
                raise LiteRTConversionError(str(cached[1]))
            return cached[1]
        stored = _checked_stored(model, _STORED.get(model, {}).pop(quantize, None), key,
                                 quantize)
        if stored is not None:  # read from the model file, checked: no conversion
            conversions[quantize] = (key, stored)
            return stored
        try:
            network = LiteNetwork(model, quantize=quantize)
        except LiteRTConversionError as exc:
            conversions[quantize] = (key, exc)
            raise
        conversions[quantize] = (key, network)
        return network
