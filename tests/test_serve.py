"""Tests of ``skmood serve`` (:mod:`skmood.serve`): the JSON API, its limits and safety.

API tests use FastAPI's test client on a tiny model fitted once on synthetic
faces and saved as ``.skmood``; the end-to-end tests run the real server
(uvicorn) on a free loopback port, in a thread and through the ``skmood serve``
command. The OpenAPI fuzzing is in ``test_serve_schema.py``, the browser tests
in ``test_browser.py``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="skmood serve needs pip install 'skmood[serve]'")
pytest.importorskip("cv2", reason="skmood serve needs pip install 'skmood[serve]'")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import skmood  # noqa: E402
from skmood import FaceCropper, ImageResizer, predict_faces  # noqa: E402
from skmood.cli import main  # noqa: E402
from skmood.datasets import make_faces  # noqa: E402
from skmood.serve import BackgroundServer, Settings, create_app  # noqa: E402
from skmood.serve._batching import MicroBatcher, ServerBusyError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SIZE = 24  # the network's input size


def serve_model_path(tmp_path_factory) -> Path:
    """A small 24x24 classifier on synthetic faces, as a .skmood file, made once per run.

    Shared by test_serve_schema.py and test_browser.py. About 6 s of training for
    ~85% accuracy on new synthetic faces, so the page's screenshots show sensible
    labels.
    """
    path = tmp_path_factory.getbasetemp() / "serve-model" / "model.skmood"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        X, y = make_faces(800, image_size=(SIZE, SIZE), random_state=0)
        clf = skmood.HappySadClassifier(image_size=(SIZE, SIZE), conv_filters=(8, 16),
                                        dense_units=32, epochs=8, random_state=0)
        skmood.save(clf.fit(X, y), path)
    return path


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return serve_model_path(tmp_path_factory)


@pytest.fixture(scope="module")
def model(model_path):
    return skmood.load(model_path)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, max_upload_mb=1, max_files=4)) as c:
        yield c


@pytest.fixture(scope="module")
def faces():
    """Twelve 128x128 synthetic faces, and the Haar boxes found in them."""
    X, _ = make_faces(12, image_size=(128, 128), random_state=0)
    return X, FaceCropper().detect(X)


@pytest.fixture(scope="module")
def photo(faces):
    """A 320x240 'photo' with a detectable face at (100, 60), and the face's box."""
    X, boxes = faces
    i = next(i for i, b in enumerate(boxes) if b is not None)
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[60:188, 100:228] = X[i]
    return canvas


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A noisy gradient, with no face (as in test_faces_in_model.py)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, width)[None, :, None] * np.ones((height, 1, 3))
    return np.clip(ramp + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)


