"""skmood: happy/sad face classification with CNNs, the scikit-learn way.

Importing ``skmood`` is cheap: Keras and TensorFlow load only when a network
is built, trained or used.
"""

from ._classifier import HappySadClassifier
from ._face_crop import FaceCropper  # OpenCV is imported only when faces are detected
from ._image import decode_image
from ._persistence import load, read_info, save
from ._overlay import overlay_heatmap
from ._predict import explain_faces, predict_faces
from ._presets import recommended_params
from ._pretrained import load_pretrained, pretrained_info
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
    "FaceCropper",
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
    "decode_image",
    "explain_faces",
    "load_image_folder",
    "load",
    "load_pretrained",
    "make_faces",
    "overlay_heatmap",
    "predict_faces",
    "pretrained_info",
    "read_info",
    "recommended_params",
    "save",
]
