"""skmood's boundary to Keras, scikeras and TensorFlow (private).

The rule: this is the only module of the package that imports ``keras``,
``scikeras`` or ``tensorflow``, with one exception: :mod:`skmood._litert`
imports ``tensorflow`` for ``tf.lite`` (LiteRT's converter and interpreter,
another runtime, which TensorFlow is moving to the ``ai_edge_litert``
package) and for nothing else. Modules that build networks
(``_architectures``, ``_transfer``) take the ``keras`` module from here. So a
change of these libraries' APIs, or swapping scikeras for
``keras.wrappers.SKLearnClassifier``, touches this file only (LiteRT's
``_litert``). Their private APIs are used here only, each with a comment
naming the version. ``tests/test_keras_backend.py`` checks the rule.

Importing it is slow (TensorFlow starts), so the rest of skmood imports it
inside functions or from modules that package import does not load.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

# Keras picks its backend when first imported, which skmood does here, never at
# package import. A KERAS_BACKEND the user set is kept (skmood works only on
# "tensorflow"); HappySadClassifier's Notes say so.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

try:
    import keras
    import scikeras  # noqa: F401  (registers pickling of Keras objects)
    from scikeras.wrappers import KerasClassifier
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "skmood needs Keras 3 with the TensorFlow backend and scikeras: "
        'pip install "tensorflow>=2.17" "keras>=3.5" "scikeras>=0.13"'
    ) from exc

logger = logging.getLogger("skmood")

__all__ = [
    "KerasClassifier",
    "KerasProgressBar",
    "PyDataset",
    "keras",
    "export_inference",
    "list_devices",
    "gradient_function",
    "make_keras_classifier",
    "op_determinism_enabled",
    "progress_bar",
    "recompile",
    "set_random_seed",
    "start_generator_dataset",
]

PyDataset = keras.utils.PyDataset


def progress_bar(n_steps: int, verbose) -> Callable[[int], None] | None:
    """A Keras progress bar's update function for ``n_steps``, or None when quiet."""
    if not verbose or n_steps == 0:
        return None
    bar = keras.utils.Progbar(n_steps, verbose=1 if int(verbose) == 1 else 2)
    return bar.update


def list_devices() -> list:
    """TensorFlow's physical devices (listing them starts its device platforms)."""
    import tensorflow as tf

    return tf.config.list_physical_devices()


def start_generator_dataset() -> None:
    """Run a one-element ``tf.data.Dataset.from_generator`` dataset to its end.

    TensorFlow makes its process-wide malloc setting as the first such dataset
    of the process starts (see :mod:`skmood._malloc`); this makes it happen now.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_generator(
        lambda: iter((0,)), output_signature=tf.TensorSpec((), tf.int32))
    for _ in dataset:
        pass


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and the backend's global generators."""
    keras.utils.set_random_seed(int(seed))


