"""Grad-CAM explanations of photos: on the largest face, placed back on the image (private).

:func:`explain_faces` is to :meth:`HappySadClassifier.explain` what
:func:`~skmood.predict_faces` is to ``predict``: the same decoding and face
cropping (:class:`~skmood._predict.FacePredictor`), then the heat map of the
crop and the part of the photo it covers. ``skmood explain`` and ``skmood
serve`` explain through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._predict import FILES_PER_CHUNK, Box, FacePredictor, _instance_of, warn_unreadable

__all__ = ["FaceExplanations", "explain_faces", "explain_images", "explain_network_input"]


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


def explain_network_input(predictor: FacePredictor, X: np.ndarray, target: Any = None
                          ) -> np.ndarray:
    """Grad-CAM maps (:meth:`HappySadClassifier.explain`) of ``predictor.network_input``'s output.

    ``target``: the class explained, a label or one per image (``None``: the
    predicted one).
    """
    if not _instance_of(predictor.classifier, "skmood._classifier", "HappySadClassifier"):
        raise TypeError("explaining needs the Keras network of a HappySadClassifier (its "
                        "gradients); an exported model has none: explain the model it "
                        "was exported from.")
    from ._gradcam import explain_classifier

    return explain_classifier(predictor.classifier, X, target,
                              boxes=[None] * len(X) if predictor.in_model else None)


def explain_images(predictor: FacePredictor, images: Sequence[np.ndarray], *,
                   crop_faces: bool = True, target: Any = None) -> FaceExplanations:
    """Grad-CAM maps of decoded images, on their largest face, and where they go.

    The class explained is ``target`` (a label, or one per image), else
    the one predicted; the regions say which part of each image its map
    covers (the face crop, or the whole image).
    """
    boxes: list[Box | None] = [None] * len(images)
    crops = images
    if crop_faces:
        crops, boxes = predictor.crop(images)
    regions = [predictor.cropper.crop_region(b, im.shape) for b, im in zip(boxes, images)]
    X = predictor._network_input(crops, regions)
    proba = predictor.predict_network_input(X)
    if target is None:
        target = predictor.classifier.classes_[np.argmax(proba, axis=1)]
    return FaceExplanations(explain_network_input(predictor, X, target), regions, boxes, proba)


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
        A fitted classifier, or a fitted pipeline ending in one (exported
        models have no gradients to explain with).
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
    height, width = predictor.classifier.input_shape_[:2]
    heatmaps = np.full((len(paths), height, width), np.nan, np.float32)
    proba = np.full((len(paths), len(predictor.classifier.classes_)), np.nan)
    regions: list = [None] * len(paths)
    boxes: list = [None] * len(paths)
    failed: list[str] = []
    for start in range(0, len(paths), FILES_PER_CHUNK):
        images, positions = predictor.read_files(
            paths, range(start, min(start + FILES_PER_CHUNK, len(paths))), failed)
        if not images:
            continue
        wanted = target
        if target is not None and np.ndim(target):
            wanted = np.asarray(target, dtype=object)[positions]
        found = explain_images(predictor, images, target=wanted)
        heatmaps[positions], proba[positions] = found.heatmaps, found.proba
        for k, i in enumerate(positions):
            regions[i], boxes[i] = found.regions[k], found.boxes[k]
    warn_unreadable(failed, len(paths), "heat maps are NaN")
    return FaceExplanations(heatmaps, regions, boxes, proba)
