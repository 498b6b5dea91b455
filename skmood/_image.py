"""Decoding and resizing single images (private).

One place decides how a file becomes pixels, so that the transformers
(:class:`~skmood.ImageLoader`, :class:`~skmood.ImageResizer`) and the
classifier's streaming path produce exactly the same arrays.
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._paths import is_url
from .exceptions import ImageReadError

PathLike = Union[str, "os.PathLike[str]"]

#: Colour modes and the number of channels each gives.
COLOR_MODES = {"rgb": 3, "grayscale": 1}

#: Pillow modes holding more than 8 bits per channel, scaled down to 8 bits.
_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

_RESAMPLE = Image.Resampling.BILINEAR


def _fail(path: PathLike, reason: str) -> ImageReadError:
    return ImageReadError(
        f"cannot read {os.fspath(path)!r} ({reason}); expected an existing, "
        "readable image file (PNG, JPEG, BMP, GIF, TIFF or WebP)."
    )


def _high_depth_to_8bit(img: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit integer or float single-channel image to mode L."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        # Floats: [0, 1] when they fit there, else taken as 0-255.
        hi = float(np.nanmax(arr)) if arr.size else 0.0
        arr = arr * 255.0 if hi <= 1.0 else arr
    elif img.mode == "I" and arr.size and arr.max() <= 255:
        pass  # 8-bit values stored as 32-bit ints
    else:
        arr = arr / 257.0  # 16-bit range onto 8 bits
    arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with transparency onto a white background."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_mode(img: Image.Image, color_mode: str) -> Image.Image:
    """Convert a decoded Pillow image to ``"RGB"`` or ``"L"``.

    Transparent pixels are composited onto white; 16-bit and float images are
    scaled to 8 bits; CMYK and palette images are converted by Pillow.
    """
    target = "RGB" if color_mode == "rgb" else "L"
    if img.mode in _HIGH_DEPTH_MODES:
        img = _high_depth_to_8bit(img)
    elif img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info
    ):
        img = _flatten_alpha(img)
    if img.mode != target:
        img = img.convert(target)
    return img


def _decode(source, color_mode: str, max_pixels: int | None,
            formats: tuple[str, ...] | None) -> np.ndarray:
    """Open ``source`` (a path or a binary file), decode it and convert its mode.

    The EXIF orientation is applied; animated files give their first frame.
    Raises Pillow's and the OS's own exceptions, mapped to messages by callers.
    """
    with Image.open(source, formats=formats) as img:
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise _TooLarge(f"{img.width}x{img.height} pixels, more than the limit of "
                            f"{max_pixels}")
        img.seek(0)
        img = ImageOps.exif_transpose(img)
        img = to_mode(img, color_mode)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, np.newaxis] if arr.ndim == 2 else arr


class _TooLarge(ValueError):
    """An image with more pixels than the caller's limit (never leaves this module)."""


def read_image(path: PathLike, *, color_mode: str = "rgb") -> np.ndarray:
    """Decode one image file into a ``(height, width, channels)`` uint8 array.

    The EXIF orientation is applied; animated files give their first frame.
    A URL (``s3://bucket/x.png``, ``gs://...``, ``memory://...``) is read
    through fsspec (imported for URLs only, see :mod:`skmood._paths`).

    Raises
    ------
    ImageReadError
        If the file is missing, not a file, not readable, not an image, truncated,
        or larger than Pillow's decompression-bomb limit; for a URL also if it
        is malformed or of an unknown protocol, or the storage fails. The
        message names the file.
    ImportError
        For a URL, if fsspec or the package of its protocol is not installed.
    """
    return _decode_file(path, _read_url(path) if is_url(path) else None, color_mode)


def read_images(paths, *, color_mode: str = "rgb") -> list:
    """:func:`read_image` of each path; an unreadable file gives its error in its place.

    Returns a list of ``(height, width, channels)`` uint8 arrays and
    :class:`ImageReadError` instances, in the order of ``paths``. URLs among
    them are fetched concurrently (object storage is bound by the latency of
    each request); local files are read one after the other, as by
    :func:`read_image`.
    """
    fetched = {}
    urls = [p for p in paths if is_url(p)]
    if urls:
        from ._paths import describe, read_many

        fetched = dict(zip(urls, read_many(urls)))
    images: list = []
    for path in paths:
        try:
            if path not in fetched:
                images.append(read_image(path, color_mode=color_mode))
            elif isinstance(fetched[path], Exception):
                raise _fail(path, describe(fetched[path])) from fetched[path]
            else:
                images.append(_decode_file(path, fetched[path], color_mode))
        except ImageReadError as exc:
            images.append(exc)
    return images


