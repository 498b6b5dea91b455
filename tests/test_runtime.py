"""Tests of :mod:`skmood.runtime`: exported models without TensorFlow or scikit-learn.

The fresh-interpreter tests block the heavy imports, as a lean install (``pip
install --no-deps skmood`` plus the runtime requirements) has none of them, and
then check ``sys.modules``. Bad files must fail with :class:`ModelFileError`.
The exported files come from test_export.py (made once per run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skmood
import skmood.runtime
from skmood import _export_format as fmt
from skmood.cli import main
from skmood.datasets import make_faces
from skmood.exceptions import ModelFileError, SkmoodWarning

pytest.importorskip("onnxruntime", reason="the runtime needs pip install 'skmood[runtime]'")
pytest.importorskip("ai_edge_litert", reason="the runtime needs pip install 'skmood[runtime]'")
from test_export import exported_paths  # noqa: E402  (tests/ is on sys.path under pytest)

ROOT = Path(__file__).resolve().parents[1]
#: What a lean install does not have (onnx itself is the export extra's, not the runtime's).
HEAVY = ("tensorflow", "keras", "sklearn", "scipy", "scikeras", "tf2onnx", "onnx", "mtcnn")
#: Prepended to the fresh interpreters' scripts: those imports fail, as in a lean install.
BLOCK_HEAVY = f"""
import importlib.abc, sys
HEAVY = {HEAVY!r}
class _Lean(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"No module named {{name!r}} (lean install)", name=name)
sys.meta_path.insert(0, _Lean())
"""


def run_lean(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", BLOCK_HEAVY + script, *args],
                          capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return exported_paths(tmp_path_factory)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Four PNG faces of three sizes."""
    folder = tmp_path_factory.mktemp("runtime-images")
    files = []
    for i, size in enumerate([(24, 24), (24, 24), (40, 30), (12, 12)]):
        files.append(str(folder / f"face{i}.png"))
        Image.fromarray(make_faces(1, image_size=size, random_state=i)[0][0]).save(files[-1])
    return files


# ------------------------------------------------------------ without TF
def test_fresh_interpreter_predicts_and_serves_without_tensorflow_or_sklearn(paths, images):
    script = """
import json, sys
import numpy as np
import skmood, skmood.runtime
out = {}
for path in sys.argv[1:3]:
    model = skmood.runtime.load(path)
    out[path] = model.predict_proba(sys.argv[3:]).tolist()
    assert model.predict(np.zeros((2, 50, 40, 3), np.uint8)).shape == (2,)
from fastapi.testclient import TestClient
from skmood.serve import create_app
with TestClient(create_app(sys.argv[1], crop_faces=False)) as client:
    with open(sys.argv[3], "rb") as fh:
        answer = client.post("/predict", files={"files": ("a.png", fh, "image/png")})
out["serve"] = answer.json()["predictions"][0]["probabilities"]
loaded = {m.split(".")[0] for m in sys.modules}
out["modules"] = sorted(loaded & {*HEAVY, "cv2"})
print(json.dumps(out))
"""
    proc = run_lean(script, str(paths["onnx"]), str(paths["litert"]), *images)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["modules"] == []  # nor OpenCV: this model does not crop faces
    expected = skmood.load(paths["skmood"]).predict_proba(images)
    for kind in ("onnx", "litert"):
        np.testing.assert_allclose(out[str(paths[kind])], expected, atol=1e-4)
    assert out["serve"]["happy"] == pytest.approx(expected[0, 0], abs=1e-4)


