"""Tests of :func:`skmood.export`: the files it writes and their parity with the classifier.

Parity targets (issue #21): float files within 1e-4 of ``predict_proba``, int8
files within 0.05 with at least 97 % of the labels equal, on images of the
network's size and of other sizes. The shared model is test_serve.py's small
classifier (trained once per run); the per-family parity runs on untrained
networks (their weights need no training to be carried over exactly).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skmood
import skmood.runtime
from skmood import _export_format as fmt
from skmood import _network_spec
from skmood._export import _export_files
from skmood.cli import main
from skmood.datasets import make_faces
from skmood.exceptions import ModelFileError

onnx = pytest.importorskip("onnx", reason="export to ONNX needs pip install 'skmood[export]'")
pytest.importorskip("onnxruntime", reason="the runtime needs pip install 'skmood[runtime]'")
pytest.importorskip("ai_edge_litert", reason="the runtime needs pip install 'skmood[runtime]'")
from test_serve import serve_model_path  # noqa: E402  (tests/ is on sys.path under pytest)

FLOAT_TOLERANCE = 1e-4
INT8_TOLERANCE, INT8_AGREEMENT = 0.05, 0.97


def exported_paths(tmp_path_factory) -> dict[str, Path]:
    """test_serve.py's model exported once per run to every format (ONNX by the CLI).

    Also used by test_runtime.py. Keys: "skmood" (the source), "onnx",
    "litert", "litert-int8", "savedmodel".
    """
    folder = tmp_path_factory.getbasetemp() / "exported"
    paths = {"skmood": serve_model_path(tmp_path_factory), "onnx": folder / "model.onnx",
             "litert": folder / "model.tflite", "litert-int8": folder / "model-int8.tflite",
             "savedmodel": folder / "savedmodel"}
    if not paths["onnx"].exists():
        folder.mkdir(exist_ok=True)
        assert main(["export", str(paths["skmood"]), "-o", str(paths["onnx"])]) == 0
        _export_files(skmood.load(paths["skmood"]),
                      {f: paths[f] for f in ("litert", "litert-int8", "savedmodel")})
    return paths


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return exported_paths(tmp_path_factory)


@pytest.fixture(scope="module")
def clf(paths):
    return skmood.load(paths["skmood"]).set_params(inference="keras")


@pytest.fixture(scope="module")
def faces():
    """200 new 24x24 faces (the network's size) and 40 of other sizes."""
    same = make_faces(200, image_size=(24, 24), random_state=7)[0]
    other = [make_faces(20, image_size=size, random_state=8)[0] for size in ((12, 12), (48, 48))]
    return same, other


def restored(**params):
    """A "fitted" classifier around an untrained network: no training needed for parity."""
    clf = skmood.HappySadClassifier(inference="keras", **params)
    p = clf.get_params(deep=False)
    shape = (*p["image_size"], 1 if p["color_mode"] == "grayscale" else 3)
    build, kwargs = _network_spec.network_builder(p, shape, 0, "test")
    return clf._restore_fitted(build(**kwargs), classes=np.array(["happy", "sad"], dtype=object),
                               input_shape=shape, history={})


# -------------------------------------------------------------------- files
def test_onnx_passes_the_checker_and_carries_skmood_metadata(paths, clf):
    model = onnx.load(str(paths["onnx"]))
    onnx.checker.check_model(model, full_check=True)
    meta = json.loads({p.key: p.value for p in model.metadata_props}["skmood"])
    assert meta["classes"] == ["happy", "sad"] and meta["export_format"] == "onnx"
    assert meta["format_version"] == fmt.FORMAT_VERSION
    assert meta["skmood_version"] == skmood.__version__
    assert meta["input"]["name"] == "pixels" and meta["input"]["dtype"] == "uint8"
    assert meta["network_input"] == {"height": 24, "width": 24, "channels": 3}
    assert len(meta["sha256"]) == 64 and int(meta["sha256"], 16)
    assert [i.name for i in model.graph.input] == ["pixels"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert skmood.runtime.load(paths["onnx"]).metadata == meta


def test_litert_metadata_is_in_the_flatbuffer(paths):
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    for kind in ("litert", "litert-int8"):
        data = paths[kind].read_bytes()
        model = schema.Model.GetRootAs(data, 0)
        entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
                   for i in range(model.MetadataLength())}
        meta = json.loads(model.Buffers(entries["skmood"]).DataAsNumpy().tobytes())
        assert meta["export_format"] == kind and meta["classes"] == ["happy", "sad"]
        signatures = Interpreter(model_content=data).get_signature_list()
        assert signatures == {"serving_default": {"inputs": ["pixels"],
                                                  "outputs": ["probabilities"]}}
    assert paths["litert-int8"].stat().st_size < 0.5 * paths["litert"].stat().st_size


def test_savedmodel_runs_in_tensorflow_and_says_what_it_is(paths, clf, faces):
    import tensorflow as tf

    folder = paths["savedmodel"]
    meta = json.loads((folder / "assets.extra" / "skmood.json").read_text())
    assert meta["export_format"] == "savedmodel" and meta["classes"] == ["happy", "sad"]
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    X = faces[1][1]  # 48x48: resized inside
    proba = serve(pixels=tf.constant(X))["probabilities"].numpy()
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=FLOAT_TOLERANCE)
    with pytest.raises(ModelFileError, match="tf.saved_model.load"):
        skmood.runtime.load(folder)


