"""Tests for skmood.datasets: load_image_folder and make_faces."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from skmood.datasets import IMAGE_EXTENSIONS, load_image_folder, make_faces
from skmood.exceptions import DatasetError

FOLDER_LOGGER = "skmood.datasets._folder"


def touch(root: Path, *names: str) -> None:
    """Create empty files; load_image_folder only lists paths, never opens them."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def rel(paths: np.ndarray, root: Path) -> list[str]:
    """Paths relative to ``root`` with forward slashes, for readable asserts."""
    return [Path(os.path.relpath(p, root)).as_posix() for p in paths]


# --------------------------------------------------------------------------
# load_image_folder
# --------------------------------------------------------------------------


def test_one_subfolder_per_class_sorted_by_class_then_path(tmp_path):
    touch(tmp_path, "sad/b.png", "happy/z.jpg", "sad/a.png", "happy/m.png", "happy/a.jpeg")

    paths, labels = load_image_folder(tmp_path)

    assert rel(paths, tmp_path) == [
        "happy/a.jpeg",
        "happy/m.png",
        "happy/z.jpg",
        "sad/a.png",
        "sad/b.png",
    ]
    assert labels.tolist() == ["happy", "happy", "happy", "sad", "sad"]
    assert paths.dtype == object and labels.dtype == object
    assert paths.shape == labels.shape == (5,)
    assert all(type(p) is str for p in paths) and all(type(c) is str for c in labels)


def test_paths_keep_the_directory_as_given(tmp_path, monkeypatch):
    touch(tmp_path, "data/happy/a.png", "data/sad/b.png")
    monkeypatch.chdir(tmp_path)

    paths, _ = load_image_folder("data")

    assert paths.tolist() == [
        os.path.join("data", "happy", "a.png"),
        os.path.join("data", "sad", "b.png"),
    ]


def test_recurses_into_nested_subfolders(tmp_path):
    touch(tmp_path, "happy/2024/jan/a.png", "happy/b.png", "sad/deep/er/c.png")

    paths, labels = load_image_folder(tmp_path)

    assert rel(paths, tmp_path) == ["happy/2024/jan/a.png", "happy/b.png", "sad/deep/er/c.png"]
    assert labels.tolist() == ["happy", "happy", "sad"]


def test_extensions_match_case_insensitively(tmp_path):
    touch(tmp_path, "happy/A.PNG", "happy/b.JpEg", "sad/c.TIFF", "sad/d.WebP")

    paths, _ = load_image_folder(tmp_path)

    assert len(paths) == 4
    assert ".webp" in IMAGE_EXTENSIONS and ".tiff" in IMAGE_EXTENSIONS


def test_extensions_parameter_restricts_the_kept_files(tmp_path):
    touch(tmp_path, "happy/a.png", "happy/b.jpg", "sad/c.PNG", "sad/d.gif")

    paths, _ = load_image_folder(tmp_path, extensions=["png"])  # the dot is optional

    assert rel(paths, tmp_path) == ["happy/a.png", "sad/c.PNG"]


@pytest.mark.parametrize(
    "extensions, error, match",
    [(".png", TypeError, "single string '.png'"), ([], ValueError, "must not be empty")],
)
def test_bad_extensions_are_rejected(tmp_path, extensions, error, match):
    touch(tmp_path, "happy/a.png", "sad/b.png")

    with pytest.raises(error, match="^load_image_folder: extensions .*" + re.escape(match)):
        load_image_folder(tmp_path, extensions=extensions)


def test_hidden_files_and_folders_are_skipped(tmp_path):
    touch(tmp_path, "happy/a.png", "happy/.b.png", "happy/.thumbs/c.png", "sad/d.png")
    touch(tmp_path, ".cache/e.png")

    paths, labels = load_image_folder(tmp_path)

    assert rel(paths, tmp_path) == ["happy/a.png", "sad/d.png"]
    assert ".cache" not in labels


def test_non_image_files_are_skipped_and_logged(tmp_path, caplog):
    notes = [f"notes{i}.txt" for i in range(7)]
    touch(tmp_path, "happy/a.png", *(f"happy/{n}" for n in notes), "sad/b.png")
    caplog.set_level(logging.INFO, logger=FOLDER_LOGGER)

    paths, _ = load_image_folder(tmp_path)

    assert rel(paths, tmp_path) == ["happy/a.png", "sad/b.png"]
    [record] = [r for r in caplog.records if r.name == FOLDER_LOGGER]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "skipped 7 non-image file(s)" in message and "'happy'" in message
    assert "'notes0.txt'" in message and "'notes4.txt'" in message
    assert "'notes5.txt'" not in message  # at most 5 examples


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlinks_are_followed_without_looping(tmp_path):
    touch(tmp_path, "elsewhere/x.png", "elsewhere/sub/y.png", "data/happy/a.png", "data/sad/b.png")
    try:
        os.symlink(tmp_path / "elsewhere", tmp_path / "data/happy/linked")
    except OSError:  # e.g. Windows without the privilege
        pytest.skip("cannot create symbolic links here")
    os.symlink(tmp_path / "elsewhere/x.png", tmp_path / "data/sad/x_link.png")
    os.symlink(tmp_path / "data/happy", tmp_path / "data/happy/loop")  # points at its parent

    paths, _ = load_image_folder(tmp_path / "data")

    assert rel(paths, tmp_path / "data") == [
        "happy/a.png",
        "happy/linked/sub/y.png",
        "happy/linked/x.png",
        "sad/b.png",
        "sad/x_link.png",
    ]


