"""Predict with exported models, without TensorFlow or scikit-learn.

:func:`skmood.export` writes a fitted classifier to an ONNX or LiteRT file
holding its whole inference after decoding. This module runs such files in
Python with only numpy, Pillow and the file's engine (``onnxruntime`` for
``.onnx``, ``ai-edge-litert`` for ``.tflite``) installed, plus OpenCV for
models that crop faces: importing it, loading a file and predicting never
import TensorFlow, Keras or scikit-learn (tested in a fresh interpreter).
``skmood predict`` and ``skmood serve`` use it for exported files.

Examples
--------
>>> import skmood.runtime  # doctest: +SKIP
>>> model = skmood.runtime.load("happy_sad.tflite")  # doctest: +SKIP
>>> model.predict_proba(["face.jpg"])  # doctest: +SKIP
array([[0.93, 0.07]])
"""

from ._model import ExportedModel, load

__all__ = ["ExportedModel", "load"]
