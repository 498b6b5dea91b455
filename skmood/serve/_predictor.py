"""From uploaded bytes to labels: decoding, face cropping, batched inference.

The server classifies exactly as :func:`skmood.predict_faces` and the
command line do: images are decoded with :func:`skmood.decode_image`
(ImageLoader's rules), then go through the one face-cropping prediction path,
:class:`skmood._predict.FacePredictor` (largest face, the model's own
preprocessing steps), and finally to the classifier's ``predict_proba``,
batched across requests by :class:`~skmood.serve._batching.MicroBatcher`.
With ``all_faces``, every face of every image of a request is cropped as
:meth:`FacePredictor.predict_all_faces` does and classified in the same batch.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._confidence import labels_from_proba
from .._image import decode_image
from .._explain import explain_network_input
from .._overlay import heatmap_png
from .._predict import FacePredictor, _instance_of, step_names
from .._version import __version__
from ._batching import MicroBatcher

__all__ = ["Predictor", "Upload"]

logger = logging.getLogger(__name__)


@dataclass
class Upload:
    """One uploaded image: its file name (if any) and its encoded bytes."""

    filename: str | None
    data: bytes


@dataclass
class _Prepared:
    X: np.ndarray
    rows: list[dict] = field(default_factory=list)


def _jsonable(value: Any) -> Any:
    """A JSON value for an estimator parameter (callables and objects as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return getattr(value, "__qualname__", None) or type(value).__name__


def _box(box: tuple[int, int, int, int] | None) -> dict | None:
    return None if box is None else dict(zip(("x", "y", "width", "height"), box))


class Predictor:
    """Classify uploaded images with a fitted skmood model.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline or skmood.runtime.ExportedModel
        Fitted; a Pipeline ends with a HappySadClassifier. A leading
        :class:`~skmood.ImageLoader` step is replaced by in-memory decoding
        with its colour mode. An exported model runs on the lean runtime
        (no TensorFlow, no scikit-learn).
    detector : {"haar", "mtcnn"} or None, default=None
        Face detector (those of :class:`~skmood.FaceCropper`); ``None``: the
        model's own ``face_detector``, else ``"haar"``.
    max_image_pixels : int, default=40_000_000
        Larger images are refused before decoding.
    threads, max_batch_size, max_pending : int
        Of the :class:`~skmood.serve._batching.MicroBatcher`.
    """

    def __init__(self, model: Any, *, detector: str | None = None,
                 max_image_pixels: int = 40_000_000, threads: int = 1,
                 max_batch_size: int = 64, max_pending: int = 1024) -> None:
        try:
            self.faces = FacePredictor(model, detector=detector)
        except TypeError as exc:
            raise TypeError(f"skmood.serve: {exc}") from None
        final = self.faces.classifier
        self.model = model
        self.classifier = final
        self.input_shape = tuple(int(v) for v in final.input_shape_)
        self.color_mode = self.faces.color_mode
        self.step_names = step_names(model)
        self.classes = [c.item() if isinstance(c, np.generic) else c for c in final.classes_]
        self.cropper = self.faces.cropper
        #: Heat maps need the gradients of a Keras network (not an exported model's).
        self.explainable = _instance_of(final, "skmood._classifier", "HappySadClassifier")
        self.max_image_pixels = max_image_pixels
        self.batcher = MicroBatcher(self.faces.predict_network_input, threads=threads,
                                    max_batch_size=max_batch_size, max_pending=max_pending)

    # ------------------------------------------------------------------ steps
    def prepare(self, uploads: list[Upload], crop_faces: bool,
                all_faces: bool = False) -> _Prepared:
        """Decode, crop and preprocess (blocking: run it in a worker thread).

        With ``all_faces``, every face of each image is cropped too (the
        largest one is shared with the image-level row when ``crop_faces``),
        so that one network call classifies every face of the request.
        Each image-level row also says which part of its image the network
        saw (``_region``, for the heat maps of ``explain``).

        Raises :class:`skmood.ImageReadError` naming the first image that
        cannot be decoded.
        """
        images, rows, regions = [], [], []
        for upload in uploads:
            start = time.perf_counter()
            image = decode_image(upload.data, color_mode=self.color_mode, name=upload.filename,
                                 max_pixels=self.max_image_pixels)
            height, width = (int(v) for v in image.shape[:2])
            box, faces, face_rows = None, [], []
            if all_faces:
                crops, faces, _ = self.faces.crop_all([image])  # largest first
                box = faces[0] if crop_faces and faces else None
                row = len(images)
                if box is None:  # the image-level answer is for the whole image
                    images.append(image)
                face_rows = list(range(len(images), len(images) + len(faces)))
                images.extend(crops)
            else:
                if crop_faces:
                    (image,), (box,) = self.faces.crop([image])
                row = len(images)
                images.append(image)
            regions.extend([None] * (len(images) - len(regions)))
            regions[row] = self.cropper.crop_region(box, (height, width))
            rows.append({
                "filename": upload.filename,
                "width": width,
                "height": height,
                "face_box": _box(box),
                "region": "whole image" if box is None else "face",
                "_row": row,
                "_seconds": time.perf_counter() - start,
                **({"_faces": list(zip(faces, face_rows))} if all_faces else {}),
            })
        # The whole of a face crop of all_faces; a FaceCropper step of the model narrows them.
        regions = [r or (0, 0, im.shape[1], im.shape[0]) for r, im in zip(regions, images)]
        X = self.faces._network_input(images, regions)
        for row in rows:
            row["_region"] = regions[row["_row"]]
        return _Prepared(X, rows)

    def _answer(self, p: np.ndarray, min_confidence: float | None = None) -> dict:
        (label,) = labels_from_proba(p[np.newaxis], self.classes, min_confidence)
        return {"label": str(label),
                "probabilities": {str(c): float(v) for c, v in zip(self.classes, p)}}

    async def predict(self, uploads: list[Upload], crop_faces: bool,
                      all_faces: bool = False, explain: bool = False,
                      min_confidence: float | None = None) -> list[dict]:
        """Classify ``uploads``; one result dict per image, in order.

        With ``all_faces``, each result also has ``faces``: one entry per
        face found (largest first) with its box, label and probabilities;
        all the faces of the request go to the network in one batch. With
        ``explain``, each result has an ``explanation``: the Grad-CAM heat map
        of its most probable class. With ``min_confidence``, a label whose
        probability is below it reads ``"unsure"``.
        """
        from starlette.concurrency import run_in_threadpool

        prepared = await run_in_threadpool(self.prepare, uploads, crop_faces, all_faces)
        start = time.perf_counter()
        proba = await asyncio.wrap_future(self.batcher.submit(prepared.X))
        inference = time.perf_counter() - start
        results, indices = [], []
        for row in prepared.rows:
            seconds = row.pop("_seconds") + inference
            index, faces = row.pop("_row"), row.pop("_faces", None)
            indices.append(index)
            result = {**row, **self._answer(proba[index], min_confidence),
                      "time_ms": round(seconds * 1000.0, 3)}
            if faces is not None:
                result["faces"] = [{"face_box": _box(box), **self._answer(proba[i], min_confidence)}
                                   for box, i in faces]
            results.append(result)
        regions = [result.pop("_region") for result in results]
        if explain:
            labels = [self.classes[int(np.argmax(proba[i]))] for i in indices]
            maps = await run_in_threadpool(explain_network_input, self.faces,
                                           prepared.X[indices], labels)
            for result, heat, region, label in zip(results, maps, regions, labels):
                result["explanation"] = {
                    "label": str(label), "box": _box(region),
                    "heatmap": "data:image/png;base64," + base64.b64encode(
                        heatmap_png(heat)).decode("ascii")}
        return results

    def warm_up(self, crop_faces: bool) -> None:
        """Run the network (and the face detector) once, so the first request is fast."""
        start = time.perf_counter()
        dummy = np.zeros((1, *self.input_shape), np.uint8)
        self.faces.predict_network_input(dummy)
        if crop_faces:
            self.cropper.detect([np.zeros((64, 64, 3), np.uint8)])
        logger.debug("warm-up took %.2f s", time.perf_counter() - start)

    def info(self) -> dict:
        """What ``GET /model`` returns (without the server's limits)."""
        height, width, channels = self.input_shape
        return {
            "classes": [str(c) for c in self.classes],
            "input_size": {"height": height, "width": width, "channels": channels},
            "color_mode": self.color_mode,
            "pipeline": self.step_names,
            "parameters": {k: _jsonable(v) for k, v in
                           self.classifier.get_params(deep=False).items()},
            "n_epochs_trained": int(getattr(self.classifier, "n_iter_", 0)),
            "explainable": self.explainable,
            "skmood_version": __version__,
        }

    def close(self) -> None:
        self.batcher.close()
