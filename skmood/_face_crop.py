"""FaceCropper: crop each image to its largest face (OpenCV Haar cascade or MTCNN).

OpenCV (``opencv-python-headless``) and MTCNN (``mtcnn``), both dependencies of
skmood since its pretrained model finds faces, are imported inside the methods that use
them, so ``import skmood`` stays cheap and works without either. The detectors and the
crop are in :mod:`skmood._faces` (no scikit-learn), shared with :mod:`skmood.runtime`;
this module is the scikit-learn transformer around them.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions
from ._faces import DETECTORS, FaceFinder  # DETECTORS: also importable from here
from ._validation import PATHS, check_images
from .transformers import _StatelessTransformer

__all__ = ["FaceCropper"]

_NAME = "FaceCropper"


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

    def _finder(self) -> FaceFinder:
        """The detector and crop with these parameters (:mod:`skmood._faces`)."""
        return FaceFinder(detector=self.detector, margin=float(self.margin),
                          min_face_size=int(self.min_face_size),
                          scale_factor=float(self.scale_factor),
                          min_neighbors=int(self.min_neighbors))

    def _detect(self, images):
        return self._finder().detect(images)

    def _detect_all(self, images):
        """Every face of each image, largest first, in full-resolution pixels."""
        return self._finder().detect_all(images)

    def _crop(self, images, boxes):
        return self._finder().crop(images, boxes)

    def _crop_region(self, box, shape):
        """The part ``(x, y, width, height)`` of an image of ``shape`` that ``box`` crops to."""
        return self._finder().crop_region(box, shape)