# ------------------------------------------------------------------- parity
@pytest.mark.parametrize("kind", ["onnx", "litert"])
def test_float_files_predict_like_the_classifier(paths, clf, faces, tmp_path, kind):
    exported = skmood.runtime.load(paths[kind])
    same, other = faces
    np.testing.assert_allclose(exported.predict_proba(same), clf.predict_proba(same),
                               atol=FLOAT_TOLERANCE)
    assert (exported.predict(same) == clf.predict(same)).all()
    for X in other:  # pixel arrays of other sizes: resized, as by the classifier
        np.testing.assert_allclose(exported.predict_proba(X), clf.predict_proba(X),
                                   atol=FLOAT_TOLERANCE)
    files = []  # files of several sizes and modes, decoded as the classifier decodes them
    for i, (image, mode) in enumerate(zip([same[0], other[0][0], other[1][0]],
                                          ["RGB", "L", "RGBA"])):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).convert(mode).save(files[-1])
    np.testing.assert_allclose(exported.predict_proba(files), clf.predict_proba(files),
                               atol=FLOAT_TOLERANCE)


def test_the_graph_alone_resizes_and_normalises(paths, clf, faces):
    """onnxruntime on raw pixels of any size, without skmood: what other languages get."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(paths["onnx"]),
                                           providers=["CPUExecutionProvider"])
    for X in (faces[0][:20], *faces[1]):
        (proba,) = session.run(None, {"pixels": X})
        np.testing.assert_allclose(proba, clf.predict_proba(X), atol=FLOAT_TOLERANCE)


def test_int8_file_is_close_and_agrees(paths, clf, faces):
    exported = skmood.runtime.load(paths["litert-int8"])
    X = np.concatenate([faces[0], make_faces(100, image_size=(24, 24), random_state=9)[0]])
    proba, expected = exported.predict_proba(X), clf.predict_proba(X)
    assert np.abs(proba - expected).max() <= INT8_TOLERANCE
    assert (proba.argmax(1) == expected.argmax(1)).mean() >= INT8_AGREEMENT


#: One case per architecture family, both colour modes covered. The colour mode only
#: changes the graph's first step (Pillow's luma), and the preprocessing is the same
#: graph for every family, so LiteRT runs on the seed network in both colour modes (and
#: on the trained model above, float and int8) and ONNX on every family. The full cross
#: product, with LiteRT and int8 files of every family and colour mode, is
#: benchmarks/bench_runtime.py --parity (docs/benchmarks.md): too slow for the suite.
FAMILY_CASES = {
    "seed-rgb": dict(conv_filters=(4,), dense_units=8, flip_averaging=True),
    "seed-grayscale": dict(conv_filters=(4,), dense_units=8, color_mode="grayscale"),
    "vgg-grayscale": dict(architecture="vgg", conv_filters=(4,), blocks_per_stage=1,
                          color_mode="grayscale"),
    "resnet-rgb": dict(architecture="resnet", conv_filters=(4,), blocks_per_stage=1),
    "inception-grayscale": dict(architecture="inception", conv_filters=(8,),
                                blocks_per_stage=1, flip_averaging=True,
                                color_mode="grayscale"),
    "backbone-rgb": dict(backbone="mobilenetv2", backbone_alpha=0.35, image_size=(32, 32)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FAMILY_CASES))
def test_every_family_exports_with_parity(case, tmp_path):
    params = {"image_size": (16, 16), **FAMILY_CASES[case]}
    clf = restored(**params)
    kinds = ["onnx", "litert"] if case.startswith("seed") else ["onnx"]
    files = {k: tmp_path / f"model{fmt.SUFFIXES[k]}" for k in kinds}
    _export_files(clf, files)
    size = params["image_size"][0]
    for X in (make_faces(12, image_size=(size, size), random_state=1)[0],
              make_faces(12, image_size=(size + 9, size - 3), random_state=2)[0]):
        expected = clf.predict_proba(X)
        for kind, path in files.items():
            np.testing.assert_allclose(skmood.runtime.load(path).predict_proba(X), expected,
                                       atol=FLOAT_TOLERANCE, err_msg=kind)


def test_pipeline_of_the_classifiers_own_steps_exports(tmp_path, face_paths):
    from sklearn.pipeline import make_pipeline

    from skmood import ImageLoader, ImageResizer, PixelNormalizer

    clf = restored(image_size=(16, 16), color_mode="grayscale", conv_filters=(4,),
                   dense_units=8)
    pipe = make_pipeline(ImageLoader(color_mode="grayscale"),
                         ImageResizer(image_size=(16, 16)), PixelNormalizer(), clf)
    path = tmp_path / "pipe.onnx"
    skmood.export(pipe, path)
    exported = skmood.runtime.load(path)
    assert exported.pipeline == ["ImageLoader", "ImageResizer", "PixelNormalizer",
                                 "HappySadClassifier"]
    files = face_paths[0][:6]
    np.testing.assert_allclose(exported.predict_proba(files), pipe.predict_proba(files),
                               atol=FLOAT_TOLERANCE)
    for step in (ImageResizer(image_size=(20, 20)), ImageLoader(color_mode="rgb")):
        with pytest.raises(TypeError, match=type(step).__name__):
            skmood.export(make_pipeline(step, clf), tmp_path / "wrong.onnx")


def test_faces_are_cropped_before_the_file(tmp_path):
    """The detector is not in the file: the runtime crops with Haar; MTCNN is substituted."""
    X = make_faces(8, image_size=(96, 96), random_state=3)[0]
    files = []
    for i, image in enumerate(X):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(files[-1])
    clf = restored(image_size=(16, 16), conv_filters=(4,), dense_units=8, face_detector="haar")
    assert any(box is not None for box in clf.detect_faces(files))  # some faces found
    path = tmp_path / "mtcnn.tflite"
    skmood.export(clf.set_params(face_detector="mtcnn"), path, format="litert")
    assert fmt.read_metadata(path)[1]["face_detector"] == "mtcnn"
    with pytest.warns(skmood.SkmoodWarning, match="MTCNN needs TensorFlow"):
        substituted = skmood.runtime.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exported = skmood.runtime.load(path, detector="haar")  # chosen: no warning
    assert substituted.face_detector == exported.face_detector == "haar"
    expected = clf.set_params(face_detector="haar").predict_proba(files)
    np.testing.assert_allclose(exported.predict_proba(files), expected, atol=FLOAT_TOLERANCE)
    with pytest.raises(ValueError, match="needs TensorFlow"):
        skmood.runtime.load(path, detector="mtcnn")


# ------------------------------------------------------------------- errors
def test_export_rejects_bad_arguments(tmp_path, clf):
    with pytest.raises(ValueError, match="format='tflite'; expected 'onnx'"):
        skmood.export(clf, tmp_path / "m.tflite", format="tflite")
    with pytest.raises(ValueError, match=r"writes a \.tflite file"):
        skmood.export(clf, tmp_path / "m.onnx", format="litert-int8")
    with pytest.raises(skmood.NotFittedError):
        skmood.export(skmood.HappySadClassifier(), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="HappySadClassifier"):
        skmood.export(object(), tmp_path / "m.onnx")
    (tmp_path / "taken").write_text("not a model")
    with pytest.raises(FileExistsError):
        skmood.export(clf, tmp_path / "taken", format="savedmodel")
    assert sorted(os.listdir(tmp_path)) == ["taken"]  # nothing half-written


def test_in_graph_resize_is_pillows():
    """The graph's resize against Pillow's (the classifier's), on random pixels."""
    from skmood._export_graph import _resize
    from skmood._image import resize_image
    from skmood._keras_backend import keras

    rng = np.random.default_rng(0)
    for size, out in [((12, 12), (24, 24)), ((48, 48), (24, 24)), ((24, 41), (24, 24)),
                      ((41, 24), (24, 24)), ((20, 30), (24, 24)), ((96, 131), (48, 48)),
                      ((700, 1000), (48, 48)), ((9, 9), (16, 16))]:
        images = rng.integers(0, 256, (2, *size, 3), dtype=np.uint8)
        graph = np.asarray(_resize(keras.ops, keras.ops.convert_to_tensor(
            images.astype(np.float32)), *out))
        pillow = np.stack([resize_image(image, out) for image in images])
        np.testing.assert_array_equal(graph, pillow, err_msg=str(size))
