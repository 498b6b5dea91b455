"""Face cropping inside the model: ``HappySadClassifier(face_detector=...)``.

A photo goes through the same steps at training and prediction time (decode,
largest face, crop with the margin, resize), the detector is part of the
fitted model, and each face is detected once per image per fit.
"""

from __future__ import annotations

import copy
import csv
import io
import json

import joblib
import numpy as np
import pytest
from PIL import Image
from sklearn.pipeline import make_pipeline

import skmood
from skmood import FaceCropper, ImageLoader, ImageResizer, predict_faces
from skmood._faces import FaceFinder  # the detector behind FaceCropper and the model
from skmood.cli import main
from skmood.datasets import make_faces

pytest.importorskip("cv2", reason="face detection needs opencv-python-headless "
                                  "(pip install 'skmood[faces]')")


def background(height, width, seed=0) -> np.ndarray:
    """A noisy gradient, with no face."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, width)[None, :, None] * np.ones((height, 1, 3))
    return np.clip(ramp + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def found_faces():
    """Cartoon 96x96 faces that the Haar cascade finds, with their labels."""
    X, y = make_faces(80, image_size=(96, 96), random_state=1)
    boxes = FaceCropper().detect(X)
    keep = [i for i, b in enumerate(boxes) if b is not None]
    assert len(keep) >= 8
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def photos(found_faces, tmp_path_factory):
    """16 'photos': a face pasted somewhere on a 160x200 background, as files."""
    faces, labels = found_faces
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(16):
        canvas = background(160, 200, seed=i)
        top, left = rng.integers(0, 160 - 96), rng.integers(0, 200 - 96)
        canvas[top:top + 96, left:left + 96] = faces[i % len(faces)]
        paths.append(str(root / f"photo{i:02d}.png"))
        Image.fromarray(canvas).save(paths[-1])
    Image.fromarray(background(100, 120, seed=99)).save(root / "empty.png")
    return np.array(paths + [str(root / "empty.png")], dtype=object), \
        np.array([labels[i % len(labels)] for i in range(16)] + ["sad"], dtype=object)


@pytest.fixture(scope="module")
def fitted(photos):
    paths, labels = photos
    clf = skmood.HappySadClassifier(image_size=(24, 24), conv_filters=(4,), dense_units=8,
                                    epochs=1, batch_size=8, random_state=0,
                                    face_detector="haar", face_margin=0.1)
    return clf.fit(paths, labels)


def test_predictions_equal_the_explicit_steps(fitted, photos):
    paths, _ = photos
    steps = make_pipeline(ImageLoader(), FaceCropper(margin=0.1), ImageResizer(image_size=(24, 24)))
    whole_image_model = copy.deepcopy(fitted).set_params(face_detector=None)
    np.testing.assert_allclose(fitted.predict_proba(paths),
                               whole_image_model.predict_proba(steps.transform(paths)),
                               rtol=1e-6)
    boxes = fitted.detect_faces(paths)
    assert boxes == FaceCropper().detect(ImageLoader().transform(paths))
    assert sum(b is not None for b in boxes) == 16 and boxes[-1] is None


def test_the_detector_round_trips_through_save_load_and_joblib(fitted, photos, tmp_path):
    paths, _ = photos
    expected = fitted.predict_proba(paths)
    skmood.save(fitted, tmp_path / "m.skmood")
    safe = skmood.load(tmp_path / "m.skmood")
    assert (safe.face_detector, safe.face_margin) == ("haar", 0.1)
    np.testing.assert_array_equal(safe.predict_proba(paths), expected)
    joblib.dump(fitted, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(paths),
                                  expected)


@pytest.mark.parametrize("cache", [True, False])
def test_each_face_is_detected_once_per_image_per_fit(photos, make_clf, monkeypatch, cache):
    paths, labels = photos
    calls = []
    original = FaceFinder.detect

    def counting(self, images):
        calls.extend(len(images) * [1])
        return original(self, images)

    monkeypatch.setattr(FaceFinder, "detect", counting)
    make_clf(image_size=(24, 24), epochs=3, face_detector="haar", cache=cache,
             validation_split=0.25).fit(paths, labels)
    assert len(calls) == len(paths)  # training and validation images, once each


def test_model_without_detector_refuses_detect_faces(photos, make_clf):
    paths, labels = photos
    clf = make_clf(image_size=(24, 24)).fit(paths, labels)
    with pytest.raises(ValueError, match="detect_faces needs face_detector"):
        clf.detect_faces(paths)


def test_every_face_of_a_group_photo(found_faces, make_clf, tmp_path):
    faces, labels = found_faces
    group = background(140, 260)
    group[20:116, 10:106] = faces[0]
    group[30:126, 150:246] = faces[1]
    Image.fromarray(group).save(tmp_path / "group.png")
    Image.fromarray(background(80, 80, seed=5)).save(tmp_path / "empty.png")
    files = [str(tmp_path / "group.png"), str(tmp_path / "empty.png")]
    clf = make_clf(image_size=(24, 24)).fit(faces, labels)

    proba, boxes, index = predict_faces(clf, files, all_faces=True)
    assert index.tolist() == [0, 0, 1] and boxes[2] is None
    expected_x = sorted([10 + FaceCropper().detect([faces[0]])[0][0],
                         150 + FaceCropper().detect([faces[1]])[0][0]])
    np.testing.assert_allclose(sorted(b[0] for b in boxes[:2]), expected_x, atol=8)
    assert boxes[0][2] * boxes[0][3] >= boxes[1][2] * boxes[1][3]  # largest first
    crops = FaceCropper().crop([np.asarray(Image.open(files[0]))] * 2, boxes[:2])
    np.testing.assert_allclose(proba[:2], clf.predict_proba(
        ImageResizer(image_size=(24, 24)).transform(crops)), rtol=1e-5)
    largest = predict_faces(clf, files)
    np.testing.assert_allclose(largest.proba[0], proba[0])
    assert largest.boxes[0] == boxes[0] and largest.image_index.tolist() == [0, 1]


def test_cli_trains_with_crop_faces_and_predicts_without_repeating_it(
        capsys, photos, tmp_path):
    paths, labels = photos
    data = tmp_path / "data"
    for path, label in zip(paths, labels):
        (data / label).mkdir(parents=True, exist_ok=True)
        (data / label / path.split("/")[-1]).write_bytes(open(path, "rb").read())
    model = tmp_path / "model.skmood"
    assert main(["train", str(data), "-o", str(model), "--crop-faces", "--image-size", "24",
                 "24", "--conv-filters", "4", "--dense-units", "8", "--epochs", "1",
                 "--random-state", "0"]) == 0
    loaded = skmood.load(model)
    assert loaded.face_detector == "haar"
    capsys.readouterr()
    assert main(["predict", str(model), *paths[:3], "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose([[r["happy"], r["sad"]] for r in rows],
                               loaded.predict_proba(paths[:3]), rtol=1e-6)
    assert main(["predict", str(model), *paths[:2], "--all-faces", "--format", "csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0] == ["path", "label", "face_box", "happy", "sad"] and len(table) == 3
    boxes = loaded.detect_faces(paths[:2])
    assert [tuple(map(int, row[2].split(","))) for row in table[1:]] == boxes


def test_known_face_boxes_are_not_searched(photos, make_clf, monkeypatch):
    paths, labels = photos
    calls = []
    original = FaceFinder.detect
    monkeypatch.setattr(FaceFinder, "detect",
                        lambda self, images: calls.extend(images) or original(self, images))
    whole = [(0, 0, 200, 160)] * 10 + [None] * (len(paths) - 10)  # face crops already
    make_clf(image_size=(24, 24), epochs=2, face_detector="haar").fit(
        paths, labels, face_boxes=whole)
    assert len(calls) == len(paths) - 10


@pytest.mark.parametrize("face_boxes, match", [
    ([None], "face_boxes has 1 entries for 17 images"),
    ([(0, 0, 0, 5)] * 17, r"face_boxes\[0\] must be None or \(x, y, width, height\)"),
])
def test_bad_face_boxes_are_named(photos, make_clf, face_boxes, match):
    paths, labels = photos
    with pytest.raises(ValueError, match=match):
        make_clf(face_detector="haar").fit(paths, labels, face_boxes=face_boxes)
    with pytest.raises(ValueError, match="face_boxes needs face_detector"):
        make_clf().fit(paths, labels, face_boxes=[None] * len(paths))


def test_faces_of_a_batch_are_found_in_few_detector_calls_within_a_pixel_budget(monkeypatch):
    import skmood._face_boxes as face_boxes
    from skmood._faces import FaceFinder

    calls = []
    monkeypatch.setattr(FaceFinder, "detect",
                        lambda self, images: calls.append(len(images)) or [None] * len(images))
    monkeypatch.setattr(face_boxes, "DETECT_GROUP_PIXELS", 300)  # three 10x10 images
    faces = face_boxes.FaceBoxes(FaceFinder(margin=0.0), known={1: (0, 0, 5, 5)})
    images = [np.zeros((10, 10, 3), np.uint8)] * 5

    cropped = list(faces.crop_each(enumerate(images)))
    assert [i for i, _ in cropped] == [0, 1, 2, 3, 4]
    assert [image.shape for _, image in cropped] == [(10, 10, 3), (5, 5, 3)] + [(10, 10, 3)] * 3
    assert calls == [2, 2] and faces.n_detected == 4  # images 0, 2 | 3, 4; 1 was known
    list(faces.crop_each(enumerate(images)))
    assert calls == [2, 2]  # remembered