def test_classes_selects_subfolders(tmp_path):
    touch(tmp_path, "happy/a.png", "sad/b.png", "angry/c.png", "neutral/d.png")

    paths, labels = load_image_folder(tmp_path, classes=["sad", "happy"])

    assert labels.tolist() == ["happy", "sad"]  # sorted, whatever the order asked
    assert rel(paths, tmp_path) == ["happy/a.png", "sad/b.png"]


def test_classes_naming_a_missing_folder_lists_the_available_ones(tmp_path):
    touch(tmp_path, "happy/a.png", "sad/b.png")

    match = r"'angry' not found in .*; available sub-folders are 'happy', 'sad'"
    with pytest.raises(DatasetError, match=match):
        load_image_folder(tmp_path, classes=["happy", "angry"])


def test_classes_as_a_single_string_is_a_type_error(tmp_path):
    touch(tmp_path, "happy/a.png", "sad/b.png")

    with pytest.raises(TypeError, match="classes must be a sequence"):
        load_image_folder(tmp_path, classes="happy")


@pytest.mark.parametrize(
    "files, subpath, match",
    [
        ([], "missing", r"directory '.*missing' does not exist"),
        (["afile.png"], "afile.png", r"'.*afile.png' is a file, not a directory"),
        (["loose.png"], "", r"'.*' has no class sub-folders"),
        (["happy/a.png", "sad/notes.txt"], "", r"class folder\(s\) 'sad' in .* contain no images"),
        (["happy/a.png"], "", r"needs at least two classes, found only 'happy' in"),
    ],
    ids=["missing", "file", "no-subfolders", "empty-class", "one-class"],
)
def test_unusable_folders_raise_dataset_error(tmp_path, files, subpath, match):
    touch(tmp_path, *files)

    with pytest.raises(DatasetError, match="^load_image_folder: " + match) as excinfo:
        load_image_folder(tmp_path / subpath)
    assert isinstance(excinfo.value, ValueError)  # so `except ValueError` keeps working


# --------------------------------------------------------------------------
# make_faces
# --------------------------------------------------------------------------


@pytest.mark.parametrize("color_mode, channels", [("rgb", 3), ("grayscale", 1)])
def test_make_faces_shapes_dtypes_and_labels(color_mode, channels):
    X, y = make_faces(10, image_size=(24, 20), color_mode=color_mode, random_state=0)

    assert X.shape == (10, 24, 20, channels) and X.dtype == np.uint8
    assert y.shape == (10,) and y.dtype == object
    assert sorted(set(y)) == ["happy", "sad"] and all(type(label) is str for label in y)
    assert (y == "happy").sum() == 5
    assert X.reshape(10, -1).std(axis=1).min() > 10  # real pictures, not blank frames


def test_make_faces_labels_are_shuffled_not_blocked():
    _, y = make_faces(40, image_size=(8, 8), random_state=0)

    assert not (y[:20] == "happy").all() and not (y[:20] == "sad").all()


@pytest.mark.parametrize(
    "n_samples, happy_fraction, n_happy",
    [(10, 0.3, 3), (7, 1.0, 7), (7, 0.0, 0), (3, 0.01, 1), (3, 0.99, 2), (1, 0.5, 0)],
)
def test_make_faces_balance_follows_happy_fraction(n_samples, happy_fraction, n_happy):
    _, y = make_faces(n_samples, image_size=(8, 8), happy_fraction=happy_fraction, random_state=0)

    assert (y == "happy").sum() == n_happy
    assert len(y) == n_samples


def test_make_faces_is_deterministic_for_a_given_seed():
    X1, y1 = make_faces(6, image_size=(16, 16), random_state=42)
    X2, y2 = make_faces(6, image_size=(16, 16), random_state=np.random.RandomState(42))
    X3, y3 = make_faces(6, image_size=(16, 16), random_state=43)

    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_make_faces_writes_a_folder_that_load_image_folder_reads_back(tmp_path):
    X, y = make_faces(6, image_size=(16, 12), random_state=0)

    paths, labels = make_faces(6, image_size=(16, 12), random_state=0, directory=tmp_path)

    expected_paths, expected_labels = load_image_folder(tmp_path)
    np.testing.assert_array_equal(paths, expected_paths)
    np.testing.assert_array_equal(labels, expected_labels)
    for path, label in zip(paths, labels):
        index = int(Path(path).stem.removeprefix("face_"))  # face_00003.png -> 3
        assert Path(path).parent.name == label == y[index]
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (12, 16) and img.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(img), X[index])  # PNG is lossless


