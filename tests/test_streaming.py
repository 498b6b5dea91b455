"""Images are decoded batch by batch: memory is bounded by the batch size."""

from __future__ import annotations

import numpy as np
import pytest

import skmood._batches as batches  # image_at decodes there
import skmood._image as image_module  # read_images decodes there
import skmood._sequence as sequence
from skmood._validation import check_images
from skmood.exceptions import ImageReadError


def _spy_on_decoding(monkeypatch):
    calls = []
    real = batches.read_image

    def spy(path, **kwargs):
        calls.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(batches, "read_image", spy)
    monkeypatch.setattr(image_module, "read_image", spy)  # behind read_images
    return calls


def test_a_batch_decodes_only_its_own_files(face_paths, monkeypatch):
    paths, labels = face_paths
    calls = _spy_on_decoding(monkeypatch)
    seq = sequence.ImageSequence(check_images(paths, "test"), image_size=(16, 16),
                                 color_mode="rgb", batch_size=5)
    assert calls == []  # building the dataset reads nothing
    (x,) = seq[1]
    assert x.shape == (5, 16, 16, 3) and x.dtype == np.float32
    assert calls == list(paths[5:10])
    assert len(seq) == 5  # 24 images in batches of 5


def test_training_shuffles_every_epoch_and_keeps_labels_aligned(face_paths):
    paths, labels = face_paths
    y = (labels == "sad").astype(int)
    seq = sequence.ImageSequence(check_images(paths, "test"), image_size=(16, 16),
                                 color_mode="rgb", y=y, batch_size=24, shuffle=True, seed=0)
    order_before = seq._order.copy()
    x, batch_y = seq[0]
    # Each image is paired with its own label after shuffling.
    by_path = {p: i for i, p in enumerate(paths)}
    np.testing.assert_array_equal(batch_y, y[[by_path[p] for p in paths[seq._order]]])
    seq.on_epoch_end()
    assert not np.array_equal(order_before, seq._order)
    assert sorted(seq._order) == list(range(24))


def test_fit_reads_each_file_once_per_epoch(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    calls = _spy_on_decoding(monkeypatch)
    make_clf(epochs=2, cache=False).fit(paths, labels)  # streaming, nothing kept
    counts = np.array([calls.count(p) for p in paths])
    # Twice each, plus the two batches (2 x 8 files) Keras peeks at once to
    # learn the batch shapes before training: never the whole set at once.
    assert set(counts) <= {2, 3}
    assert (counts == 3).sum() <= 2 * 8


def test_prediction_keeps_the_input_order(face_paths, make_clf):
    paths, labels = face_paths
    clf = make_clf().fit(paths, labels)
    forward = clf.predict_proba(paths)
    backward = clf.predict_proba(paths[::-1])
    np.testing.assert_allclose(backward, forward[::-1], atol=1e-6)


def test_prediction_loads_batches_ahead_in_order_and_reports_progress(face_paths):
    # Two threads decode ahead of the network, yet outputs come back in the
    # order of the batches, whatever order the threads finish in.
    paths, _ = face_paths
    seq = sequence.ImageSequence(check_images(paths, "test"), image_size=(16, 16),
                                 color_mode="grayscale", batch_size=5, workers=2)
    done = []
    means = sequence.predict_batches(lambda x: x.mean(axis=(1, 2, 3))[:, None], seq,
                                     progress=done.append)
    expected = np.concatenate([seq[i][0].mean(axis=(1, 2, 3)) for i in range(len(seq))])
    np.testing.assert_allclose(means[:, 0], expected)
    assert done == [1, 2, 3, 4, 5]


def test_prediction_decodes_a_bounded_number_of_batches_ahead(face_paths, monkeypatch):
    # Memory stays bounded: while the network works on batch i, at most
    # ``workers + 1`` later batches have been decoded.
    paths, _ = face_paths
    calls = _spy_on_decoding(monkeypatch)
    seq = sequence.ImageSequence(check_images(paths, "test"), image_size=(16, 16),
                                 color_mode="rgb", batch_size=4)
    decoded_when_called = []

    def network(x):
        decoded_when_called.append(len(calls))
        return np.zeros((len(x), 1))

    sequence.predict_batches(network, seq)  # seq.workers == 1
    for batch, decoded in enumerate(decoded_when_called):
        assert decoded <= 4 * (batch + 3)


def test_prediction_of_an_unreadable_file_names_it(face_paths, tmp_path):
    paths, _ = face_paths
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with_broken = np.append(paths, str(broken))
    seq = sequence.ImageSequence(check_images(with_broken, "test"), image_size=(16, 16),
                                 color_mode="rgb", batch_size=5, workers=2)
    with pytest.raises(ImageReadError, match="broken.jpg"):
        sequence.predict_batches(lambda x: np.zeros((len(x), 1)), seq)
