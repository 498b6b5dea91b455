"""``POST /predict?explain=true``: Grad-CAM heat maps from the JSON API.

On the small model of ``test_serve.py`` (trained once per run, shared).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="skmood serve needs pip install 'skmood[serve]'")
pytest.importorskip("cv2", reason="skmood serve needs pip install 'skmood[serve]'")
from fastapi.testclient import TestClient  # noqa: E402
from test_serve import SIZE, png, serve_model_path  # noqa: E402  (tests/ is on sys.path)

import skmood  # noqa: E402
from skmood import FaceCropper  # noqa: E402
from skmood.datasets import make_faces  # noqa: E402
from skmood.serve import create_app  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return skmood.load(serve_model_path(tmp_path_factory))


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model)) as c:
        yield c


def heat_of(explanation: dict) -> np.ndarray:
    """The heat map of an ``explanation``, from its PNG data URL, in [0, 1]."""
    prefix = "data:image/png;base64,"
    assert explanation["heatmap"].startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(explanation["heatmap"][len(prefix):])))
    assert image.format == "PNG" and image.mode == "L"
    return np.asarray(image, np.float32) / 255.0


def test_explain_returns_the_heat_map_of_each_label(client, model):
    X, _ = make_faces(2, image_size=(40, 30), random_state=3)
    files = [("files", (f"face{i}.png", png(x), "image/png")) for i, x in enumerate(X)]
    response = client.post("/predict?explain=true&crop_faces=false", files=files)
    assert response.status_code == 200, response.text
    for x, prediction in zip(X, response.json()["predictions"]):
        explanation = prediction["explanation"]
        assert explanation["label"] == prediction["label"]
        assert explanation["box"] == {"x": 0, "y": 0, "width": 30, "height": 40}
        heat = heat_of(explanation)
        assert heat.shape == (SIZE, SIZE)  # at the network's input size: small
        expected = model.explain(x[None], target=prediction["label"])[0]
        np.testing.assert_allclose(heat, expected, atol=0.5 / 255 + 1e-6)
    # Not asked for: not there (responses are unchanged).
    plain = client.post("/predict", files=files[:1]).json()["predictions"][0]
    assert "explanation" not in plain


def test_explain_as_a_form_field_and_on_the_face_of_a_photo(client):
    X, _ = make_faces(12, image_size=(128, 128), random_state=0)
    face = X[next(i for i, b in enumerate(FaceCropper().detect(X)) if b is not None)]
    photo = np.full((240, 320, 3), 90, np.uint8)
    photo[60:188, 100:228] = face
    response = client.post("/predict", files=[("files", ("photo.png", png(photo), "image/png"))],
                           data={"explain": "true"})
    prediction = response.json()["predictions"][0]
    b = prediction["face_box"]
    assert prediction["region"] == "face" and b is not None
    region = FaceCropper()._crop_region((b["x"], b["y"], b["width"], b["height"]), photo.shape)
    assert prediction["explanation"]["box"] == dict(zip(("x", "y", "width", "height"), region))
    assert heat_of(prediction["explanation"]).max() > 0.99


def test_the_schema_documents_explain(client):
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/predict"]["post"]["parameters"]
    assert any(p["name"] == "explain" and p["schema"]["type"] == "boolean" for p in parameters)
    explanation = schema["components"]["schemas"]["Explanation"]
    assert set(explanation["required"]) == {"label", "heatmap", "box"}
    assert "greyscale PNG" in explanation["properties"]["heatmap"]["description"]


def test_a_model_without_gradients_says_so(client, model):
    assert client.get("/model").json()["explainable"] is True
    predictor = client.app.state.predictor
    predictor.explainable = False  # as for an exported model (skmood.runtime)
    try:
        response = client.post("/predict?explain=true", content=png(make_faces(
            1, image_size=(24, 24), random_state=0)[0][0]), headers={"Content-Type": "image/png"})
        assert response.status_code == 422
        assert "explain=true needs a Keras model" in response.json()["detail"]
        assert client.get("/model").json()["explainable"] is False
    finally:
        predictor.explainable = True
