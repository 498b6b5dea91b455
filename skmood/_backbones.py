"""Backbones: names, input limits, pretrained weight files (private).

The ``keras.applications`` networks (ImageNet weights) and ``"onet"``, the
last stage of the MTCNN face detector that skmood already runs to find faces
(a small network trained on faces; its weights ship inside the ``mtcnn``
wheel, ``weights="mtcnn"``).

Pure Python, no Keras import: the classifier validates ``backbone`` and
``weights`` and names a missing weights file without starting TensorFlow. The
Keras side (building the networks) is :mod:`skmood._transfer`.

skmood never downloads anything at run time: ``weights="imagenet"`` reads the
file Keras itself would have cached, from ``$KERAS_HOME/models/`` (default
``~/.keras/models/``), and fails with the exact file name and folder when it
is not there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "BACKBONES",
    "BACKBONE_LAYER",
    "MOBILENET_ALPHAS",
    "BackboneSpec",
    "check_input_size",
    "imagenet_weights_file",
    "is_imagenet_file",
    "keras_models_dir",
    "mtcnn_onet_file",
    "resolve_weights",
]

#: Name of the nested backbone model in the networks of :func:`skmood.models.build_backbone`.
BACKBONE_LAYER = "backbone"

_KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class BackboneSpec:
    """What skmood needs to know of one backbone network."""

    #: Constructor name in ``keras.applications`` (``"ONet"``: skmood builds it).
    keras_name: str
    #: Smallest input height and width the network accepts.
    min_size: int
    #: How the backbone expects its input (its ``preprocess_input``): ``"caffe"``
    #: (0-255, BGR, ImageNet mean subtracted), ``"tf"`` (scaled to [-1, 1]),
    #: ``"raw"`` (0-255; the network normalises the input itself) or
    #: ``"mtcnn"`` ((0-255 - 127.5) / 128, RGB).
    preprocessing: str
    #: Where Keras downloads the ImageNet file from (for the error message only).
    weights_url: str
    #: Name of the ImageNet file without the classification top, as Keras
    #: caches it; MobileNetV2's depends on ``alpha`` and the input rows.
    weights_file: str
    #: The network takes exactly ``min_size`` x ``min_size`` pixels (its top is dense).
    fixed_size: bool = False
    #: The ``weights`` value naming its pretrained weights.
    pretrained: str = "imagenet"


#: The supported backbones, by their skmood name.
BACKBONES: dict[str, BackboneSpec] = {
    "efficientnetb0": BackboneSpec(
        "EfficientNetB0", 32, "raw", "https://storage.googleapis.com/keras-applications/",
        "efficientnetb0_notop.h5"),
    "inceptionv3": BackboneSpec(
        "InceptionV3", 75, "tf", _KERAS_APPLICATIONS + "inception_v3/",
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "mobilenetv2": BackboneSpec(
        "MobileNetV2", 32, "tf", _KERAS_APPLICATIONS + "mobilenet_v2/",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5"),
    "resnet50": BackboneSpec(
        "ResNet50", 32, "caffe", _KERAS_APPLICATIONS + "resnet/",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "onet": BackboneSpec("ONet", 48, "mtcnn", "", "onet.lz4", fixed_size=True,
                         pretrained="mtcnn"),
}

#: MobileNetV2 widths (``alpha``) that have ImageNet weights.
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
#: Input sizes MobileNetV2 ImageNet files exist for; other sizes use the 224 file.
_MOBILENET_ROWS = (96, 128, 160, 192, 224)


def _spec(backbone: str, owner: str) -> BackboneSpec:
    try:
        return BACKBONES[backbone]
    except KeyError:
        raise ValueError(
            f"{owner}: unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}."
        ) from None


def check_input_size(backbone: str, image_size, owner: str) -> None:
    """Raise ``ValueError`` if ``image_size`` (height, width) is below the backbone's minimum."""
    spec = _spec(backbone, owner)
    height, width = (int(s) for s in image_size[:2])
    if spec.fixed_size and (height, width) != (spec.min_size, spec.min_size):
        raise ValueError(
            f"{owner}: the {backbone} backbone takes exactly {spec.min_size}x{spec.min_size} "
            f"pixels (its top layers are dense), got image_size {(height, width)!r}; set "
            f"image_size=({spec.min_size}, {spec.min_size})."
        )
    if min(height, width) < spec.min_size:
        raise ValueError(
            f"{owner}: image_size {(height, width)!r} is too small for the {backbone} "
            f"backbone ({spec.keras_name}), which needs at least "
            f"{spec.min_size}x{spec.min_size} pixels; set image_size=({spec.min_size}, "
            f"{spec.min_size}) or more."
        )