def _build_and_compile(meta, compile_kwargs, *, build_fn, build_kwargs,
                       dtype_policy="float32"):
    """scikeras model callable: build with ``build_fn`` and compile if needed.

    The network is built under the Keras dtype policy ``dtype_policy`` (its
    layers keep it; Keras' global policy is restored afterwards), and a
    ``"mixed_float16"`` network gets a loss-scaled optimizer from Keras'
    ``compile``. A module-level function (bound with
    :func:`functools.partial`) so that the scikeras wrapper holding it stays
    picklable.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy)
    try:
        model = build_fn(**build_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"HappySadClassifier: the model builder must return a keras.Model, got "
            f"{type(model).__name__}."
        )
    if not model.compiled:
        kwargs = dict(compile_kwargs)
        if model.output_shape[-1] == 2:  # two softmax units instead of one sigmoid
            kwargs["loss"] = "sparse_categorical_crossentropy"
        model.compile(**kwargs)
    return model


def make_keras_classifier(
    build_fn,
    build_kwargs: dict,
    *,
    learning_rate,
    random_state: int | None,
    X_probe,
    y_probe,
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    jit_compile: bool = False,
    dtype_policy: str = "float32",
) -> KerasClassifier:
    """Create a scikeras ``KerasClassifier`` whose model is built and compiled.

    scikeras builds the model (routing ``optimizer__*`` into an Adam, or with
    ``weight_decay`` an AdamW, optimizer and ``loss__*`` into the binary
    cross-entropy, and seeding the build with ``random_state``); skmood then
    trains it on its own streaming data, which scikeras' array-only ``fit``
    cannot take. ``learning_rate`` is a float or a Keras schedule (see
    :func:`learning_rate`). ``X_probe``/``y_probe`` are a tiny sample used only
    to size the model. ``dtype_policy``: the Keras dtype policy the network is
    built under (see :func:`_build_and_compile`).
    """
    optimizer = {"optimizer": "adam"}
    if weight_decay:
        optimizer = {"optimizer": keras.optimizers.AdamW,
                     "optimizer__weight_decay": float(weight_decay)}
    loss = {"loss": "binary_crossentropy"}
    if label_smoothing:
        loss = {"loss": keras.losses.BinaryCrossentropy,
                "loss__label_smoothing": float(label_smoothing)}
    wrapper = KerasClassifier(
        model=functools.partial(_build_and_compile, build_fn=build_fn, build_kwargs=build_kwargs,
                                dtype_policy=dtype_policy),
        **loss,
        **optimizer,
        optimizer__learning_rate=learning_rate,
        metrics=["accuracy"],
        random_state=random_state,
        verbose=0,
    )
    if random_state is not None:
        _read_determinism_setting()  # before scikeras' seeded build asks
    wrapper = wrapper.initialize(X_probe, y_probe)
    if jit_compile:
        wrapper.model_.jit_compile = True
    return wrapper


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on."""
    # TensorFlow 2.21 exports enable_op_determinism but not this question; Keras
    # and scikeras import it from the same private module.
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


@functools.cache
def _read_determinism_setting() -> bool:
    """Have TensorFlow read ``TF_DETERMINISTIC_OPS`` now, once per process.

    scikeras' seeded build sets ``TF_DETERMINISTIC_OPS=1``, asks TensorFlow
    whether op determinism is on, switches it on, and afterwards switches it
    off only if it was off. TensorFlow reads that variable once, at the
    process's first such question: were that scikeras' question, the answer
    would be "on", and op determinism would stay on for the rest of the
    process (slower ops; Keras then refuses ``jit_compile``). Asked first,
    under the user's environment, TensorFlow answers with the user's setting,
    which scikeras then restores.
    """
    return op_determinism_enabled()


class EpochLogger(keras.callbacks.Callback):
    """Log one line per epoch to the ``skmood`` logger (shown by the CLI).

    The records carry the attribute ``skmood_epoch_line`` (True), so that a
    progress bar showing the same metrics can hold them back
    (:func:`skmood._progress.training_bar`).
    """

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        logger.info("epoch %d/%d: %s", epoch + 1, self.epochs, metrics,
                    extra={"skmood_epoch_line": True})


class KerasProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' own per-batch progress bar, as ``verbose=1`` draws it, whatever ``verbose`` is.

    For the command line, which shows it on a terminal without changing the
    estimator's ``verbose`` (a parameter saved with the model).
    """

    def set_params(self, params):
        super().set_params({**params, "verbose": 1})


def epoch_end_callback(on_epoch_end: Callable[[int, dict | None], None]
                       ) -> keras.callbacks.Callback:
    """A Keras callback calling ``on_epoch_end(epoch, logs)`` after every epoch."""
    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def early_stopping(patience: int) -> keras.callbacks.Callback:
    """Stop when ``val_loss`` has not improved for ``patience`` epochs; keep the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )


