"""Prediction with a fitted model on the largest face of each image.

One home for "predict with face cropping", used by the command line
(``skmood predict --crop-faces``), the server (``skmood serve``) and the
Python API (:func:`predict_faces`): decode each image in the colour mode the
model reads, find the largest face with a :class:`~skmood.FaceCropper`, crop
it (the whole image when there is none), run the model's own preprocessing
steps after its :class:`~skmood.ImageLoader`, and finally the classifier.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.pipeline import Pipeline

from ._classifier import HappySadClassifier
from ._face_crop import FaceCropper
from .exceptions import ImageReadError, SkmoodWarning
from .transformers import ImageLoader, ImageResizer

__all__ = ["FacePredictions", "FacePredictor", "final_estimator", "predict_faces"]

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
#: Files decoded, cropped and classified together by ``predict_proba_files``.
FILES_PER_CHUNK = 64


def final_estimator(model: Any) -> Any:
    """The classifier itself, or the last step of a pipeline."""
    return model.steps[-1][1] if isinstance(model, Pipeline) and model.steps else model


class FacePredictor:
    """A fitted model's prediction path, from decoded images, with face cropping.

    Parameters
    ----------
    model : HappySadClassifier or Pipeline
        Fitted; a Pipeline ends with a HappySadClassifier. A leading
        :class:`~skmood.ImageLoader` step gives the colour mode images are
        decoded in and is skipped (images arrive decoded).
    detector : {"haar", "mtcnn"} or None, default=None
        Face detector of the :class:`~skmood.FaceCropper`; ``None``: the
        classifier's own ``face_detector``, else ``"haar"``. When the
        classifier crops faces itself, its ``face_margin`` is used, and the
        faces found here are handed to it (nothing is detected twice).

    Attributes
    ----------
    classifier : HappySadClassifier
        The model's last step.
    color_mode : {"rgb", "grayscale"}
        How images must be decoded for this model.
    cropper : FaceCropper
        The face detector and cropper.
    """

    def __init__(self, model: Any, *, detector: str | None = None) -> None:
        final = final_estimator(model)
        if not isinstance(final, HappySadClassifier) or not hasattr(final, "model_"):
            raise TypeError(
                "expected a fitted HappySadClassifier or a Pipeline ending in one, got "
                f"{type(model).__name__}."
            )
        steps = list(model.steps[:-1]) if isinstance(model, Pipeline) else []
        self.model = model
        self.classifier = final
        self.color_mode = "grayscale" if final.input_shape_[2] == 1 else "rgb"
        if steps and isinstance(steps[0][1], ImageLoader):
            self.color_mode = steps[0][1].color_mode
            steps = steps[1:]
        self.steps = [step for _, step in steps]
        #: The classifier crops faces itself (``face_detector``): give it crops
        #: and tell it not to look for faces again.
        self.in_model = final.face_detector is not None
        margin = final.face_margin if self.in_model else FaceCropper().margin
        self.cropper = FaceCropper(detector=detector or final.face_detector or "haar",
                                   margin=margin)
        self._resizer = ImageResizer(image_size=final.input_shape_[:2])

    def crop(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[Box | None]]:
        """The largest face of each decoded image (the image itself if none), and its box."""
        if not len(images):
            return [], []
        boxes = self.cropper.detect(images)
        return list(self.cropper.crop(images, boxes)), boxes

    def network_input(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The model's preprocessing steps, then the classifier's input size."""
        X: Any = images
        for step in self.steps:
            X = step.transform(X)
        if not (isinstance(X, np.ndarray) and X.ndim == 4):
            X = self._resizer.transform(X)
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
        loader = ImageLoader(color_mode=self.color_mode)
        n_classes = len(self.classifier.classes_)
        readable: list[int] = []
        failed: list[str] = []
        found_parts, found_boxes, index_parts = [np.empty((0, n_classes))], [], []
        for start in range(0, len(paths), FILES_PER_CHUNK):
            images, positions = [], []
            for i in range(start, min(start + FILES_PER_CHUNK, len(paths))):
                try:
                    images.append(loader.transform([paths[i]])[0])
                    positions.append(i)
                except ImageReadError:
                    if self.classifier.on_error != "skip":
                        raise
                    failed.append(paths[i])
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
        if failed:
            warnings.warn(
                f"{len(failed)} of {len(paths)} image(s) could not be read "
                f"({', '.join(map(repr, failed[:5]))}{', ...' if len(failed) > 5 else ''}); "
                "their rows are empty (on_error='skip').", SkmoodWarning, stacklevel=3)
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


class FacePredictions(NamedTuple):
    """What :func:`predict_faces` returns: one row per face (or per image)."""

    #: Class probabilities, columns in the order of ``classes_``.
    proba: np.ndarray
    #: The face of each row, ``(x, y, width, height)`` in the image's pixels,
    #: or ``None`` (no face found: the whole image was classified).
    boxes: list
    #: The index, in ``paths``, of the image of each row.
    image_index: np.ndarray


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
    model : HappySadClassifier or Pipeline
        A fitted classifier, or a fitted pipeline ending in one.
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
