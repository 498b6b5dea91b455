"""FaceCropper: crop each image to its largest face (OpenCV Haar cascade or MTCNN).

OpenCV (``opencv-python-headless``) and MTCNN (``mtcnn``), both dependencies of
skmood since its pretrained model finds faces, are imported inside the methods that use
them, so ``import skmood`` stays cheap and works without either.
"""

from __future__ import annotations

import logging
import os
import threading
from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions
from ._validation import PATHS, check_images
from .transformers import _StatelessTransformer

__all__ = ["FaceCropper"]

_NAME = "FaceCropper"
#: The face detectors of ``detector``.
DETECTORS = ("haar", "mtcnn")
#: Images are shrunk to at most this many pixels on their longer side for
#: detection (boxes are mapped back to full resolution): a 12-megapixel photo
#: takes milliseconds instead of a second.
DETECT_MAX_SIDE = 1024
#: The cascade shipped inside the opencv-python(-headless) wheel.
HAAR_CASCADE = "haarcascade_frontalface_default.xml"

_local = threading.local()  # one CascadeClassifier per thread: it is not thread-safe
_mtcnn_lock = threading.Lock()
_in_mtcnn = threading.local()


class _QuietMTCNNRetracing(logging.Filter):
    """Drop TensorFlow's "tf.function retracing" warning while MTCNN runs.

    MTCNN runs its networks on an image pyramid whose sizes change with every
    photo, so Keras retraces its predict function and TensorFlow warns about
    it every few photos: a cost of the detector's design, not the user's
    mistake. Only that warning, only during MTCNN's own calls, is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_in_mtcnn, "active", False)
                    and "triggered tf.function retracing" in record.getMessage())


_RETRACING_FILTER = _QuietMTCNNRetracing()
_mtcnn_detector = None


def _import_cv2():
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(
            f"{_NAME} needs OpenCV, a dependency of skmood; reinstall it with: "
            "pip install 'opencv-python-headless>=4.8,<5'."
        ) from exc
    return cv2


def _haar_cascade():
    """This thread's frontal-face cascade, loaded from the OpenCV wheel's data."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        cv2 = _import_cv2()
        path = os.path.join(cv2.data.haarcascades, HAAR_CASCADE)
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise OSError(f"{_NAME}: cannot load OpenCV's Haar cascade {path!r}; reinstall "
                          "opencv-python-headless.")
        _local.cascade = cascade
    return cascade


def _mtcnn():
    """The process' MTCNN detector (its weights ship inside the mtcnn wheel)."""
    global _mtcnn_detector
    if _mtcnn_detector is None:
        try:
            from mtcnn import MTCNN
        except ImportError as exc:
            raise ImportError(
                f"{_NAME}(detector='mtcnn') needs the mtcnn package; install it with: "
                "pip install 'mtcnn>=1.0,<2' 'lz4>=4.3' (a dependency of skmood)."
            ) from exc
        _mtcnn_detector = MTCNN(device="CPU:0")
        logging.getLogger("tensorflow").addFilter(_RETRACING_FILTER)
    return _mtcnn_detector


