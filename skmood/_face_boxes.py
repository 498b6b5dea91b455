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
from collections.abc import Mapping

import numpy as np

from ._face_crop import FaceCropper

__all__ = ["FaceBoxes", "face_cropper", "input_faces"]

Box = tuple[int, int, int, int]
_MISSING = object()


def face_cropper(detector: str, margin: float) -> FaceCropper:
    """The :class:`~skmood.FaceCropper` of a classifier's ``face_detector``/``face_margin``."""
    return FaceCropper(detector=detector, margin=float(margin))


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
    cropper : FaceCropper
        Detector and margin.
    known : mapping of int to box or None, default=None
        Boxes already known, by image index (``None``: no face, the whole
        image); these images are cropped without detecting.

    Attributes
    ----------
    n_detected : int
        How many images were run through the detector (tests count it).
    """

    def __init__(self, cropper: FaceCropper, known: Mapping[int, Box | None] | None = None):
        self.cropper = cropper
        self._boxes: dict[int, Box | None] = dict(known or {})
        self._lock = threading.Lock()
        self.n_detected = 0

    def box(self, index: int, image: np.ndarray) -> Box | None:
        """The largest face of image ``index`` (``image`` is only read the first time)."""
        box = self._boxes.get(index, _MISSING)
        if box is _MISSING:
            box = self.cropper._detect([_as_uint8(image)])[0]
            with self._lock:
                self._boxes[index] = box
                self.n_detected += 1
        return box

    def crop(self, index: int, image: np.ndarray) -> np.ndarray:
        """Image ``index`` cropped to its largest face with the margin, or whole."""
        box = self.box(index, image)
        return image if box is None else self.cropper._crop([image], [box])[0]

    def boxes(self, n: int) -> list[Box | None]:
        """The boxes of images ``0 .. n - 1`` found so far (``None`` if not yet)."""
        return [self._boxes.get(i) for i in range(n)]
