"""The web page of ``skmood serve`` in a real browser: Debian's Chromium, headless.

Playwright drives the system browser (``/usr/bin/chromium``; ``make test``
installs it with ``.ci/install-browser.sh``; Playwright's own browser
download is never used). The page uploads synthetic faces and shows their
labels; the webcam mode runs on Chromium's fake camera, fed a generated video
of a synthetic face. The screenshots go to the test's temporary folder, or to
``docs/_static/`` for the deployment guide when ``SKMOOD_UPDATE_SCREENSHOTS=1``
(tests never change the checkout otherwise).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

pytest.importorskip("fastapi", reason="skmood serve needs pip install 'skmood[serve]'")
pytest.importorskip("cv2", reason="skmood serve needs pip install 'skmood[serve]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need pip install playwright")

from test_serve import group_photo, serve_model_path  # noqa: E402  (tests/ is on sys.path)

import skmood  # noqa: E402
from skmood import FaceCropper  # noqa: E402
from skmood.datasets import make_faces  # noqa: E402
from skmood.serve import BackgroundServer, create_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
DOCS_STATIC = Path(__file__).resolve().parents[1] / "docs" / "_static"


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: docs/_static only when asked to update them."""
    return DOCS_STATIC if os.environ.get("SKMOOD_UPDATE_SCREENSHOTS") == "1" else tmp_path
#: Flags for a root user on a machine without network: no sandbox, no GPU, no phoning home.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=(
        f"no browser at {CHROMIUM}: install Debian's chromium (bash .ci/install-browser.sh, "
        "which 'make test' runs; it needs apt-get and root)")),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = serve_model_path(tmp_path_factory)  # the model of test_serve.py, made once
    return skmood.load(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Synthetic faces: eight files to upload, the first a 'photo' whose face Haar finds."""
    folder = tmp_path_factory.mktemp("browser")
    X, _ = make_faces(12, image_size=(128, 128), random_state=0)
    boxes = FaceCropper().detect(X)
    for i in (i for i, b in enumerate(boxes) if b is not None):
        photo = np.full((240, 320, 3), (70, 110, 160), np.uint8)
        photo[56:184, 96:224] = X[i]
        variants = [photo, jpeg_round_trip(photo, 85), jpeg_round_trip(photo, 60),
                    np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(1)))]
        if all(b is not None for b in FaceCropper().detect(variants)):
            break  # still found after the camera's colour subsampling and JPEG
    files = []
    for i, image in enumerate([photo, *X[:7]]):
        files.append(folder / f"face_{i}.png")
        Image.fromarray(image).save(files[-1])
    return {"files": files, "photo": photo, "folder": folder}


def jpeg_round_trip(image: np.ndarray, quality: int = 80) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def fake_camera_video(path: Path, frame: np.ndarray, n_frames: int = 10) -> Path:
    """Write ``frame`` as a Y4M video (YUV 4:2:0) for Chromium's fake camera."""
    height, width = frame.shape[:2]
    y, cb, cr = (np.asarray(c) for c in Image.fromarray(frame).convert("YCbCr").split())
    half = (width // 2, height // 2)
    u = np.asarray(Image.fromarray(cb).resize(half, Image.Resampling.BILINEAR))
    v = np.asarray(Image.fromarray(cr).resize(half, Image.Resampling.BILINEAR))
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(n_frames):
            fh.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())
    return path


@pytest.fixture(scope="module")
def browser(images):
    video = fake_camera_video(images["folder"] / "camera.y4m", images["photo"])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*FLAGS, f"--use-file-for-fake-video-capture={video}"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(model):
    with BackgroundServer(create_app(model)) as server:
        yield server


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors  # no JavaScript error on the page


def test_upload_images_and_see_their_labels(page, server, images, shots):
    page.goto(server.url + "/")
    page.wait_for_selector("#model-info:has-text('happy / sad')")
    assert page.is_hidden("#key-panel")
    page.set_input_files("#file-input", [str(f) for f in images["files"]])
    page.wait_for_selector(".result[data-status=done] >> nth=7", timeout=30_000)
    cards = page.query_selector_all(".result")
    assert len(cards) == 8
    for card in cards:
        assert card.query_selector(".label").inner_text() in ("happy", "sad")
        assert len(card.query_selector_all(".bar-row")) == 2
    # The photo (face_0.png) is cropped to the face the cascade found.
    photo = page.locator(".result", has_text="face_0.png")
    assert photo.locator(".face-box").count() == 1
    assert "face found" in photo.inner_text()
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "serve-page.png"), full_page=True)
    assert (shots / "serve-page.png").stat().st_size > 10_000


