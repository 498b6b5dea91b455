"""Training on paths decodes each file once per fit when the images fit in memory."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import skmood._cache as cache_module
import skmood._batches as batches  # image_at decodes there
import skmood._image as image_module  # read_images decodes there
import skmood._sequence as sequence
from skmood._augment import Augmenter
from skmood._validation import check_images
from skmood.exceptions import SkmoodWarning


def _count_decodes(monkeypatch):
    """Record every file decoded, by the streaming path or by the cache."""
    calls = []
    real = batches.read_image

    def spy(path, **kwargs):
        calls.append(str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(batches, "read_image", spy)
    monkeypatch.setattr(image_module, "read_image", spy)  # behind read_images
    return calls


def _counts(calls, paths):
    return np.array([calls.count(str(p)) for p in paths])


@pytest.mark.parametrize("cache", [True, "auto"])
def test_each_file_is_decoded_once_per_fit_over_three_epochs(face_paths, make_clf,
                                                             monkeypatch, cache):
    paths, labels = face_paths
    calls = _count_decodes(monkeypatch)
    clf = make_clf(epochs=3, cache=cache, validation_split=0.25).fit(paths, labels)
    assert clf.n_iter_ == 3 and "val_loss" in clf.history_
    # Training and validation images alike, Keras' first peeks included.
    assert _counts(calls, paths).tolist() == [1] * len(paths)
    calls.clear()
    make_clf(epochs=1, cache=cache).fit(paths, labels)  # a new fit decodes anew
    assert _counts(calls, paths).tolist() == [1] * len(paths)


def test_separate_validation_data_is_cached_too(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    calls = _count_decodes(monkeypatch)
    make_clf(epochs=2, cache=True, validation_data=(paths[:8], labels[:8])).fit(
        paths[8:], labels[8:])
    # Two inputs, two caches: the first 8 files once as validation, once as training.
    assert _counts(calls, paths[:8]).tolist() == [1] * 8
    assert _counts(calls, paths[8:]).tolist() == [1] * (len(paths) - 8)


def test_without_the_cache_every_epoch_decodes_again(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    calls = _count_decodes(monkeypatch)
    make_clf(epochs=3, cache=False).fit(paths, labels)
    counts = _counts(calls, paths)
    assert counts.min() >= 3  # once per epoch (plus Keras' peeks at two batches)


def test_auto_streams_above_the_budget(face_paths, make_clf, monkeypatch):
    paths, labels = face_paths
    data = check_images(paths, "test")
    size = cache_module.DecodedCache.nbytes(len(paths), (16, 16), "rgb")
    assert size == len(paths) * 16 * 16 * 3
    monkeypatch.setattr(cache_module, "CACHE_BUDGET", size)
    assert len(cache_module.fit_caches("auto", [data, None], (16, 16), "rgb")) == 1
    monkeypatch.setattr(cache_module, "CACHE_BUDGET", size - 1)
    assert cache_module.fit_caches("auto", [data, None], (16, 16), "rgb") == {}
    assert len(cache_module.fit_caches(True, [data, data], (16, 16), "rgb")) == 1
    calls = _count_decodes(monkeypatch)
    make_clf(epochs=2, cache="auto").fit(paths, labels)
    assert _counts(calls, paths).min() >= 2


def test_pixel_arrays_are_never_copied_into_a_cache(face_pixels):
    X, _ = face_pixels
    assert cache_module.fit_caches(True, [check_images(X, "test")], (24, 24), "rgb") == {}


@pytest.mark.parametrize("augment", [None, Augmenter(rotation=20.0, horizontal_flip=True,
                                                     zoom=0.1, shift=0.1)])
def test_cached_batches_equal_decoded_batches_every_epoch(face_paths, augment):
    paths, labels = face_paths
    data = check_images(paths, "test")
    y = (labels == "sad").astype(int)
    cache = cache_module.DecodedCache(data, (12, 12), "grayscale")
    kwargs = dict(image_size=(12, 12), color_mode="grayscale", y=y, batch_size=5,
                  shuffle=True, seed=3, augment=augment)
    streamed = sequence.ImageSequence(data, **kwargs)
    cached = sequence.ImageSequence(data, cache=cache, **kwargs)
    epochs = []
    for _ in range(2):
        batches = []
        for i in range(len(streamed)):
            (xs, ys), (xc, yc) = streamed[i], cached[i]
            assert xc.dtype == np.float32 and xc.shape == xs.shape
            np.testing.assert_array_equal(xc, xs)
            np.testing.assert_array_equal(yc, ys)
            batches.append(xc)
        epochs.append(batches)
        streamed.on_epoch_end()
        cached.on_epoch_end()
    assert cache._filled.all()
    # The cache holds images before augmentation: the epochs still differ.
    assert not all(np.array_equal(a, b) for a, b in zip(*epochs))


def test_the_same_seed_trains_the_same_network_with_or_without_the_cache(face_paths,
                                                                          make_clf):
    paths, labels = face_paths
    cached = make_clf(epochs=2, cache=True).fit(paths, labels)
    streamed = make_clf(epochs=2, cache=False).fit(paths, labels)
    for a, b in zip(cached.model_.get_weights(), streamed.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cached.predict_proba(paths), streamed.predict_proba(paths),
                               atol=1e-6)


def test_skipping_unreadable_files_decodes_each_once_and_warns_once(face_paths, make_clf,
                                                                    monkeypatch, tmp_path):
    paths, labels = face_paths
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    X = np.array([*paths, str(broken)], dtype=object)
    y = np.array([*labels, "happy"], dtype=object)
    calls = _count_decodes(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = make_clf(epochs=3, cache=True, on_error="skip", batch_size=4).fit(X, y)
    ours = [w for w in caught if issubclass(w.category, SkmoodWarning)]
    assert len(ours) == 1 and "1 of 25 images could not be read" in str(ours[0].message)
    assert "broken.png" in str(ours[0].message)
    # The check of on_error="skip" filled the cache: training decoded nothing more.
    assert _counts(calls, X).tolist() == [1] * len(X)
    assert clf.n_iter_ == 3 and list(clf.classes_) == ["happy", "sad"]


def test_a_cached_failure_is_reported_every_epoch_without_decoding_again(face_paths,
                                                                         tmp_path,
                                                                         monkeypatch):
    paths, _ = face_paths
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    data = check_images([paths[0], str(broken)], "test")
    calls = _count_decodes(monkeypatch)
    cache = cache_module.DecodedCache(data, (8, 8), "rgb")
    seq = sequence.ImageSequence(data, image_size=(8, 8), color_mode="rgb", batch_size=2,
                                 on_error="skip", cache=cache)
    for _ in range(2):
        (x,) = seq[0]
        assert list(seq.failures) == [1] and not x[1].any()
        seq.failures.clear()
    assert len(calls) == 2


def test_the_fitted_estimator_does_not_keep_the_cache(face_paths, make_clf):
    paths, labels = face_paths
    cached = make_clf(epochs=1, cache=True).fit(paths, labels)
    streamed = make_clf(epochs=1, cache=False).fit(paths, labels)
    assert set(vars(cached)) == set(vars(streamed))
    assert not any(isinstance(v, cache_module.DecodedCache) for v in vars(cached).values())
    decoded_bytes = cache_module.DecodedCache.nbytes(len(paths), (16, 16), "rgb")
    grown = len(pickle.dumps(cached)) - len(pickle.dumps(streamed))
    assert abs(grown) < decoded_bytes / 4


@pytest.mark.parametrize(("word", "value"), [("auto", "auto"), ("on", True), ("off", False)])
def test_the_cli_option_gives_the_parameter_value(word, value):
    from skmood.cli._parser import build_parser

    args = build_parser().parse_args(["train", "data", "-o", "m.skmood", "--cache", word])
    assert args.cache is value or args.cache == value
    assert type(args.cache) is type(value)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "data", "-o", "m.skmood", "--cache", "yes"])
