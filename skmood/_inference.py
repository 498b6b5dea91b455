"""Which engine runs the fitted network at prediction (private).

The classifier's ``inference`` parameter picks Keras or a LiteRT conversion
(:mod:`skmood._litert`); ``"auto"`` picks by the number of images of the call
and falls back to Keras, with a warning, when the network cannot be
converted. Pure functions taking an ``owner`` name for their messages, so the
estimator module keeps only the orchestration and each rule is tested on its
own. Importing this module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from . import _distribute, _litert
from .exceptions import SkmoodWarning

__all__ = ["INFERENCE_ENGINES", "choose_engine", "network_predictor"]

#: What may run the fitted network at prediction (``inference``).
INFERENCE_ENGINES = ("auto", "keras", "litert", "litert-int8")


def choose_engine(engine: str, n_images: int, owner: str) -> str:
    """The engine that runs a call on ``n_images`` images.

    Returns ``"keras"``, ``"litert"`` or ``"litert-int8"``. ``"auto"`` takes
    float LiteRT for calls on at least :data:`skmood._litert.AUTO_MIN_IMAGES`
    images, Keras for smaller ones. An engine outside :data:`INFERENCE_ENGINES`
    (possible through ``set_params`` after ``fit``, which skips ``fit``'s
    check) raises ``ValueError`` naming ``owner``.

    Examples
    --------
    >>> from skmood._inference import choose_engine
    >>> choose_engine("auto", 10, "HappySadClassifier")
    'keras'
    >>> choose_engine("auto", 10_000, "HappySadClassifier")
    'litert'
    """
    if engine not in INFERENCE_ENGINES:
        *others, last = map(repr, INFERENCE_ENGINES)
        raise ValueError(f"{owner}: inference={engine!r}; expected {', '.join(others)} or "
                         f"{last}.")
    if engine == "keras" or (engine == "auto" and n_images < _litert.AUTO_MIN_IMAGES):
        return "keras"
    return "litert-int8" if engine == "litert-int8" else "litert"


def network_predictor(model, engine: str, n_images: int, owner: str, *, stacklevel: int = 3
                      ) -> tuple[Callable, bool]:
    """``(predict_on_batch, wants one batch shape)`` of the engine ``engine`` picks.

    XLA-compiled Keras networks and LiteRT both prefer one batch shape (the
    caller pads the last batch). A network LiteRT cannot convert raises
    ``RuntimeError`` when LiteRT was asked for by name, and under ``"auto"``
    is run by Keras with a :class:`~skmood.SkmoodWarning` pointing at the
    caller of the estimator method that called this function.
    """
    jit = bool(getattr(model, "jit_compile", False))
    choice = choose_engine(engine, n_images, owner)
    if choice == "keras":
        return _distribute.batch_predictor(model), jit
    try:
        network = _litert.lite_network(model, quantize=choice == "litert-int8")
        return network.predict_on_batch, True
    except _litert.LiteRTConversionError as exc:
        if engine != "auto":
            raise RuntimeError(f"{owner}: inference={engine!r}: {exc}; use "
                               "inference='keras'.") from exc
        # stacklevel (default): this function, the estimator's method, the user's call.
        warnings.warn(f"{owner}: {exc}; predicting with Keras instead (inference="
                      "'auto').", SkmoodWarning, stacklevel=stacklevel)
        return _distribute.batch_predictor(model), jit
