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
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from ._classifier import HappySadClassifier
from ._face_crop import FaceCropper
from .exceptions import ImageReadError, SkmoodWarning
from .transformers import ImageLoader, ImageResizer

__all__ = ["FacePredictor", "final_estimator", "predict_faces"]

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]


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
    detector : {"haar", "mtcnn"}, default="haar"
        Face detector of the :class:`~skmood.FaceCropper`.

    Attributes
    ----------
    classifier : HappySadClassifier
        The model's last step.
    color_mode : {"rgb", "grayscale"}
        How images must be decoded for this model.
    cropper : FaceCropper
        The face detector and cropper.
    """

    def __init__(self, model: Any, *, detector: str = "haar") -> None:
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
        self.cropper = FaceCropper(detector=detector)
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

    def predict_proba_images(self, images: Sequence[np.ndarray], *, crop_faces: bool = True
                             ) -> tuple[np.ndarray, list[Box | None]]:
        """Class probabilities of decoded images, and the face box used for each."""
        boxes: list[Box | None] = [None] * len(images)
        if crop_faces:
            images, boxes = self.crop(images)
        if not len(images):
            return np.empty((0, len(self.classifier.classes_))), []
        return self.classifier.predict_proba(self.network_input(images)), boxes

    def predict_proba_files(self, paths: Sequence[str]
                            ) -> tuple[np.ndarray, list[Box | None]]:
        """Class probabilities of image files, on their largest faces.

        An unreadable file raises :class:`~skmood.ImageReadError`, unless the
        classifier's ``on_error`` is ``"skip"``: then its row is NaN and its
        box ``None``, with one warning naming the first five such files.
        """
        loader = ImageLoader(color_mode=self.color_mode)
        images, readable, failed = [], [], []
        for i, path in enumerate(paths):
            try:
                images.append(loader.transform([path])[0])
                readable.append(i)
            except ImageReadError:
                if self.classifier.on_error != "skip":
                    raise
                failed.append(path)
        if failed:
            warnings.warn(
                f"{len(failed)} of {len(paths)} image(s) could not be read "
                f"({', '.join(map(repr, failed[:5]))}{', ...' if len(failed) > 5 else ''}); "
                "their rows are empty (on_error='skip').", SkmoodWarning, stacklevel=3)
        proba = np.full((len(paths), len(self.classifier.classes_)), np.nan)
        boxes: list[Box | None] = [None] * len(paths)
        if images:
            found, found_boxes = self.predict_proba_images(images)
            proba[readable] = found
            for i, box in zip(readable, found_boxes):
                boxes[i] = box
                logger.debug("%s: %s", paths[i], "no face" if box is None else f"face {box}")
            logger.info("faces found in %d of %d image(s); the others are classified whole",
                        sum(b is not None for b in found_boxes), len(images))
        return proba, boxes


def predict_faces(model: Any, paths: Sequence[str], *, detector: str = "haar"
                  ) -> tuple[np.ndarray, list[Box | None]]:
    """Predict on the largest face of each image file.

    For photos where the face does not fill the frame: each image is decoded,
    its largest face found and cropped (with a margin; the whole image when
    no face is found), then passed through the model's own preprocessing and
    classifier. ``skmood predict --crop-faces`` and ``skmood serve`` predict
    this way.

    Parameters
    ----------
    model : HappySadClassifier or Pipeline
        A fitted classifier, or a fitted pipeline ending in one.
    paths : sequence of str
        Image files.
    detector : {"haar", "mtcnn"}, default="haar"
        Face detector (see :class:`~skmood.FaceCropper`).

    Returns
    -------
    proba : ndarray of shape (n_images, n_classes)
        Class probabilities, columns in the order of ``classes_``; a row of
        NaN for a file that could not be read when the classifier's
        ``on_error`` is ``"skip"``.
    boxes : list of (x, y, width, height) or None
        The face used for each image, ``None`` when none was found.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmood import HappySadClassifier, make_faces, predict_faces
    >>> paths, y = make_faces(20, image_size=(16, 16), random_state=0,
    ...                       directory=tempfile.mkdtemp())
    >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
    ...                          epochs=1, random_state=0).fit(paths, y)
    >>> proba, boxes = predict_faces(clf, paths[:2])
    >>> proba.shape, boxes  # 16x16 cartoons are below the detector's window: no face
    ((2, 2), [None, None])
    """
    return FacePredictor(model, detector=detector).predict_proba_files(list(paths))
