"""The ``skmood`` argument parser: one sub-command per task.

Options mirror estimator parameter names (``--epochs``, ``--image-size 48 48``)
and every list of choices comes from the library's own tuples, never typed
twice. Nothing here imports Keras, so ``skmood --help`` answers at once; and
:func:`~skmood.cli.main` builds the options of the one command it runs only,
so that ``skmood predict model.onnx ...`` and ``skmood serve model.onnx`` on
an exported model import neither scikit-learn nor TensorFlow (the options of
``train`` take their defaults from the estimator, which needs scikit-learn).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection
from typing import Any

from .._backbones import BACKBONES
from .._export_format import EXPORT_FORMATS
from .._faces import DETECTORS
from ._scale import LOCAL
from .._image import COLOR_MODES
from .._presets import PRESETS
from .._validation import ON_ERROR
from .._version import __version__
from ._commands import (DEMO_DEFAULTS, cmd_demo, cmd_evaluate, cmd_export, cmd_predict,
                        cmd_serve)
from ._format import EVALUATION_FORMATS, PREDICTION_FORMATS


def cmd_train(args: argparse.Namespace) -> int:
    """``skmood train`` (:mod:`skmood.cli._train`, imported when it runs)."""
    from ._train import cmd_train as train

    return train(args)


def cmd_explain(args: argparse.Namespace) -> int:
    """``skmood explain`` (:mod:`skmood.cli._explain`, imported when it runs)."""
    from ._explain import cmd_explain as explain

    return explain(args)

__all__ = ["build_parser"]


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

#: ``--cache`` words and the ``cache`` values they stand for.
_CACHE_WORDS = {"auto": "auto", "on": True, "off": False}


def _cache_mode(text: str) -> Any:
    """The ``cache`` value of a ``--cache`` word."""
    try:
        return _CACHE_WORDS[text]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(_CACHE_WORDS)}, got {text!r}") from None


def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    d = DEMO_DEFAULTS
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
    from .._classifier import (ARCHITECTURES, DISTRIBUTIONS, INFERENCE_ENGINES, LR_SCHEDULES,
                               PRECISIONS, HappySadClassifier)

    g = p.add_argument_group("hyperparameters (HappySadClassifier parameters; "
                             "defaults are the estimator's)")
    defaults = HappySadClassifier().get_params()

    def add(flag: str, help: str, group: Any = g, **kw: Any) -> None:
        value = defaults[flag[2:].replace("-", "_")]
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
        group.add_argument(flag, help=f"{help} (default: {shown})", **kw)

    add("--image-size", "network input height and width", nargs=2, type=_POS_INT,
        metavar=("H", "W"))
    add("--color-mode", "input channels", choices=list(COLOR_MODES))
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
    add("--lr-schedule", "learning-rate schedule", choices=list(LR_SCHEDULES))
    add("--weight-decay", "AdamW weight decay (0: Adam)", metavar="WD",
        type=_number(float, "a number >= 0", lambda v: v >= 0))
    add("--label-smoothing", "label smoothing of the cross-entropy", type=_FRACTION,
        metavar="F")
    add("--jit-compile", "compile the network with XLA", action=argparse.BooleanOptionalAction)
    add("--precision", "floating-point precision of training: bfloat16 where the hardware "
        "runs it fast, else float32 (auto), float32, mixed bfloat16, or mixed float16 (GPUs)",
        choices=list(PRECISIONS))
    add("--distribution", "train on several devices with tf.distribute: every GPU of this "
        "machine (mirrored) or several machines set by TF_CONFIG (multi_worker); "
        "--batch-size is then the global batch", choices=list(DISTRIBUTIONS))
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
        choices=list(ON_ERROR))
    add("--cache", "keep the decoded images in memory for the fit: 'on', 'off' (decode "
        "every epoch) or 'auto' (on when they take at most 1 GiB)", type=_cache_mode,
        metavar="{auto,on,off}")
    add("--random-state", "seed (also seeds global RNGs)", type=_NONNEG_INT, metavar="SEED")
    f = p.add_argument_group("faces in photos (the detector becomes part of the model: "
                             "predict and serve crop the same way)")
    add("--face-detector", "crop every image to its largest face, in training and "
        "prediction", f, choices=list(DETECTORS))
    f.add_argument("--crop-faces", action="store_true",
                   help="the same as --face-detector haar")
    add("--face-margin", "space around the face, as a fraction of its size", f,
        type=_number(float, "a number >= 0", lambda v: v >= 0), metavar="F")
    a = p.add_argument_group("architecture and fine-tuning (see the user guide's "
                             "'Choosing and fine-tuning architectures')")
    add("--architecture", "network built from scratch", a,
        choices=list(ARCHITECTURES))
    add("--blocks-per-stage", "vgg/resnet/inception: blocks per stage, one number for "
        "every stage or one per --conv-filters entry", a, nargs="+", type=_POS_INT,
        metavar="N")
    add("--backbone", "keras.applications backbone, or onet: MTCNN's face network "
        "(overrides --architecture)", a, choices=list(BACKBONES))
    add("--weights", "backbone weights: 'imagenet' (from the local Keras cache, never "
        "downloaded), 'mtcnn' (onet: from the mtcnn package) or a local weights file", a,
        metavar="WEIGHTS")
    add("--backbone-alpha", "mobilenetv2 width multiplier", a, metavar="ALPHA",
        type=_number(float, "a number > 0", lambda v: v > 0))
    add("--head-epochs", "epochs with the pretrained backbone frozen", a, type=_POS_INT,
        metavar="N")
    add("--fine-tune-layers", "top backbone layers unfrozen after the head epochs", a,
        type=_NONNEG_INT, metavar="N")
    add("--fine-tune-learning-rate", "learning rate after the head epochs", a, metavar="LR",
        type=_number(float, "a number > 0", lambda v: v > 0))


def _add_on_error(p: argparse.ArgumentParser, skip: str) -> None:
    p.add_argument("--on-error", choices=list(ON_ERROR), help="unreadable images: 'raise' "
                   f"stops with an error, 'skip' {skip} (default: the model's on_error)")


def _add_global_options(p: argparse.ArgumentParser, suppress: bool) -> None:
    """``-v``/``-q``/``--debug``; on sub-commands they must not reset the main ones."""
    d = {"default": argparse.SUPPRESS} if suppress else {}
    g = p.add_argument_group("output options")
    g.add_argument("-v", "--verbose", action="store_true", help="log debug messages", **d)
    g.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only", **d)
    g.add_argument("--debug", action="store_true", help="show tracebacks of errors", **d)


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", metavar="DATA_DIR",
                   help="training folder (e.g. happy/, sad/), local or a URL such as "
                        "s3://bucket/data (fsspec, the 'cloud' extra)")
    p.add_argument("-o", "--output", metavar="MODEL", required=True,
                   help="model file to write: MODEL.skmood (safe format, recommended) or "
                        "MODEL.joblib (pickle); folders are created; a URL (s3://bucket/m.skmood) is "
                        "uploaded. After each epoch a "
                        "checkpoint MODEL.checkpoint.skmood is written (removed at the end)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoint (a killed run "
                            "loses at most one epoch); starts anew if there is none")
    start.add_argument("--init", metavar="MODEL",
                       help="start from the network of a trained model (warm start), e.g. to "
                            "adapt it to new photos; --epochs more epochs are run. "
                            "'pretrained' is skmood's pretrained model")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="start from a named parameter set: 'recommended' is "
                        "skmood.recommended_params() (VGG-style network on 48x48 grayscale, "
                        "the best accuracy per training minute measured on FER2013); the "
                        "options below override its values")
    _add_hyperparameters(p)


def _add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="[MODEL] PATH", nargs="+",
                   help="image files or folders (searched recursively; local or URLs such as "
                        "s3://bucket/photos/), after an optional "
                        "model file saved by 'skmood train' or 'skmood export' (only load "
                        "files you trust; a first argument that is a file without an image "
                        "extension is the model); without one, skmood's pretrained model "
                        "answers. Exported .onnx/.tflite models run without TensorFlow")
    p.add_argument("--model", metavar="MODEL",
                   help="model file (the same as giving it first; default: the pretrained "
                        "model)")
    p.add_argument("--format", choices=list(PREDICTION_FORMATS), default="table",
                   help="output format (default: table)")
    p.add_argument("--output", metavar="FILE",
                   help="write to FILE instead of stdout; FILE.parquet: a Parquet folder, one "
                        "file per partition of --partition-size images, resumable (running "
                        "again keeps the partitions written), through Dask")
    _add_on_error(p, "give unreadable images an empty label and probabilities (the default "
                     "with --dask or a .parquet --output, with the error in the Parquet file)")
    d = p.add_argument_group("batch prediction on a Dask cluster (the 'dask' extra)")
    d.add_argument("--dask", metavar="SCHEDULER",
                   help="predict on a Dask cluster: a scheduler address (tcp://host:8786), "
                        f"or '{LOCAL}' for one single-threaded worker per core of this "
                        "machine; the model is sent to each worker once")
    d.add_argument("--partition-size", type=_POS_INT, default=4096, metavar="N",
                   help="images per Dask task (default: 4096)")
    p.add_argument("--crop-faces", action="store_true",
                   help="classify the largest face of each image (OpenCV, the 'faces' extra); "
                        "images without a face are classified whole. Models trained with "
                        "--face-detector crop faces themselves, without this flag")
    p.add_argument("--all-faces", action="store_true",
                   help="one row per face found (largest first) with its face_box column; "
                        "an image without a face gets one row for the whole image")
    p.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="face detector of --crop-faces (default: haar; mtcnn needs the "
                        "'mtcnn' extra)")
    p.add_argument("--min-confidence", type=_number(float, "a number in [0, 1]",
                                                    lambda v: 0 <= v <= 1),
                   default=None, metavar="P",
                   help="answer 'unsure' (in the label column) for images whose most "
                        "probable class has a probability below P, e.g. 0.7; the "
                        "probabilities are shown as usual")


def _add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="[MODEL] DATA_DIR", nargs="+",
                   help="labelled folder (e.g. happy/, sad/; local or a URL such as "
                        "s3://bucket/data), after an optional model file "
                        "saved by 'skmood train' (default: the pretrained model)")
    p.add_argument("--model", metavar="MODEL", help="model file (the same as giving it first)")
    p.add_argument("--format", choices=list(EVALUATION_FORMATS), default="text",
                   help="output format (default: text)")
    _add_on_error(p, "leave unreadable images out of the metrics")
    p.add_argument("--report", metavar="OUT_DIR",
                   help="also write an HTML report to OUT_DIR: index.html with PNG figures "
                        "(confusion matrix, ROC, precision-recall, reliability, accuracy vs "
                        "coverage, training curves, the most confident mistakes); needs "
                        "matplotlib: pip install 'skmood[plots]'")


def _add_explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="[MODEL] IMAGE", nargs="+",
                   help="image files or folders (searched recursively), after an optional "
                        "model file saved by 'skmood train' (default: the pretrained model)")
    p.add_argument("--model", metavar="MODEL", help="model file (the same as giving it first)")
    p.add_argument("-o", "--output-dir", metavar="OUT_DIR", required=True,
                   help="folder for the overlays, one NAME_gradcam.png per image (created)")
    p.add_argument("--target", metavar="LABEL",
                   help="explain this class, e.g. 'sad' (default: the class predicted for "
                        "each image)")
    p.add_argument("--alpha", type=_number(float, "a number in [0, 1]", lambda v: 0 <= v <= 1),
                   default=0.45, metavar="A",
                   help="weight of the heat map's colours over the image (default: 0.45)")
    _add_on_error(p, "write no overlay for unreadable images")
    p.add_argument("--crop-faces", action="store_true",
                   help="explain the largest face of each image and draw its map there; "
                        "models trained with --face-detector crop faces without this flag")
    p.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="face detector (default: the model's face_detector, else haar)")


def _add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="model file saved by 'skmood train' (.skmood files load without "
                        "unpickling) or 'skmood export' (.onnx/.tflite: served without "
                        "TensorFlow); default: skmood's pretrained model")
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
    p.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="face detector (default: the model's own face_detector, else haar)")
    p.add_argument("--threads", type=_POS_INT, default=None, metavar="N",
                   help="threads running the network, each on a batch of the images of "
                        "the requests waiting (default: 1: one big batch at a time; the other "
                        "core decodes and finds faces)")


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="model file saved by 'skmood train' (default: skmood's pretrained "
                        "model)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="file to write: OUT.onnx (ONNX) or OUT.tflite (LiteRT), or a folder "
                        "(SavedModel)")
    p.add_argument("--format", choices=list(EXPORT_FORMATS), default=None,
                   help="onnx (onnxruntime, any language), litert (TensorFlow Lite: phones, "
                        "edge boxes), litert-int8 (the same with int8 weights: smaller, "
                        "faster, probabilities within a few hundredths) or savedmodel "
                        "(TensorFlow Serving); default: from OUT's extension (.onnx, .tflite)")


#: The sub-commands: name, function, help, and the function adding their options.
_COMMANDS: list[tuple[str, Callable[[argparse.Namespace], int], str,
                      Callable[[argparse.ArgumentParser], None]]] = [
    ("demo", cmd_demo, "Train and evaluate on synthetic faces, end to end, in a minute or two.",
     _add_demo_arguments),
    ("train", cmd_train, "Train a classifier on a folder with one sub-folder of images per "
                         "class; save it with joblib.", _add_train_arguments),
    ("predict", cmd_predict, "Predict the label and class probabilities of images.",
     _add_predict_arguments),
    ("evaluate", cmd_evaluate, "Evaluate a model on a folder with one sub-folder of images "
                               "per class.", _add_evaluate_arguments),
    ("explain", cmd_explain, "Draw Grad-CAM heat maps over images, where the model looks for "
                             "its answer, as PNG files.", _add_explain_arguments),
    ("serve", cmd_serve, "Serve a model over HTTP: a JSON API (POST /predict) and a web page "
                         "for images and a webcam.", _add_serve_arguments),
    ("export", cmd_export, "Export a model to ONNX, LiteRT or a SavedModel, to predict "
                           "without TensorFlow (skmood.runtime, onnxruntime, LiteRT).",
     _add_export_arguments),
]
#: Names of the sub-commands.
COMMANDS = tuple(name for name, *_ in _COMMANDS)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``skmood`` argument parser.

    Parameters
    ----------
    commands : collection of str or None, default=None
        The sub-commands whose options are added (``None``: all). The others
        are still listed by ``skmood --help``; :func:`~skmood.cli.main`
        passes only the command it runs, so that running ``predict`` or
        ``serve`` does not import what ``train``'s options need.

    Returns
    -------
    parser : argparse.ArgumentParser
        Parser with the sub-commands ``demo``, ``train``, ``predict``,
        ``evaluate``, ``explain``, ``serve`` and ``export``; each sets
        ``func`` to the function running it.
    """
    parser = argparse.ArgumentParser(
        prog="skmood", description="Classify face images as happy or sad with a CNN.",
        epilog="Run 'skmood COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, func, help, add_arguments in _COMMANDS:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        _add_global_options(p, suppress=True)
        if commands is None or name in commands:
            add_arguments(p)
    return parser
