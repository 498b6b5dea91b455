"""Prediction with a fitted model on the largest face of each image.

One home for "predict with face cropping", used by the command line
(``skmood predict --crop-faces``), the server (``skmood serve``), the
Python API (:func:`predict_faces`) and the explanations of
:mod:`skmood._explain`: decode each image in the colour mode the
model reads, find the largest face (the detectors of :class:`~skmood.FaceCropper`),
crop it (the whole image when there is none), run the model's own preprocessing
steps after its :class:`~skmood.ImageLoader`, and finally the classifier.

The model is a fitted :class:`~skmood.HappySadClassifier`, a pipeline ending in
one, or an exported model of :mod:`skmood.runtime`. This module imports
neither scikit-learn nor TensorFlow: a scikit-learn pipeline or a Keras
classifier can exist only once their modules are imported, so they are
recognised through ``sys.modules``, and exported models run without either.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._faces import FaceFinder
from ._image import read_image, resize_image
from .exceptions import ImageReadError, SkmoodWarning

__all__ = ["FacePredictions", "FacePredictor", "final_estimator", "pipeline_steps",
           "predict_faces", "step_names", "warn_unreadable"]

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
#: Files decoded, cropped and classified together by ``predict_proba_files``.
FILES_PER_CHUNK = 64


def _instance_of(obj: Any, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)``, without importing ``module`` (False if not loaded)."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, name))


def pipeline_steps(model: Any) -> list[tuple[str, Any]]:
    """The ``(name, step)`` pairs before a scikit-learn pipeline's last step; ``[]`` otherwise."""
    if _instance_of(model, "sklearn.pipeline", "Pipeline") and model.steps:
        return list(model.steps[:-1])
    return []


def final_estimator(model: Any) -> Any:
    """The classifier itself, or the last step of a pipeline."""
    if _instance_of(model, "sklearn.pipeline", "Pipeline") and model.steps:
        return model.steps[-1][1]
    return model


def step_names(model: Any) -> list[str]:
    """Class names of a model's steps, the classifier last (an exported model: the original's)."""
    final = final_estimator(model)
    if _instance_of(final, "skmood.runtime._model", "ExportedModel"):
        return list(final.pipeline)
    return [type(step).__name__ for _, step in pipeline_steps(model)] + [type(final).__name__]


def _is_fitted_model(final: Any) -> bool:
    if _instance_of(final, "skmood._classifier", "HappySadClassifier"):
        return hasattr(final, "model_")
    return _instance_of(final, "skmood.runtime._model", "ExportedModel")


