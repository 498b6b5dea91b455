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
from typing import Any, NamedTuple

import numpy as np
from sklearn.pipeline import Pipeline

from ._classifier import HappySadClassifier
from ._face_crop import FaceCropper
from .exceptions import ImageReadError, SkmoodWarning
from .transformers import ImageLoader, ImageResizer

__all__ = ["FaceExplanations", "FacePredictions", "FacePredictor", "explain_faces",
           "final_estimator", "predict_faces"]

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
        return self._network_input(images)

    def _network_input(self, images: Sequence[np.ndarray], regions: list | None = None
                       ) -> np.ndarray:
        """:meth:`network_input`; a :class:`FaceCropper` step also narrows ``regions``.

        ``regions``: the part ``(x, y, width, height)`` of some original image
        that each of ``images`` shows; replaced, in place, by the part that
        each network input shows.
        """
        X: Any = images
        for step in self.steps:
            if regions is not None and isinstance(step, FaceCropper):
                boxes = step.detect(X)
                for i, (image, box) in enumerate(zip(X, boxes)):
                    regions[i] = _within(regions[i], image.shape,
                                         step._crop_region(box, image.shape))
                X = step.crop(X, boxes)
            else:
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

    def explain_network_input(self, X: np.ndarray, target: Any = None) -> np.ndarray:
        """Grad-CAM maps (:meth:`HappySadClassifier.explain`) of :meth:`network_input`'s output."""
        from ._gradcam import explain_classifier

        return explain_classifier(self.classifier, X, target,
                                  boxes=[None] * len(X) if self.in_model else None)

    def explain_images(self, images: Sequence[np.ndarray], *, crop_faces: bool = True,
                       target: Any = None) -> FaceExplanations:
        """Grad-CAM maps of decoded images, on their largest face, and where they go.

        The class explained is ``target`` (a label, or one per image), else
        the one predicted; the regions say which part of each image its map
        covers (the face crop, or the whole image).
        """
        boxes: list[Box | None] = [None] * len(images)
        crops = images
        if crop_faces:
            crops, boxes = self.crop(images)
        regions = [self.cropper._crop_region(b, im.shape) for b, im in zip(boxes, images)]
        X = self._network_input(crops, regions)
        proba = self.predict_network_input(X)
        if target is None:
            target = self.classifier.classes_[np.argmax(proba, axis=1)]
        return FaceExplanations(self.explain_network_input(X, target), regions, boxes, proba)

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

    def read_files(self, paths: Sequence[str], what: str = "rows are empty"
                   ) -> tuple[list[np.ndarray], list[int]]:
        """The decoded images of ``paths`` that can be read, and their indices.

        An unreadable file raises :class:`~skmood.ImageReadError`, unless the
        classifier's ``on_error`` is ``"skip"``: then one warning names the
        first five such files and says their ``what``.
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
                f"their {what} (on_error='skip').", SkmoodWarning, stacklevel=4)
        return images, readable

    def predict_proba_files(self, paths: Sequence[str], *, all_faces: bool = False
                            ) -> FacePredictions:
        """Class probabilities of image files, on their largest (or every) face.

        An unreadable file raises :class:`~skmood.ImageReadError`, unless the
        classifier's ``on_error`` is ``"skip"``: then it has one row of NaN
        and its box is ``None``, with one warning naming the first five such
        files.
        """
        images, readable = self.read_files(paths, "rows are empty")
        n_classes = len(self.classifier.classes_)
        if all_faces:
            found, found_boxes, index = (self.predict_all_faces(images) if images else
                                         (np.empty((0, n_classes)), [], np.empty(0, int)))
            index = np.asarray(readable, dtype=int)[index]
        else:
            found, found_boxes = (self.predict_proba_images(images) if images else
                                  (np.empty((0, n_classes)), []))
            index = np.asarray(readable, dtype=int)
        for i, box in zip(index, found_boxes):
            logger.debug("%s: %s", paths[i], "no face" if box is None else f"face {box}")
        if images:
            with_face = len({int(i) for i, b in zip(index, found_boxes) if b is not None})
            logger.info("faces found in %d of %d image(s); the others are classified whole",
                        with_face, len(images))
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


class FaceExplanations(NamedTuple):
    """What :func:`explain_faces` returns: one row per image."""

    #: Grad-CAM maps, ``(n, height, width)`` at the network's input size, in [0, 1].
    heatmaps: np.ndarray
    #: The part ``(x, y, width, height)`` of each image that its map covers (the
    #: face crop, or the whole image), for :func:`~skmood.overlay_heatmap`'s ``box``.
    regions: list
    #: The face found in each image (``None``: none, the whole image was used).
    boxes: list
    #: Class probabilities, columns in the order of ``classes_``.
    proba: np.ndarray


def _within(outer: Box, shape: tuple, inner: Box) -> Box:
    """``inner``, a region of an image of ``shape`` showing ``outer``, in ``outer``'s frame."""
    x, y, w, h = outer
    sx, sy = w / shape[1], h / shape[0]
    return (x + round(inner[0] * sx), y + round(inner[1] * sy),
            max(1, round(inner[2] * sx)), max(1, round(inner[3] * sy)))


