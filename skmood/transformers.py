"""Image preprocessing as scikit-learn transformers.

Three stateless steps take file paths to network-ready pixels::

    paths --ImageLoader--> decoded images --ImageResizer--> uint8 (n, h, w, c)
          --PixelNormalizer--> float32 in [0, 1]

Each is usable as a :class:`~sklearn.pipeline.Pipeline` step. They learn
nothing, so ``fit`` only validates parameters and ``transform`` may be called
without it.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._compat import Interval, StrOptions, _fit_context
from ._image import COLOR_MODES, read_images, resize_image
from ._validation import PATHS, check_image_paths, check_image_size, check_images, reject_sparse
from .exceptions import ImageReadError

__all__ = ["ImageLoader", "ImageResizer", "PixelNormalizer"]


class _StatelessTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: parameter validation in ``fit``, no fitted state."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters; nothing is learned.

        Parameters
        ----------
        X : array-like
            Ignored apart from being accepted, as in every stateless transformer.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer itself.
        """
        self._check_input(X)
        return self

    def _check_input(self, X):
        """Validate ``X`` cheaply and return it in canonical form."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags


class ImageLoader(_StatelessTransformer):
    """Decode image files into arrays.

    Takes file paths and returns the decoded images, each at its own size. The
    EXIF orientation is applied, transparent pixels are composited onto white,
    16-bit images are scaled to 8 bits and animated files give their first frame.

    Parameters
    ----------
    color_mode : {"rgb", "grayscale"}, default="rgb"
        ``"rgb"`` gives 3 channels, ``"grayscale"`` 1 channel (ITU-R 601 luma).

    See Also
    --------
    ImageResizer : Bring the decoded images to one size.
    skmood.load_image_folder : List the image files of a folder per class.

    Notes
    -----
    ``X`` is an array-like of paths of shape ``(n_samples,)`` or
    ``(n_samples, 1)``; the second form is what imbalanced-learn samplers and
    :class:`~sklearn.compose.ColumnTransformer` pass on. A path may be a URL
    (``"s3://bucket/x.png"``, ``"gs://..."``), read through fsspec, the URLs
    of one call 16 at a time (:ref:`object-storage`).

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> from skmood import ImageLoader
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "face.png")
    >>> Image.new("RGB", (20, 10), "white").save(path)
    >>> images = ImageLoader().fit_transform([path])
    >>> images[0].shape, images[0].dtype
    ((10, 20, 3), dtype('uint8'))
    """

    _parameter_constraints = {"color_mode": [StrOptions(set(COLOR_MODES))]}

    def __init__(self, color_mode="rgb"):
        self.color_mode = color_mode

    def transform(self, X):
        """Decode each file.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1)
            Paths of image files (``str`` or ``os.PathLike``), local or URLs.

        Returns
        -------
        images : ndarray of shape (n_samples,), dtype=object
            One ``(height, width, channels)`` uint8 array per file.

        Raises
        ------
        ImageReadError
            If a file cannot be read; the message names it and says why.
        """
        self._validate_params()
        paths = self._check_input(X)
        images = np.empty(len(paths), dtype=object)
        for i, image in enumerate(read_images(paths, color_mode=self.color_mode)):
            if isinstance(image, ImageReadError):
                raise image
            images[i] = image
        return images

    def _check_input(self, X):
        return check_image_paths(X, type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.one_d_array = True
        return tags


class ImageResizer(_StatelessTransformer):
    """Resize images of any sizes into one ``(n, height, width, channels)`` array.

    Bilinear interpolation, with antialiasing when shrinking.

    Parameters
    ----------
    image_size : tuple of (int, int), default=(128, 128)
        Output ``(height, width)`` in pixels.

    See Also
    --------
    ImageLoader : Decode image files.
    PixelNormalizer : Scale the resized uint8 pixels to [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skmood import ImageResizer
    >>> images = [np.zeros((10, 20, 3), np.uint8), np.zeros((30, 30, 3), np.uint8)]
    >>> ImageResizer(image_size=(16, 16)).fit_transform(images).shape
    (2, 16, 16, 3)
    """

    _parameter_constraints = {"image_size": ["array-like"]}

    def __init__(self, image_size=(128, 128)):
        self.image_size = image_size

    def transform(self, X):
        """Resize every image.

        Parameters
        ----------
        X : sequence of (height, width, channels) uint8 arrays, or ndarray of \
shape (n_samples, height, width, channels)
            Images as :class:`ImageLoader` returns them, or a uint8 pixel array.

        Returns
        -------
        X_resized : ndarray of shape (n_samples, height, width, channels), dtype=uint8
        """
        self._validate_params()
        size = check_image_size(self.image_size, type(self).__name__)
        images = self._check_input(X)
        if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:3] == size:
            return np.ascontiguousarray(images)
        return np.stack([resize_image(img, size) for img in images])

    def _check_input(self, X):
        owner = type(self).__name__
        data = check_images(X, owner)
        if data.kind == PATHS:
            raise TypeError(
                f"{owner}: expected decoded images (the output of ImageLoader) or a uint8 "
                "pixel array, got file paths; put an ImageLoader step before ImageResizer."
            )
        images = data.data
        channels = {img.shape[-1] for img in images}
        if len(channels) > 1:
            raise ValueError(
                f"{owner}: images have mixed channel counts {sorted(channels)}; load them all "
                "with the same ImageLoader(color_mode=...)."
            )
        if any(img.dtype != np.uint8 for img in images):
            raise TypeError(
                f"{owner}: expected uint8 images with values 0-255, got float pixels; resize "
                "before PixelNormalizer, not after."
            )
        return images


class PixelNormalizer(_StatelessTransformer):
    """Scale integer pixel values to float32 in [0, 1].

    Divides by ``max_value`` (255 for 8-bit images) and checks the result lies
    in [0, 1], so a second normalisation or a wrong scale fails loudly instead
    of silently shrinking the inputs.

    Parameters
    ----------
    max_value : float, default=255.0
        The pixel value mapped to 1.0.

    See Also
    --------
    ImageResizer : Produces the uint8 arrays this step expects.

    Examples
    --------
    >>> import numpy as np
    >>> from skmood import PixelNormalizer
    >>> X = np.array([[[[0], [255]]]], dtype=np.uint8)
    >>> PixelNormalizer().fit_transform(X).ravel()
    array([0., 1.], dtype=float32)
    """

    _parameter_constraints = {"max_value": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, max_value=255.0):
        self.max_value = max_value

    def transform(self, X):
        """Scale the pixels.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width, channels)
            Integer pixel values in ``[0, max_value]``.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, height, width, channels), dtype=float32
        """
        self._validate_params()
        X = self._check_input(X)
        return (X.astype(np.float32) / np.float32(self.max_value)).astype(np.float32)

    def _check_input(self, X):
        owner = type(self).__name__
        reject_sparse(X, owner)
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError(f"{owner}: Complex data not supported; pixel values must be real.")
        if X.dtype.kind == "f":
            raise TypeError(
                f"{owner}: expected integer pixel values 0-{self.max_value:g}, got dtype "
                f"{X.dtype}; the images look normalised already."
            )
        if X.dtype.kind not in "ui":
            raise TypeError(f"{owner}: expected an integer pixel array, got dtype {X.dtype}.")
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(
                f"{owner}: expected a pixel array of shape (n_samples, height, width, channels) "
                f"with at least 1 sample, got shape {X.shape}."
            )
        lo, hi = (int(X.min()), int(X.max())) if X.size else (0, 0)
        if lo < 0 or hi > self.max_value:
            raise ValueError(
                f"{owner}: pixel values must lie in [0, {self.max_value:g}], got values in "
                f"[{lo}, {hi}]; set max_value to the images' full scale."
            )
        return X

