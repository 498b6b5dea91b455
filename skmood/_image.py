"""Decoding and resizing single images (private).

One place decides how a file becomes pixels, so that the transformers
(:class:`~skmood.ImageLoader`, :class:`~skmood.ImageResizer`) and the
classifier's streaming path produce exactly the same arrays.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def read_image(path: PathLike, *, color_mode: str = "rgb") -> np.ndarray:
    """Decode one image file into a ``(height, width, channels)`` uint8 array.

    The EXIF orientation is applied; animated files give their first frame.

    Raises
    ------
    ImageReadError
        If the file is missing, not a file, not readable, not an image, truncated,
        or larger than Pillow's decompression-bomb limit. The message names the file.
    """
    try:
        with Image.open(path) as img:
            img.seek(0)
            img = ImageOps.exif_transpose(img)
            img = to_mode(img, color_mode)
            arr = np.asarray(img, dtype=np.uint8)
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
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    return arr


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
