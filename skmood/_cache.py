"""Decoded images kept in memory for the duration of one fit (private).

Training on file paths would otherwise decode and resize every file once per
epoch. A :class:`DecodedCache` holds the decoded, *resized* uint8 images of one
:class:`~skmood._validation.ImageInput` of paths, filled lazily as batches are
first served, so each file is decoded once per fit; augmentation and
normalisation still run on every batch, after the cache. ``fit`` creates the
caches and drops them when it returns: they are never fitted attributes and
never pickled.
"""

from __future__ import annotations

import threading

import numpy as np

from ._image import read_images, resize_image
from ._validation import PATHS, ImageInput
from .exceptions import ImageReadError

#: Memory budget of ``cache="auto"``, in bytes: the decoded images of a fit
#: (training and validation, uint8 at the network's input size) are cached when
#: they fit in it. 12,045 FER2013 faces at 48x48 grayscale take 28 MB.
CACHE_BUDGET = 1 << 30


class DecodedCache:
    """The decoded, resized uint8 images of a sequence of paths, filled lazily.

    Parameters
    ----------
    source : ImageInput
        File paths (``source.kind == "paths"``).
    image_size : tuple of (int, int)
        ``(height, width)`` the images are resized to.
    color_mode : {"rgb", "grayscale"}
        Channels of the decoded images.
    faces : FaceBoxes or None, default=None
        Crop each image to its largest face before resizing (the crop is what
        is cached, so each face is detected once per fit).

    Notes
    -----
    Safe for several worker threads: two threads asking for the same image at
    once may both decode it, and both store the same pixels. An unreadable file
    is remembered with its error when the caller collects failures
    (``on_error="skip"``), and reported again from memory on every later call.
    """

    def __init__(self, source: ImageInput, image_size, color_mode: str, faces=None):
        self.source = source
        self.faces = faces
        self.image_size = tuple(image_size)
        self.color_mode = color_mode
        n_channels = 3 if color_mode == "rgb" else 1
        self._images = np.zeros((len(source), *self.image_size, n_channels), np.uint8)
        self._filled = np.zeros(len(source), bool)
        self._failures: dict[int, ImageReadError] = {}
        self._lock = threading.Lock()

    @staticmethod
    def nbytes(n_images: int, image_size, color_mode: str) -> int:
        """Bytes that ``n_images`` decoded images take in a cache."""
        return int(n_images) * int(np.prod(image_size)) * (3 if color_mode == "rgb" else 1)

    def take(self, indices: np.ndarray, failures: dict | None = None) -> np.ndarray:
        """The uint8 images ``(n, h, w, c)`` at ``indices``, decoding the new ones.

        With a ``failures`` dict, an unreadable file is a black image and its
        index is recorded there with the error (every call); without one, the
        error propagates and nothing is stored for that file.
        """
        new = list(dict.fromkeys(int(i) for i in indices if not self._filled[int(i)]))
        images = read_images(self.source.data[new], color_mode=self.color_mode) if new else []

        def decoded():
            for i, image in zip(new, images):
                if isinstance(image, ImageReadError):
                    if failures is None:
                        raise image
                    with self._lock:
                        self._failures[i] = image
                    self._filled[i] = True
                else:
                    yield i, image

        items = decoded() if self.faces is None else self.faces.crop_each(decoded())
        for i, image in items:
            self._images[i] = resize_image(image, self.image_size)
            self._filled[i] = True
        for i in map(int, indices):
            if failures is not None and i in self._failures:
                failures[i] = self._failures[i]
            elif i in self._failures:  # cached as unreadable, now asked to raise
                raise self._failures[i]
        return self._images[np.asarray(indices, dtype=np.intp)]


def fit_caches(
    mode, sources: list[ImageInput | None], image_size, color_mode: str, faces=None
) -> dict[int, DecodedCache]:
    """Caches for the distinct path inputs of one fit, keyed by ``id(source)``.

    ``mode`` is the classifier's ``cache``: ``False`` gives none, ``True`` one
    per path input, ``"auto"`` the same when all of them together fit
    :data:`CACHE_BUDGET`, else none. Pixel arrays are in memory already and
    never cached. ``faces`` (by ``id`` of the data) crops the images of each
    input to their faces before they are cached.
    """
    distinct = {id(s): s for s in sources if s is not None and s.kind == PATHS}
    if not distinct or not (isinstance(mode, str) or mode):
        return {}
    if isinstance(mode, str):  # "auto"
        total = sum(DecodedCache.nbytes(len(s), image_size, color_mode)
                    for s in distinct.values())
        if total > CACHE_BUDGET:
            return {}
    faces = faces or {}
    return {key: DecodedCache(s, image_size, color_mode, faces.get(key))
            for key, s in distinct.items()}
