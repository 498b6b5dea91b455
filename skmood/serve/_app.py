"""The FastAPI application: routes, limits, API key and error handling."""

from __future__ import annotations

import contextlib
import hmac
import importlib.resources
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._faces import DETECTORS
from .._version import __version__
from ..exceptions import ImageReadError
from ._batching import ServerBusyError
from ._predictor import Predictor, Upload
from ._schemas import Error, Health, ModelInfo, PredictResponse

__all__ = ["Settings", "create_app"]

logger = logging.getLogger(__name__)

STATIC = importlib.resources.files("skmood.serve") / "static"
#: Content types of a raw image body (``POST /predict`` with the image as the body).
RAW_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp",
             "application/octet-stream")
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Settings:
    """Server options; see :func:`create_app`."""

    api_key: str | None = None
    max_upload_mb: float = 20.0
    max_files: int = 16
    crop_faces: bool = True
    detector: str | None = None
    max_image_pixels: int = 40_000_000
    threads: int = 1
    max_batch_size: int = 64
    max_pending: int = 1024

    def __post_init__(self) -> None:
        checks = [
            (self.max_upload_mb > 0, "max_upload_mb must be > 0"),
            (isinstance(self.max_files, int) and self.max_files >= 1, "max_files must be >= 1"),
            (self.detector in (None, *DETECTORS),
             f"detector must be None or one of {', '.join(map(repr, DETECTORS))}"),
            (self.max_image_pixels >= 1, "max_image_pixels must be >= 1"),
            (self.threads >= 1, "threads must be >= 1"),
            (self.max_batch_size >= 1, "max_batch_size must be >= 1"),
            (self.max_pending >= 1, "max_pending must be >= 1"),
            (self.api_key is None or (isinstance(self.api_key, str) and self.api_key),
             "api_key must be a non-empty string or None"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"skmood.serve: {message}; got {self!r}.")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _error(status: int, detail: str, headers: dict | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def _error_responses(*codes: int) -> dict:
    return {code: {"model": Error} for code in codes}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _error(400, f"invalid Content-Length header {declared!r}.")
        if int(declared) > limit:
            raise _error(413, f"request body of {int(declared)} bytes is larger than the "
                              f"limit of {limit} bytes ({limit / 2**20:g} MB).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _error(413, f"request body is larger than the limit of {limit} bytes "
                              f"({limit / 2**20:g} MB).")
    return bytes(body)


def _parse_bool(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _error(422, f"{name} must be true or false, got {value!r}.")


#: Form fields of a multipart request that override the query parameter of the same name.
FORM_FLAGS = ("crop_faces", "all_faces", "explain")


async def _multipart_uploads(request: Request, body: bytes, settings: Settings
                             ) -> tuple[list[Upload], dict[str, bool]]:
    """Files of the ``files`` field, and the optional :data:`FORM_FLAGS` fields given."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise _error(400, "malformed multipart body: the Content-Type header has no boundary.")
    if b"--" + boundary + b"--" not in body:  # the parser takes a truncated body silently
        raise _error(400, "malformed multipart body: it does not end with the closing "
                          "boundary (truncated upload?).")
    # Part counts are bounded by the body size; the file count is checked below so
    # that too many files gives 413 rather than the parser's generic 400.
    parsed = Request(request.scope, replay)
    try:
        form = await parsed.form(max_files=10_000, max_fields=100)
    except StarletteHTTPException as exc:
        raise _error(400, f"malformed multipart body: {exc.detail}") from exc
    except Exception as exc:  # the parser's own errors on garbage bodies
        raise _error(400, f"malformed multipart body: {exc}") from exc
    try:
        flags = {}
        for name, value in form.multi_items():
            if name in FORM_FLAGS:
                if not isinstance(value, str):
                    raise _error(422, f"the form field {name} must be true or false, got "
                                      "a file.")
                flags[name] = _parse_bool(value, f"the form field {name}")
            elif name == "files" and not isinstance(value, UploadFile):
                raise _error(422, "the form field 'files' must hold image files, got text.")
        files = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
        if not files:
            others = sorted({name for name, _ in form.multi_items()} - set(FORM_FLAGS))
            raise _error(422, "no image in the request: send the images as files of the "
                              "multipart field 'files'"
                              + (f" (got fields {others})." if others else "."))
        if len(files) > settings.max_files:
            raise _error(413, f"too many files: {len(files)}; at most {settings.max_files} "
                              "per request.")
        uploads = [Upload(f.filename or None, await f.read()) for f in files]
    finally:
        await form.close()
    return uploads, flags


def create_app(model: Any, **options: Any) -> FastAPI:
    """Build the skmood web application for a fitted model.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline, ExportedModel, str or os.PathLike
        A fitted model, or a model file: ``.skmood`` files are read safely,
        exported ``.onnx`` and ``.tflite`` files (:func:`skmood.export`) run on
        the lean runtime (:mod:`skmood.runtime`, no TensorFlow), other files
        are unpickled with joblib (only serve files you trust).
    **options
        The :class:`Settings`: ``api_key`` (None: no key needed),
        ``max_upload_mb`` (20), ``max_files`` (16), ``crop_faces`` (True),
        ``detector`` (None: the model's ``face_detector``, else "haar"), ``max_image_pixels`` (40 million), ``threads``
        (1), ``max_batch_size`` (64), ``max_pending`` (1024).

    Returns
    -------
    app : fastapi.FastAPI
        Serve it with uvicorn (:func:`skmood.serve.run` does).
    """
    settings = Settings(**options)
    if isinstance(model, (str, os.PathLike)):
        # A file named by whoever starts the server: joblib files are unpickled
        # (.skmood files never are), as by the command line.
        from .._export_format import load_model_file

        model = load_model_file(model, allow_pickle=True)
    predictor = Predictor(model, detector=settings.detector,
                          max_image_pixels=settings.max_image_pixels, threads=settings.threads,
                          max_batch_size=settings.max_batch_size,
                          max_pending=settings.max_pending)
    predictor.warm_up(settings.crop_faces)
    started = time.monotonic()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        predictor.close()

    app = FastAPI(
        title="skmood",
        version=__version__,
        summary="Classify face images as happy or sad.",
        description=(
            "Upload face images to `POST /predict` as multipart files (field `files`) or as "
            "a raw image body; each gets a label, the probability of each class, the face box "
            "used and the time taken; with `?all_faces=true` also every face found, each "
            "with its box and label; with `?explain=true` a Grad-CAM heat map of where the "
            "network found the label. The web page at `/` does this in a browser, also live "
            "from a webcam."
            + (f" Send the API key in the `{API_KEY_HEADER}` header." if settings.api_key
               else "")
        ),
        lifespan=lifespan,
    )
    app.state.predictor = predictor
    app.state.settings = settings

    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                          description="The key given to `skmood serve --api-key`.")

    async def check_key(key: str | None = Security(header)) -> None:
        if not hmac.compare_digest((key or "").encode(), settings.api_key.encode()):
            raise _error(401, f"missing or wrong API key: send it in the {API_KEY_HEADER} "
                              "header.", headers={"WWW-Authenticate": "ApiKey"})

    protected = [Security(check_key)] if settings.api_key else []
    bad_key = _error_responses(401) if settings.api_key else {}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request."}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"},
                            status_code=500)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/health", response_model=Health, summary="Liveness check (no API key needed)")
    async def health() -> dict:
        return {"status": "ok", "uptime_s": round(time.monotonic() - started, 3),
                "skmood_version": __version__,
                "images_classified": predictor.batcher.n_rows,
                "inference_calls": predictor.batcher.n_calls}

    @app.get("/model", response_model=ModelInfo, summary="The served model",
             dependencies=protected, responses=bad_key)
    async def model_info() -> dict:
        return {
            **predictor.info(),
            "crop_faces": settings.crop_faces,
            "detector": predictor.cropper.detector,
            "api_key_required": settings.api_key is not None,
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_files": settings.max_files,
                       "max_image_pixels": settings.max_image_pixels},
        }

    binary = {"type": "string", "format": "binary"}
    request_body = {
        "required": True,
        "description": "Images as multipart files (field `files`, several allowed), or one "
                       "image as the raw body with its image content type.",
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": binary,
                              "description": f"Up to {settings.max_files} images."},
                    **{flag: {"type": "boolean", "description": "Overrides the query parameter."}
                       for flag in FORM_FLAGS},
                },
                "required": ["files"],
            }},
            **{kind: {"schema": binary} for kind in RAW_TYPES},
        },
    }

    @app.post(
        "/predict",
        response_model=PredictResponse,
        response_model_exclude_unset=True,  # no "faces"/"explanation" keys unless asked
        summary="Classify one or several images",
        dependencies=protected,
        openapi_extra={"requestBody": request_body},
        responses={**bad_key, **_error_responses(400, 413, 415, 422, 503)},
    )
    async def predict(
        request: Request,
        crop_faces: bool | None = Query(
            None, description="Look for the largest face and classify it, instead of the "
                              f"whole image (default: {str(settings.crop_faces).lower()})."),
        all_faces: bool = Query(
            False, description="Also classify every face found, largest first: each image's "
                               "result gets a `faces` list (empty when no face was found). "
                               "The image-level fields still describe the largest face (or "
                               "the whole image)."),
        explain: bool = Query(
            False, description="Also return where the network found each image's label: "
                               "a Grad-CAM heat map (`explanation`: a small greyscale PNG "
                               "and the part of the image it covers)."),
        filename: str | None = Query(
            None, max_length=255, description="Name reported for a raw image body."),
        min_confidence: float | None = Query(
            None, ge=0, le=1, description="Answer the label `unsure` (probabilities "
                                          "unchanged) when the most probable class has a "
                                          "probability below this, e.g. 0.7."),
    ) -> dict:
        start = time.perf_counter()
        content_type = request.headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media != "multipart/form-data" and media not in RAW_TYPES:
            raise _error(415, f"unsupported content type {content_type!r}: send images as "
                              "multipart/form-data (field 'files') or one image as the body "
                              f"with one of {', '.join(RAW_TYPES)}.")
        body = await _read_body(request, settings.max_upload_bytes)
        form: dict[str, bool] = {}
        if media == "multipart/form-data":
            uploads, form = await _multipart_uploads(request, body, settings)
        elif not body:
            raise _error(422, "empty body: expected the bytes of an image.")
        else:
            uploads = [Upload(filename, body)]
        crop = next(v for v in (form.get("crop_faces"), crop_faces, settings.crop_faces)
                    if v is not None)
        every = form.get("all_faces", all_faces)
        explain = form.get("explain", explain)
        if explain and not predictor.explainable:
            raise _error(422, "explain=true needs a Keras model (its gradients); this server "
                              "runs an exported model: serve the model it was exported from.")
        try:
            predictions = await predictor.predict(uploads, crop, every,
                                                  explain=explain,
                                                  min_confidence=min_confidence)
        except ImageReadError as exc:
            raise _error(422, str(exc)) from exc
        except ServerBusyError as exc:
            raise _error(503, f"server busy: {exc}", headers={"Retry-After": "1"}) from exc
        return {"predictions": predictions, "crop_faces": crop,
                "time_ms": round((time.perf_counter() - start) * 1000.0, 3)}

    return app