class FacePredictor:
    """A fitted model's prediction path, from decoded images, with face cropping.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline or skmood.runtime.ExportedModel
        Fitted; a Pipeline ends with a HappySadClassifier. A leading
        :class:`~skmood.ImageLoader` step gives the colour mode images are
        decoded in and is skipped (images arrive decoded).
    detector : {"haar", "mtcnn"} or None, default=None
        Face detector (those of :class:`~skmood.FaceCropper`); ``None``: the
        classifier's own ``face_detector``, else ``"haar"``. When the
        classifier crops faces itself, its ``face_margin`` is used, and the
        faces found here are handed to it (nothing is detected twice). An
        exported model picks its detector itself
        (:meth:`skmood.runtime.ExportedModel.face_finder`).

    Attributes
    ----------
    classifier : HappySadClassifier or skmood.runtime.ExportedModel
        The model's last step.
    color_mode : {"rgb", "grayscale"}
        How images must be decoded for this model.
    cropper : skmood._faces.FaceFinder
        The face detector and cropper.
    """

    def __init__(self, model: Any, *, detector: str | None = None) -> None:
        final = final_estimator(model)
        if not _is_fitted_model(final):
            raise TypeError(
                "expected a fitted HappySadClassifier, a Pipeline ending in one or an exported "
                f"model (skmood.runtime.load), got {type(model).__name__}."
            )
        steps = pipeline_steps(model)
        self.model = model
        self.classifier = final
        self.color_mode = "grayscale" if final.input_shape_[2] == 1 else "rgb"
        if steps and _instance_of(steps[0][1], "skmood.transformers", "ImageLoader"):
            self.color_mode = steps[0][1].color_mode
            steps = steps[1:]
        self.steps = [step for _, step in steps]
        #: The classifier crops faces itself (``face_detector``): give it crops
        #: and tell it not to look for faces again.
        self.in_model = final.face_detector is not None
        if _instance_of(final, "skmood.runtime._model", "ExportedModel"):
            self.cropper = final.face_finder(detector)
        else:
            margin = final.face_margin if self.in_model else FaceFinder().margin
            self.cropper = FaceFinder(detector=detector or final.face_detector or "haar",
                                      margin=float(margin))
        self._image_size = tuple(final.input_shape_[:2])

    def crop(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[Box | None]]:
        """The largest face of each decoded image (the image itself if none), and its box."""
        if not len(images):
            return [], []
        boxes = self.cropper.detect(images)
        return list(self.cropper.crop(images, boxes)), boxes

    def network_input(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The model's preprocessing steps, then the classifier's input size."""
        return self._network_input(images)

    def _network_input(self, images: Sequence[np.ndarray], regions: list | None = None
                       ) -> np.ndarray:
        """:meth:`network_input`; a :class:`~skmood.FaceCropper` step also narrows ``regions``.

        ``regions``: the part ``(x, y, width, height)`` of some original image
        that each of ``images`` shows; replaced, in place, by the part that
        each network input shows.
        """
        X: Any = images
        for step in self.steps:
            if regions is not None and _instance_of(step, "skmood._face_crop", "FaceCropper"):
                boxes = step.detect(X)
                for i, (image, box) in enumerate(zip(X, boxes)):
                    regions[i] = _within(regions[i], image.shape,
                                         step._crop_region(box, image.shape))
                X = step.crop(X, boxes)
            else:
                X = step.transform(X)
        if not (isinstance(X, np.ndarray) and X.ndim == 4):  # ImageResizer's work
            X = np.stack([resize_image(image, self._image_size) for image in X])
        return X

    def predict_network_input(self, X: np.ndarray) -> np.ndarray:
        """The classifier's probabilities for :meth:`network_input`'s output (crops)."""
        if self.in_model:  # already cropped: the whole of each image is the face
            return self.classifier._predict_proba(X, boxes=[None] * len(X))
        return self.classifier.predict_proba(X)

    def predict_proba_images(self, images: Sequence[np.ndarray], *, crop_faces: bool = True
                             ) -> tuple[np.ndarray, list[Box | None]]:
        """Class probabilities of decoded images, and the face box used for each."""
        boxes: list[Box | None] = [None] * len(images)
        if crop_faces:
            images, boxes = self.crop(images)
        if not len(images):
            return np.empty((0, len(self.classifier.classes_))), []
        return self.predict_network_input(self.network_input(images)), boxes

    def crop_all(self, images: Sequence[np.ndarray], *, whole_if_none: bool = False
                 ) -> tuple[list[np.ndarray], list[Box | None], np.ndarray]:
        """Every face of each image, cropped: ``(crops, boxes, image_index)``.

        Largest face first within each image. An image without a face gives
        nothing, or (``whole_if_none``) itself with the box ``None``.
        """
        crops, boxes, index = [], [], []
        for i, (image, faces) in enumerate(zip(images, self.cropper.detect_all(images))):
            if faces:
                crops.extend(self.cropper.crop([image] * len(faces), faces))
            elif whole_if_none:
                crops.append(image)
            found = faces or ([None] if whole_if_none else [])
            boxes.extend(found)
            index.extend([i] * len(found))
        return crops, boxes, np.asarray(index, dtype=int)

    def predict_all_faces(self, images: Sequence[np.ndarray]
                          ) -> tuple[np.ndarray, list[Box | None], np.ndarray]:
        """One prediction per face (largest first); one for the whole image if none.

        Returns ``(proba, boxes, image_index)``: a row per face, its box, and
        the index of its image.
        """
        crops, boxes, index = self.crop_all(images, whole_if_none=True)
        if not crops:
            return np.empty((0, len(self.classifier.classes_))), [], np.empty(0, int)
        proba = self.predict_network_input(self.network_input(crops))
        return proba, boxes, np.asarray(index, dtype=int)

    def read_files(self, paths: Sequence[str], indices: Sequence[int], failed: list[str]
                   ) -> tuple[list[np.ndarray], list[int]]:
        """The decoded images of ``paths[i]`` for ``i`` in ``indices``, and their ``i``.

        An unreadable file raises :class:`~skmood.ImageReadError`, unless the
        classifier's ``on_error`` is ``"skip"``: then it is added to ``failed``
        (:func:`warn_unreadable` says so once, at the end).
        """
        images, positions = [], []
        for i in indices:
            try:
                images.append(read_image(paths[i], color_mode=self.color_mode))
                positions.append(i)
            except ImageReadError:
                if self.classifier.on_error != "skip":
                    raise
                failed.append(paths[i])
        return images, positions

    def predict_proba_files(self, paths: Sequence[str], *, all_faces: bool = False,
                            progress: Callable[[int], None] | None = None
                            ) -> FacePredictions:
        """Class probabilities of image files, on their largest (or every) face.

        Files are decoded, cropped and classified :data:`FILES_PER_CHUNK` at
        a time (photos can be large); ``progress``, if given, is called with
        the number of files of each chunk done.

        An unreadable file raises :class:`~skmood.ImageReadError`, unless the
        classifier's ``on_error`` is ``"skip"``: then it has one row of NaN
        and its box is ``None``, with one warning naming the first five such
        files.
        """
        n_classes = len(self.classifier.classes_)
        readable: list[int] = []
        failed: list[str] = []
        found_parts, found_boxes, index_parts = [np.empty((0, n_classes))], [], []
        for start in range(0, len(paths), FILES_PER_CHUNK):
            images, positions = self.read_files(paths, range(start, min(
                start + FILES_PER_CHUNK, len(paths))), failed)
            readable.extend(positions)
            if images:
                if all_faces:
                    found, boxes, index = self.predict_all_faces(images)
                    index = np.asarray(positions, dtype=int)[index]
                else:
                    found, boxes = self.predict_proba_images(images)
                    index = np.asarray(positions, dtype=int)
                found_parts.append(found)
                found_boxes.extend(boxes)
                index_parts.append(index)
            if progress is not None:
                progress(min(FILES_PER_CHUNK, len(paths) - start))
        warn_unreadable(failed, len(paths), "rows are empty", stacklevel=4)
        found = np.concatenate(found_parts)
        index = np.concatenate(index_parts) if index_parts else np.empty(0, int)
        for i, box in zip(index, found_boxes):
            logger.debug("%s: %s", paths[i], "no face" if box is None else f"face {box}")
        if readable:
            with_face = len({int(i) for i, b in zip(index, found_boxes) if b is not None})
            logger.info("faces found in %d of %d image(s); the others are classified whole",
                        with_face, len(readable))
        # Unreadable files keep one row each (NaN), in their place among the others.
        read = set(readable)
        rows = sorted([(int(i), k) for k, i in enumerate(index)]
                      + [(i, -1) for i in range(len(paths)) if i not in read])
        proba = np.full((len(rows), n_classes), np.nan)
        boxes: list[Box | None] = []
        for r, (i, k) in enumerate(rows):
            if k >= 0:
                proba[r] = found[k]
            boxes.append(None if k < 0 else found_boxes[k])
        return FacePredictions(proba, boxes, np.array([i for i, _ in rows], dtype=int))


def warn_unreadable(failed: list[str], n: int, what: str, stacklevel: int = 3) -> None:
    """One warning for the files :meth:`FacePredictor.read_files` skipped, if any."""
    if failed:
        warnings.warn(
            f"{len(failed)} of {n} image(s) could not be read "
            f"({', '.join(map(repr, failed[:5]))}{', ...' if len(failed) > 5 else ''}); "
            f"their {what} (on_error='skip').", SkmoodWarning, stacklevel=stacklevel)


class FacePredictions(NamedTuple):
    """What :func:`predict_faces` returns: one row per face (or per image)."""

    #: Class probabilities, columns in the order of ``classes_``.
    proba: np.ndarray
    #: The face of each row, ``(x, y, width, height)`` in the image's pixels,
    #: or ``None`` (no face found: the whole image was classified).
    boxes: list
    #: The index, in ``paths``, of the image of each row.
    image_index: np.ndarray


def _within(outer: Box, shape: tuple, inner: Box) -> Box:
    """``inner``, a region of an image of ``shape`` showing ``outer``, in ``outer``'s frame."""
    x, y, w, h = outer
    sx, sy = w / shape[1], h / shape[0]
    return (x + round(inner[0] * sx), y + round(inner[1] * sy),
            max(1, round(inner[2] * sx)), max(1, round(inner[3] * sy)))


def predict_faces(model: Any, paths: Sequence[str], *, detector: str | None = None,
                  all_faces: bool = False) -> FacePredictions:
    """Predict on the largest face, or on every face, of each image file.

    For photos where the face does not fill the frame: each image is decoded,
    its largest face found and cropped (with a margin; the whole image when
    no face is found), then passed through the model's own preprocessing and
    classifier. ``skmood predict --crop-faces`` and ``skmood serve`` predict
    this way. With ``all_faces=True`` every face of a group photo gets its
    own row.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline or skmood.runtime.ExportedModel
        A fitted classifier, a fitted pipeline ending in one, or an exported
        model (:func:`skmood.runtime.load`).
    paths : sequence of str
        Image files.
    detector : {"haar", "mtcnn"} or None, default=None
        Face detector (see :class:`~skmood.FaceCropper`). ``None``: the
        classifier's ``face_detector`` if it has one, else ``"haar"``.
    all_faces : bool, default=False
        One row per face found (largest first) instead of one per image; an
        image without a face still gets one row, for the whole image.

    Returns
    -------
    predictions : FacePredictions
        A named tuple ``(proba, boxes, image_index)``: class probabilities
        (columns in the order of ``classes_``), the face box of each row
        (``None`` when no face was found), and the index in ``paths`` of the
        row's image. Without ``all_faces`` the rows are the images, in order.
        A file that cannot be read (with the classifier's
        ``on_error="skip"``) has one row of NaN.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmood import HappySadClassifier, make_faces, predict_faces
    >>> paths, y = make_faces(20, image_size=(16, 16), random_state=0,
    ...                       directory=tempfile.mkdtemp())
    >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
    ...                          epochs=1, random_state=0).fit(paths, y)
    >>> proba, boxes, image_index = predict_faces(clf, paths[:2])
    >>> proba.shape, boxes  # 16x16 cartoons are below the detector's window: no face
    ((2, 2), [None, None])
    """
    return FacePredictor(model, detector=detector).predict_proba_files(
        list(paths), all_faces=all_faces)
