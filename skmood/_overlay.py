"""Heat maps drawn over images (private; public through :func:`skmood.overlay_heatmap`).

NumPy and Pillow only: the default colormap, ``"jet"``, is built in (the same
piecewise-linear definition as matplotlib's), and any other matplotlib
colormap is used when matplotlib is installed (``skmood[plots]``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from ._image import resize_image

__all__ = ["COLORMAPS", "colorize", "heatmap_png", "overlay_heatmap"]

#: The built-in colormaps: ``(position, value)`` knots of red, green and blue,
#: linearly interpolated (matplotlib's ``jet`` segment data).
COLORMAPS = {
    "jet": (
        ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
        ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
        ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
    ),
}


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """``(h, w)`` values in [0, 1] to a ``(h, w, 3)`` uint8 RGB picture.

    ``colormap``: ``"jet"`` (built in), or the name of a matplotlib colormap
    (``"inferno"``, ``"turbo"``, ...) when matplotlib is installed.
    """
    values = np.clip(np.nan_to_num(np.asarray(heatmap, np.float64)), 0.0, 1.0)
    if colormap in COLORMAPS:
        rgb = np.stack([np.interp(values, [p for p, _ in knots], [v for _, v in knots])
                        for knots in COLORMAPS[colormap]], axis=-1)
    else:
        rgb = _matplotlib_colormap(colormap)(values)[..., :3]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _matplotlib_colormap(name: str):
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            f"overlay_heatmap: colormap={name!r} needs matplotlib (pip install "
            f"'skmood[plots]'); without it, use one of {sorted(COLORMAPS)}.") from None
    try:
        return matplotlib.colormaps[name]
    except (KeyError, ValueError):
        raise ValueError(f"overlay_heatmap: colormap={name!r} is not a matplotlib colormap; "
                         f"expected e.g. 'jet', 'inferno' or 'turbo'.") from None


def _check_heatmap(heatmap, owner: str) -> np.ndarray:
    heat = np.asarray(heatmap)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2 or not heat.size or not np.issubdtype(heat.dtype, np.number):
        raise ValueError(f"{owner}: heatmap must be a 2-D array of numbers (height, width), "
                         f"got shape {heat.shape} of dtype {heat.dtype}.")
    return np.nan_to_num(heat.astype(np.float32), nan=0.0)


def _check_image(image, owner: str) -> np.ndarray:
    """``image`` as ``(h, w, 3)`` uint8 (grey repeated; floats in [0, 1] scaled)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4) or min(img.shape[:2]) < 1:
        raise ValueError(f"{owner}: image must be (height, width) or (height, width, 1, 3 "
                         f"or 4 channels), got shape {img.shape}.")
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.number):
            raise ValueError(f"{owner}: image must hold numbers, got dtype {img.dtype}.")
        img = np.clip(np.rint(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    img = img[..., :3]
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img


def _check_box(box, height: int, width: int, owner: str) -> tuple[int, int, int, int]:
    """``box`` ``(x, y, width, height)`` clipped to the image, as ``(x0, y0, x1, y1)``."""
    if box is None:
        return 0, 0, width, height
    values = tuple(box) if isinstance(box, (Sequence, np.ndarray)) else ()
    if len(values) != 4 or not all(isinstance(v, (Integral, np.integer)) for v in values) \
            or values[2] < 1 or values[3] < 1:
        raise ValueError(f"{owner}: box must be (x, y, width, height) ints with a positive "
                         f"width and height, got {box!r}.")
    x, y, w, h = (int(v) for v in values)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{owner}: box {box!r} lies outside the {width}x{height} image.")
    return x0, y0, x1, y1


def overlay_heatmap(image, heatmap, *, alpha=0.45, box=None, colormap="jet"):
    """Draw a heat map over an image, as a colour picture.

    The map (e.g. one of :meth:`HappySadClassifier.explain`'s, at the
    network's input size) is resized to the image, or to ``box``, coloured
    with ``colormap`` and blended in: ``(1 - alpha) * image + alpha * colour``.
    Outside ``box`` the image is unchanged.

    Parameters
    ----------
    image : ndarray of shape (height, width) or (height, width, channels)
        The picture: uint8 0-255 or floats in [0, 1]; 1 (grey), 3 (RGB) or 4
        (RGBA, alpha ignored) channels.
    heatmap : ndarray of shape (h, w)
        Values in [0, 1] (NaN is drawn as 0), of any size.
    alpha : float, default=0.45
        Weight of the colours, in [0, 1]: 0 gives the image back.
    box : tuple of (x, y, width, height) or None, default=None
        The part of ``image`` the map covers (e.g. the face crop a model
        classified; :func:`skmood.explain_faces` gives it), clipped to the
        image. ``None``: the whole image.
    colormap : str, default="jet"
        ``"jet"`` (built in: blue for 0, through cyan, yellow, to red for 1),
        or any matplotlib colormap name when matplotlib is installed
        (``pip install 'skmood[plots]'``).

    Returns
    -------
    overlay : ndarray of shape (height, width, 3), dtype=uint8
        RGB, at the image's size.

    Examples
    --------
    >>> import numpy as np
    >>> from skmood import overlay_heatmap
    >>> image = np.full((40, 60, 3), 128, np.uint8)
    >>> heat = np.zeros((8, 8)); heat[2:6, 2:6] = 1.0
    >>> out = overlay_heatmap(image, heat, alpha=0.5)
    >>> out.shape, out.dtype
    ((40, 60, 3), dtype('uint8'))
    >>> out[20, 30].tolist(), out[0, 0].tolist()  # red where hot, blue where cold
    ([128, 64, 64], [64, 64, 128])
    >>> bool((overlay_heatmap(image, heat, box=(10, 5, 20, 20))[0, 0] == image[0, 0]).all())
    True
    """
    owner = "overlay_heatmap"
    if not isinstance(alpha, Real) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{owner}: alpha must be a number in [0, 1], got {alpha!r}.")
    img = _check_image(image, owner)
    heat = _check_heatmap(heatmap, owner)
    x0, y0, x1, y1 = _check_box(box, img.shape[0], img.shape[1], owner)
    heat = resize_image(heat[:, :, None], (y1 - y0, x1 - x0))[:, :, 0]
    colors = colorize(heat, colormap).astype(np.float32)
    out = img.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(np.rint((1.0 - alpha) * region + alpha * colors), 0, 255)
    return out


def heatmap_png(heatmap: np.ndarray) -> bytes:
    """A heat map as an 8-bit greyscale PNG (value ``round(255 * heat)``)."""
    from PIL import Image

    heat = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray(np.rint(heat * 255.0).astype(np.uint8)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
