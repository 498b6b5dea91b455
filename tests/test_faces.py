"""Tests of :class:`skmood.FaceCropper` (OpenCV Haar cascade, optional MTCNN).

What the Haar cascade detects, honestly: it is a detector of *real* frontal
faces. On the cartoon faces of ``make_faces`` it finds about half of them at
64x64 pixels or more (and no face at 16x16, below its 24-pixel window). The
detection tests therefore use cartoon faces it does find, checked to be at the
right place, and the fallback tests use images without a face. Real faces
(FER2013, beside the checkout) are tested when present.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmood import FaceCropper, ImageLoader, ImageResizer, PixelNormalizer
from skmood.cli import main
from skmood.datasets import make_faces

cv2 = pytest.importorskip("cv2", reason="FaceCropper needs opencv-python-headless "
                                        "(pip install 'skmood[faces]')")

TABULAR = "feeds 2-D tabular numbers; FaceCropper takes images (h, w, c) or (n, h, w, c)"
#: sklearn checks that need tabular X accepted (as for ImageResizer in test_common.py).
EXPECTED_FAILED_CHECKS = {
    name: TABULAR for name in [
        "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
        "check_estimators_dtypes", "check_estimators_empty_data_messages",
        "check_estimators_fit_returns_self", "check_estimators_nan_inf",
        "check_estimators_overwrite_params", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
        "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
        "check_fit_score_takes_y", "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_pipeline_consistency",
        "check_transformer_data_not_an_array", "check_transformer_general",
        "check_transformers_unfitted_stateless",
    ]
} | {
    "check_n_features_in": "images have no n_features_in_: any image size is accepted",
    "check_n_features_in_after_fitting": "images have no n_features_in_",
}


@parametrize_with_checks([FaceCropper()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ fixtures
def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


@pytest.fixture(scope="module")
def cartoon_faces():
    """48 synthetic 128x128 faces and the Haar cascade's box (or None) for each."""
    X, _ = make_faces(48, image_size=(128, 128), random_state=0)
    return X, FaceCropper().detect(X)


@pytest.fixture(scope="module")
def detected_face(cartoon_faces):
    """A cartoon face the cascade finds, and its box."""
    X, boxes = cartoon_faces
    i = next(i for i, b in enumerate(boxes) if b is not None)
    return X[i], boxes[i]


