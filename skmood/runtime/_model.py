"""ExportedModel: predict with an exported file, the way the classifier does (private)."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from .._batches import predict_batches, resized_batch
from .._confidence import labels_from_proba
from .._export_format import read_metadata
from .._face_boxes import FaceBoxes
from .._faces import DETECTORS, FaceFinder
from .._validation import IMAGES, PATHS, PIXELS, check_images, describe_failures
from ..exceptions import ModelFileError, SkmoodWarning
from ._engines import open_engine

__all__ = ["ExportedModel", "load"]

_NAME = "ExportedModel"
#: Images per call of the engine (the last batch of a call may be smaller).
BATCH_SIZE = 64


class _Batches:
    """The uint8 RGB batches of one call, at the network's size (for ``predict_batches``)."""

    def __init__(self, model: ExportedModel, data, faces, failures):
        self.model, self.data, self.faces, self.failures = model, data, faces, failures
        self.workers = 2 if data.kind == PATHS else 1  # decode while the engine runs
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return -(-len(self.data) // BATCH_SIZE)

    def __getitem__(self, index: int):
        indices = np.arange(index * BATCH_SIZE, min(len(self.data), (index + 1) * BATCH_SIZE))
        failures = None if self.failures is None else {}
        x = resized_batch(self.data, indices, self.model.input_shape_[:2], self.model.color_mode,
                          failures, faces=self.faces)
        if failures:
            with self._lock:  # batches are decoded by several threads
                self.failures.update(failures)
        if x.shape[-1] == 1:  # the file takes RGB; equal channels give back the same grey
            x = np.repeat(x, 3, axis=-1)
        return (x,)


class ExportedModel:
    """A model exported by :func:`skmood.export`, run by onnxruntime or LiteRT.

    Made by :func:`load`. It predicts like the
    :class:`~skmood.HappySadClassifier` it was exported from: same input
    (file paths, or uint8 pixels), same face cropping, same probabilities
    (to within 1e-4 for float files of float32 networks; a mixed-precision
    network is exported as its float32 copy), columns in the order of
    ``classes_``.
    Images are decoded, cropped to their face and resized with skmood's own
    functions (Pillow) before the file's graph, which then converts the
    colour, normalises and runs the network.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The class labels; ``predict_proba`` columns follow this order.
    input_shape_ : tuple of (int, int, int)
        ``(height, width, channels)`` of the network.
    color_mode : {"rgb", "grayscale"}
        How image files are decoded for this model.
    face_detector : {"haar"} or None
        The face detector run before the network (``None``: whole images).
    face_margin : float
        Space added around each face, as a fraction of its size.
    flip_averaging : bool
        Whether the file averages each image with its mirror image.
    on_error : {"raise", "skip"}
        What an unreadable image file does, as the classifier's ``on_error``.
    n_iter_ : int
        Epochs the exported network was trained for.
    format : {"onnx", "litert"}
        The file's format (``metadata["export_format"]`` tells int8 files).
    engine : {"onnxruntime", "litert"}
        What runs the file.
    metadata : dict
        Everything the file says about itself.
    pipeline : list of str
        Class names of the exported model's steps, the classifier last.
    path : str
        The file.
    """

    def __init__(self, path: str, kind: str, metadata: dict, engine, *,
                 face_detector: str | None, on_error: str) -> None:
        self.path = path
        self.format = kind
        self.metadata = metadata
        self.engine = engine.name
        self._engine = engine
        classes = metadata["classes"]
        self.classes_ = np.array(classes, dtype=object if isinstance(classes[0], str) else None)
        shape = metadata["network_input"]
        self.input_shape_ = (int(shape["height"]), int(shape["width"]), int(shape["channels"]))
        self.color_mode = metadata["color_mode"]
        self.face_detector = face_detector
        self.face_margin = float(metadata["face_margin"])
        self.flip_averaging = bool(metadata["flip_averaging"])
        self.on_error = on_error
        self.n_iter_ = int(metadata.get("n_iter", 0))
        self.pipeline = list(metadata.get("pipeline", ["HappySadClassifier"]))

    def __repr__(self) -> str:
        return (f"ExportedModel({self.path!r}, format={self.metadata['export_format']!r}, "
                f"classes={self.classes_.tolist()!r}, input_shape={self.input_shape_!r})")

    def get_params(self, deep: bool = False) -> dict:
        """The exported classifier's parameters (as stored in the file)."""
        return dict(self.metadata.get("params", {}))

    def face_finder(self, detector: str | None = None) -> FaceFinder:
        """The face detector and crop for ``detector`` (``None``: this model's, else Haar)."""
        return FaceFinder(detector=_runtime_detector(detector, None) or self.face_detector
                          or "haar", margin=self.face_margin if self.face_detector else 0.2)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            Image file paths, a uint8 pixel array (any height and width, 1 or
            3 channels), or a list of uint8 images of their own sizes.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``; rows sum to 1. With
            ``on_error="skip"``, rows of unreadable files are NaN.
        """
        return self._predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each image (``None`` for unreadable files when skipped).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1), or ndarray of \
shape (n_samples, height, width, channels)
            As :meth:`predict_proba` takes.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return labels_from_proba(self._predict_proba(X), self.classes_)

    def _predict_proba(self, X, boxes=None, *, stacklevel: int = 4) -> np.ndarray:
        """:meth:`predict_proba` with the face ``boxes`` already known if given."""
        data = check_images(X, _NAME)
        floats = (data.kind == PIXELS and data.data.dtype != np.uint8) or (
            data.kind == IMAGES and any(image.dtype != np.uint8 for image in data.data))
        if floats:
            raise TypeError(f"{_NAME}: exported models take uint8 pixels (0-255, as decoded), "
                            "got float pixels; pass the image files, or uint8 arrays "
                            "(np.rint(X * 255).astype(np.uint8) for [0, 1] floats).")
        faces = None
        if self.face_detector is not None:
            known = None if boxes is None else dict(enumerate(boxes))
            faces = FaceBoxes(self.face_finder(), known)
        failures = {} if self.on_error == "skip" else None
        raw = predict_batches(self._engine.predict_on_batch, _Batches(self, data, faces,
                                                                       failures))
        proba = np.asarray(raw, dtype=np.float64)
        if proba.shape != (len(data), len(self.classes_)):  # never a shifted output
            raise RuntimeError(f"{_NAME}: the engine returned {proba.shape} probabilities for "
                               f"{len(data)} images.")
        if failures:
            proba[sorted(failures)] = np.nan
            warnings.warn(f"{_NAME}: {describe_failures(failures, len(data))}; their rows are "
                          "NaN (on_error='skip').", SkmoodWarning, stacklevel=stacklevel - 1)
        return proba


def _runtime_detector(detector: str | None, exported: str | None) -> str | None:
    """The detector the runtime runs: Haar; MTCNN (TensorFlow) only by substitution."""
    if detector is not None and detector not in DETECTORS:
        raise ValueError(f"skmood.runtime: detector={detector!r}; expected 'haar' or None.")
    if detector == "mtcnn":
        raise ValueError("skmood.runtime: detector='mtcnn' needs TensorFlow (MTCNN is a Keras "
                         "network); the runtime finds faces with detector='haar' (OpenCV). "
                         "Use the .skmood model with skmood.load for MTCNN.")
    if detector is None and exported == "mtcnn":
        warnings.warn("skmood.runtime: the model was trained on MTCNN face crops, and MTCNN "
                      "needs TensorFlow; finding faces with OpenCV's Haar cascade instead "
                      "(fewer faces found in tilted or turned heads). Pass detector='haar' to "
                      "accept this without a warning.", SkmoodWarning, stacklevel=3)
        return "haar"
    return detector or exported


def load(path, *, detector: str | None = None, on_error: str | None = None,
         num_threads: int | None = None) -> ExportedModel:
    """Load a model exported by :func:`skmood.export` (``.onnx`` or ``.tflite``).

    The file's metadata is checked first (format, version, SHA-256 checksum),
    then onnxruntime (ONNX) or LiteRT (``.tflite``) loads it. Needs numpy,
    Pillow and the engine of the file's format; OpenCV only for models that
    crop faces. Neither TensorFlow nor scikit-learn is imported.

    Parameters
    ----------
    path : str or os.PathLike
        The exported file.
    detector : {"haar"} or None, default=None
        Face detector of a model trained with ``face_detector`` set.
        ``None``: the model's own; a model trained on MTCNN crops gets the
        Haar cascade instead, with a :class:`~skmood.SkmoodWarning` (MTCNN
        needs TensorFlow); ``"haar"`` chooses it without the warning.
    on_error : {"raise", "skip"} or None, default=None
        What an unreadable image file does; ``None``: the exported
        classifier's ``on_error``.
    num_threads : int or None, default=None
        Threads of the engine; ``None`` uses every CPU this process may use.

    Returns
    -------
    model : ExportedModel
        With ``predict``, ``predict_proba`` and ``classes_``.

    Raises
    ------
    ModelFileError
        If the file is not an exported skmood model, is corrupt or truncated
        (checksum mismatch), was exported in a newer export format, or is a
        SavedModel (which needs TensorFlow).
    FileNotFoundError
        If there is no such file.
    ImportError
        If the engine of the file's format is not installed (the message
        gives the pip command).

    Examples
    --------
    >>> import skmood.runtime  # doctest: +SKIP
    >>> model = skmood.runtime.load("happy_sad.onnx")  # doctest: +SKIP
    >>> model.predict(["photo.jpg"])  # doctest: +SKIP
    array(['happy'], dtype=object)
    """
    path = os.fspath(path)
    if on_error not in (None, "raise", "skip"):
        raise ValueError(f"skmood.runtime: on_error={on_error!r}; expected 'raise', 'skip' or "
                         "None.")
    kind, meta, data = read_metadata(path)
    if kind == "savedmodel":
        open_engine(kind, b"", path)  # raises the ModelFileError saying what to do instead
    try:
        exported_detector = meta["face_detector"]
        face_detector = _runtime_detector(detector, exported_detector)
        if exported_detector is None:
            face_detector = None  # whole images; ``detector`` is for predict_faces
        engine = open_engine(kind, data, path, num_threads)
        return ExportedModel(path, kind, meta, engine, face_detector=face_detector,
                             on_error=on_error or meta.get("on_error", "raise"))
    except KeyError as exc:
        raise ModelFileError(f"skmood.runtime: {path!r} lacks {exc} in its skmood "
                             "metadata.") from exc
