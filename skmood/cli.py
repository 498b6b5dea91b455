"""The ``skmood`` command line: ``demo``, ``train``, ``predict``, ``evaluate`` and ``serve``.

Run ``skmood COMMAND --help`` for the options of each command. Progress (one
line per training epoch, files found) goes to stderr through the ``skmood``
logger; results go to stdout. TensorFlow is imported only by the commands
that need it, so ``skmood --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._classifier import INFERENCE_ENGINES, HappySadClassifier  # cheap: Keras loads only in fit
from ._report import (evaluate_model, evaluation_report, find_images, format_evaluation,
                      format_predictions, format_table, load_model, prepare_output, save_model)
from ._version import __version__
from .exceptions import SkmoodError, SkmoodWarning

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

#: Failures reported as one ``skmood: error: ...`` line (exit code 1).
_EXPECTED_ERRORS = (SkmoodError, ValueError, TypeError, OSError, ImportError)
#: Defaults of ``skmood demo``: about 1-2 minutes on 2 CPU cores, test accuracy ~0.96.
_DEMO_DEFAULTS: dict[str, Any] = {
    "n_samples": 1000, "image_size": (48, 48), "epochs": 10, "test_size": 0.25, "random_state": 0,
}


def _class_counts(labels: Any) -> str:
    """``"happy: 12, sad: 12"``: the number of images of each class."""
    import numpy as np

    names, counts = np.unique(labels, return_counts=True)
    return ", ".join(f"{n}: {c}" for n, c in zip(names, counts))


# ---------------------------------------------------------------------- commands
def checkpoint_path(output: str) -> str:
    """Where ``skmood train -o OUTPUT`` keeps its per-epoch checkpoint."""
    return output + ".checkpoint.skmood"


def _checkpointer(clf: HappySadClassifier, path: str) -> Any:
    """A Keras callback writing ``clf`` (safe format) after every completed epoch."""
    import keras

    from ._persistence import save

    previous = {k: list(v) for k, v in getattr(clf, "history_", {}).items()}
    done: list[dict] = []

    def on_epoch_end(epoch: int, logs: dict | None = None) -> None:
        done.append({k: float(v) for k, v in (logs or {}).items()})
        clf.history_ = {k: previous.get(k, []) + [d[k] for d in done if k in d]
                        for k in done[-1]}
        clf.n_iter_ = len(clf.history_.get("loss", []))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkmoodWarning)  # "not stored" notes, once is enough
            save(clf, path)
        logger.debug("checkpoint after epoch %d: %r", clf.n_iter_, path)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def _train_estimator(args: argparse.Namespace, params: dict, checkpoint: str
                     ) -> tuple[HappySadClassifier, int]:
    """The estimator to fit and how many epochs to run: new, resumed or warm-started."""
    from ._report import load_model

    if args.resume and os.path.exists(checkpoint):
        clf = load_model(checkpoint)
        target = params.get("epochs", clf.epochs)
        logger.info("resuming from %r after %d completed epoch(s) of %d", checkpoint,
                    clf.n_iter_, target)
        return clf.set_params(warm_start=True), max(target - clf.n_iter_, 0)
    if args.resume:
        logger.info("no checkpoint at %r: starting a new run", checkpoint)
    if args.init is not None:
        clf = load_model(args.init)
        if not isinstance(clf, HappySadClassifier):
            raise SkmoodError(f"--init {args.init!r} holds a pipeline; expected a model saved "
                              "by 'skmood train'.")
        logger.info("continuing the network of %r (warm start)", args.init)
        clf.set_params(**{k: v for k, v in params.items() if k not in ("image_size",
                                                                        "color_mode")})
        return clf.set_params(warm_start=True), clf.epochs
    clf = HappySadClassifier(**params)
    return clf, clf.epochs


def _cmd_train(args: argparse.Namespace) -> int:
    """Fit a classifier on a folder of images and save it."""
    from .datasets import load_image_folder

    output = prepare_output(args.output)  # fail before training, not after
    checkpoint = checkpoint_path(output)
    paths, labels = load_image_folder(args.data_dir)
    logger.info("found %d images in %r (%s)", len(paths), args.data_dir, _class_counts(labels))
    # Options named after estimator parameters; those not given keep the estimator's
    # defaults. -v (verbose) is the CLI's own flag; validation_data comes from --val-dir.
    names = set(HappySadClassifier().get_params()) - {"model", "validation_data", "verbose"}
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()
              if k in names and v is not None}
    if len(params.get("blocks_per_stage", ())) == 1:  # one number: every stage
        params["blocks_per_stage"] = params["blocks_per_stage"][0]
    if args.preset == "recommended":  # explicit options override the preset's values
        from ._presets import recommended_params

        params = recommended_params(**params)
    if args.val_dir is not None:
        params["validation_data"] = load_image_folder(args.val_dir)
        logger.info("validation: %d images in %r", len(params["validation_data"][0]), args.val_dir)
    clf, epochs = _train_estimator(args, params, checkpoint)
    before = getattr(clf, "n_iter_", 0)
    if args.val_dir is not None:
        clf.set_params(validation_data=params["validation_data"])
    start = time.perf_counter()
    if epochs > 0:
        clf.set_params(epochs=epochs)
        clf.fit(paths, labels, callbacks=[_checkpointer(clf, checkpoint)])
    seconds = time.perf_counter() - start
    size = save_model(clf, output)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(checkpoint)  # the run is complete: the model file supersedes it
    metrics = ", ".join(f"{k}={v[-1]:.4f}" for k, v in sorted(clf.history_.items()))
    print(
        f"trained HappySadClassifier on images from {args.data_dir}\n"
        f"images found:  {len(paths)} ({_class_counts(labels)})\n"
        f"epochs run:    {clf.n_iter_} of {before + epochs}"
        f"{f' ({before} before this run)' if before else ''} ({seconds:.1f} s)\n"
        f"last epoch:    {metrics}\n"
        f"model saved:   {output} ({size / 1e6:.1f} MB)"
    )
    return 0


def _face_cropped_proba(model: Any, files: Sequence[str], detector: str) -> Any:
    """``predict_proba`` on the largest face of each image (the whole image if none)."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    from . import FaceCropper, ImageLoader
    from .exceptions import ImageReadError

    clf = model.steps[-1][1] if isinstance(model, Pipeline) else model
    rest = model
    color_mode = "grayscale" if clf.input_shape_[2] == 1 else "rgb"
    if isinstance(model, Pipeline) and isinstance(model.steps[0][1], ImageLoader):
        color_mode = model.steps[0][1].color_mode
        rest = model[1:] if len(model.steps) > 1 else clf
    loader, cropper = ImageLoader(color_mode=color_mode), FaceCropper(detector=detector)
    images, readable, failed = [], [], []
    for i, path in enumerate(files):
        try:
            images.append(loader.transform([path])[0])
            readable.append(i)
        except ImageReadError:
            if clf.on_error != "skip":
                raise
            failed.append(path)
    if failed:
        warnings.warn(f"{len(failed)} of {len(files)} image(s) could not be read "
                      f"({', '.join(map(repr, failed[:5]))}{', ...' if len(failed) > 5 else ''}); "
                      "their rows are empty (on_error='skip').", SkmoodWarning, stacklevel=2)
    proba = np.full((len(files), len(clf.classes_)), np.nan)
    if images:
        boxes = cropper.detect(images)
        logger.info("faces found in %d of %d image(s); the others are classified whole",
                    sum(b is not None for b in boxes), len(images))
        for i, box in zip(readable, boxes):
            logger.debug("%s: %s", files[i], "no face" if box is None else f"face {box}")
        proba[readable] = rest.predict_proba(cropper.crop(images, boxes))
    return proba