def _decode_file(path: PathLike, data: bytes | None, color_mode: str) -> np.ndarray:
    """Decode the file at ``path`` (or ``data``, its bytes read already); errors name it."""
    try:
        return _decode(path if data is None else io.BytesIO(data), color_mode, None, None)
    except FileNotFoundError as exc:
        raise _fail(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise _fail(path, "it is a directory, not a file") from exc
    except PermissionError as exc:
        raise _fail(path, "permission denied") from exc
    except Image.DecompressionBombError as exc:
        raise _fail(
            path,
            f"image too large, refused as a possible decompression bomb: {exc}; "
            "raise PIL.Image.MAX_IMAGE_PIXELS only for files you trust",
        ) from exc
    except UnidentifiedImageError as exc:
        raise _fail(path, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _fail(path, f"corrupt or truncated image data: {exc}") from exc


def _read_url(url: str) -> bytes:
    """The bytes at ``url``; storage failures as :class:`ImageReadError` naming it."""
    from ._paths import BadURLError, describe, read_bytes

    try:
        return read_bytes(url)
    except (OSError, BadURLError) as exc:
        raise _fail(url, describe(exc)) from exc


#: Formats :func:`decode_image` accepts (Pillow's names): the formats of
#: :data:`skmood.datasets.IMAGE_EXTENSIONS`. MPO is how Pillow names many
#: phone-camera JPEGs.
DECODE_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF", "TIFF", "WEBP")


def decode_image(data: bytes, *, color_mode: str = "rgb", name: str | None = None,
                 max_pixels: int | None = None) -> np.ndarray:
    """Decode an image held in memory into a ``(height, width, channels)`` uint8 array.

    The in-memory twin of :class:`~skmood.ImageLoader`: the same decoding
    rules (EXIF orientation applied, transparency composited onto white,
    16-bit images scaled to 8 bits, first frame of animations), for image
    bytes received over a network or read from an archive. Only PNG, JPEG,
    BMP, GIF, TIFF and WebP data are decoded; other formats Pillow knows are
    refused without being parsed.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The encoded image (the content of an image file).
    color_mode : {"rgb", "grayscale"}, default="rgb"
        ``"rgb"`` gives 3 channels, ``"grayscale"`` 1 channel (ITU-R 601 luma).
    name : str, default=None
        What to call the image in error messages (e.g. an upload's file name).
    max_pixels : int, default=None
        Refuse images with more pixels (width x height) than this, checked
        from the header before decoding. ``None`` keeps Pillow's own
        decompression-bomb limit only.

    Returns
    -------
    image : ndarray of shape (height, width, channels), dtype=uint8
        3 channels for ``"rgb"``, 1 for ``"grayscale"``.

    Raises
    ------
    ImageReadError
        If ``data`` is empty, not an image of an accepted format, truncated or
        corrupt, or too large. The message names ``name`` and the reason.

    See Also
    --------
    ImageLoader : Decode image *files*, the same way.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> from skmood import decode_image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (20, 10), "white").save(buffer, format="PNG")
    >>> decode_image(buffer.getvalue()).shape
    (10, 20, 3)
    >>> decode_image(buffer.getvalue(), color_mode="grayscale").shape
    (10, 20, 1)
    """
    label = "image data" if name is None else repr(name)
    if color_mode not in COLOR_MODES:
        raise ValueError(f"decode_image: color_mode must be one of {sorted(COLOR_MODES)}, "
                         f"got {color_mode!r}.")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image: data must be bytes, got {type(data).__name__}.")

    def fail(reason: str) -> ImageReadError:
        return ImageReadError(f"cannot decode {label} ({reason}); expected a PNG, JPEG, BMP, "
                              "GIF, TIFF or WebP image.")

    if len(data) == 0:
        raise fail("it is empty")
    try:
        Image.init()  # registers the plugins; Pillow opens MPO files through JPEG's
        formats = tuple(f for f in DECODE_FORMATS if f in Image.OPEN)
        return _decode(io.BytesIO(data), color_mode, max_pixels, formats)
    except _TooLarge as exc:
        raise fail(f"image too large: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise fail(f"image too large, refused as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise fail("not a recognised image format") from exc
    except Exception as exc:  # untrusted bytes: Pillow's plugins raise many kinds
        raise fail(f"corrupt or truncated image data: {type(exc).__name__}: {exc}") from exc


def convert_channels(image: np.ndarray, n_channels: int) -> np.ndarray:
    """Convert a ``(h, w, c)`` image to 1 (luma) or 3 (repeated grey) channels."""
    c = image.shape[-1]
    if c == n_channels:
        return image
    if c == 1 and n_channels == 3:
        return np.repeat(image, 3, axis=-1)
    if c == 3 and n_channels == 1:
        # ITU-R 601-2 luma, the transform Pillow uses for RGB -> L.
        luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        luma = luma[..., np.newaxis]
        if image.dtype == np.uint8:
            return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
        return luma.astype(image.dtype)
    raise ValueError(f"cannot convert images with {c} channels to {n_channels}")


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a ``(h, w, c)`` uint8 or float image to ``size = (height, width)``.

    Bilinear interpolation with Pillow's antialiasing when shrinking; float
    images are resized channel by channel in 32-bit float.
    """
    height, width = size
    if image.shape[0] == height and image.shape[1] == width:
        return image
    if image.dtype == np.uint8:
        channels = image.shape[-1]
        pil = Image.fromarray(np.ascontiguousarray(image[:, :, 0] if channels == 1 else image))
        out = np.asarray(pil.resize((width, height), _RESAMPLE), dtype=np.uint8)
        return out[:, :, np.newaxis] if channels == 1 else out
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[:, :, k], np.float32)).resize(
                (width, height), _RESAMPLE
            )
        )
        for k in range(image.shape[-1])
    ]
    return np.stack(planes, axis=-1).astype(image.dtype, copy=False)
