"""Training on several devices with ``tf.distribute`` (``distribution``; private).

The classifier's ``distribution`` names a strategy (``"mirrored"``,
``"multi_worker"``) or is a ``tf.distribute.Strategy``; ``fit`` builds,
compiles and trains the network inside its :func:`scope`, so the variables
are mirrored on every replica and each training step splits the batch
(``batch_size`` is the *global* batch) and sums the gradients across them.
Keras keeps the strategy with the network, so prediction runs under it too
(:func:`batch_predictor`).

Pure functions taking an ``owner`` name for their messages. Importing this
module imports neither Keras nor TensorFlow: the strategies are made through
:mod:`skmood._keras_backend`, on the first fit that asks for one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

__all__ = ["DISTRIBUTIONS", "batch_predictor", "check_warm_start", "scope", "strategy"]

#: The strategies ``distribution`` names (else a ``tf.distribute.Strategy``, or None).
DISTRIBUTIONS = ("mirrored", "multi_worker")


@functools.cache
def _named_strategy(name: str):
    """One strategy of each name per process (``multi_worker`` may be made only once)."""
    from . import _keras_backend as backend

    if name == "mirrored":
        return backend.mirrored_strategy()
    try:
        return backend.multi_worker_strategy()
    except RuntimeError as exc:
        raise RuntimeError(
            f"distribution='multi_worker': TensorFlow could not start its collective ops "
            f"({exc}). MultiWorkerMirroredStrategy must be created before TensorFlow runs "
            "anything else in the process: create "
            "tf.distribute.MultiWorkerMirroredStrategy() at the start of your program and "
            "pass it as distribution=."
        ) from exc


def strategy(distribution: Any, owner: str):
    """The ``tf.distribute.Strategy`` of ``distribution`` (not None).

    ``"mirrored"``: a ``MirroredStrategy`` over every GPU, or, without GPUs,
    over every logical CPU device (one unless configured with
    ``tf.config.set_logical_device_configuration``). ``"multi_worker"``: a
    ``MultiWorkerMirroredStrategy`` configured by the ``TF_CONFIG``
    environment variable (one worker without it). Both are made once per
    process. A strategy object is used as it is.
    """
    if isinstance(distribution, str):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"{owner}: distribution={distribution!r}; expected None, "
                             f"{' or '.join(map(repr, DISTRIBUTIONS))}, or a "
                             "tf.distribute.Strategy.")
        return _named_strategy(distribution)
    from . import _keras_backend as backend

    if not backend.is_strategy(distribution):
        raise TypeError(f"{owner}: distribution must be None, "
                        f"{' or '.join(map(repr, DISTRIBUTIONS))}, or a tf.distribute.Strategy; "
                        f"got a {type(distribution).__name__}.")
    return distribution


def scope(distribution: Any, owner: str) -> contextlib.AbstractContextManager:
    """The context ``fit`` runs in: the strategy's scope, or nothing for None."""
    if distribution is None:
        return contextlib.nullcontext()
    return strategy(distribution, owner).scope()


def check_warm_start(network, distribution: Any, owner: str) -> None:
    """Refuse to continue ``network`` under a strategy it was not built under.

    Keras trains a network under the strategy that was current when it was
    built; a network built without one (e.g. read by :func:`skmood.load`)
    has plain variables that a strategy cannot mirror.
    """
    if distribution is None:
        return
    from . import _keras_backend as backend

    wanted = strategy(distribution, owner)
    built = backend.network_strategy(network)
    if built is not wanted:
        under = "no strategy" if built is None else type(built).__name__
        raise ValueError(
            f"{owner}: warm_start=True continues the fitted network, which was built under "
            f"{under}; distribution={distribution!r} needs a network built under that "
            "strategy. Fit anew (warm_start=False) or set distribution=None."
        )


def batch_predictor(network) -> Callable:
    """``predict_on_batch`` of ``network``, right under a strategy of several replicas.

    Keras' ``predict_on_batch`` gives every replica the whole batch and
    concatenates their outputs (each row once per replica); ``predict``
    splits the batch between the replicas and keeps the row order.
    """
    from . import _keras_backend as backend

    if backend.replicas(network) <= 1:
        return network.predict_on_batch
    return functools.partial(backend.predict_batch, network)
