"""Batches of network-ready images, streamed from paths or arrays (private).

A :class:`keras.utils.PyDataset` decodes, resizes and normalises one batch at
a time (:func:`skmood._batches.load_batch`), so memory stays bounded by the
batch size however many files there are. Decoding runs in worker threads,
overlapping with the network's work.
"""

from __future__ import annotations

import math
import threading

import numpy as np

# image_at, predict_batches: also importable from here
from ._batches import image_at, load_batch, predict_batches  # noqa: F401
from ._keras_backend import PyDataset, start_generator_dataset
from ._malloc import undo_tensorflow_setting
from ._validation import ImageInput


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