def group_photo() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A 140x260 'photo' with two cartoon faces that Haar finds, and where they were pasted.

    Shared with test_browser.py.
    """
    X, _ = make_faces(80, image_size=(96, 96), random_state=1)
    found = [x for x, b in zip(X, FaceCropper().detect(X)) if b is not None]
    corners = [(10, 20), (150, 30)]  # (left, top) of each pasted face
    photo = background(140, 260)
    for face, (left, top) in zip(found, corners):
        photo[top:top + 96, left:left + 96] = face
    return photo, corners


def expected_proba(model, images, crop=False):
    """What model.predict_proba gives on the same images."""
    if crop:
        images = FaceCropper().transform(images)
    return model.predict_proba(ImageResizer(image_size=(SIZE, SIZE)).transform(images))


def upload(*images, names=None):
    names = names or [f"face{i}.png" for i in range(len(images))]
    return [("files", (n, png(a), "image/png")) for n, a in zip(names, images)]


# ------------------------------------------------------------------ GET
def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["skmood_version"] == skmood.__version__


def test_model_info(client):
    r = client.get("/model")
    assert r.status_code == 200
    info = r.json()
    assert info["classes"] == ["happy", "sad"]
    assert info["input_size"] == {"height": SIZE, "width": SIZE, "channels": 3}
    assert info["parameters"]["conv_filters"] == [8, 16]
    assert info["pipeline"] == ["HappySadClassifier"]
    assert info["skmood_version"] == skmood.__version__
    assert info["limits"] == {"max_upload_mb": 1, "max_files": 4, "max_image_pixels": 40_000_000}
    assert info["crop_faces"] is True and info["api_key_required"] is False


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "static/app.js" in page.text
    for name, kind in [("app.js", "javascript"), ("style.css", "css")]:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert client.get("/static/../_app.py").status_code == 404


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/model", "/health"} <= set(spec["paths"])
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/jpeg" in body
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422"} <= set(responses)


# ------------------------------------------------------------------ POST /predict
def test_predict_several_files_in_order_matches_predict_proba(client, model, faces):
    X, _ = faces
    r = client.post("/predict?crop_faces=false", files=upload(*X[:4]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["crop_faces"] is False and body["time_ms"] > 0
    preds = body["predictions"]
    assert [p["filename"] for p in preds] == [f"face{i}.png" for i in range(4)]
    proba = np.array([[p["probabilities"]["happy"], p["probabilities"]["sad"]] for p in preds])
    np.testing.assert_allclose(proba, expected_proba(model, X[:4]), rtol=1e-5, atol=1e-6)
    for p in preds:
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
        assert p["face_box"] is None and p["region"] == "whole image"
        assert (p["width"], p["height"]) == (128, 128) and p["time_ms"] > 0


def test_predict_raw_image_body(client, model, faces):
    X, _ = faces
    r = client.post("/predict?crop_faces=false&filename=cam.jpg", content=png(X[5]),
                    headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    [p] = r.json()["predictions"]
    assert p["filename"] == "cam.jpg"
    np.testing.assert_allclose(list(p["probabilities"].values()),
                               expected_proba(model, X[5:6])[0], rtol=1e-5, atol=1e-6)


def test_faces_are_cropped_by_default_and_reported(client, model, photo):
    r = client.post("/predict", files=upload(photo, np.full((60, 80, 3), 200, np.uint8)))
    assert r.status_code == 200, r.text
    found, blank = r.json()["predictions"]
    box = found["face_box"]
    assert found["region"] == "face" and r.json()["crop_faces"] is True
    assert 100 <= box["x"] + box["width"] / 2 <= 228 and 60 <= box["y"] + box["height"] / 2 <= 188
    assert blank["face_box"] is None and blank["region"] == "whole image"
    np.testing.assert_allclose(list(found["probabilities"].values()),
                               expected_proba(model, [photo], crop=True)[0], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("how", ["query", "form"])
def test_cropping_can_be_switched_off_per_request(client, photo, how):
    if how == "query":
        r = client.post("/predict?crop_faces=false", files=upload(photo))
    else:  # a form field wins over the query parameter
        r = client.post("/predict?crop_faces=true", files=upload(photo),
                        data={"crop_faces": "false"})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["face_box"] is None


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """The two-face photo as a file, and where its faces were pasted."""
    photo, corners = group_photo()
    path = tmp_path_factory.mktemp("group") / "group.png"
    Image.fromarray(photo).save(path)
    return path, corners


def test_every_face_is_classified_on_request(client, model, group):
    path, corners = group
    empty = png(background(80, 80, seed=5))
    files = [("files", ("group.png", path.read_bytes(), "image/png")),
             ("files", ("empty.png", empty, "image/png"))]
    r = client.post("/predict?all_faces=true", files=files)
    assert r.status_code == 200, r.text
    found, blank = r.json()["predictions"]
    faces = found["faces"]
    assert len(faces) == 2
    boxes = [f["face_box"] for f in faces]
    assert boxes[0]["width"] * boxes[0]["height"] >= boxes[1]["width"] * boxes[1]["height"]
    for left, top in corners:  # one box inside each pasted 96x96 face
        assert sum(left <= b["x"] + b["width"] / 2 <= left + 96
                   and top <= b["y"] + b["height"] / 2 <= top + 96 for b in boxes) == 1
    expected = predict_faces(model, [str(path)], all_faces=True)
    assert [tuple(b.values()) for b in boxes] == expected.boxes
    np.testing.assert_allclose([list(f["probabilities"].values()) for f in faces],
                               expected.proba, rtol=1e-5, atol=1e-6)
    for f in faces:
        assert f["label"] == max(f["probabilities"], key=f["probabilities"].get)
    # The image-level fields describe the largest face, as without all_faces.
    assert found["face_box"] == boxes[0] and found["region"] == "face"
    assert found["probabilities"] == faces[0]["probabilities"]
    # No face: an empty list, and the whole image at image level.
    assert blank["faces"] == [] and blank["face_box"] is None
    assert blank["region"] == "whole image"
    np.testing.assert_allclose(list(blank["probabilities"].values()),
                               expected_proba(model, [background(80, 80, seed=5)])[0],
                               rtol=1e-5, atol=1e-6)


def test_all_faces_sends_every_face_of_a_request_in_one_network_call(model, group,
                                                                    monkeypatch):
    from skmood._predict import FacePredictor

    path, _ = group
    calls = []
    original = FacePredictor.predict_network_input

    def counting(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(FacePredictor, "predict_network_input", counting)
    with TestClient(create_app(model)) as c:
        calls.clear()  # the warm-up's
        files = [("files", (f"g{i}.png", path.read_bytes(), "image/png")) for i in range(3)]
        r = c.post("/predict?all_faces=true", files=files)
    assert r.status_code == 200, r.text
    assert [len(p["faces"]) for p in r.json()["predictions"]] == [2, 2, 2]
    assert calls == [6]  # one call; the largest face is also the image-level answer


def test_all_faces_without_cropping_and_as_a_form_field(client, model, group):
    path, _ = group
    r = client.post("/predict?crop_faces=false", data={"all_faces": "true"},
                    files=[("files", ("group.png", path.read_bytes(), "image/png"))])
    assert r.status_code == 200, r.text
    [p] = r.json()["predictions"]
    assert len(p["faces"]) == 2 and p["face_box"] is None and p["region"] == "whole image"
    np.testing.assert_allclose(list(p["probabilities"].values()),
                               expected_proba(model, [np.asarray(Image.open(path))])[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query", ["", "?all_faces=false"])
def test_without_all_faces_there_is_no_faces_key(client, group, query):
    path, _ = group
    r = client.post(f"/predict{query}", content=path.read_bytes(),
                    headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    [p] = r.json()["predictions"]
    assert set(p) == {"filename", "label", "probabilities", "face_box", "region", "width",
                      "height", "time_ms"}
    assert set(r.json()) == {"predictions", "crop_faces", "time_ms"}


def test_jpeg_exif_orientation_and_grayscale_uploads(client):
    image = Image.fromarray(np.tile(np.arange(0, 200, 2, dtype=np.uint8), (50, 1)))  # 100x50 L
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown 50 wide and 100 high
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    r = client.post("/predict", files=[("files", ("rot.jpg", buffer.getvalue(), "image/jpeg"))])
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert (p["width"], p["height"]) == (50, 100)


# ------------------------------------------------------------------ bad input: never a 500
def assert_error(r, status, *fragments):
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail, detail


def test_not_an_image_is_422_naming_the_file(client, faces):
    files = upload(faces[0][0]) + [("files", ("notes.txt", b"hello", "text/plain"))]
    assert_error(client.post("/predict", files=files), 422, "notes.txt", "not a recognised")


def test_truncated_image_is_422(client, faces):
    data = png(faces[0][0])
    r = client.post("/predict", content=data[: len(data) // 2],
                    headers={"content-type": "image/png"})
    assert_error(r, 422, "corrupt or truncated")


def test_image_formats_pillow_could_parse_but_we_do_not_accept_are_422(client):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="ICO")
    r = client.post("/predict", content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert_error(r, 422, "not a recognised image format")


def test_unsupported_content_type_is_415(client):
    r = client.post("/predict", content=b"hello", headers={"content-type": "text/plain"})
    assert_error(r, 415, "multipart/form-data")
    assert_error(client.post("/predict", json={"files": []}), 415)


@pytest.mark.parametrize("body, content_type, fragment", [
    (b"--xx\r\nContent-Type: image/png\r\n\r\nabc\r\n--xx--\r\n",
     "multipart/form-data; boundary=xx", "name"),
    (b"--xx\r\nnot a header\r\n\r\nabc\r\n--xx--\r\n", "multipart/form-data; boundary=xx",
     "Invalid multipart"),
    (b'--xx\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\nabc',
     "multipart/form-data; boundary=xx", "closing boundary"),
    (b"--xx\r\nbroken", "multipart/form-data; boundary=xx", "closing boundary"),
    (b"anything", "multipart/form-data", "no boundary"),
])
def test_malformed_multipart_is_400(client, body, content_type, fragment):
    r = client.post("/predict", content=body, headers={"content-type": content_type})
    assert_error(r, 400, "malformed multipart", fragment)


def test_missing_or_empty_files_are_422(client):
    assert_error(client.post("/predict", data={"other": "x"}, files=[("x", ("a", b"", "a/b"))]),
                 422, "no image", "'files'")
    assert_error(client.post("/predict", files={"files": ("a.png", b"", "image/png")}),
                 422, "empty")
    assert_error(client.post("/predict", content=b"", headers={"content-type": "image/png"}),
                 422, "empty body")
    r = client.post("/predict", data={"files": "text, not a file"},
                    files=[("other", ("a.png", b"x", "image/png"))])
    assert_error(r, 422, "'files' must hold image files")


def test_too_large_body_is_413(client):
    big = os.urandom(1024 * 1024 + 1)
    r = client.post("/predict", content=big, headers={"content-type": "image/png"})
    assert_error(r, 413, "larger than the limit")

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b"\0" * 65536

    r = client.post("/predict", content=chunks(), headers={"content-type": "image/png"})
    assert_error(r, 413, "larger than the limit")


def test_too_many_files_is_413(client, faces):
    X, _ = faces
    assert_error(client.post("/predict", files=upload(*X[:5])), 413, "too many files: 5",
                 "at most 4")


def test_too_many_pixels_is_422(model):
    with TestClient(create_app(model, max_image_pixels=1000)) as c:
        r = c.post("/predict", content=png(np.zeros((40, 40, 3), np.uint8)),
                   headers={"content-type": "image/png"})
    assert_error(r, 422, "image too large", "40x40 pixels", "limit of 1000")


@pytest.mark.parametrize("query", ["crop_faces=maybe", "all_faces=2",
                                   "filename=" + "x" * 300])
def test_bad_query_parameters_are_422(client, faces, query):
    r = client.post(f"/predict?{query}", content=png(faces[0][0]),
                    headers={"content-type": "image/png"})
    assert_error(r, 422)


def test_wrong_methods_and_paths(client):
    assert client.get("/predict").status_code == 405
    assert client.get("/nope").status_code == 404


# ------------------------------------------------------------------ API key
def test_api_key(model, faces):
    with TestClient(create_app(model, api_key="s3cret")) as c:
        assert c.get("/health").status_code == 200  # liveness stays open
        assert c.get("/").status_code == 200  # the page asks for the key
        for headers in [{}, {"X-API-Key": "wrong"}]:
            r = c.get("/model", headers=headers)
            assert_error(r, 401, "API key")
            assert r.headers["www-authenticate"] == "ApiKey"
            r = c.post("/predict", files=upload(faces[0][0]), headers=headers)
            assert r.status_code == 401
        ok = {"X-API-Key": "s3cret"}
        assert c.get("/model", headers=ok).json()["api_key_required"] is True
        assert c.post("/predict", files=upload(faces[0][0]), headers=ok).status_code == 200
        schemes = c.get("/openapi.json").json()["components"]["securitySchemes"]
        assert schemes["APIKeyHeader"]["name"] == "X-API-Key"


@pytest.mark.parametrize("options, match", [
    ({"max_files": 0}, "max_files"),
    ({"max_upload_mb": 0}, "max_upload_mb"),
    ({"detector": "dlib"}, "detector"),
    ({"api_key": ""}, "api_key"),
])
def test_invalid_settings(options, match):
    with pytest.raises(ValueError, match=match):
        Settings(**options)


def test_create_app_rejects_what_is_not_a_fitted_model():
    with pytest.raises(TypeError, match="fitted HappySadClassifier"):
        create_app(skmood.HappySadClassifier())


# ------------------------------------------------------------------ pipelines
def test_a_saved_pipeline_is_served_like_its_predict_proba(face_paths, make_clf, tmp_path):
    from sklearn.pipeline import make_pipeline

    from skmood import ImageLoader, PixelNormalizer

    paths, labels = face_paths
    pipe = make_pipeline(ImageLoader(color_mode="grayscale"), ImageResizer(image_size=(16, 16)),
                         PixelNormalizer(), make_clf(color_mode="grayscale")).fit(paths, labels)
    skmood.save(pipe, tmp_path / "pipe.skmood")
    with TestClient(create_app(tmp_path / "pipe.skmood", crop_faces=False)) as c:
        info = c.get("/model").json()
        assert info["pipeline"][0] == "ImageLoader" and info["color_mode"] == "grayscale"
        files = [("files", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in paths[:6]]
        preds = c.post("/predict", files=files).json()["predictions"]
    proba = [[p["probabilities"]["happy"], p["probabilities"]["sad"]] for p in preds]
    np.testing.assert_allclose(proba, pipe.predict_proba(paths[:6]), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ batching
def test_micro_batcher_routes_rows_to_their_submitters():
    calls = []

    def fn(X):
        calls.append(len(X))
        time.sleep(0.01)
        return X * 10

    batcher = MicroBatcher(fn, threads=2, max_batch_size=64)
    futures = [batcher.submit(np.full((1 + i % 3, 2), i)) for i in range(60)]
    for i, f in enumerate(futures):
        np.testing.assert_array_equal(f.result(timeout=10), np.full((1 + i % 3, 2), 10 * i))
    assert sum(calls) == sum(1 + i % 3 for i in range(60))
    assert len(calls) < 60  # requests waiting together were batched
    batcher.close()


def test_micro_batcher_hands_errors_to_each_request_and_keeps_working():
    def fn(X):
        if (X < 0).any():
            raise ValueError("negative")
        return X

    batcher = MicroBatcher(fn, threads=1)
    with pytest.raises(ValueError, match="negative"):
        batcher.submit(np.array([-1])).result(timeout=10)
    assert batcher.submit(np.array([3])).result(timeout=10).tolist() == [3]
    batcher.close()


def test_micro_batcher_refuses_work_beyond_max_pending():
    release = threading.Event()
    batcher = MicroBatcher(lambda X: (release.wait(10), X)[1], threads=1, max_pending=4)
    first = batcher.submit(np.zeros(3))
    time.sleep(0.1)  # the worker is now blocked on the first batch
    second = batcher.submit(np.zeros(3))
    with pytest.raises(ServerBusyError, match="waiting"):
        batcher.submit(np.zeros(3))
    release.set()
    assert len(first.result(timeout=10)) == 3 and len(second.result(timeout=10)) == 3
    batcher.close()


def test_micro_batcher_starts_again_after_close():
    """An app whose lifespan runs twice (some test clients) keeps working."""
    batcher = MicroBatcher(lambda X: X + 1, threads=2)
    assert batcher.submit(np.array([1])).result(timeout=10).tolist() == [2]
    batcher.close()
    assert batcher.submit(np.array([2])).result(timeout=10).tolist() == [3]
    batcher.close()


# ------------------------------------------------------------------ the real server
def test_real_server_concurrent_requests_get_their_own_results(model, faces):
    """32 simultaneous requests on a real uvicorn server: right rows, batched inference."""
    X, _ = faces
    expected = expected_proba(model, X)
    app = create_app(model, crop_faces=False)
    with BackgroundServer(app) as server:
        async def one(client, i):
            r = await client.post(f"{server.url}/predict?filename=f{i}",
                                  content=png(X[i % 12]), headers={"content-type": "image/png"})
            assert r.status_code == 200, r.text
            return i, r.json()["predictions"][0]

        async def all_requests():
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(*(one(client, i) for i in range(32)))

        results = asyncio.run(all_requests())
    for i, p in results:
        assert p["filename"] == f"f{i}"
        np.testing.assert_allclose(list(p["probabilities"].values()), expected[i % 12],
                                   rtol=1e-5, atol=1e-6)
    batcher = app.state.predictor.batcher
    assert batcher.n_rows == 32 and batcher.n_calls < 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_help_imports_neither_fastapi_nor_tensorflow():
    code = ("import sys; from skmood.cli import main; assert main(['serve', '--help']) == 0; "
            "heavy = [m for m in ('fastapi', 'uvicorn', 'tensorflow', 'cv2') if m in sys.modules]; "
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--api-key KEY" in proc.stdout and "SKMOOD_API_KEY" in proc.stdout


def test_serve_command_fails_in_one_line_on_a_missing_model(capsys, tmp_path):
    missing = tmp_path / "missing.skmood"
    assert main(["serve", str(missing)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("skmood: error: skmood.load: no model file at") and str(missing) in last


def test_serve_command_reports_a_port_in_use(capsys, model_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["-q", "serve", str(model_path), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"skmood: error: cannot serve on "
                                                   f"127.0.0.1:{port}")


@pytest.mark.slow
def test_serve_command_end_to_end(model_path, faces):
    """``skmood serve`` in a subprocess, with an API key from the environment."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SKMOOD_API_KEY": "k"}
    proc = subprocess.Popen([sys.executable, "-m", "skmood", "serve", str(model_path),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        assert httpx.post(f"{url}/predict", files=upload(faces[0][0])).status_code == 401
        r = httpx.post(f"{url}/predict", files=upload(*faces[0][:3]), headers={"X-API-Key": "k"})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 3
        assert json.loads(httpx.get(f"{url}/model", headers={"X-API-Key": "k"}).text)[
            "api_key_required"]
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert f"serving '{model_path}' on http://127.0.0.1:{port}/" in out


def test_the_page_ships_in_the_wheel():
    """pyproject's package-data patterns cover every file of skmood/serve/static."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["skmood.serve"]
    files = sorted(p.relative_to(root / "skmood" / "serve").as_posix()
                   for p in (root / "skmood" / "serve" / "static").iterdir())
    assert {"static/index.html", "static/app.js", "static/style.css"} <= set(files)
    assert all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files