def wrap_fitted_model(model, *, X_probe, y_probe) -> KerasClassifier:
    """A scikeras wrapper holding an already trained ``model`` (as loaded from disk)."""
    return KerasClassifier(model=model, verbose=0).initialize(X_probe, y_probe)


def learning_rate(value: float, schedule: str, epochs: int, steps_per_epoch: int):
    """The optimizer's learning rate: ``value``, or a schedule peaking at ``value``.

    ``"cosine"``: linear warm-up from 0 over the first epoch (when there are at
    least two), then a cosine decay to 1 % of ``value`` at the end of the last one.
    """
    if schedule == "constant":
        return float(value)
    warmup = steps_per_epoch if epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else float(value),
        decay_steps=max(1, (epochs * steps_per_epoch) - warmup),
        alpha=0.01,
        warmup_target=float(value) if warmup else None,
        warmup_steps=warmup,
    )


def set_learning_rate(model, learning_rate) -> None:
    """Set the compiled optimizer's learning rate or schedule (for a warm start).

    A float replaces a float in place, keeping the optimizer's state; a
    schedule, or a float replacing a schedule, needs a new optimizer
    (:func:`recompile`), since Keras fixes that choice when it builds one.
    """
    # Optimizer.learning_rate is the assignable variable of a float rate, and
    # the current value (a tensor) of a schedule (Keras 3; tests pin it).
    optimizer = _unscaled(model.optimizer)
    current = optimizer.learning_rate
    if (isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
            or not isinstance(current, keras.Variable)):
        recompile(model, learning_rate)
    else:
        current.assign(float(learning_rate))