def explain_faces(model: Any, paths: Sequence[str], *, target: Any = None,
                  detector: str | None = None) -> FaceExplanations:
    """Grad-CAM heat maps of the largest face of each image file, and where they go.

    For photos: each image is decoded, its largest face found and cropped
    (the whole image when none is found), as :func:`predict_faces` does,
    and explained with :meth:`HappySadClassifier.explain` (a ``FaceCropper``
    step of a pipeline narrows the region further). Draw a map over its
    photo with ``overlay_heatmap(photo, heatmaps[i], box=regions[i])``.
    ``skmood explain`` and ``skmood serve`` explain this way.

    Parameters
    ----------
    model : HappySadClassifier or Pipeline
        A fitted classifier, or a fitted pipeline ending in one.
    paths : sequence of str
        Image files.
    target : label, array-like of shape (n_paths,) or None, default=None
        The class explained (one of ``classes_``, or one per file); ``None``:
        the class predicted for each image.
    detector : {"haar", "mtcnn"} or None, default=None
        Face detector; ``None``: the classifier's ``face_detector`` if it has
        one, else ``"haar"``.

    Returns
    -------
    explanations : FaceExplanations
        A named tuple ``(heatmaps, regions, boxes, proba)``: a map per file
        at the network's input size, the part ``(x, y, width, height)`` of
        the image it covers, the face box found (``None`` if none) and the
        class probabilities. A file that cannot be read (with the
        classifier's ``on_error="skip"``) has a map of NaN and no region.

    Examples
    --------
    >>> import tempfile
    >>> from skmood import HappySadClassifier, explain_faces, make_faces
    >>> paths, y = make_faces(20, image_size=(16, 16), random_state=0,
    ...                       directory=tempfile.mkdtemp())
    >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
    ...                          epochs=1, random_state=0).fit(paths, y)
    >>> heatmaps, regions, boxes, proba = explain_faces(clf, paths[:2])
    >>> heatmaps.shape, regions  # no face found in 16x16 cartoons: whole images
    ((2, 16, 16), [(0, 0, 16, 16), (0, 0, 16, 16)])
    """
    predictor = FacePredictor(model, detector=detector)
    paths = list(paths)
    images, readable = predictor.read_files(paths, "heat maps are NaN")
    height, width = predictor.classifier.input_shape_[:2]
    heatmaps = np.full((len(paths), height, width), np.nan, np.float32)
    proba = np.full((len(paths), len(predictor.classifier.classes_)), np.nan)
    regions: list = [None] * len(paths)
    boxes: list = [None] * len(paths)
    if images:
        if target is not None and np.ndim(target):
            target = np.asarray(target, dtype=object)[readable]
        found = predictor.explain_images(images, target=target)
        heatmaps[readable], proba[readable] = found.heatmaps, found.proba
        for k, i in enumerate(readable):
            regions[i], boxes[i] = found.regions[k], found.boxes[k]
    return FaceExplanations(heatmaps, regions, boxes, proba)


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
