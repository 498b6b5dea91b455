"""Network-ready images from paths or arrays, one batch at a time (private).

Decode (:mod:`skmood._image`), crop to the face (``faces``), resize, and
normalise: the one input path of the classifier's training and prediction
(:class:`skmood._sequence.ImageSequence` serves these batches to Keras) and of
the exported models' runtime (:mod:`skmood.runtime`, which takes the uint8
batch of :func:`resized_batch`). Imports neither Keras nor scikit-learn.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._cache import DecodedCache
from ._face_boxes import FaceBoxes
from ._image import convert_channels, read_image, read_images, resize_image
from ._validation import PATHS, PIXELS, ImageInput
from .exceptions import ImageReadError

__all__ = ["image_at", "load_batch", "predict_batches", "resized_batch"]


def image_at(source: ImageInput, index: int, color_mode: str) -> np.ndarray:
    """Image ``index`` of ``source`` at its own size in ``color_mode`` (decoded if a path)."""
    if source.kind == PATHS:
        return read_image(source.data[index], color_mode=color_mode)
    return convert_channels(source.data[index], 3 if color_mode == "rgb" else 1)


def resized_batch(
    source: ImageInput,
    indices: np.ndarray,
    image_size: tuple[int, int],
    color_mode: str,
    failures: dict | None = None,
    cache: DecodedCache | None = None,
    faces: FaceBoxes | None = None,
) -> np.ndarray:
    """The images at ``indices`` in ``color_mode``, resized to ``image_size``.

    Returns ``(n, h, w, c)`` uint8 pixels (float in [0, 1] for a float pixel
    array), before normalisation: what :func:`load_batch` normalises, and what
    an exported model (:mod:`skmood.runtime`) takes. With a ``failures`` dict,
    an unreadable file becomes a black image and its index is recorded there
    with the error; without one, the error propagates. A ``cache`` of
    ``source`` serves the decoded images, decoding each file once. With
    ``faces``, each image is cropped to its largest face before resizing.
    """
    n_channels = 3 if color_mode == "rgb" else 1
    if cache is not None:
        batch = cache.take(indices, failures)
    elif source.kind == PATHS:
        positions: dict[int, list[int]] = {}
        batch = np.zeros((len(indices), *image_size, n_channels), np.uint8)
        images = read_images(source.data[indices], color_mode=color_mode)

        def decoded():
            for k, (i, image) in enumerate(zip(indices, images)):
                if isinstance(image, ImageReadError):
                    if failures is None:
                        raise image
                    failures[int(i)] = image  # stays a black image
                else:
                    positions.setdefault(int(i), []).append(k)
                    yield int(i), image

        items = decoded() if faces is None else faces.crop_each(decoded())
        for i, image in items:
            batch[positions[i].pop(0)] = resize_image(image, image_size)
    elif source.kind == PIXELS and faces is None:
        batch = source.data[indices]
        if batch.shape[1:3] != tuple(image_size) or batch.shape[-1] != n_channels:
            batch = np.stack(
                [resize_image(convert_channels(img, n_channels), image_size) for img in batch]
            )
    else:  # decoded images of their own sizes (or pixel arrays to crop)
        images = [convert_channels(source.data[i], n_channels) for i in indices]
        if faces is not None:
            images = [image for _, image in faces.crop_each(zip(indices, images))]
        batch = np.stack([resize_image(image, image_size) for image in images])
    return batch


def load_batch(source: ImageInput, indices: np.ndarray, image_size: tuple[int, int],
               color_mode: str, failures: dict | None = None, cache: DecodedCache | None = None,
               faces: FaceBoxes | None = None) -> np.ndarray:
    """Return the images at ``indices`` as float32 ``(n, h, w, c)`` in [0, 1].

    :func:`resized_batch` (same parameters), then uint8 pixels are divided by 255.
    """
    batch = resized_batch(source, indices, image_size, color_mode, failures, cache, faces)
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) * np.float32(1.0 / 255.0)
    return batch.astype(np.float32, copy=False)


def predict_batches(predict_on_batch, seq, *, progress=None) -> np.ndarray:
    """Run ``predict_on_batch`` over every batch of ``seq``; concatenate the outputs.

    ``seq`` is a sequence of batches (``len``, ``seq[i] -> (x,)``) with a
    ``workers`` count: an :class:`skmood._sequence.ImageSequence`, or the
    runtime's batches (:mod:`skmood.runtime`).

    ``seq.workers`` threads load the next batches while the network runs on the
    current one (decoding releases the GIL), so decoding overlaps inference;
    at most ``seq.workers + 1`` batches wait decoded. Calling the network batch
    by batch also skips the generic input adapter of ``Model.predict``.
    ``progress``, if given, is called with the number of batches done.
    """
    n_batches, workers = len(seq), max(1, int(seq.workers))
    outputs = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(pool.submit(seq.__getitem__, i)
                        for i in range(min(n_batches, workers + 1)))
        next_index = len(pending)
        while pending:
            x = pending.popleft().result()[0]
            if next_index < n_batches:
                pending.append(pool.submit(seq.__getitem__, next_index))
                next_index += 1
            outputs.append(np.asarray(predict_on_batch(x)))
            if progress is not None:
                progress(len(outputs))
    if not outputs:
        return np.empty((0, 1), np.float32)
    return np.concatenate(outputs)