def _unscaled(optimizer):
    """The optimizer inside a ``LossScaleOptimizer`` (``"mixed_float16"``), else itself."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def recompile(model, learning_rate) -> None:
    """Compile ``model`` again with a new optimizer at ``learning_rate``.

    Needed after changing which layers are trainable (Keras gathers them when
    it builds the training step). The loss, metrics and every other compile
    setting, and the optimizer's class and configuration but its learning
    rate, come from the model's current compile configuration; the
    optimizer's state (e.g. Adam's moments) starts afresh. A
    ``"mixed_float16"`` network's loss scaling is added again by ``compile``.
    """
    config = dict(model.get_compile_config())
    optimizer = _unscaled(keras.optimizers.get(config["optimizer"]))
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        learning_rate = float(learning_rate)
    optimizer_config = {**optimizer.get_config(), "learning_rate": learning_rate}
    config["optimizer"] = keras.optimizers.serialize(
        type(optimizer).from_config(optimizer_config))
    model.compile_from_config(config)


def export_inference(model, directory: str) -> None:
    """Save ``model(x, training=False)`` as a SavedModel in ``directory`` (for LiteRT).

    Not ``model.export``: that traces the random augmentation layers (and
    dropout) in training mode, whose random ops LiteRT cannot run, and prints
    the signatures.
    """
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image")
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=[spec])
    archive.write_out(directory, verbose=False)


def _pixels_spec(name: str):
    """uint8 RGB images of any number, height and width (an exported model's input)."""
    import tensorflow as tf

    return tf.TensorSpec((None, None, None, 3), tf.uint8, name=name)


def export_function(model, function, directory: str, *, input_name: str) -> None:
    """Save ``function`` (uint8 RGB pixels -> dict of outputs) as a SavedModel.

    Its one signature, ``serving_default``, takes ``input_name``; ``model``
    (the network ``function`` calls) is tracked so that its weights are saved.
    For :func:`skmood.export` (SavedModel and LiteRT).
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", function,
                         input_signature=[_pixels_spec(input_name)])
    archive.write_out(directory, verbose=False)


def onnx_from_function(function, *, input_name: str, opset: int) -> bytes:
    """``function`` (uint8 RGB pixels -> dict of outputs) converted to ONNX by tf2onnx.

    The converter Keras' own ``Model.export(format="onnx")`` uses on the
    TensorFlow backend, here on a function holding the preprocessing too.
    """
    import tensorflow as tf

    try:
        import tf2onnx
    except ImportError as exc:
        raise ImportError("skmood.export(format='onnx') needs tf2onnx and onnx: pip install "
                          "'skmood[export]'.") from exc
    model, _ = tf2onnx.convert.from_function(tf.function(function),
                                             input_signature=[_pixels_spec(input_name)],
                                             opset=opset)
    return model.SerializeToString()


def network_to_bytes(model, include_optimizer: bool = True) -> bytes:
    """The network in Keras' native ``.keras`` format (no pickle), as bytes.

    Without ``include_optimizer`` a copy of the network is saved with a fresh
    optimizer of the same configuration: no moment estimates (for Adam,
    twice the weights' size), so the file is about a third as large.
    """
    import tempfile

    if not include_optimizer and model.optimizer is not None:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        copy.compile_from_config(model.get_compile_config())
        model = copy

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def network_from_bytes(data: bytes):
    """Read :func:`network_to_bytes`' output with Keras' safe mode on (no lambdas, no code)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        return keras.saving.load_model(path, compile=True, safe_mode=True)


def gradient_function(forward: Callable, input_shape) -> Callable:
    """``forward(x, index) -> (features, scores)`` with the gradient of its scores.

    Returns ``call(x, index) -> (features, d sum(scores) / d features)``, NumPy
    in and out: ``features`` is an intermediate tensor of the forward pass (a
    feature map), recorded by TensorFlow's gradient tape, and ``index`` one
    int per image. The first call runs eagerly; later ones run a graph traced
    once for any batch size (tracing costs a few eager calls, and each call
    after it is many times faster on a large network).
    """
    import tensorflow as tf

    def run(x, index):
        with tf.GradientTape() as tape:
            features, scores = forward(x, index)
            total = tf.reduce_sum(scores)
        return features, tape.gradient(total, features)

    graph = tf.function(run, input_signature=[tf.TensorSpec((None, *input_shape), tf.float32),
                                              tf.TensorSpec((None,), tf.int32)])
    calls = []

    def call(x, index):
        fn = graph if calls else run
        calls.append(1)
        features, grads = fn(tf.constant(x, tf.float32), tf.constant(index, tf.int32))
        return features.numpy(), grads.numpy()

    return call


def print_msg(message: str) -> None:
    """Print ``message`` where Keras prints its progress (its ``verbose`` output)."""
    from keras.src.utils import io_utils

    io_utils.print_msg(message)


def keras_version() -> str:
    return keras.__version__


# ------------------------------------------------ tf.distribute (skmood._distribute)
def mirrored_strategy():
    """A ``MirroredStrategy`` over every GPU, or over every logical CPU without GPUs."""
    import tensorflow as tf

    devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    return tf.distribute.MirroredStrategy(
        devices=devices or [d.name for d in tf.config.list_logical_devices("CPU")])


def multi_worker_strategy():
    """A ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``."""
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def is_strategy(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.distribute.Strategy)


def network_strategy(model):
    """The strategy ``model`` was built under, or None."""
    # Keras 3 (3.0-3.15) keeps it in this private attribute of its TensorFlow trainer;
    # the public `distribute_strategy` falls back to the current one instead.
    return getattr(model, "_distribute_strategy", None)


def replicas(model) -> int:
    """How many replicas run ``model``'s steps (1 when built under no strategy)."""
    strategy = network_strategy(model)
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def predict_batch(model, x):
    """``model``'s outputs on one batch, split between its strategy's replicas."""
    return model.predict(x, batch_size=len(x), verbose=0)


def set_thread_pools(intra_op: int, inter_op: int) -> bool:
    """Size TensorFlow's thread pools; False when its runtime has started already."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError:  # "cannot be modified after initialization"
        return False
    return True
