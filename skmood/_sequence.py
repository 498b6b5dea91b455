"""Batches of network-ready images, streamed from paths or arrays (private).

A :class:`keras.utils.PyDataset` decodes, resizes and normalises one batch at
a time, so memory stays bounded by the batch size however many files there
are. Decoding runs in worker threads, overlapping with the network's work.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._cache import DecodedCache
from ._face_boxes import FaceBoxes
from ._image import convert_channels, read_image, read_images, resize_image
from ._keras_backend import PyDataset, start_generator_dataset
from ._malloc import undo_tensorflow_setting
from ._validation import PATHS, PIXELS, ImageInput
from .exceptions import ImageReadError


def image_at(source: ImageInput, index: int, color_mode: str) -> np.ndarray:
    """Image ``index`` of ``source`` at its own size in ``color_mode`` (decoded if a path)."""
    if source.kind == PATHS:
        return read_image(source.data[index], color_mode=color_mode)
    return convert_channels(source.data[index], 3 if color_mode == "rgb" else 1)


def load_batch(
    source: ImageInput,
    indices: np.ndarray,
    image_size: tuple[int, int],
    color_mode: str,
    failures: dict | None = None,
    cache: DecodedCache | None = None,
    faces: FaceBoxes | None = None,
) -> np.ndarray:
    """Return the images at ``indices`` as float32 ``(n, h, w, c)`` in [0, 1].

    With a ``failures`` dict, an unreadable file becomes a black image and its
    index is recorded there with the error; without one, the error propagates.
    A ``cache`` of ``source`` serves the decoded images, decoding each file once.
    With ``faces``, each image is cropped to its largest face before resizing.
    """
    n_channels = 3 if color_mode == "rgb" else 1
    if cache is not None:
        batch = cache.take(indices, failures)
    elif source.kind == PATHS:
        positions = {}
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
    augment : Augmenter or None
        Random augmentation applied to every batch (training only); seeded by
        ``seed``, the epoch and the batch, so runs repeat.
    mirror : bool
        Prediction only: each batch is followed by its left-right mirror image
        (``2n`` rows), for test-time flip averaging.
    pad : bool
        Prediction only: pad a short last batch with black images up to the
        next power of two (at most ``batch_size``), so that an XLA-compiled
        network sees few distinct batch shapes (it compiles once per shape).
        :meth:`batch_rows` tells which rows are real.
    cache : DecodedCache or None
        Decoded images of ``source`` kept across epochs (and shared with
        another sequence over the same ``source``), instead of decoding
        every batch from its files.
    faces : FaceBoxes or None
        Crop each image to its largest face (boxes of ``source``, remembered
        across epochs) before resizing; a ``cache`` crops with its own.
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
        augment=None,
        mirror=False,
        pad=False,
        cache=None,
        faces=None,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        if y is not None:
            # For Keras' fit, which runs it through tf.data's from_generator: the
            # first such dataset of the process sets a malloc threshold that makes
            # every large tensor a fresh mmap. Undo it, once per process.
            undo_tensorflow_setting(start_generator_dataset)
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
        self.augment = augment if augment is not None and augment.active else None
        self.mirror = mirror
        self.pad = pad
        self.cache = cache
        self.faces = faces
        # Augmentation seeds: fixed by ``seed``, or fresh for an unseeded run.
        self._seed = int(np.random.SeedSequence(seed).entropy % 2**63)
        self._epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int):
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        failures = None if self.failures is None else {}
        x = load_batch(self.source, idx, self.image_size, self.color_mode, failures,
                       self.cache, self.faces)
        if failures:
            with self._lock:  # batches are loaded by several worker threads
                self.failures.update(failures)
        if self.augment is not None:
            rng = np.random.default_rng([self._seed or 0, self._epoch, index])
            x = self.augment.apply(x, rng)
        real, padded = self.batch_rows(index)
        if padded > real:
            x = np.concatenate([x, np.zeros((padded - real, *x.shape[1:]), x.dtype)])
        if self.mirror:
            x = np.concatenate([x, x[:, :, ::-1]])
        if self.y is None:
            return (x,)
        y = self.y[idx].astype(np.float32)
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[idx].astype(np.float32)

    def batch_rows(self, index: int) -> tuple[int, int]:
        """``(images, rows)`` of batch ``index``: rows exceed images when padded.

        With ``mirror``, the network sees ``2 * rows`` rows: the (padded) batch,
        then its mirror image.
        """
        real = min(self.batch_size, len(self._order) - index * self.batch_size)
        if not self.pad or self.y is not None or real == self.batch_size:
            return real, real
        return real, min(self.batch_size, 1 << max(real - 1, 0).bit_length())

    def collect(self, outputs: np.ndarray) -> np.ndarray:
        """The network's ``outputs`` over all batches, one row per image.

        Drops padding rows and averages each image with its mirror image.
        """
        parts, position = [], 0
        for index in range(len(self)):
            real, rows = self.batch_rows(index)
            block = outputs[position: position + rows * (2 if self.mirror else 1)]
            position += rows * (2 if self.mirror else 1)
            parts.append((block[:real] + block[rows:rows + real]) / 2 if self.mirror
                         else block[:real])
        if position != len(outputs):  # never return misaligned rows
            raise RuntimeError(f"expected {position} network outputs, got {len(outputs)}.")
        return np.concatenate(parts) if parts else outputs[:0]

    def on_epoch_end(self) -> None:
        self._epoch += 1
        if self.shuffle:
            self._rng.shuffle(self._order)


def predict_batches(predict_on_batch, seq: ImageSequence, *, progress=None) -> np.ndarray:
    """Run ``predict_on_batch`` over every batch of ``seq``; concatenate the outputs.

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