def test_cli_predict_on_an_exported_model_without_tensorflow(paths, images, capsys):
    script = "from skmood.cli import main; raise SystemExit(main(sys.argv[1:]))"
    proc = run_lean(script, "predict", str(paths["litert"]), *images, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "on litert (no TensorFlow)" in proc.stderr
    lean = json.loads(proc.stdout)
    assert main(["predict", str(paths["skmood"]), *images, "--format", "json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert [row["path"] for row in lean] == [row["path"] for row in full] == images
    assert [row["label"] for row in lean] == [row["label"] for row in full]
    for a, b in zip(lean, full):
        assert a.keys() == b.keys()
        assert a["happy"] == pytest.approx(b["happy"], abs=1e-4)
    for command in (["train", "data", "-o", "m.skmood"], ["predict", str(paths["skmood"]),
                                                          *images]):
        proc = run_lean(script, *command)  # what needs the full install says so, in one line
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "needs skmood's full install" in proc.stderr


def test_importing_skmood_is_lazy():
    script = ("import sys, skmood, skmood.runtime; assert len(dir(skmood)) > 20; "
              "print(sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY)))")
    proc = run_lean(script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert set(skmood.__all__) <= set(dir(skmood))
    for name in skmood.__all__:  # every public name resolves to its object
        assert getattr(skmood, name) is not None
    assert skmood.runtime.load is skmood.runtime._model.load


# ------------------------------------------------------------ serve, CLI
def test_serve_answers_the_same_json_for_an_exported_model(paths, images):
    pytest.importorskip("fastapi", reason="skmood serve needs pip install 'skmood[serve]'")
    from fastapi.testclient import TestClient

    from skmood.serve import create_app

    answers = {}
    for kind in ("skmood", "onnx"):
        with TestClient(create_app(str(paths[kind]))) as client:
            files = [("files", (os.path.basename(p), open(p, "rb").read(), "image/png"))
                     for p in images]
            answers[kind] = client.post("/predict?all_faces=true", files=files).json()
            info = client.get("/model").json()
            assert info["classes"] == ["happy", "sad"] and info["pipeline"] == [
                "HappySadClassifier"]
    full, lean = answers["skmood"], answers["onnx"]
    assert lean.keys() == full.keys()
    for a, b in zip(lean["predictions"], full["predictions"]):
        assert a.keys() == b.keys()
        assert {k: v for k, v in a.items() if k not in ("probabilities", "time_ms")} == {
            k: v for k, v in b.items() if k not in ("probabilities", "time_ms")}
        assert a["probabilities"]["sad"] == pytest.approx(b["probabilities"]["sad"], abs=1e-4)


def test_cli_export_needs_a_known_extension_or_format(capsys, tmp_path):
    assert main(["export", "-o", str(tmp_path / "model.bin")]) == 1
    assert "cannot tell the export format" in capsys.readouterr().err
    assert main(["export", "--format", "tflite", "-o", "m.tflite"]) == 2  # not a choice


# --------------------------------------------------------------- bad files
def _onnx_body_and_meta(data: bytes) -> tuple[bytes, dict]:
    """An exported ONNX file without its metadata entry, and the metadata."""
    start = data.rfind(fmt._MARKER)
    tail = fmt._field(0x72, fmt._field(0x0A, b"skmood") + fmt._field(0x12, data[start:]))
    assert data.endswith(tail)
    return data[:-len(tail)], json.loads(data[start:])


def test_bad_files_raise_model_file_error(paths, tmp_path):
    onnx_data, litert_data = paths["onnx"].read_bytes(), paths["litert"].read_bytes()
    body, meta = _onnx_body_and_meta(onnx_data)
    start = litert_data.rfind(fmt._MARKER)  # the metadata (ASCII JSON) starts here
    end = start + json.JSONDecoder().raw_decode(litert_data[start:].decode("latin-1"))[1]
    flipped = bytearray(litert_data)
    flipped[start // 2 if start > len(litert_data) - end else (end + len(flipped)) // 2] ^= 0xFF
    cases = {
        "truncated.onnx": (onnx_data[: len(onnx_data) // 2], "no skmood metadata"),
        "truncated.tflite": (litert_data[: len(litert_data) - 100], "truncated"),
        "flipped.tflite": (bytes(flipped), "checksum"),
        "newer.onnx": (fmt.add_onnx_metadata(body, {**meta, "format_version": 99}),
                       "export format 99 .* upgrade skmood"),
        "foreign.onnx": (body, "no skmood metadata"),
        "garbage.onnx": (os.urandom(2000), "no skmood metadata"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=message):
            skmood.runtime.load(tmp_path / name)
    with pytest.raises(ModelFileError, match="not a model exported"):
        skmood.runtime.load(paths["skmood"])  # a .skmood archive is not an export
    with pytest.raises(FileNotFoundError):
        skmood.runtime.load(tmp_path / "missing.onnx")


def test_cli_reports_a_truncated_file_in_one_line(tmp_path, images, capsys, paths):
    (tmp_path / "cut.tflite").write_bytes(paths["litert"].read_bytes()[:5000])
    assert main(["predict", str(tmp_path / "cut.tflite"), images[0]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ModelFileError" not in err[0] and "cut.tflite" in err[0]


# ------------------------------------------------------------------ inputs
def test_runtime_input_rules(paths, images, tmp_path):
    model = skmood.runtime.load(paths["onnx"], on_error="skip")
    with pytest.raises(TypeError, match="uint8"):
        model.predict_proba(np.zeros((1, 24, 24, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.predict_proba([])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.warns(SkmoodWarning, match="1 of 2 images could not be read"):
        proba = model.predict_proba([images[0], str(bad)])
    assert np.isnan(proba[1]).all() and not np.isnan(proba[0]).any()
    with pytest.warns(SkmoodWarning):
        assert model.predict([str(bad), images[0]])[0] is None
    with pytest.raises(skmood.ImageReadError, match="broken.png"):
        skmood.runtime.load(paths["onnx"]).predict_proba([str(bad)])
    with pytest.raises(ValueError, match="needs TensorFlow"):
        model.face_finder("mtcnn")
    with pytest.raises(ValueError, match="on_error"):
        skmood.runtime.load(paths["onnx"], on_error="ignore")
    gray = np.zeros((2, 30, 30, 1), np.uint8)  # grey images for an RGB model: repeated
    assert model.predict_proba(gray).shape == (2, 2)


def test_runtime_requirements_file_matches_pyproject():
    """requirements-runtime.txt (the lean install) is the runtime part of pyproject's lists."""
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {req.split(">")[0].split("<")[0].split("=")[0].strip(): req
                for req in [*project["dependencies"],
                            *project["optional-dependencies"]["runtime"],
                            *project["optional-dependencies"]["serve"]]}
    lines = [line.split("#")[0].strip()
             for line in (ROOT / "requirements-runtime.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert {line.split(">")[0].split("<")[0].strip() for line in lines} >= {
        "numpy", "pillow", "onnxruntime", "ai-edge-litert"}
    for line in lines:  # same names and ranges as pyproject.toml
        name = line.split(">")[0].split("<")[0].strip()
        assert declared.get(name) == line, line
