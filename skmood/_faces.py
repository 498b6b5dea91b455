"""Finding and cropping faces, without scikit-learn (private).

The detectors behind :class:`~skmood.FaceCropper` (OpenCV's Haar cascade,
MTCNN) and the square crop with a margin, in one place that both the
scikit-learn transformer and the lean runtime (:mod:`skmood.runtime`, which
runs without scikit-learn and TensorFlow, so with the Haar cascade only) use.
OpenCV (``opencv-python-headless``) and MTCNN (``mtcnn``) are imported only
when a face is looked for.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DETECTORS", "FaceFinder"]

_NAME = "FaceCropper"
#: The face detectors of ``detector``.
DETECTORS = ("haar", "mtcnn")
#: Images are shrunk to at most this many pixels on their longer side for
#: detection (boxes are mapped back to full resolution): a 12-megapixel photo
#: takes milliseconds instead of a second.
DETECT_MAX_SIDE = 1024
#: At most this many images of one shape go through MTCNN in one call.
MTCNN_BATCH = 32
#: The cascade shipped inside the opencv-python(-headless) wheel.
HAAR_CASCADE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]

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


def _shrink(image, scale):
    """``image`` resized by ``scale`` (< 1) with area averaging, at least 1x1."""
    cv2 = _import_cv2()
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


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


@dataclass(frozen=True)
class FaceFinder:
    """Find faces and crop images to them: :class:`~skmood.FaceCropper`'s work.

    The parameters are FaceCropper's, already validated; images are
    ``(height, width, channels)`` uint8 arrays.
    """

    detector: str = "haar"
    margin: float = 0.2
    min_face_size: int = 24
    scale_factor: float = 1.1
    min_neighbors: int = 5

    def detect(self, images: Sequence[np.ndarray]) -> list[Box | None]:
        """The largest face of each image, ``None`` where there is none."""
        return [faces[0] if faces else None for faces in self.detect_all(images)]

    def detect_all(self, images: Sequence[np.ndarray]) -> list[list[Box]]:
        """Every face of each image, largest first, in full-resolution pixels."""
        scales = [min(1.0, DETECT_MAX_SIDE / max(image.shape[:2])) for image in images]
        if self.detector == "mtcnn":
            found = self._find_mtcnn(images, scales)
        else:
            found = [self._find_haar(image, scale) for image, scale in zip(images, scales)]
        result = []
        for image, scale, faces in zip(images, scales, found):
            height, width = image.shape[:2]
            boxes = []
            for x, y, w, h in sorted(faces, key=lambda b: (-b[2] * b[3], b[1], b[0])):
                x0, y0 = max(0, round(x / scale)), max(0, round(y / scale))
                x1, y1 = min(width, round((x + w) / scale)), min(height, round((y + h) / scale))
                if x1 > x0 and y1 > y0:
                    boxes.append((x0, y0, x1 - x0, y1 - y0))
            result.append(boxes)
        return result

    def crop(self, images: Sequence[np.ndarray], boxes: Sequence[Box | None]) -> np.ndarray:
        """Each image cropped to a square around its box, with the margin; whole if ``None``."""
        out = np.empty(len(images), dtype=object)
        for i, (image, box) in enumerate(zip(images, boxes)):
            x, y, w, h = self.crop_region(box, image.shape)
            out[i] = image if (w, h) == image.shape[1::-1] else np.ascontiguousarray(
                image[y:y + h, x:x + w])
        return out

    def crop_region(self, box: Box | None, shape: Sequence[int]) -> Box:
        """The part of an image of ``shape`` that the face ``box`` is cropped to.

        The square around the box, enlarged by ``margin`` on every side and
        clipped to the image, as ``(x, y, width, height)``; the whole image
        for ``None`` (no face) or a box outside the image. Heat maps of a crop
        are placed back on the image there.
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

    def _find_haar(self, image, scale):
        cv2 = _import_cv2()
        gray = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = _shrink(gray, scale)
        side = max(1, round(self.min_face_size * scale))
        if min(gray.shape) < side:
            return []
        faces = _haar_cascade().detectMultiScale(
            np.ascontiguousarray(gray), scaleFactor=float(self.scale_factor),
            minNeighbors=int(self.min_neighbors), minSize=(side, side))
        return [tuple(int(v) for v in face) for face in faces]

    def _find_mtcnn(self, images, scales):
        """MTCNN boxes of each image, images of one shape detected in one batch.

        MTCNN takes a batch of images in one call, about 10x as fast per image
        as one call each, with the same boxes when the images share a shape
        (``benchmarks/bench_detect.py``). Images of different shapes are never
        batched together: mtcnn pads them to a common size, which was slower
        and moved boxes.
        """
        rgbs = []
        for image, scale in zip(images, scales):
            rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
            rgbs.append(np.ascontiguousarray(_shrink(rgb, scale) if scale < 1.0 else rgb))
        by_shape: dict[tuple, list[int]] = {}
        for i, rgb in enumerate(rgbs):
            by_shape.setdefault(rgb.shape, []).append(i)
        found: list = [[] for _ in rgbs]
        with _mtcnn_lock:
            detector = _mtcnn()
            _in_mtcnn.active = True
            try:
                for indices in by_shape.values():
                    for start in range(0, len(indices), MTCNN_BATCH):
                        chunk = indices[start:start + MTCNN_BATCH]
                        faces = detector.detect_faces([rgbs[i] for i in chunk])
                        for i, image_faces in zip(chunk, faces):
                            found[i] = image_faces
            finally:
                _in_mtcnn.active = False
        result = []
        for faces, scale in zip(found, scales):
            side = self.min_face_size * scale
            boxes = [tuple(int(v) for v in face["box"]) for face in faces]
            result.append([b for b in boxes if min(b[2], b[3]) >= side])
        return result