def background(height, width, seed=0) -> np.ndarray:
    """A noisy gradient, with no face."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, width)[None, :, None] * np.ones((height, 1, 3))
    return np.clip(ramp + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ detection
def test_haar_finds_about_half_of_the_cartoon_faces_and_places_the_box_on_them(cartoon_faces):
    X, boxes = cartoon_faces
    found = [b for b in boxes if b is not None]
    assert 0.25 <= len(found) / len(X) <= 0.8, len(found)  # ~45% at 128x128 (documented)
    for x, y, w, h in found:  # each box lies on the drawn face: centred, a good part of it
        assert 32 <= w <= 128 and 0.8 <= w / h <= 1.25
        assert 24 <= x + w / 2 <= 104 and 24 <= y + h / 2 <= 104


def test_no_face_is_found_on_16x16_faces_smaller_than_the_cascade():
    X, _ = make_faces(20, image_size=(16, 16), random_state=0)
    assert FaceCropper().detect(X) == [None] * 20
    crops = FaceCropper().fit_transform(X)
    assert all(np.array_equal(c, x) for c, x in zip(crops, X))  # whole images


def test_a_face_in_a_larger_photo_is_found_where_it_is_and_cropped(detected_face):
    face, box = detected_face
    canvas = background(300, 400)
    canvas[100:228, 220:348] = face
    [found] = FaceCropper().detect([canvas])
    assert found is not None
    assert iou(found, (box[0] + 220, box[1] + 100, box[2], box[3])) > 0.6
    crop = FaceCropper(margin=0.0).transform([canvas])[0]
    assert crop.shape[:2] == (found[3], found[2])
    np.testing.assert_array_equal(crop, canvas[found[1]:found[1] + found[3],
                                               found[0]:found[0] + found[2]])


def test_large_photos_are_searched_downscaled_and_boxes_are_in_full_resolution(detected_face):
    face, box = detected_face
    big = np.asarray(Image.fromarray(face).resize((512, 512), Image.Resampling.BILINEAR))
    canvas = background(1600, 2400)
    canvas[600:1112, 1000:1512] = big
    [found] = FaceCropper().detect([canvas])
    expected = (1000 + 4 * box[0], 600 + 4 * box[1], 4 * box[2], 4 * box[3])
    assert found is not None and iou(found, expected) > 0.6


def test_the_largest_face_is_chosen(detected_face):
    face, box = detected_face
    canvas = background(300, 500)
    canvas[20:148, 20:148] = face
    small_face = np.asarray(Image.fromarray(face).resize((96, 96), Image.Resampling.BILINEAR))
    canvas[150:246, 300:396] = small_face  # a smaller second face
    [found] = FaceCropper().detect([canvas])
    assert found is not None and found[0] < 148  # the big one, on the left


def test_grayscale_images_and_pixel_arrays_are_accepted(detected_face):
    face, box = detected_face
    gray = np.asarray(Image.fromarray(face).convert("L"))[:, :, None]
    [found] = FaceCropper().detect(gray[None])  # (1, h, w, 1) array
    assert found is not None and iou(found, box) > 0.6
    assert FaceCropper().transform(gray[None])[0].shape[2] == 1


def test_no_face_falls_back_to_the_whole_image():
    images = [background(120, 160, seed=s) for s in range(5)] + [np.zeros((50, 50, 3), np.uint8)]
    cropper = FaceCropper()
    assert cropper.detect(images) == [None] * 6
    out = cropper.transform(images)
    assert out.dtype == object and len(out) == 6
    assert all(np.array_equal(o, i) for o, i in zip(out, images))


def test_the_cropper_is_usable_from_several_threads(cartoon_faces):
    X, boxes = cartoon_faces
    results = [None] * 4

    def work(k):
        results[k] = FaceCropper().detect(X[:16])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == boxes[:16] for r in results)


# ------------------------------------------------------------------ cropping
@pytest.mark.parametrize("box, margin, expected", [
    ((20, 10, 30, 30), 0.2, (4, 46, 14, 56)),     # square grown by 2 x 0.2 x 30 = 12 px
    ((20, 10, 30, 30), 0.0, (10, 40, 20, 50)),
    ((0, 0, 30, 30), 0.5, (0, 45, 0, 45)),        # clipped at the top-left corner
    ((60, 40, 20, 20), 1.0, (20, 60, 40, 80)),    # clipped at the bottom-right corner
    ((30, 20, 10, 20), 0.0, (20, 40, 25, 45)),    # a tall box gives a square crop
])
def test_crop_takes_a_square_around_the_box_with_the_margin_clipped_to_the_image(
        box, margin, expected):
    image = np.arange(60 * 80 * 3, dtype=np.uint32).reshape(60, 80, 3).astype(np.uint8)
    y0, y1, x0, x1 = expected
    crop = FaceCropper(margin=margin).crop([image], [box])[0]
    np.testing.assert_array_equal(crop, image[y0:y1, x0:x1])


def test_transform_equals_crop_of_detect(cartoon_faces):
    X, boxes = cartoon_faces
    cropper = FaceCropper()
    for a, b in zip(cropper.transform(X[:12]), cropper.crop(X[:12], cropper.detect(X[:12]))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("boxes, match", [
    ([None, None], "one box"),
    ([(1, 2, 3)], r"boxes\[0\]"),
    ([(1, 2, 0, 5)], "positive width"),
    ([(1.5, 2, 3, 4)], "ints"),
    ("abcd", "one box"),
])
def test_crop_rejects_bad_boxes(boxes, match):
    with pytest.raises(ValueError, match=match):
        FaceCropper().crop([np.zeros((10, 10, 3), np.uint8)], boxes)


# ------------------------------------------------------------------ validation
def test_paths_are_rejected_with_a_hint():
    with pytest.raises(TypeError, match="put an ImageLoader step before FaceCropper"):
        FaceCropper().transform(["a.png", "b.png"])


def test_float_pixels_are_rejected():
    with pytest.raises(TypeError, match="uint8"):
        FaceCropper().detect(np.zeros((2, 8, 8, 3), np.float32))


@pytest.mark.parametrize("params, match", [
    ({"detector": "dlib"}, "detector"),
    ({"margin": -0.1}, "margin"),
    ({"min_face_size": 0}, "min_face_size"),
    ({"scale_factor": 1.0}, "scale_factor"),
    ({"min_neighbors": -1}, "min_neighbors"),
])
def test_invalid_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        FaceCropper(**params).fit([np.zeros((8, 8, 3), np.uint8)])


def test_parameters_are_stored_as_given_and_cloned():
    cropper = FaceCropper(detector="haar", margin=0.5, min_face_size=30, scale_factor=1.2,
                          min_neighbors=3)
    assert clone(cropper).get_params() == cropper.get_params()
    assert cropper.get_params()["margin"] == 0.5
    assert not [k for k in vars(cropper) if k.endswith("_")]  # stateless: nothing fitted


def test_import_skmood_does_not_import_opencv():
    code = "import sys, skmood; skmood.FaceCropper(); assert 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------ in pipelines
def test_pipeline_from_paths_to_normalised_pixels(tmp_path, detected_face):
    face, _ = detected_face
    canvas = background(240, 320)
    canvas[60:188, 100:228] = face
    Image.fromarray(canvas).save(tmp_path / "photo.png")
    Image.fromarray(background(60, 80)).save(tmp_path / "empty.png")
    pipe = make_pipeline(ImageLoader(), FaceCropper(), ImageResizer(image_size=(24, 24)),
                         PixelNormalizer())
    X = pipe.fit_transform([tmp_path / "photo.png", tmp_path / "empty.png"])
    assert X.shape == (2, 24, 24, 3) and X.dtype == np.float32
    # The face's crop, and the whole photo where there is no face, resized and scaled.
    crops = FaceCropper().transform([canvas, background(60, 80)])
    assert crops[0].shape[:2] != canvas.shape[:2] and crops[1].shape[:2] == (60, 80)
    expected = ImageResizer(image_size=(24, 24)).transform(crops).astype(np.float32) / 255
    np.testing.assert_allclose(X, expected, atol=1e-6)


@pytest.mark.slow
def test_pipeline_with_a_classifier_fits_and_predicts(face_paths, make_clf):
    paths, labels = face_paths
    pipe = make_pipeline(ImageLoader(), FaceCropper(), ImageResizer(image_size=(16, 16)),
                         make_clf())
    pipe.fit(paths, labels)
    # 16x16 faces are smaller than the cascade: the cropper passes them whole, and the
    # pipeline is the classifier fitted on the files directly.
    direct = make_clf().fit(paths, labels)
    np.testing.assert_allclose(pipe.predict_proba(paths), direct.predict_proba(paths), atol=1e-5)


# ------------------------------------------------------------------ command line
def test_cli_predict_crop_faces(capsys, tmp_path, detected_face, make_clf):
    import json

    import skmood

    face, box = detected_face
    X, y = make_faces(24, image_size=(32, 32), random_state=0)
    model = tmp_path / "model.skmood"
    skmood.save(make_clf(image_size=(32, 32)).fit(X, y), model)
    canvas = background(240, 320)
    canvas[60:188, 100:228] = face
    Image.fromarray(canvas).save(tmp_path / "photo.png")
    Image.fromarray(background(60, 80)).save(tmp_path / "empty.png")
    files = [str(tmp_path / "photo.png"), str(tmp_path / "empty.png")]

    assert main(["predict", str(model), *files, "--format", "json", "--crop-faces"]) == 0
    out, err = capsys.readouterr()
    cropped = json.loads(out)
    assert "faces found in 1 of 2 image(s)" in err
    loaded = skmood.load(model)
    crops = FaceCropper().transform([canvas, background(60, 80)])
    expected = loaded.predict_proba(ImageResizer(image_size=(32, 32)).transform(crops))
    np.testing.assert_allclose([[r["happy"], r["sad"]] for r in cropped], expected, rtol=1e-5)

    assert main(["predict", str(model), *files, "--format", "json"]) == 0  # without: whole
    whole = json.loads(capsys.readouterr()[0])
    assert whole[1] == cropped[1] and whole[0] != cropped[0]


# ------------------------------------------------------------------ real faces and MTCNN
REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013-happy-sad"


def fer_photos(n=40):
    """FER2013 faces (48x48) enlarged 3x and put in a grey 400x300 'photo'."""
    files = sorted((REAL / "val" / "happy").glob("*"))[:n]
    if not files:
        pytest.skip(f"real data not found at {REAL.resolve()}")
    photos = []
    for f in files:
        g = np.asarray(Image.open(f).convert("RGB").resize((144, 144), Image.Resampling.BILINEAR))
        canvas = np.full((300, 400, 3), 128, np.uint8)
        canvas[60:204, 150:294] = g
        photos.append(canvas)
    return photos


@pytest.mark.realdata
def test_haar_finds_most_real_faces_where_they_are():
    photos = fer_photos()
    boxes = FaceCropper().detect(photos)
    found = [b for b in boxes if b is not None]
    assert len(found) >= 0.6 * len(photos)  # 33 of 40 when written
    assert np.mean([iou(b, (150, 60, 144, 144)) > 0.3 for b in found]) > 0.9


@pytest.mark.slow
def test_mtcnn_detector():
    pytest.importorskip("mtcnn", reason="detector='mtcnn' needs pip install 'skmood[mtcnn]'")
    cropper = FaceCropper(detector="mtcnn")
    assert cropper.detect([background(120, 160)]) == [None]
    if REAL.exists():
        photos = fer_photos(10)
        found = [b for b in cropper.detect(photos) if b is not None]
        assert len(found) >= 7  # 37 of 40 with 40 photos when written
        assert all(iou(b, (150, 60, 144, 144)) > 0.3 for b in found)
        # One batched call finds exactly what one call per photo finds.
        assert cropper.detect_all(photos) == [cropper.detect_all([p])[0] for p in photos]


def test_mtcnn_gets_images_of_one_shape_in_one_call_and_boxes_go_back_in_order(monkeypatch):
    import skmood._faces as face_crop  # the detectors live there

    calls = []

    class Detector:  # stands for MTCNN: one face whose x is the image's mean pixel
        def detect_faces(self, images):
            calls.append([image.shape for image in images])
            return [[{"box": [int(image.mean()), 0, 30, 30]}] for image in images]

    monkeypatch.setattr(face_crop, "_mtcnn", lambda: Detector())
    monkeypatch.setattr(face_crop, "MTCNN_BATCH", 2)
    images = [np.full((60, 80 + 20 * (i % 2), 3), i, np.uint8) for i in range(5)]
    boxes = FaceCropper(detector="mtcnn", min_face_size=24).detect(images)
    assert boxes == [(i, 0, 30, 30) for i in range(5)]
    # Shapes never mixed in a call; at most MTCNN_BATCH images a call.
    assert sorted(calls) == sorted([[(60, 80, 3)] * 2, [(60, 80, 3)], [(60, 100, 3)] * 2])


# ------------------------------------------------------------------ one prediction path
def test_predict_faces_is_the_explicit_steps_and_names_each_box(tmp_path, detected_face,
                                                                make_clf):
    import skmood

    face, box = detected_face
    X, y = make_faces(24, image_size=(32, 32), random_state=0)
    clf = make_clf(image_size=(32, 32)).fit(X, y)
    canvas = background(240, 320)
    canvas[60:188, 100:228] = face
    Image.fromarray(canvas).save(tmp_path / "photo.png")
    Image.fromarray(background(60, 80)).save(tmp_path / "empty.png")
    files = [str(tmp_path / "photo.png"), str(tmp_path / "empty.png")]

    proba, boxes, index = skmood.predict_faces(clf, files)
    assert index.tolist() == [0, 1]
    assert boxes[1] is None and iou(boxes[0], (100 + box[0], 60 + box[1], *box[2:])) > 0.9
    steps = make_pipeline(ImageLoader(), FaceCropper(), ImageResizer(image_size=(32, 32)))
    np.testing.assert_allclose(proba, clf.predict_proba(steps.transform(files)), rtol=1e-5)
    # A pipeline model: its own ImageLoader's colour mode, its later steps run too.
    pipe = make_pipeline(ImageLoader(color_mode="grayscale"), ImageResizer(image_size=(32, 32)),
                         make_clf(image_size=(32, 32), color_mode="grayscale"))
    pipe.fit(files * 4, ["happy", "sad"] * 4)
    gray_proba = skmood.predict_faces(pipe, files).proba
    gray = make_pipeline(ImageLoader(color_mode="grayscale"), FaceCropper(),
                         ImageResizer(image_size=(32, 32)))
    np.testing.assert_allclose(gray_proba, pipe[-1].predict_proba(gray.transform(files)),
                               rtol=1e-5)


def test_mtcnn_retracing_warnings_are_dropped_and_only_those(caplog, monkeypatch):
    import logging

    import skmood._faces as face_crop  # the detectors live there

    tf_log = logging.getLogger("tensorflow")
    retracing = "5 out of the last 5 calls to <function> triggered tf.function retracing."

    class Detector:  # stands for MTCNN: its Keras calls warn about retracing
        def detect_faces(self, images):
            tf_log.warning(retracing)
            tf_log.warning("another TensorFlow warning")
            return [[] for _ in images]

    face_crop._mtcnn()  # the real detector installs the filter once
    monkeypatch.setattr(face_crop, "_mtcnn", lambda: Detector())
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        FaceCropper(detector="mtcnn").detect([background(60, 80)])
        tf_log.warning(retracing + " (outside MTCNN)")
    messages = [r.getMessage() for r in caplog.records if r.name == "tensorflow"]
    assert messages == ["another TensorFlow warning", retracing + " (outside MTCNN)"]