class FaceCropper(_StatelessTransformer):
    """Crop each image to its largest face, or keep it whole when none is found.

    For photos where the face does not fill the frame: a face detector finds
    the largest face in each image, and the image is cropped to a square
    around it, enlarged by ``margin`` on every side (and clipped to the
    image). Images where no face is found are passed on whole. Put it between
    :class:`ImageLoader` and :class:`ImageResizer`; :meth:`detect` tells which
    face, if any, was found in each image.

    Parameters
    ----------
    detector : {"haar", "mtcnn"}, default="haar"
        ``"haar"``: OpenCV's frontal-face Haar cascade (shipped inside the
        ``opencv-python-headless`` wheel; fast, finds upright frontal faces).
        ``"mtcnn"``: the MTCNN network of the ``mtcnn`` package (weights inside
        its wheel; slower, runs on TensorFlow, finds more faces in real photos,
        including tilted and partly turned ones).
    margin : float, default=0.2
        Space added around the face on each side, as a fraction of the face's
        size (0.2 makes a crop 1.4 times as wide as the face).
    min_face_size : int, default=24
        Smallest face side, in pixels, that the detector looks for.
    scale_factor : float, default=1.1
        Haar cascade only: how much the search window grows per scale (smaller
        is more thorough and slower).
    min_neighbors : int, default=5
        Haar cascade only: overlapping detections a face needs to be kept
        (higher gives fewer false faces and misses more real ones).

    See Also
    --------
    ImageLoader : Decode image files (the usual step before this one).
    ImageResizer : Bring the crops to the network's input size.

    Notes
    -----
    The transformer is stateless: ``fit`` only validates the parameters, and
    nothing about the detected faces is stored on the estimator. To know what
    was detected call :meth:`detect`, which returns the face box of each image
    (or ``None``), and :meth:`crop` with those boxes gives the same images as
    :meth:`transform` without detecting twice.

    Images are shrunk to at most 1024 pixels on their longer side for
    detection; boxes are in the pixel coordinates of the images as given.

    The Haar cascade is a detector of real faces: it finds about half of the
    cartoon faces of :func:`~skmood.make_faces` at 64x64 pixels or more, and
    none at 16x16 or 24x24 (smaller than its 24-pixel window), where the
    whole image is used. MTCNN finds none of the cartoon faces.

    Examples
    --------
    >>> import numpy as np
    >>> from skmood import FaceCropper
    >>> blank = np.full((60, 80, 3), 200, np.uint8)  # no face: kept whole
    >>> cropper = FaceCropper()
    >>> cropper.detect([blank])
    [None]
    >>> cropper.fit_transform([blank])[0].shape
    (60, 80, 3)
    >>> cropper.crop([blank], [(20, 10, 30, 30)])[0].shape  # a given face box, with margin
    (42, 42, 3)
    """

    _parameter_constraints = {
        "detector": [StrOptions(set(DETECTORS))],
        "margin": [Interval(Real, 0, None, closed="left")],
        "min_face_size": [Interval(Integral, 1, None, closed="left")],
        "scale_factor": [Interval(Real, 1, None, closed="neither")],
        "min_neighbors": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, detector="haar", margin=0.2, min_face_size=24, scale_factor=1.1,
                 min_neighbors=5):
        self.detector = detector
        self.margin = margin
        self.min_face_size = min_face_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def transform(self, X):
        """Crop every image to its largest face (whole when none is found).

        Parameters
        ----------
        X : sequence of (height, width, channels) uint8 arrays, or ndarray of \
shape (n_samples, height, width, channels)
            Images as :class:`ImageLoader` returns them, or a uint8 pixel array.

        Returns
        -------
        crops : ndarray of shape (n_samples,), dtype=object
            One ``(height, width, channels)`` uint8 array per image, of its own
            size; put an :class:`ImageResizer` after this step.
        """
        self._validate_params()
        images = self._check_input(X)
        return self._crop(images, self._detect(images))

    def detect(self, X):
        """Find the largest face of each image.

        Parameters
        ----------
        X : sequence of (height, width, channels) uint8 arrays, or ndarray of \
shape (n_samples, height, width, channels)
            Images as :class:`ImageLoader` returns them, or a uint8 pixel array.

        Returns
        -------
        boxes : list of (x, y, width, height) tuples of int, or None
            One entry per image: the largest face in pixel coordinates (``x``
            to the right and ``y`` down from the top-left corner), or ``None``
            when no face was found.
        """
        self._validate_params()
        return self._detect(self._check_input(X))

    def detect_all(self, X):
        """Find every face of each image.

        Parameters
        ----------
        X : sequence of (height, width, channels) uint8 arrays, or ndarray of \
shape (n_samples, height, width, channels)
            Images as :class:`ImageLoader` returns them, or a uint8 pixel array.

        Returns
        -------
        boxes : list of list of (x, y, width, height) tuples of int
            One list per image, largest face first (the one :meth:`detect`
            returns), empty when no face was found.

        Examples
        --------
        >>> import numpy as np
        >>> from skmood import FaceCropper
        >>> FaceCropper().detect_all([np.full((60, 80, 3), 200, np.uint8)])
        [[]]
        """
        self._validate_params()
        return self._detect_all(self._check_input(X))

    def crop(self, X, boxes):
        """Crop images to given face boxes, with the margin; ``None`` keeps an image whole.

        Parameters
        ----------
        X : sequence of (height, width, channels) uint8 arrays, or ndarray of \
shape (n_samples, height, width, channels)
            The images.
        boxes : sequence of (x, y, width, height) or None
            One face box per image, e.g. from :meth:`detect`.

        Returns
        -------
        crops : ndarray of shape (n_samples,), dtype=object
            As :meth:`transform` returns.
        """
        self._validate_params()
        images = self._check_input(X)
        try:
            n_boxes = len(boxes)
        except TypeError:
            n_boxes = None
        if n_boxes != len(images):
            raise ValueError(f"{_NAME}: expected one box (or None) per image: {len(images)} "
                             f"images, got {boxes!r}.")
        checked = []
        for i, box in enumerate(boxes):
            if box is None:
                checked.append(None)
                continue
            values = tuple(box) if isinstance(box, (tuple, list, np.ndarray)) else ()
            if len(values) != 4 or not all(
                    isinstance(v, (Integral, np.integer)) and not isinstance(v, bool)
                    for v in values) or values[2] < 1 or values[3] < 1:
                raise ValueError(f"{_NAME}: boxes[{i}] must be None or (x, y, width, height) "
                                 f"ints with a positive width and height, got {box!r}.")
            checked.append(tuple(int(v) for v in values))
        return self._crop(images, checked)

    # ------------------------------------------------------------------ private
    def _check_input(self, X):
        data = check_images(X, _NAME)
        if data.kind == PATHS:
            raise TypeError(
                f"{_NAME}: expected decoded images (the output of ImageLoader) or a uint8 pixel "
                "array, got file paths; put an ImageLoader step before FaceCropper."
            )
        images = list(data.data)
        if any(img.dtype != np.uint8 for img in images):
            raise TypeError(f"{_NAME}: expected uint8 images with values 0-255, got float "
                            "pixels; crop faces before PixelNormalizer, not after.")
        return images

    def _detect(self, images):
        return [faces[0] if faces else None for faces in self._detect_all(images)]

    def _detect_all(self, images):
        """Every face of each image, largest first, in full-resolution pixels."""
        find = self._find_mtcnn if self.detector == "mtcnn" else self._find_haar
        result = []
        for image in images:
            height, width = image.shape[:2]
            scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
            boxes = []
            for x, y, w, h in sorted(find(image, scale),
                                     key=lambda b: (-b[2] * b[3], b[1], b[0])):
                x0, y0 = max(0, round(x / scale)), max(0, round(y / scale))
                x1, y1 = min(width, round((x + w) / scale)), min(height, round((y + h) / scale))
                if x1 > x0 and y1 > y0:
                    boxes.append((x0, y0, x1 - x0, y1 - y0))
            result.append(boxes)
        return result

    def _find_haar(self, image, scale):
        cv2 = _import_cv2()
        gray = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        side = max(1, round(self.min_face_size * scale))
        if min(gray.shape) < side:
            return []
        faces = _haar_cascade().detectMultiScale(
            np.ascontiguousarray(gray), scaleFactor=float(self.scale_factor),
            minNeighbors=int(self.min_neighbors), minSize=(side, side))
        return [tuple(int(v) for v in face) for face in faces]

    def _find_mtcnn(self, image, scale):
        rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
        if scale < 1.0:
            cv2 = _import_cv2()
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        side = self.min_face_size * scale
        with _mtcnn_lock:
            detector = _mtcnn()
            _in_mtcnn.active = True
            try:
                faces = detector.detect_faces(np.ascontiguousarray(rgb))
            finally:
                _in_mtcnn.active = False
        boxes = [tuple(int(v) for v in face["box"]) for face in faces]
        return [b for b in boxes if min(b[2], b[3]) >= side]

    def _crop(self, images, boxes):
        out = np.empty(len(images), dtype=object)
        for i, (image, box) in enumerate(zip(images, boxes)):
            x, y, w, h = self._crop_region(box, image.shape)
            out[i] = image if (w, h) == image.shape[1::-1] else np.ascontiguousarray(
                image[y:y + h, x:x + w])
        return out

    def _crop_region(self, box, shape):
        """The part of an image of ``shape`` that the face ``box`` is cropped to.

        The square around the box, enlarged by ``margin`` on every side and
        clipped to the image, as ``(x, y, width, height)``; the whole image
        for ``None`` (no face) or a box outside the image.
        """
        height, width = (int(v) for v in shape[:2])
        if box is None:
            return 0, 0, width, height
        x, y, w, h = box
        side = max(w, h) * (1.0 + 2.0 * float(self.margin))
        cx, cy = x + w / 2.0, y + h / 2.0
        x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
        x1, y1 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
        if x1 <= x0 or y1 <= y0:  # a box outside the image: keep it whole
            return 0, 0, width, height
        return x0, y0, x1 - x0, y1 - y0
