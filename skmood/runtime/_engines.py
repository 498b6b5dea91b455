"""What runs an exported file: onnxruntime or LiteRT (private).

Each engine takes the bytes of a checked file (:mod:`skmood._export_format`)
and gives ``predict_on_batch(uint8 RGB pixels) -> probabilities``. Importing
this module imports neither engine: each is imported when a file of its
format is opened, so a lean install needs only the one it uses.
"""

from __future__ import annotations

import numpy as np

from .._export_format import INPUT_NAME
from .._litert import InterpreterRunner, _cpu_count
from ..exceptions import ModelFileError

__all__ = ["LiteRTEngine", "OnnxEngine", "open_engine"]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else exc!r}"


class OnnxEngine:
    """An ONNX model on onnxruntime's CPU execution provider."""

    name = "onnxruntime"

    def __init__(self, data: bytes, path: str, num_threads: int | None = None):
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError(f"skmood.runtime: {path!r} is an ONNX model, which needs "
                              "onnxruntime: pip install onnxruntime.") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(num_threads or _cpu_count())
        options.log_severity_level = 3  # errors only
        try:
            self._session = onnxruntime.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types
            raise ModelFileError(f"skmood.runtime: onnxruntime cannot load {path!r} "
                                 f"({_reason(exc)}).") from exc

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {INPUT_NAME: np.ascontiguousarray(x, np.uint8)})[0]


class LiteRTEngine:
    """A LiteRT flatbuffer on ai-edge-litert's interpreter (XNNPACK CPU kernels)."""

    name = "litert"

    def __init__(self, data: bytes, path: str, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ImportError(f"skmood.runtime: {path!r} is a LiteRT model, which needs "
                              "ai-edge-litert: pip install ai-edge-litert.") from exc
        try:
            interpreter = Interpreter(model_content=data,
                                      num_threads=int(num_threads or _cpu_count()))
            self._runner = InterpreterRunner(interpreter)
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError
            raise ModelFileError(f"skmood.runtime: LiteRT cannot load {path!r} "
                                 f"({_reason(exc)}).") from exc

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        return self._runner.predict_on_batch(x)


def open_engine(kind: str, data: bytes, path: str, num_threads: int | None = None):
    """The engine of an exported file of format ``kind`` (``"onnx"`` or ``"litert"``)."""
    if kind == "onnx":
        return OnnxEngine(data, path, num_threads)
    if kind == "litert":
        return LiteRTEngine(data, path, num_threads)
    raise ModelFileError(
        f"skmood.runtime: {path!r} is a TensorFlow SavedModel, which needs TensorFlow: load it "
        "with tf.saved_model.load(path).signatures['serving_default'], or export to "
        "format='onnx' or 'litert' for the runtime.")
