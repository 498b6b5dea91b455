"""skmood: happy/sad face classification with CNNs, the scikit-learn way.

Importing ``skmood`` is cheap: Keras and TensorFlow load only when a network
is built, trained or used.
"""

from ._classifier import HappySadClassifier
from ._persistence import load, save
from ._version import __version__
from .datasets import load_image_folder, make_faces
from .exceptions import (
    DatasetError,
    ImageReadError,
    ModelFileError,
    NotFittedError,
    SkmoodError,
    SkmoodWarning,
)
from .transformers import ImageLoader, ImageResizer, PixelNormalizer

__all__ = [
    "DatasetError",
    "HappySadClassifier",
    "ImageLoader",
    "ImageReadError",
    "ImageResizer",
    "ModelFileError",
    "NotFittedError",
    "PixelNormalizer",
    "SkmoodError",
    "SkmoodWarning",
    "__version__",
    "load_image_folder",
    "load",
    "make_faces",
    "save",
]
