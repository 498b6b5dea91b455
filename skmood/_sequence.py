"""Batches of network-ready images, streamed from paths or arrays (private).

A :class:`keras.utils.PyDataset` decodes, resizes and normalises one batch at
a time, so memory stays bounded by the batch size however many files there
are. Decoding runs in worker threads, overlapping with the network's work.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ._image import convert_channels, read_image, resize_image
from ._keras_backend import PyDataset
from ._validation import PATHS, PIXELS, ImageInput
from .exceptions import ImageReadError


def load_batch(
    source: ImageInput,
    indices: np.ndarray,
    image_size: tuple[int, int],
    color_mode: str,
    failures: dict | None = None,
) -> np.ndarray:
    """Return the images at ``indices`` as float32 ``(n, h, w, c)`` in [0, 1].

    With a ``failures`` dict, an unreadable file becomes a black image and its
    index is recorded there with the error; without one, the error propagates.
    """
    n_channels = 3 if color_mode == "rgb" else 1
    if source.kind == PATHS:
        images = []
        for i in indices:
            try:
                image = read_image(source.data[i], color_mode=color_mode)
            except ImageReadError as exc:
                if failures is None:
                    raise
                failures[int(i)] = exc
                image = np.zeros((*image_size, n_channels), np.uint8)
            images.append(resize_image(image, image_size))
        batch = np.stack(images)
    elif source.kind == PIXELS:
        batch = source.data[indices]
        if batch.shape[1:3] != tuple(image_size) or batch.shape[-1] != n_channels:
            batch = np.stack(
                [resize_image(convert_channels(img, n_channels), image_size) for img in batch]
            )
    else:  # decoded images of their own sizes
        batch = np.stack(
            [resize_image(convert_channels(source.data[i], n_channels), image_size)
             for i in indices]
        )
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) * np.float32(1.0 / 255.0)
    return batch.astype(np.float32, copy=False)


class ImageSequence(PyDataset):
    """Keras dataset over an :class:`~skmood._validation.ImageInput`.

    Parameters
    ----------
    source : ImageInput
        Paths, a pixel array or decoded images.
    image_size : tuple of (int, int)
        Output ``(height, width)``.
    color_mode : {"rgb", "grayscale"}
        Output channels.
    y, sample_weight : ndarray or None
        Encoded targets and per-sample weights; ``None`` for prediction.
    batch_size : int
        Images per batch.
    shuffle : bool
        Reshuffle the order at the start of every epoch (training).
    seed : int or None
        Seed of the shuffling.
    workers : int
        Decoding threads; more than one overlaps decoding with training.
    indices : ndarray or None
        The items of ``source`` to serve (all by default).
    on_error : {"raise", "skip"}
        With ``"skip"``, unreadable files are served as black images and
        recorded in :attr:`failures` (index -> ImageReadError) instead of raising.
    """

    def __init__(
        self,
        source: ImageInput,
        *,
        image_size,
        color_mode,
        y=None,
        sample_weight=None,
        batch_size=32,
        shuffle=False,
        seed=None,
        workers=1,
        indices=None,
        on_error="raise",
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        self.source = source
        self.image_size = tuple(image_size)
        self.color_mode = color_mode
        self.y = y
        self.sample_weight = sample_weight
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(source)) if indices is None else np.array(indices)
        if shuffle:
            self._rng.shuffle(self._order)
        self.failures = {} if on_error == "skip" else None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int):
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        failures = None if self.failures is None else {}
        x = load_batch(self.source, idx, self.image_size, self.color_mode, failures)
        if failures:
            with self._lock:  # batches are loaded by several worker threads
                self.failures.update(failures)
        if self.y is None:
            return (x,)
        y = self.y[idx].astype(np.float32)
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[idx].astype(np.float32)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)
