"""``skmood explain``: Grad-CAM heat maps drawn over images, written as PNG files."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import numpy as np

from ..exceptions import SkmoodError
from ._commands import load_model, split_model
from ._format import format_table

__all__ = ["OVERLAY_SUFFIX", "cmd_explain", "overlay_names"]

logger = logging.getLogger(__name__)

#: Added to each image's name for its overlay (never the image's own name).
OVERLAY_SUFFIX = "_gradcam.png"
#: Images decoded and explained at a time (memory stays bounded).
_CHUNK = 32


def overlay_names(files: list[str], out_dir: str) -> list[str]:
    """One overlay file per image: ``OUT_DIR/<name>_gradcam.png``, numbered if names repeat."""
    names, used = [], set()
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        name, k = stem + OVERLAY_SUFFIX, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}{OVERLAY_SUFFIX}"
        used.add(name)
        names.append(os.path.join(out_dir, name))
    return names


def _target(text: str | None, classes: Any) -> Any:
    """The class label typed as ``--target`` (labels compared as text)."""
    if text is None:
        return None
    for label in classes:
        if str(label) == text:
            return label
    raise SkmoodError(f"--target {text!r} is not a class of this model; expected one of "
                      f"{', '.join(map(str, classes))}.")


def cmd_explain(args: argparse.Namespace) -> int:
    """Write Grad-CAM overlays of images: where the model looks for its answer."""
    from PIL import Image

    from .. import _progress as progress
    from .._explain import explain_images
    from .._image import read_image
    from .._overlay import overlay_heatmap
    from .._predict import FacePredictor, warn_unreadable
    from ..datasets import find_images

    model_path, paths = split_model(args)
    files = find_images(paths)  # cheap checks first: loading the model starts TensorFlow
    out_dir = os.path.abspath(args.output_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SkmoodError(f"-o {args.output_dir!r} is a file; expected a folder for the "
                          "overlay PNG files.")
    os.makedirs(out_dir, exist_ok=True)
    model = load_model(model_path, on_error=args.on_error)
    predictor = FacePredictor(model, detector=args.detector)
    classes = predictor.classifier.classes_
    target = _target(args.target, classes)
    crop = args.crop_faces or predictor.in_model
    logger.info("explaining %d image(s)%s", len(files), " on their largest face" if crop else "")
    outputs = overlay_names(files, out_dir)
    rows: list[list[str]] = []
    failed: list[str] = []
    show = progress.wanted(sys.stderr, args.quiet)
    with progress.file_progress(len(files), enabled=show, desc="explaining") as advance:
        for start in range(0, len(files), _CHUNK):
            indices = range(start, min(start + _CHUNK, len(files)))
            images, positions = predictor.read_files(files, indices, failed)
            if images:
                found = explain_images(predictor, images, crop_faces=crop, target=target)
                for k, i in enumerate(positions):
                    photo = images[k] if predictor.color_mode == "rgb" else read_image(files[i])
                    Image.fromarray(overlay_heatmap(photo, found.heatmaps[k], alpha=args.alpha,
                                                    box=found.regions[k])).save(outputs[i])
                    best = int(np.argmax(found.proba[k]))
                    rows.append([files[i], str(classes[best]), f"{found.proba[k][best]:.4f}",
                                 str(classes[best] if target is None else target),
                                 "face" if found.boxes[k] else "whole image", outputs[i]])
            advance(len(indices))
    warn_unreadable(failed, len(files), "overlays are not written")
    print(format_table(["file", "predicted", "probability", "explained", "region", "overlay"],
                       rows, "<<><<<"), end="")
    logger.info("wrote %d overlay(s) to %r", len(rows), out_dir)
    return 0
