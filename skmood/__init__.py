"""skmood: happy/sad face classification with CNNs, the scikit-learn way.

Importing ``skmood`` is cheap: every public name is loaded from its private
module when first used (PEP 562), so ``import skmood.runtime`` needs neither
scikit-learn nor TensorFlow, and Keras and TensorFlow load only when a
network is built, trained or used.
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .exceptions import (
    DatasetError,
    ImageReadError,
    ModelFileError,
    SkmoodError,
    SkmoodWarning,
)

#: Public name -> the module defining it (relative to this package). To add a
#: public name, add one line here; ``__all__`` and ``dir(skmood)`` follow.
_LAZY = {
    "FaceCropper": "._face_crop",  # OpenCV is imported only when faces are detected
    "HappySadClassifier": "._classifier",
    "ImageLoader": ".transformers",
    "ImageResizer": ".transformers",
    "NotFittedError": ".exceptions",  # subclasses scikit-learn's: made on first use
    "PixelNormalizer": ".transformers",
    "average_models": "._ensemble",
    "decode_image": "._image",
    "evaluation_report": "._report",  # matplotlib is imported only when it runs
    "explain_faces": "._explain",
    "export": "._export",
    "load": "._persistence",
    "load_image_folder": ".datasets",
    "load_pretrained": "._pretrained",
    "make_faces": ".datasets",
    "overlay_heatmap": "._overlay",
    "predict_faces": "._predict",
    "pretrained_info": "._pretrained",
    "read_info": "._persistence",
    "recommended_params": "._presets",
    "save": "._persistence",
}
#: Sub-packages reachable as attributes after ``import skmood`` alone.
_SUBMODULES = ("datasets", "exceptions", "models", "runtime", "transformers")

__all__ = sorted(
    ["DatasetError", "ImageReadError", "ModelFileError", "SkmoodError", "SkmoodWarning",
     "__version__", *_LAZY],
    key=str.lower,
)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
