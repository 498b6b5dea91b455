"""``skmood predict``, ``evaluate``, ``serve``, ``export`` and ``demo``.

Imported with the parser, so nothing heavy at module level: scikit-learn and
TensorFlow load inside the commands that need them (``predict`` and ``serve``
on an exported model need neither).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

from .. import _progress as progress
from ..exceptions import SkmoodError
from ._format import (class_counts, format_evaluation, format_predictions, format_table,
                      prepare_output)
from ._scale import check_options, predict_with_dask, wants_dask

__all__ = ["DEMO_DEFAULTS", "cmd_demo", "cmd_evaluate", "cmd_export", "cmd_predict",
           "cmd_serve", "load_model"]

logger = logging.getLogger(__name__)

#: Defaults of ``skmood demo``: about 1-2 minutes on 2 CPU cores, test accuracy ~0.96.
DEMO_DEFAULTS: dict[str, Any] = {
    "n_samples": 1000, "image_size": (48, 48), "epochs": 10, "test_size": 0.25, "random_state": 0,
}


#: What ``--init``/``--model`` accept for the model shipped with skmood.
PRETRAINED = "pretrained"
#: Extensions that make a first positional argument the model file.
MODEL_EXTENSIONS = (".skmood", ".joblib", ".pkl", ".pickle", ".onnx", ".tflite")


def load_model(path: str | None, on_error: str | None = None, detector: str | None = None
               ) -> Any:
    """A model file named on the command line: :func:`skmood.load`, joblib allowed.

    The CLI reads files its user names, so joblib files are unpickled (its
    help says to use only files you trust); ``.skmood`` files never are.
    Exported ``.onnx``/``.tflite`` files load on :mod:`skmood.runtime`
    (no TensorFlow, no scikit-learn). ``None`` or ``"pretrained"`` is
    skmood's pretrained model. ``on_error``, if given, replaces the
    classifier's; ``detector`` is an exported model's face detector
    (:func:`skmood.runtime.load`).
    """
    from .._export_format import load_model_file, sniff
    from .._native_log import start_tensorflow
    from .._predict import final_estimator

    pretrained = path is None or path == PRETRAINED
    exported = not pretrained and sniff(path) is not None  # sniff reads the file: once
    if not exported:
        with contextlib.suppress(ImportError):  # a lean install: load_model_file says so
            start_tensorflow()
    if pretrained:
        from .._pretrained import load_pretrained

        logger.info("using skmood's pretrained model (skmood.pretrained_info() says what it "
                    "was trained on)")
        model = load_pretrained()
    elif exported:
        model = load_model_file(path, on_error=on_error, detector=detector)
        logger.info("running the exported model %r on %s (no TensorFlow)", path,
                    model.engine)
        return model
    else:
        model = load_model_file(path, allow_pickle=True)
    if on_error is not None:
        final_estimator(model).set_params(on_error=on_error)
    return model


def _write(text: str, output: str | None, what: str) -> None:
    """``text`` to stdout, or to the file ``output``."""
    if output is None:
        sys.stdout.write(text)
        return
    path = prepare_output(output)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    logger.info("wrote %s to %r", what, path)


def split_model(args: argparse.Namespace, n_rest: int | None = None) -> tuple[str | None, list]:
    """``(model file or None, the other positional arguments)`` of ``predict``/``evaluate``.

    ``--model`` names the model; otherwise the first positional argument is
    the model when more arguments follow (``n_rest``: exactly that many) and
    it ends in a model file extension (``.skmood``, ``.joblib``, ``.pkl``,
    ``.pickle``) or is a file without an image extension -- today's
    ``skmood predict MODEL PATH...`` form. Without either, the pretrained
    model.
    """
    from ..datasets import IMAGE_EXTENSIONS

    paths = list(args.paths)
    if args.model is not None:
        return args.model, paths
    first = paths[0]
    extension = os.path.splitext(first)[1].lower()
    looks_like_model = (first == PRETRAINED or extension in MODEL_EXTENSIONS
                        or (os.path.isfile(first) and extension not in IMAGE_EXTENSIONS))
    if len(paths) > 1 and (n_rest is None or len(paths) == n_rest + 1) and looks_like_model:
        return first, paths[1:]
    return None, paths


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the label and class probabilities of images."""
    from ..datasets import find_images

    model_path, paths = split_model(args)
    files = find_images(paths)  # cheap checks first: loading the model starts TensorFlow
    batch = wants_dask(args)
    if batch:
        check_options(args)
    model = load_model(model_path, on_error=None if batch else args.on_error,
                       detector=args.detector)
    logger.info("predicting %d image(s)", len(files))
    if batch:  # --dask or --output *.parquet: skmood.distributed.predict_paths
        return predict_with_dask(args, model, files, _write)
    from .._predict import FacePredictor, final_estimator

    in_model = final_estimator(model).face_detector is not None
    show = progress.wanted(sys.stderr, args.quiet)
    if args.all_faces or (args.crop_faces and not in_model):
        faces = FacePredictor(model, detector=args.detector)
        with progress.file_progress(len(files), enabled=show, desc="predicting") as advance:
            proba, boxes, index = faces.predict_proba_files(files, all_faces=args.all_faces,
                                                            progress=advance)
        rows = [files[i] for i in index]
    else:  # whole images, or a model that crops faces itself (streamed from the files)
        with progress.predict_progress(enabled=show):
            proba, boxes, rows = model.predict_proba(files), None, files
    _write(format_predictions(rows, model.classes_, proba, args.format,
                              boxes if args.all_faces else None, args.min_confidence),
           args.output, f"{len(rows)} prediction(s)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Report accuracy, per-class metrics and the confusion matrix on a folder."""
    from .._evaluation import labelled_predictions, report_of
    from ..datasets import load_image_folder

    model_path, rest = split_model(args, n_rest=1)
    if len(rest) != 1:
        raise SkmoodError(f"evaluate takes [MODEL] DATA_DIR, got {len(args.paths)} arguments: "
                          f"{', '.join(map(repr, args.paths))}.")
    data_dir = rest[0]
    if args.report is not None:  # fail before predicting, not after
        from .._figures import require_matplotlib
        from .._report import check_out_dir

        require_matplotlib("skmood evaluate --report")
        check_out_dir(args.report)
    paths, labels = load_image_folder(data_dir)
    model = load_model(model_path, on_error=args.on_error)
    name = model_path or PRETRAINED
    logger.info("evaluating on %d images in %r (%s)", len(paths), data_dir,
                class_counts(labels))
    with progress.predict_progress(enabled=progress.wanted(sys.stderr, args.quiet)):
        found = labelled_predictions(model, paths, labels)
    report = report_of(found, model.classes_)
    if args.report is not None:
        from .._report import write_report

        write_report(model, paths, found, report, args.report,
                     title=f"{os.path.basename(name)} on {data_dir}")
    if args.format == "json":
        print(json.dumps({"model": name, "data_dir": data_dir, **report}, indent=2))
    else:
        print(f"evaluated {name} on {len(paths)} images from {data_dir}\n")
        print(format_evaluation(report), end="")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a model over HTTP: a JSON API and a web page."""
    from ..serve import run  # FastAPI and uvicorn load here only

    api_key = args.api_key or os.environ.get("SKMOOD_API_KEY") or None
    # Once, before binding: a bad file fails here.
    model = load_model(args.model, detector=args.detector)
    logger.info("serving %r on http://%s:%d/ (the page at /, the API's documentation at "
                "/docs)%s", args.model or PRETRAINED, args.host, args.port,
                "; requests need the API key" if api_key else "")
    run(model, host=args.host, port=args.port, api_key=api_key,
        max_upload_mb=args.max_upload_mb, max_files=args.max_files,
        crop_faces=args.crop_faces, detector=args.detector,
        **({} if args.threads is None else {"threads": args.threads}),
        log_level="debug" if args.verbose else "warning" if args.quiet else "info")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a model to ONNX, LiteRT or a SavedModel."""
    from .._export import export
    from .._export_format import SUFFIXES

    output = args.output
    fmt = args.format
    if fmt is None:
        fmt = next((name for name, suffix in SUFFIXES.items()
                    if output.lower().endswith(suffix)), None)
        if fmt is None:
            raise SkmoodError(f"cannot tell the export format from {output!r}: name it .onnx "
                              "or .tflite, or give --format (onnx, litert, litert-int8, "
                              "savedmodel).")
    model = load_model(args.model)
    output = prepare_output(output) if fmt != "savedmodel" else os.path.abspath(output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    export(model, output, format=fmt)
    size = (os.path.getsize(output) if os.path.isfile(output) else
            sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(output)
                for f in files))
    logger.info("wrote %r (%s, %.2f MB): uint8 RGB pixels of any size in, the probability "
                "of each class out; skmood.runtime.load(%r) predicts with it", output, fmt,
                size / 1e6, output)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate faces, train, evaluate, predict, save and reload: end to end."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from .._classifier import HappySadClassifier
    from .._evaluation import metrics_report
    from .._native_log import start_tensorflow
    from .._persistence import format_for_path, save
    from ..datasets import make_faces

    start_tensorflow()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        root = args.out or stack.enter_context(tempfile.TemporaryDirectory(prefix="skmood-demo-"))
        data_dir, model_path = os.path.join(root, "faces"), os.path.join(root, "model.joblib")
        size = tuple(args.image_size)
        logger.info("generating %d synthetic %dx%d faces in %r", args.n_samples, *size, data_dir)
        paths, labels = make_faces(args.n_samples, image_size=size,
                                   random_state=args.random_state, directory=data_dir)
        X_train, X_test, y_train, y_test = train_test_split(
            paths, labels, test_size=args.test_size, stratify=labels,
            random_state=args.random_state)
        clf = HappySadClassifier(image_size=size, epochs=args.epochs,
                                 random_state=args.random_state)
        logger.info("training a CNN on %d images (%s), %d epochs", len(X_train),
                    class_counts(y_train), args.epochs)
        fit_start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - fit_start
        logger.info("evaluating on %d test images", len(X_test))
        proba = clf.predict_proba(X_test)
        report = metrics_report(y_test, clf.classes_[proba.argmax(axis=1)], clf.classes_)
        save(clf, model_path, format=format_for_path(model_path))
        n_bytes = os.path.getsize(model_path)
        logger.info("saved %r; reloading it", model_path)
        reloaded = load_model(model_path).predict_proba(X_test)
        if not np.array_equal(reloaded, proba):
            raise SkmoodError(
                "the reloaded model's predict_proba differs from the original's on the test "
                f"images (max difference {np.abs(reloaded - proba).max():.3g})."
            )
        shown = [[os.path.relpath(p, data_dir), t, str(clf.classes_[row.argmax()]),
                  *(f"{v:.4f}" for v in row)] for p, t, row in zip(X_test[:6], y_test, proba)]
        kept = f"kept in {root}" if args.out else "in a temporary folder, deleted at exit"
        print(
            f"skmood demo\n===========\n"
            f"data:  {len(paths)} synthetic {size[0]}x{size[1]} faces ({class_counts(labels)}), "
            f"{kept}\n"
            f"split: {len(X_train)} train / {len(X_test)} test images (stratified)\n"
            f"model: HappySadClassifier, {clf.n_iter_} epochs in {fit_seconds:.1f} s\n\n"
            f"test set\n--------\n{format_evaluation(report)}\n"
            f"predictions on {len(shown)} test images\n"
            + format_table(["file", "true", "predicted", *map(str, clf.classes_)], shown,
                           "<<<" + ">" * len(clf.classes_))
            + f"\nsaved:    {model_path} ({n_bytes / 1e6:.1f} MB)\n"
            f"reloaded: identical predict_proba on all {len(X_test)} test images\n\n"
            f"SUCCESS: demo finished in {time.perf_counter() - start:.0f} s; "
            f"test accuracy {report['accuracy']:.3f}, model saved and reloaded."
        )
    return 0