@pytest.mark.parametrize("image_format", ["jpg", "jpeg"])
def test_make_faces_writes_grayscale_jpeg(tmp_path, image_format):
    paths, _ = make_faces(4, image_size=(16, 16), color_mode="grayscale", random_state=0,
                          directory=tmp_path, image_format=image_format)

    assert all(p.endswith(f".{image_format}") for p in paths)
    with Image.open(paths[0]) as img:
        assert img.format == "JPEG" and img.mode == "L" and img.size == (16, 16)


def test_make_faces_refuses_to_mix_with_existing_files(tmp_path):
    touch(tmp_path, "happy/old.png")

    with pytest.raises(DatasetError, match=r"class folder '.*happy' already contains files"):
        make_faces(4, image_size=(8, 8), random_state=0, directory=tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_samples": 0}, ValueError, "n_samples must be an int >= 1, got 0"),
        ({"n_samples": 2.0}, TypeError, "n_samples must be an int, got 2.0"),
        ({"image_size": (7, 32)}, ValueError, "image_size must be a pair of ints >= 8"),
        ({"image_size": 32}, TypeError, "image_size must be a pair of ints (height, width)"),
        ({"image_size": (32, 32, 3)}, TypeError, "image_size must be a pair of ints"),
        ({"color_mode": "RGB"}, ValueError, "color_mode must be one of ('rgb', 'grayscale')"),
        ({"happy_fraction": 1.5}, ValueError, "happy_fraction must be a float in [0, 1], got 1.5"),
        ({"happy_fraction": "1"}, TypeError, "happy_fraction must be a float in [0, 1], got '1'"),
        ({"noise": -0.1}, ValueError, "noise must be a float >= 0, got -0.1"),
        ({"noise": float("inf")}, ValueError, "noise must be a float >= 0, got inf"),
        ({"occlusion": float("nan")}, ValueError, "occlusion must be a float in [0, 1], got nan"),
        ({"image_format": "gif"}, ValueError, "image_format must be one of ('png', 'jpg', 'jpeg')"),
    ],
)
def test_make_faces_rejects_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match="^make_faces: " + re.escape(message)):
        make_faces(**{"image_size": (8, 8), **kwargs})


# The data set must be learnable from shapes, not from any single pixel.


@pytest.fixture(scope="module")
def faces_32_gray():
    return make_faces(800, image_size=(32, 32), color_mode="grayscale", random_state=0)


def best_stump_accuracy(X: np.ndarray, y: np.ndarray) -> float:
    """Training accuracy of the best one-pixel threshold rule, over all pixels.

    For each pixel (column), sort the samples by its value and score every
    threshold between two distinct values, in both directions, at once.
    """
    n = len(y)
    order = np.argsort(X, axis=0, kind="stable")
    values = np.take_along_axis(X, order, axis=0)
    positive = (y == "happy")[order]
    pos_left = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(positive, axis=0)])
    n_left = np.arange(n + 1)[:, None]
    # "happy if value <= threshold": happy on the left plus sad on the right.
    correct = pos_left + ((n - positive[:, 0].sum()) - (n_left - pos_left))
    accuracy = np.maximum(correct, n - correct) / n  # either direction
    ends = np.ones((1, X.shape[1]), dtype=bool)
    valid = np.vstack([ends, values[1:] > values[:-1], ends])  # no split inside ties
    return float(np.where(valid, accuracy, 0).max())


def test_stump_helper_finds_a_perfect_pixel():
    y = np.array(["happy", "sad"] * 10, dtype=object)
    X = np.random.RandomState(0).rand(20, 5)
    X[:, 3] = (y == "happy") * 2.0 + X[:, 3]

    assert best_stump_accuracy(X, y) == 1.0


def test_no_single_pixel_predicts_the_label(faces_32_gray):
    X, y = faces_32_gray
    X, y = X[:400].reshape(400, -1).astype(float), y[:400]

    assert best_stump_accuracy(X, y) < 0.75


def orientation_histograms(X: np.ndarray, cells: int = 8, bins: int = 8) -> np.ndarray:
    """HOG-like features: gradient orientations pooled over a grid of cells."""
    images = X[..., 0].astype(np.float32)
    gy, gx = np.gradient(images, axis=(1, 2))
    bin_index = ((np.arctan2(gy, gx) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    votes = np.eye(bins, dtype=np.float32)[bin_index] * np.hypot(gx, gy)[..., None]
    n, h, w = images.shape
    features = votes.reshape(n, cells, h // cells, cells, w // cells, bins).sum(axis=(2, 4))
    features = features.reshape(n, -1)
    return features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-6)


def test_mouth_shape_is_learnable(faces_32_gray):
    # A linear model on local edge orientations (a stand-in for a small CNN)
    # beats chance clearly on held-out faces. Chance is 0.5; measured ~0.9.
    X, y = faces_32_gray
    features = orientation_histograms(X)
    model = LogisticRegression(C=10, max_iter=2000).fit(features[:600], y[:600])

    assert model.score(features[600:], y[600:]) > 0.75
