"""Export a fitted model to ONNX, LiteRT or a TensorFlow SavedModel.

:func:`export` writes the whole inference path after decoding (colour
conversion, resize, normalisation, the network, flip averaging; see
:mod:`skmood._export_graph`) into one file, with skmood's metadata inside it
(:mod:`skmood._export_format`). The files run anywhere onnxruntime or LiteRT
runs, and in Python on :mod:`skmood.runtime`, without TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any

from . import _export_format as fmt
from ._predict import final_estimator, pipeline_steps
from ._validation import python_scalar
from ._version import __version__
from .exceptions import NotFittedError

__all__ = ["export"]

_NAME = "skmood.export"
#: ONNX operator set of the exported graphs (onnxruntime 1.17+ runs it).
ONNX_OPSET = 17


def _checked_model(model: Any) -> Any:
    """The fitted classifier of ``model``, whose steps must be those it does itself.

    A pipeline may hold, before the classifier, an :class:`~skmood.ImageLoader`
    in the network's colour mode, an :class:`~skmood.ImageResizer` to the
    network's size and a :class:`~skmood.PixelNormalizer` by 255: the
    preprocessing the exported graph does.
    """
    from ._classifier import HappySadClassifier

    clf = final_estimator(model)
    if not isinstance(clf, HappySadClassifier):
        raise TypeError(f"{_NAME}: expected a fitted HappySadClassifier or a Pipeline ending in "
                        f"one, got {type(model).__name__}.")
    if not hasattr(clf, "model_"):
        raise NotFittedError(f"{_NAME}: the HappySadClassifier is not fitted yet; call fit "
                             "first.")
    color_mode = "rgb" if clf.input_shape_[2] == 3 else "grayscale"
    allowed = {"ImageLoader": ("color_mode", color_mode),
               "ImageResizer": ("image_size", clf.input_shape_[:2]),
               "PixelNormalizer": ("max_value", 255.0)}
    for name, step in pipeline_steps(model):
        kind, params = type(step).__name__, step.get_params(deep=False)
        if kind in allowed:
            key, expected = allowed[kind]
            value = params[key]
            if (tuple(value) if isinstance(value, (list, tuple)) else value) == expected:
                continue
        raise TypeError(
            f"{_NAME}: cannot export the pipeline step {name!r} ({kind}{params}): an exported "
            "model holds the classifier's own preprocessing only, so a pipeline may have an "
            f"ImageLoader(color_mode={color_mode!r}), an ImageResizer(image_size="
            f"{clf.input_shape_[:2]}) and a PixelNormalizer(max_value=255) before it.")
    return clf


def _metadata(model: Any, clf: Any, format: str) -> dict:
    """What the exported file says about itself (see :mod:`skmood._export_format`)."""
    from . import _keras_backend as backend
    from ._persistence import _jsonable_params
    from ._predict import step_names

    classes = [python_scalar(c) for c in clf.classes_]
    height, width, channels = clf.input_shape_
    return {
        "format_version": fmt.FORMAT_VERSION,
        "export_format": format,
        "skmood_version": __version__,
        "keras_version": backend.keras_version(),
        "classes": classes,
        "input": {"name": fmt.INPUT_NAME, "dtype": "uint8", "shape": [None, None, None, 3],
                  "layout": "NHWC", "color": "RGB",
                  "values": "0-255: decoded pixels of any size (EXIF orientation applied, "
                            "transparency composited onto white)"},
        "output": {"name": fmt.OUTPUT_NAME, "dtype": "float32",
                   "shape": [None, len(classes)], "columns": classes},
        "network_input": {"height": height, "width": width, "channels": channels},
        "color_mode": "rgb" if channels == 3 else "grayscale",
        "in_graph": ["grayscale conversion (Pillow's)" if channels == 1 else "none",
                     f"bilinear resize to {height}x{width} (Pillow's)", "divide by 255",
                     "network", *(["flip averaging"] if clf.flip_averaging else [])],
        "flip_averaging": bool(clf.flip_averaging),
        "face_detector": clf.face_detector,
        "face_margin": float(clf.face_margin),
        "on_error": clf.on_error,
        "pipeline": step_names(model),
        "params": _jsonable_params(clf)[0],
        "n_iter": int(getattr(clf, "n_iter_", 0)),
    }


def _check_path(path: str, format: str) -> None:
    suffix = fmt.SUFFIXES.get(format)
    if suffix is not None and not path.lower().endswith(suffix):
        raise ValueError(f"{_NAME}: format={format!r} writes a {suffix} file; got the path "
                         f"{path!r}. Name it ...{suffix}.")
    if suffix is not None and os.path.isdir(path):
        raise IsADirectoryError(f"{_NAME}: {path!r} is a folder; expected a file path.")
    if suffix is None and os.path.exists(path) and fmt.sniff(path) != "savedmodel":
        raise FileExistsError(f"{_NAME}: {path!r} exists and is not an exported SavedModel; "
                              "expected a new folder (or an earlier export to replace).")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{_NAME}: the folder {folder!r} does not exist.")


def export(model, path: str | os.PathLike, *, format: str = "onnx") -> None:
    """Export a fitted classifier for inference without TensorFlow.

    The file holds everything the classifier does after decoding an image:
    RGB to grayscale when the network is grayscale, Pillow's bilinear resize
    to the network's input size, division by 255, the network, and flip
    averaging when the classifier uses it. It takes ``uint8`` RGB pixels of
    any size (input ``"pixels"``, shape ``(n, height, width, 3)``) and gives
    the probability of each class (output ``"probabilities"``, shape
    ``(n, 2)``, columns in the order of ``classes_``). Its metadata (class
    names, this input contract, skmood's version, the export format version,
    a SHA-256 checksum) is stored inside the file. Load it with
    :func:`skmood.runtime.load`, or with onnxruntime or LiteRT in any language.

    Parameters
    ----------
    model : HappySadClassifier or Pipeline
        Fitted. A Pipeline may hold an :class:`ImageLoader` in the
        classifier's colour mode, an :class:`ImageResizer` to its input size
        and a :class:`PixelNormalizer` by 255 before the classifier.
    path : str or os.PathLike
        Where to write: a ``.onnx`` file, a ``.tflite`` file (LiteRT), or a
        folder (SavedModel). Files are written to a temporary file first and
        moved into place.
    format : {"onnx", "litert", "litert-int8", "savedmodel"}, default="onnx"
        ``"onnx"``: ONNX (opset 17) through tf2onnx, checked with
        ``onnx.checker``. ``"litert"``: a LiteRT (TensorFlow Lite)
        flatbuffer. ``"litert-int8"``: the same with int8 weights
        (dynamic-range quantization): about a quarter of the size, faster,
        probabilities close to, not equal to, the float model's.
        ``"savedmodel"``: a TensorFlow SavedModel folder (signature
        ``serving_default``) for TensorFlow Serving or other converters;
        :mod:`skmood.runtime` does not run it.

    Raises
    ------
    NotFittedError
        If the classifier is not fitted.
    TypeError
        If ``model`` is not a skmood classifier, or a pipeline with steps an
        exported file cannot hold.
    ValueError
        If ``format`` is unknown or ``path`` has the wrong extension.

    See Also
    --------
    skmood.runtime.load : Predict with an exported file, without TensorFlow.
    save : The full model (trainable, for skmood itself).

    Notes
    -----
    A network trained in mixed precision (``precision="mixed_bfloat16"``,
    as the pretrained model was) is exported as its float32 copy, as
    ``inference="litert"`` runs it: its probabilities differ from Keras'
    16-bit ones by about the 16-bit rounding. Float32 networks export to
    within 1e-4 of ``predict_proba``.

    Face detection is not in the file: its metadata names the classifier's
    ``face_detector``, and :mod:`skmood.runtime` crops faces with OpenCV's
    Haar cascade before running the file (MTCNN needs TensorFlow).
    Exporting needs the full install (TensorFlow) and, for ONNX, the
    ``export`` extra (``pip install 'skmood[export]'``).

    Examples
    --------
    >>> import os, tempfile
    >>> import skmood
    >>> X, y = skmood.make_faces(20, image_size=(16, 16), random_state=0)
    >>> clf = skmood.HappySadClassifier(image_size=(16, 16), conv_filters=(4,),
    ...                                 dense_units=4, epochs=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.tflite")
    >>> skmood.export(clf, path, format="litert")
    >>> import skmood.runtime
    >>> exported = skmood.runtime.load(path)
    >>> abs(exported.predict_proba(X) - clf.predict_proba(X)).max() < 1e-4
    np.True_
    """
    _export_files(model, {format: path})


def _export_files(model, paths: dict[str, str | os.PathLike]) -> None:
    """:func:`export` to several formats at once: ``{format: path}``.

    The serving function is traced once, and the LiteRT files share one
    SavedModel (used by the tests and ``benchmarks/bench_runtime.py``).
    """
    for format, path in paths.items():
        if format not in fmt.EXPORT_FORMATS:
            *others, last = map(repr, fmt.EXPORT_FORMATS)
            raise ValueError(f"{_NAME}: format={format!r}; expected {', '.join(others)} or "
                             f"{last}.")
        _check_path(os.fspath(path), format)
    paths = {format: os.fspath(path) for format, path in paths.items()}
    clf = _checked_model(model)

    from . import _keras_backend as backend
    from . import _litert
    from ._export_graph import serving_function
    from ._persistence import _atomic_write

    network = _litert.float32_network(clf.model_)
    serve = serving_function(network, backend.keras, input_shape=clf.input_shape_,
                             flip_averaging=bool(clf.flip_averaging))
    if "onnx" in paths:
        data = fmt.add_onnx_metadata(
            backend.onnx_from_function(serve, input_name=fmt.INPUT_NAME, opset=ONNX_OPSET),
            _metadata(model, clf, "onnx"))
        import onnx

        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
        _atomic_write(paths["onnx"], lambda fh: fh.write(data))
    if "savedmodel" in paths:
        _write_savedmodel(network, serve, paths["savedmodel"],
                          _metadata(model, clf, "savedmodel"), backend)
    litert = [format for format in paths if format.startswith("litert")]
    if litert:
        with tempfile.TemporaryDirectory(prefix="skmood-export-") as tmp:
            saved = paths.get("savedmodel")  # written already: converted from there
            if saved is None:
                saved = tmp
                backend.export_function(network, serve, tmp, input_name=fmt.INPUT_NAME)
            for format in litert:
                flatbuffer = _litert.convert_saved_model(saved, quantize=format == "litert-int8")
                data = fmt.add_litert_metadata(flatbuffer, _metadata(model, clf, format))
                _atomic_write(paths[format], lambda fh, data=data: fh.write(data))


def _write_savedmodel(network, serve, path: str, meta: dict, backend) -> None:
    """Write the SavedModel beside ``path``, then move it into place (replacing an old export)."""
    parent = os.path.dirname(os.path.abspath(path))
    partial = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".part")
    old = None
    try:
        shutil.rmtree(partial)  # the exporter creates the folder itself
        backend.export_function(network, serve, partial, input_name=fmt.INPUT_NAME)
        fmt.add_savedmodel_metadata(partial, meta)
        if os.path.exists(path):
            old = partial + ".old"
            os.replace(path, old)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        if old is not None and not os.path.exists(path):
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