def test_every_face_gets_a_labelled_box(browser, server, images, shots):
    photo, corners = group_photo()
    Image.fromarray(photo).save(images["folder"] / "group.png")
    context = browser.new_context(viewport={"width": 800, "height": 640})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_selector("#model-info:has-text('happy / sad')")
    page.check("#all-faces")
    page.set_input_files("#file-input", str(images["folder"] / "group.png"))
    page.wait_for_selector(".result[data-status=done]", timeout=30_000)
    card = page.locator(".result", has_text="group.png")
    assert "2 faces found" in card.inner_text()
    labels = card.locator(".face-box .face-label")
    assert card.locator(".face-box").count() == 2 and labels.count() == 2
    for text in labels.all_inner_texts():
        assert text.split()[0] in ("happy", "sad") and text.split()[1].endswith("%")
    # Each box sits on one of the pasted faces (the thumbnail is scaled).
    image = card.locator("img").bounding_box()
    scale = image["width"] / photo.shape[1]
    centres = []
    for box in card.locator(".face-box").all():
        b = box.bounding_box()
        centres.append(((b["x"] + b["width"] / 2 - image["x"]) / scale,
                        (b["y"] + b["height"] / 2 - image["y"]) / scale))
    for left, top in corners:
        assert sum(left <= x <= left + 96 and top <= y <= top + 96 for x, y in centres) == 1
    shots.mkdir(parents=True, exist_ok=True)
    bottom = card.bounding_box()["y"] + card.bounding_box()["height"] + 12
    page.screenshot(path=str(shots / "serve-all-faces.png"),  # down to the card's bottom
                    clip={"x": 0, "y": 0, "width": 800, "height": bottom})
    assert (shots / "serve-all-faces.png").stat().st_size > 10_000
    context.close()
    assert not errors, errors


def test_webcam_mode_labels_live_frames(page, server, shots):
    page.goto(server.url + "/")
    page.wait_for_selector("#model-info:has-text('classes')")
    page.click("#tab-webcam")
    page.click("#webcam-start")
    label = page.locator("#webcam-label")
    page.wait_for_function("document.getElementById('webcam-label').dataset.label",
                           timeout=30_000)
    assert label.get_attribute("data-label") in ("happy", "sad")
    assert "face" in label.inner_text()  # the fake camera shows the synthetic face
    page.wait_for_function(  # frames keep coming, every 300 ms
        "/^([3-9]|\\d\\d+) frames/.test(document.getElementById('webcam-stats').textContent)",
        timeout=30_000)
    page.screenshot(path=str(shots / "serve-webcam.png"))
    page.click("#webcam-stop")
    assert page.is_enabled("#webcam-start")


def test_webcam_mode_labels_every_face(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#model-info:has-text('classes')")
    page.check("#all-faces")
    page.click("#tab-webcam")
    page.click("#webcam-start")
    # The fake camera shows one face: one labelled box drawn on the overlay canvas.
    page.wait_for_selector("#webcam-overlay[data-faces='1']", state="attached", timeout=30_000)
    assert "face" in page.inner_text("#webcam-label")
    page.click("#webcam-stop")


def test_the_heat_map_toggle_draws_over_photos_and_webcam_frames(page, server, images, shots):
    page.goto(server.url + "/")
    page.wait_for_selector("#model-info:has-text('happy / sad')")
    page.set_input_files("#file-input", [str(f) for f in images["files"][:4]])
    page.wait_for_selector(".result[data-status=done] >> nth=3", timeout=30_000)
    assert page.locator(".heat-map").count() == 0
    page.check("#explain")  # the cards shown ask for their heat maps
    page.wait_for_selector(".result[data-heat='1'] >> nth=3", timeout=30_000)
    photo = page.locator(".result", has_text="face_0.png")
    heat, face = photo.locator(".heat-map"), photo.locator(".face-box")
    h, f, img = (x.bounding_box() for x in (heat, face, photo.locator("img")))
    # Over the face crop: around the face box, inside the photo, smaller than it.
    assert h["x"] <= f["x"] and h["y"] <= f["y"] and h["width"] >= f["width"] - 4
    assert img["x"] <= h["x"] and h["x"] + h["width"] <= img["x"] + img["width"] + 1
    assert h["width"] < 0.8 * img["width"]
    colours = page.evaluate("""() => {
        const c = document.querySelector('.heat-map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
        return seen.size;
    }""")
    assert colours > 10  # a coloured map, not a flat patch
    shots.mkdir(parents=True, exist_ok=True)
    card = photo.bounding_box()
    page.screenshot(path=str(shots / "serve-explain.png"),
                    clip={"x": 0, "y": 0, "width": 1100, "height": card["y"] + card["height"] + 12})
    assert (shots / "serve-explain.png").stat().st_size > 10_000
    page.uncheck("#explain")
    assert page.locator(".heat-map").first.is_hidden()
    # Webcam frames: the map is drawn on the overlay canvas.
    page.check("#explain")
    page.click("#tab-webcam")
    page.click("#webcam-start")
    page.wait_for_selector("#webcam-overlay[data-heat='1']", state="attached", timeout=30_000)
    page.click("#webcam-stop")


def test_api_key_is_asked_for_and_used(browser, model, images):
    with BackgroundServer(create_app(model, api_key="k3y")) as keyed:
        context = browser.new_context()
        page = context.new_page()
        page.goto(keyed.url + "/")
        page.wait_for_selector("#key-panel:not([hidden])")
        assert "API key" in page.inner_text("#key-message")
        page.fill("#api-key", "k3y")
        page.click("#api-key-save")
        page.wait_for_selector("#model-info:has-text('happy / sad')")
        page.set_input_files("#file-input", str(images["files"][1]))
        page.wait_for_selector(".result[data-status=done]")
        context.close()


def test_no_browser_download_is_used():
    """The tests use Debian's Chromium, never a browser that Playwright downloads."""
    assert shutil.which("chromium") is None or Path(shutil.which("chromium")).resolve() == \
        CHROMIUM.resolve()
