"""Face cropping inside the model's input pipeline (private).

With ``HappySadClassifier(face_detector=...)`` every image goes through the
same steps at training and at prediction time: decode, find the largest face,
crop it with a margin (the whole image when no face is found), resize. A
:class:`FaceBoxes` belongs to one input (the training paths, the validation
paths, or the images of one ``predict`` call) and remembers the box of each
image, so a face is detected once per image per fit, never once per epoch,
whether or not the decoded images are cached. Callers that know the boxes
already (the server, :func:`skmood.predict_faces`) pass them in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import numpy as np

from ._faces import FaceFinder

__all__ = ["FaceBoxes", "face_cropper", "input_faces"]

Box = tuple[int, int, int, int]
#: Decoded pixels held at most (beyond one image) while their faces are found
#: in one detector call: 64 megapixels, ~190 MB of RGB.
DETECT_GROUP_PIXELS = 64_000_000
_MISSING = object()


def face_cropper(detector: str, margin: float) -> FaceFinder:
    """The detector and crop of a classifier's ``face_detector``/``face_margin``.

    :class:`~skmood.FaceCropper`'s (:class:`skmood._faces.FaceFinder`), without
    scikit-learn, so that the lean runtime (:mod:`skmood.runtime`) crops alike.
    """
    return FaceFinder(detector=detector, margin=float(margin))


def input_faces(detector: str | None, margin: float,
                boxes: list[Box | None] | None = None) -> FaceBoxes | None:
    """The :class:`FaceBoxes` of one prediction input (None without a ``detector``).

    ``boxes``: the box of each image if known (``None``: the whole image).
    """
    if detector is None:
        return None
    known = None if boxes is None else dict(enumerate(boxes))
    return FaceBoxes(face_cropper(detector, margin), known)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """What the detectors read: uint8 pixels (float images are in [0, 1])."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)


class FaceBoxes:
    """The face box of each image of one input, found once and then remembered.

    Parameters
    ----------
    cropper : skmood._faces.FaceFinder
        Detector and margin.
    known : mapping of int to box or None, default=None
        Boxes already known, by image index (``None``: no face, the whole
        image); these images are cropped without detecting.

    Attributes
    ----------
    n_detected : int
        How many images were run through the detector (tests count it).
    """

    def __init__(self, cropper: FaceFinder, known: Mapping[int, Box | None] | None = None):
        self.cropper = cropper
        self._boxes: dict[int, Box | None] = dict(known or {})
        self._lock = threading.Lock()
        self.n_detected = 0

    def box(self, index: int, image: np.ndarray) -> Box | None:
        """The largest face of image ``index`` (``image`` is only read the first time)."""
        box = self._boxes.get(index, _MISSING)
        if box is _MISSING:
            box = self.cropper.detect([_as_uint8(image)])[0]
            with self._lock:
                self._boxes[index] = box
                self.n_detected += 1
        return box

    def crop_each(self, items: Iterable[tuple[int, np.ndarray]]):
        """Yield ``(index, cropped image)`` for each ``(index, image)`` of ``items``.

        The faces of images whose boxes are not known yet are detected in
        groups of up to :data:`DETECT_GROUP_PIXELS` decoded pixels, one
        detector call each (MTCNN runs a group of same-shape images about 10x
        as fast per image as one call each), so memory stays bounded however
        large the photos. ``items`` is read lazily.
        """
        group, pixels = [], 0
        for index, image in items:
            group.append((int(index), image))
            pixels += image.shape[0] * image.shape[1]
            if pixels >= DETECT_GROUP_PIXELS:
                yield from self._crop_group(group)
                group, pixels = [], 0
        yield from self._crop_group(group)

    def _crop_group(self, group):
        todo = [(i, image) for i, image in group if i not in self._boxes]
        if todo:
            boxes = self.cropper.detect([_as_uint8(image) for _, image in todo])
            with self._lock:
                for (i, _), box in zip(todo, boxes):
                    if i not in self._boxes:
                        self._boxes[i] = box
                        self.n_detected += 1
        for i, image in group:
            yield i, self.crop(i, image)

    def crop(self, index: int, image: np.ndarray) -> np.ndarray:
        """Image ``index`` cropped to its largest face with the margin, or whole."""
        box = self.box(index, image)
        return image if box is None else self.cropper.crop([image], [box])[0]

    def boxes(self, n: int) -> list[Box | None]:
        """The boxes of images ``0 .. n - 1`` found so far (``None`` if not yet)."""
        return [self._boxes.get(i) for i in range(n)]