def _cmd_predict(args: argparse.Namespace) -> int:
    """Predict the label and class probabilities of images."""
    files = find_images(args.paths)  # cheap checks first: loading the model starts TensorFlow
    model = load_model(args.model, on_error=args.on_error)
    logger.info("predicting %d image(s)", len(files))
    if args.crop_faces:
        proba = _face_cropped_proba(model, files, args.detector)
    else:
        proba = model.predict_proba(files)
    text = format_predictions(files, model.classes_, proba, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        output = prepare_output(args.output)
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        logger.info("wrote %d prediction(s) to %r", len(files), output)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """Report accuracy, per-class metrics and the confusion matrix on a folder."""
    import json

    from .datasets import load_image_folder

    paths, labels = load_image_folder(args.data_dir)
    model = load_model(args.model, on_error=args.on_error)
    logger.info("evaluating on %d images in %r (%s)", len(paths), args.data_dir,
                _class_counts(labels))
    report = evaluate_model(model, paths, labels)
    if args.format == "json":
        print(json.dumps({"model": args.model, "data_dir": args.data_dir, **report}, indent=2))
    else:
        print(f"evaluated {args.model} on {len(paths)} images from {args.data_dir}\n")
        print(format_evaluation(report), end="")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve a model over HTTP: a JSON API and a web page."""
    from .serve import run  # FastAPI and uvicorn load here only

    api_key = args.api_key or os.environ.get("SKMOOD_API_KEY") or None
    model = load_model(args.model)  # once, before binding: a bad file fails here
    logger.info("serving %r on http://%s:%d/ (the page at /, the API's documentation at "
                "/docs)%s", args.model, args.host, args.port,
                "; requests need the API key" if api_key else "")
    run(model, host=args.host, port=args.port, api_key=api_key,
        max_upload_mb=args.max_upload_mb, max_files=args.max_files,
        crop_faces=args.crop_faces, detector=args.detector,
        **({} if args.threads is None else {"threads": args.threads}),
        log_level="debug" if args.verbose else "warning" if args.quiet else "info")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Generate faces, train, evaluate, predict, save and reload: end to end."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from .datasets import make_faces

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
                    _class_counts(y_train), args.epochs)
        fit_start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - fit_start
        logger.info("evaluating on %d test images", len(X_test))
        proba = clf.predict_proba(X_test)
        report = evaluation_report(y_test, clf.classes_[proba.argmax(axis=1)], clf.classes_)
        n_bytes = save_model(clf, model_path)
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
            f"data:  {len(paths)} synthetic {size[0]}x{size[1]} faces ({_class_counts(labels)}), "
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


# ------------------------------------------------------------------------ parser
def _number(kind: type, expected: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse ``type`` parsing ``kind`` and checking ``ok(value)``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_POS_INT = _number(int, "an int >= 1", lambda v: v >= 1)
_NONNEG_INT = _number(int, "an int >= 0", lambda v: v >= 0)
_FRACTION = _number(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    d = _DEMO_DEFAULTS
    p.add_argument("--n-samples", type=_number(int, "an int >= 20", lambda v: v >= 20),
                   default=d["n_samples"], metavar="N",
                   help=f"number of faces to generate (default: {d['n_samples']})")
    p.add_argument("--image-size", nargs=2, type=_number(int, "an int >= 8", lambda v: v >= 8),
                   default=d["image_size"], metavar=("H", "W"),
                   help="image height and width (default: %s %s)" % d["image_size"])
    p.add_argument("--epochs", type=_POS_INT, default=d["epochs"], metavar="E",
                   help=f"training epochs (default: {d['epochs']})")
    p.add_argument("--test-size", default=d["test_size"], metavar="F",
                   type=_number(float, "a number in (0, 1)", lambda v: 0 < v < 1),
                   help=f"fraction of faces held out for testing (default: {d['test_size']})")
    p.add_argument("--random-state", type=_NONNEG_INT, default=d["random_state"], metavar="S",
                   help=f"seed of the data, split and training (default: {d['random_state']})")
    p.add_argument("--out", metavar="DIR", help="keep the faces (DIR/faces) and the model "
                                                "(DIR/model.joblib) instead of deleting them")


def _add_hyperparameters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hyperparameters (HappySadClassifier parameters; "
                             "defaults are the estimator's)")
    defaults = HappySadClassifier().get_params()

    def add(flag: str, help: str, group: Any = g, **kw: Any) -> None:
        value = defaults[flag[2:].replace("-", "_")]
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
        group.add_argument(flag, help=f"{help} (default: {shown})", **kw)

    add("--image-size", "network input height and width", nargs=2, type=_POS_INT,
        metavar=("H", "W"))
    add("--color-mode", "input channels", choices=["rgb", "grayscale"])
    add("--conv-filters", "filters of each conv block", nargs="+", type=_POS_INT, metavar="N")
    add("--kernel-size", "side of the conv kernels", type=_POS_INT, metavar="K")
    add("--dense-units", "hidden dense units, 0 for none", type=_NONNEG_INT, metavar="N")
    add("--dropout", "dropout rate before the output", type=_FRACTION, metavar="RATE")
    add("--batch-norm", "batch normalisation", action=argparse.BooleanOptionalAction)
    add("--rotation", "augmentation: max rotation in degrees", metavar="DEG",
        type=_number(float, "degrees in [0, 180]", lambda v: 0 <= v <= 180))
    add("--horizontal-flip", "augmentation: mirror", action=argparse.BooleanOptionalAction)
    add("--zoom", "augmentation: max zoom fraction", type=_FRACTION, metavar="F")
    add("--shift", "augmentation: max shift fraction", type=_FRACTION, metavar="F")
    add("--learning-rate", "Adam learning rate (peak of a schedule)", metavar="LR",
        type=_number(float, "a number > 0", lambda v: v > 0))
    add("--lr-schedule", "learning-rate schedule", choices=["constant", "cosine"])
    add("--weight-decay", "AdamW weight decay (0: Adam)", metavar="WD",
        type=_number(float, "a number >= 0", lambda v: v >= 0))
    add("--label-smoothing", "label smoothing of the cross-entropy", type=_FRACTION,
        metavar="F")
    add("--jit-compile", "compile the network with XLA", action=argparse.BooleanOptionalAction)
    add("--flip-averaging", "average predictions over mirror images",
        action=argparse.BooleanOptionalAction)
    add("--inference", "what runs the network at prediction: LiteRT for calls on 4,096 "
        "images or more (auto), Keras, LiteRT, or LiteRT with int8 weights",
        choices=list(INFERENCE_ENGINES))
    add("--epochs", "passes over the data", type=_POS_INT, metavar="N")
    add("--batch-size", "images per step", type=_POS_INT, metavar="N")
    add("--class-weight", "weight classes by inverse frequency", choices=["balanced"])
    val = g.add_mutually_exclusive_group()
    val.add_argument("--val-dir", metavar="DIR",
                     help="folder of validation images, one sub-folder per class")
    add("--validation-split", "fraction held out for validation", val, type=_FRACTION,
        metavar="F")
    add("--early-stopping", "stop when val_loss stalls (needs validation)",
        action=argparse.BooleanOptionalAction)
    add("--patience", "epochs without improvement before stopping", type=_POS_INT, metavar="N")
    add("--on-error", "unreadable images: stop with an error or skip them",
        choices=["raise", "skip"])
    add("--random-state", "seed (also seeds global RNGs)", type=_NONNEG_INT, metavar="SEED")
    a = p.add_argument_group("architecture and fine-tuning (see the user guide's "
                             "'Choosing and fine-tuning architectures')")
    add("--architecture", "network built from scratch", a,
        choices=["seed", "vgg", "resnet", "inception"])
    add("--blocks-per-stage", "vgg/resnet/inception: blocks per stage, one number for "
        "every stage or one per --conv-filters entry", a, nargs="+", type=_POS_INT,
        metavar="N")
    add("--backbone", "keras.applications backbone (overrides --architecture)", a,
        choices=["mobilenetv2", "efficientnetb0", "resnet50", "inceptionv3"])
    add("--weights", "backbone weights: 'imagenet' (from the local Keras cache, never "
        "downloaded) or a local weights file", a, metavar="WEIGHTS")
    add("--backbone-alpha", "mobilenetv2 width multiplier", a, metavar="ALPHA",
        type=_number(float, "a number > 0", lambda v: v > 0))
    add("--head-epochs", "epochs with the pretrained backbone frozen", a, type=_POS_INT,
        metavar="N")
    add("--fine-tune-layers", "top backbone layers unfrozen after the head epochs", a,
        type=_NONNEG_INT, metavar="N")
    add("--fine-tune-learning-rate", "learning rate after the head epochs", a, metavar="LR",
        type=_number(float, "a number > 0", lambda v: v > 0))


def _add_on_error(p: argparse.ArgumentParser, skip: str) -> None:
    p.add_argument("--on-error", choices=["raise", "skip"], help="unreadable images: 'raise' "
                   f"stops with an error, 'skip' {skip} (default: the model's on_error)")


def _add_global_options(p: argparse.ArgumentParser, suppress: bool) -> None:
    """``-v``/``-q``/``--debug``; on sub-commands they must not reset the main ones."""
    d = {"default": argparse.SUPPRESS} if suppress else {}
    g = p.add_argument_group("output options")
    g.add_argument("-v", "--verbose", action="store_true", help="log debug messages", **d)
    g.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only", **d)
    g.add_argument("--debug", action="store_true", help="show tracebacks of errors", **d)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``skmood`` argument parser.

    Returns
    -------
    parser : argparse.ArgumentParser
        Parser with the sub-commands ``demo``, ``train``, ``predict``,
        ``evaluate`` and ``serve``; each sets ``func`` to the function running it.
    """
    parser = argparse.ArgumentParser(
        prog="skmood", description="Classify face images as happy or sad with a CNN.",
        epilog="Run 'skmood COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str,
                ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        _add_global_options(p, suppress=True)
        return p

    _add_demo_arguments(command("demo", _cmd_demo, "Train and evaluate on synthetic faces, "
                                                  "end to end, in a minute or two."))
    p = command("train", _cmd_train, "Train a classifier on a folder with one "
                                     "sub-folder of images per class; save it with joblib.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="training folder (e.g. happy/, sad/)")
    p.add_argument("-o", "--output", metavar="MODEL", required=True,
                   help="model file to write: MODEL.skmood (safe format, recommended) or "
                        "MODEL.joblib (pickle); folders are created. After each epoch a "
                        "checkpoint MODEL.checkpoint.skmood is written (removed at the end)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoint (a killed run "
                            "loses at most one epoch); starts anew if there is none")
    start.add_argument("--init", metavar="MODEL",
                       help="start from the network of a trained model (warm start), e.g. to "
                            "adapt it to new photos; --epochs more epochs are run")
    p.add_argument("--preset", choices=["recommended"],
                   help="start from a named parameter set: 'recommended' is "
                        "skmood.recommended_params() (VGG-style network on 48x48 grayscale, "
                        "the best accuracy per training minute measured on FER2013); the "
                        "options below override its values")
    _add_hyperparameters(p)

    p = command("predict", _cmd_predict, "Predict the label and class probabilities of images.")
    p.add_argument("model", metavar="MODEL", help="model file saved by 'skmood train' "
                                                  "(only load files you trust)")
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="image files or folders (searched recursively)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="output format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    _add_on_error(p, "give unreadable images an empty label and probabilities")
    p.add_argument("--crop-faces", action="store_true",
                   help="classify the largest face of each image (OpenCV, the 'faces' extra); "
                        "images without a face are classified whole")
    p.add_argument("--detector", choices=["haar", "mtcnn"], default="haar",
                   help="face detector of --crop-faces (default: haar; mtcnn needs the "
                        "'mtcnn' extra)")

    p = command("evaluate", _cmd_evaluate, "Evaluate a model on a folder with one "
                                           "sub-folder of images per class.")
    p.add_argument("model", metavar="MODEL", help="model file saved by 'skmood train'")
    p.add_argument("data_dir", metavar="DATA_DIR", help="labelled folder (e.g. happy/, sad/)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format (default: text)")
    _add_on_error(p, "leave unreadable images out of the metrics")

    p = command("serve", _cmd_serve, "Serve a model over HTTP: a JSON API (POST /predict) "
                                     "and a web page for images and a webcam.")
    p.add_argument("model", metavar="MODEL", help="model file saved by 'skmood train' "
                                                  "(.skmood files load without unpickling)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_number(int, "a port in 0-65535", lambda v: 0 <= v <= 65535),
                   default=8000, help="TCP port (default: 8000)")
    p.add_argument("--api-key", metavar="KEY",
                   help="require this key in the X-API-Key header (default: the SKMOOD_API_KEY "
                        "environment variable; none when unset)")
    p.add_argument("--max-upload-mb", type=_number(float, "a number > 0", lambda v: v > 0),
                   default=20.0, metavar="MB", help="largest request body (default: 20)")
    p.add_argument("--max-files", type=_POS_INT, default=16, metavar="N",
                   help="most images per request (default: 16)")
    p.add_argument("--crop-faces", action=argparse.BooleanOptionalAction, default=True,
                   help="classify the largest face of each image by default; requests can "
                        "switch it with ?crop_faces= (default: on)")
    p.add_argument("--detector", choices=["haar", "mtcnn"], default="haar",
                   help="face detector (default: haar)")
    p.add_argument("--threads", type=_POS_INT, default=None, metavar="N",
                   help="threads running the network, each on a batch of the images of "
                        "the requests waiting (default: 1: one big batch at a time; the other "
                        "core decodes and finds faces)")
    return parser


# -------------------------------------------------------------------------- main
class _ConsoleHandler(logging.StreamHandler):
    """Write to the current ``sys.stderr``: INFO (progress) as is, others as ``level: msg``."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # looked up per record: tests and callers may swap it
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


def _log_warning(message: Warning | str, category: type[Warning], *args: Any,
                 **kwargs: Any) -> None:
    """``warnings.showwarning`` replacement: one ``warning:`` line, no source excerpt."""
    name = "" if issubclass(category, SkmoodWarning) else f"{category.__name__}: "
    logging.getLogger("skmood").warning("%s%s", name, message)


@contextlib.contextmanager
def _console_logging(level: int) -> Iterator[None]:
    """Show the ``skmood`` logger and Python warnings on stderr, then restore both."""
    log = logging.getLogger("skmood")
    handler = _ConsoleHandler()
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _log_warning
            yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _error_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, _EXPECTED_ERRORS):
        return message
    return f"unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skmood`` command line.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    code : int
        0 on success (also for ``--help`` and ``--version``), 1 when the
        command fails (a one-line ``skmood: error: ...`` on stderr; the
        traceback too with ``--debug``), 2 for usage errors and 130 when
        interrupted.

    Examples
    --------
    >>> from skmood.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    skmood ...
    0
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    with _console_logging(level):
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            if args.debug:
                traceback.print_exc()
            print("skmood: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if args.debug:
                traceback.print_exc()
            print(f"skmood: error: {_error_line(exc)}", file=sys.stderr)
            return 1