def keras_models_dir() -> str:
    """The folder Keras caches downloaded model files in: ``$KERAS_HOME/models``.

    Read from the environment at each call (not when Keras was imported).
    Without ``KERAS_HOME`` it is ``~/.keras/models``, or ``/tmp/.keras/models``
    when the home folder is not writable, as in Keras.
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    return os.path.join(os.path.expanduser(home), "models")


def imagenet_weights_file(backbone: str, image_size=(224, 224), alpha: float = 1.0,
                          owner: str = "skmood") -> str:
    """File name of the backbone's ImageNet weights (no top), as Keras caches it.

    MobileNetV2's file depends on ``alpha`` and, as in Keras, on the input
    size: square inputs of 96, 128, 160, 192 or 224 pixels use their own file,
    every other size the 224 one.
    """
    spec = _spec(backbone, owner)
    if backbone != "mobilenetv2":
        return spec.weights_file
    if float(alpha) not in MOBILENET_ALPHAS:
        raise ValueError(
            f"{owner}: MobileNetV2 has ImageNet weights for backbone_alpha in "
            f"{list(MOBILENET_ALPHAS)} only, got {alpha!r}; use one of those, or weights=None."
        )
    height, width = (int(s) for s in image_size[:2])
    rows = height if height == width and height in _MOBILENET_ROWS else 224
    return spec.weights_file.format(alpha=float(alpha), rows=rows)


def is_imagenet_file(backbone: str, path) -> bool:
    """Whether ``path`` is named like the backbone's ImageNet weights file."""
    name = os.path.basename(os.fspath(path))
    if backbone == "mobilenetv2":
        prefix, _, suffix = BACKBONES[backbone].weights_file.partition("{alpha}_{rows}")
        return name.startswith(prefix) and name.endswith(suffix)
    return name == BACKBONES[backbone].weights_file


def resolve_weights(backbone: str, weights, image_size, alpha: float,
                    owner: str) -> str | None:
    """The local file ``weights`` stands for, or ``None`` for random initialisation.

    Raises
    ------
    FileNotFoundError
        ``"imagenet"`` whose file is not in the Keras cache (the message gives
        the file name, the folder and where to get it), or a path to no file.
    ValueError
        A path that is not an HDF5 weights file (``.weights.h5`` or ``.h5``).
    """
    spec = _spec(backbone, owner)
    if weights is None:
        return None
    if backbone == "onet" and isinstance(weights, str) and weights in (spec.pretrained,
                                                                      "imagenet"):
        if weights == "imagenet":
            raise ValueError(
                f"{owner}: the onet backbone has no ImageNet weights; its pretrained weights "
                f"are MTCNN's face detector's: weights={spec.pretrained!r} (or None, or a "
                "weights file saved from an onet backbone)."
            )
        return mtcnn_onet_file(owner)
    if isinstance(weights, str) and weights == "imagenet":
        name = imagenet_weights_file(backbone, image_size, alpha, owner)
        folder = keras_models_dir()
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{owner}: weights='imagenet' for the {backbone} backbone needs the Keras "
                f"weights file {name!r} in the Keras cache folder {folder!r}, and it is not "
                f"there; skmood never downloads at run time. Place the file there "
                f"(download it once from {spec.weights_url}{name}), or set KERAS_HOME to "
                f"the folder whose models/ subfolder holds it, or pass its path as weights=."
            )
        return path
    path = os.fspath(weights)
    if not path.lower().endswith((".h5", ".hdf5")):
        raise ValueError(
            f"{owner}: weights must be None, {spec.pretrained!r} or the path of a Keras "
            f"weights file (.weights.h5 or .h5), got {weights!r}."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{owner}: no weights file at {path!r} (weights=); expected a .weights.h5 or "
            f".h5 file holding the {backbone} backbone's weights."
        )
    return path


def mtcnn_onet_file(owner: str = "skmood") -> str:
    """Path of MTCNN's ONet weights inside the installed ``mtcnn`` package.

    Found without importing ``mtcnn`` (which imports TensorFlow).

    Raises
    ------
    FileNotFoundError
        ``mtcnn`` is not installed, or holds no ``assets/weights/onet.lz4``.
    """
    import importlib.util

    onet = BACKBONES["onet"]
    spec = importlib.util.find_spec("mtcnn")
    path = (os.path.join(os.path.dirname(spec.origin), "assets", "weights", onet.weights_file)
            if spec is not None and spec.origin else None)
    if path is None or not os.path.isfile(path):
        raise FileNotFoundError(
            f"{owner}: weights={onet.pretrained!r} reads MTCNN's ONet weights from the "
            f"installed mtcnn package (mtcnn/assets/weights/{onet.weights_file}), and "
            f"{'mtcnn is not installed' if spec is None else 'that file is not there'}; "
            "install it with: pip install 'mtcnn>=1.0,<2' 'lz4>=4.3' (a dependency of skmood)."
        )
    return path
