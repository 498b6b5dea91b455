"""Procedurally generated cartoon faces: a synthetic happy/sad data set."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from ..exceptions import DatasetError
from ._folder import _object_array

__all__ = ["make_faces"]

_Color = tuple[int, int, int]
_Points = Sequence[tuple[float, float]] | np.ndarray

_CLASSES = ("happy", "sad")
_COLOR_MODES = ("rgb", "grayscale")
_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}
_SKIN_TONES = np.array(
    [
        (255, 224, 189),
        (241, 194, 125),
        (224, 172, 105),
        (198, 134, 66),
        (141, 85, 36),
        (92, 58, 30),
        (255, 214, 80),  # cartoon yellow
        (250, 190, 190),
    ],
    dtype=float,
)


def make_faces(
    n_samples: int = 100,
    *,
    image_size: tuple[int, int] = (64, 64),
    color_mode: Literal["rgb", "grayscale"] = "rgb",
    happy_fraction: float = 0.5,
    noise: float = 0.05,
    occlusion: float = 0.1,
    random_state: int | np.random.RandomState | None = None,
    directory: str | os.PathLike[str] | None = None,
    image_format: Literal["png", "jpg", "jpeg"] = "png",
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a synthetic data set of happy and sad cartoon faces.

    Each face is drawn with Pillow at 2-4x the requested size and then
    downsampled, so it stays smooth from 16x16 to 128x128 pixels. Happy
    faces smile (the mouth curves up at the ends) and sad faces frown (the
    mouth curves down at the ends, sometimes with slanted eyebrows or a
    tear). The mouth curvature is the signal and is never close to flat.
    Everything else varies at random: face position, size, aspect ratio and
    in-plane rotation, skin tone, background colour or gradient, eye size and
    placement, mouth width, position and style, pixel noise and occluding
    bars. No single pixel predicts the label well, so the task needs a model
    that looks at shapes, such as a small convolutional network.

    Parameters
    ----------
    n_samples : int, default=100
        Number of faces, at least 1.
    image_size : tuple of (int, int), default=(64, 64)
        Height and width of each image in pixels, both at least 8.
    color_mode : {"rgb", "grayscale"}, default="rgb"
        Whether images have 3 channels or 1.
    happy_fraction : float, default=0.5
        Fraction of happy faces, in [0, 1]. The number of happy faces is
        ``round(n_samples * happy_fraction)``; when ``0 < happy_fraction < 1``
        and ``n_samples >= 2`` there is at least one face of each class.
    noise : float, default=0.05
        Standard deviation of the Gaussian pixel noise, as a fraction of 255.
    occlusion : float, default=0.1
        Probability, in [0, 1], that a random bar or rectangle covers part of
        a face. It never covers more than half of the mouth.
    random_state : int, RandomState instance or None, default=None
        Seed or generator controlling every random choice; pass an int for
        reproducible output across calls.
    directory : str or os.PathLike, default=None
        If given, write the faces as image files
        ``directory/<label>/face_<index>.<image_format>`` (``<index>`` is the
        sample index, zero-padded to 5 digits) instead of returning pixels.
        The class folders are created; they must not already hold files.
    image_format : {"png", "jpg", "jpeg"}, default="png"
        File format used when ``directory`` is given; JPEG uses quality 95.

    Returns
    -------
    X : ndarray of shape (n_samples, height, width, channels), dtype=uint8
        The images, with 3 channels for ``"rgb"`` and 1 for ``"grayscale"``.
        Returned when ``directory`` is None; otherwise ``paths`` is.
    paths : ndarray of shape (n_samples,), dtype=object
        Returned instead of ``X`` when ``directory`` is given: the written
        files, in the order :func:`load_image_folder` lists them (classes
        sorted, then paths sorted).
    y : ndarray of shape (n_samples,), dtype=object
        Labels, the strings ``"happy"`` and ``"sad"``. When ``directory`` is
        given they are aligned with ``paths``; otherwise their order is
        shuffled.

    Raises
    ------
    TypeError
        If a parameter has the wrong type.
    ValueError
        If a parameter is out of range.
    DatasetError
        If a class folder under ``directory`` already contains files.

    See Also
    --------
    load_image_folder : List the images of a one-folder-per-class data set.

    Examples
    --------
    >>> from skmood.datasets import make_faces
    >>> X, y = make_faces(4, image_size=(16, 16), random_state=0)
    >>> X.shape, X.dtype
    ((4, 16, 16, 3), dtype('uint8'))
    >>> sorted(y)
    ['happy', 'happy', 'sad', 'sad']
    >>> make_faces(2, image_size=(8, 12), color_mode="grayscale")[0].shape
    (2, 8, 12, 1)

    Write the faces as files instead:

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths, labels = make_faces(4, image_size=(16, 16), random_state=0,
    ...                                directory=tmp)
    ...     sorted(os.listdir(tmp))
    ['happy', 'sad']
    >>> [os.path.basename(p) for p in paths]
    ['face_00002.png', 'face_00003.png', 'face_00000.png', 'face_00001.png']
    >>> labels.tolist()
    ['happy', 'happy', 'sad', 'sad']
    """
    n_samples, (height, width), suffix = _check_params(
        n_samples, image_size, color_mode, happy_fraction, noise, occlusion, image_format
    )
    X, labels = _generate(n_samples, (height, width), color_mode, happy_fraction, noise,
                          occlusion, random_state)
    if directory is None:
        return X, labels
    return _write_faces(X, labels, os.fspath(directory), suffix)


def make_faces_with_mouths(n_samples: int = 100, *, image_size: tuple[int, int] = (64, 64),
                           random_state=None, **params) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """:func:`make_faces` in memory, and where each mouth is (private: tests, explanations).

    Returns ``(X, y, mouths)``, ``mouths`` of shape ``(n_samples, 4)``: the
    box ``(x0, y0, x1, y1)`` around each mouth (its stroke included) in pixel
    coordinates, ``x`` to the right, edges as fractions of pixels: the mouth
    carries the class, so it is where an explanation should point.
    """
    params = {"color_mode": "rgb", "happy_fraction": 0.5, "noise": 0.05, "occlusion": 0.1,
              **params}
    n_samples, size, _ = _check_params(n_samples, image_size, params["color_mode"],
                                       params["happy_fraction"], params["noise"],
                                       params["occlusion"], "png")
    mouths: list = []
    X, y = _generate(n_samples, size, params["color_mode"], params["happy_fraction"],
                     params["noise"], params["occlusion"], random_state, mouths)
    return X, y, np.asarray(mouths, dtype=float)


def _generate(n_samples, size, color_mode, happy_fraction, noise, occlusion, random_state,
              mouths=None):
    """The faces of :func:`make_faces` (checked parameters); mouth boxes into ``mouths``."""
    height, width = size
    # Imported here: listing files (datasets.find_images) must work without scikit-learn.
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    n_happy = int(round(n_samples * happy_fraction))
    if 0 < happy_fraction < 1 and n_samples >= 2:
        n_happy = min(max(n_happy, 1), n_samples - 1)
    labels = np.array(_CLASSES, dtype=object)[
        rng.permutation(np.repeat([0, 1], [n_happy, n_samples - n_happy]))
    ]
    seeds = rng.randint(0, 2**31 - 1, size=n_samples)
    channels = 3 if color_mode == "rgb" else 1
    X = np.empty((n_samples, height, width, channels), dtype=np.uint8)
    ss = min(4, max(2, math.ceil(128 / min(height, width))))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = (yy / max(height - 1, 1), xx / max(width - 1, 1))
    for i, (label, seed) in enumerate(zip(labels, seeds)):
        face_rng = np.random.default_rng(seed)
        img = _draw_face(face_rng, label == "happy", grid, ss, occlusion, mouths)
        arr = np.asarray(img if channels == 3 else img.convert("L"), dtype=np.float32)
        if noise > 0:
            arr += face_rng.standard_normal(arr.shape, dtype=np.float32) * (noise * 255)
        X[i] = np.clip(np.rint(arr), 0, 255).reshape(height, width, channels)
    return X, labels


def _check_params(
    n_samples: object,
    image_size: object,
    color_mode: object,
    happy_fraction: object,
    noise: object,
    occlusion: object,
    image_format: object,
) -> tuple[int, tuple[int, int], str]:
    """Validate the parameters of :func:`make_faces`; return normalised ones."""
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool):
        raise TypeError(f"make_faces: n_samples must be an int, got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"make_faces: n_samples must be an int >= 1, got {n_samples!r}.")
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in image_size)
    ):
        raise TypeError(
            "make_faces: image_size must be a pair of ints (height, width), "
            f"got {image_size!r}."
        )
    if min(image_size) < 8:
        raise ValueError(
            "make_faces: image_size must be a pair of ints >= 8 (height, width), "
            f"got {tuple(image_size)!r}."
        )
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f"make_faces: color_mode must be one of {_COLOR_MODES!r}, got {color_mode!r}."
        )
    for name, value, upper in [
        ("happy_fraction", happy_fraction, 1.0),
        ("noise", noise, math.inf),
        ("occlusion", occlusion, 1.0),
    ]:
        expected = "a float >= 0" if upper == math.inf else f"a float in [0, {upper:g}]"
        if not isinstance(value, Real) or isinstance(value, bool):
            raise TypeError(f"make_faces: {name} must be {expected}, got {value!r}.")
        if not (math.isfinite(value) and 0 <= value <= upper):
            raise ValueError(f"make_faces: {name} must be {expected}, got {value!r}.")
    if image_format not in _FORMATS:
        raise ValueError(
            f"make_faces: image_format must be one of {tuple(_FORMATS)!r}, "
            f"got {image_format!r}."
        )
    return int(n_samples), (int(image_size[0]), int(image_size[1])), image_format


def _write_faces(
    X: np.ndarray, labels: np.ndarray, root: str, suffix: str
) -> tuple[np.ndarray, np.ndarray]:
    """Save each face under ``root/<label>/``; return (paths, labels) sorted."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise DatasetError(
            f"make_faces: directory {root!r} is a file; expected a new or empty folder."
        )
    folders = [os.path.join(root, cls) for cls in sorted(set(labels))]
    for folder in folders:  # check them all before writing anything
        if os.path.exists(folder) and (
            not os.path.isdir(folder) or any(not f.startswith(".") for f in os.listdir(folder))
        ):
            raise DatasetError(
                f"make_faces: class folder {folder!r} already contains files; "
                "expected a new or empty directory so that it holds only the "
                "generated faces."
            )
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    options = {"quality": 95} if _FORMATS[suffix] == "JPEG" else {}
    entries = []
    for i, (img, label) in enumerate(zip(X, labels)):
        path = os.path.join(root, label, f"face_{i:05d}.{suffix}")
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(
            path, format=_FORMATS[suffix], **options
        )
        entries.append((label, path))
    entries.sort()
    return _object_array([p for _, p in entries]), _object_array([c for c, _ in entries])


def _color(rng: np.random.Generator, base: Sequence[float] | np.ndarray, jitter: float) -> _Color:
    """Return an RGB colour near ``base``."""
    rgb = np.clip(np.asarray(base, dtype=float) + rng.uniform(-jitter, jitter, 3), 0, 255)
    return tuple(int(v) for v in rgb)


def _background(rng: np.random.Generator, grid: tuple[np.ndarray, np.ndarray]) -> Image.Image:
    """Return a flat or linear-gradient RGB background on ``grid`` = (yy, xx)."""
    yy, xx = grid
    c1 = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = c1 if rng.random() < 0.35 else rng.uniform(0, 255, 3).astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    t = xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))
    t -= t.min()
    t /= max(float(t.max()), 1e-6)
    return Image.fromarray((c1 + t[..., None] * (c2 - c1)).astype(np.uint8), "RGB")


class _Pen:
    """Draw shapes rotated by ``angle`` degrees about ``center``.

    Rotating the geometry instead of the raster keeps edges sharp before the
    final downsampling and is several times faster than ``Image.rotate``.
    """

    _T = np.linspace(0, 2 * np.pi, 48, endpoint=False)

    def __init__(self, image: Image.Image, center: tuple[float, float], angle: float):
        self.draw = ImageDraw.Draw(image)
        self.center = np.asarray(center)
        a = math.radians(angle)
        self.rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])

    def _xy(self, pts: _Points) -> list[float]:
        """Rotate points; return them flat, ``[x0, y0, x1, y1, ...]``."""
        pts = (np.asarray(pts, dtype=float) - self.center) @ self.rot.T + self.center
        return pts.ravel().tolist()

    def ellipse(
        self,
        x: float,
        y: float,
        rx: float,
        ry: float,
        fill: _Color,
        outline: _Color | None = None,
        width: int = 1,
    ) -> None:
        """An axis-aligned ellipse (before rotation) as a 48-gon."""
        pts = np.column_stack([x + rx * np.cos(self._T), y + ry * np.sin(self._T)])
        self.draw.polygon(self._xy(pts), fill=fill, outline=outline, width=width)

    def polygon(self, pts: _Points, fill: _Color) -> None:
        self.draw.polygon(self._xy(pts), fill=fill)

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, fill: _Color) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)

    def line(self, pts: _Points, fill: _Color, width: int) -> None:
        """A thick polyline with round ends."""
        self.draw.line(self._xy(pts), fill=fill, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            self.ellipse(x, y, width / 2, width / 2, fill, None)


def _draw_face(
    rng: np.random.Generator,
    happy: bool,
    grid: tuple[np.ndarray, np.ndarray],
    ss: int,
    occlusion: float,
    mouths: list | None = None,
) -> Image.Image:
    """Draw one RGB face at ``ss`` times the size of ``grid``, then downsample.

    ``mouths``, if given, gets the mouth's box ``(x0, y0, x1, y1)`` in output pixels.
    """
    u = rng.uniform
    height, width = grid[0].shape
    W, H = width * ss, height * ss
    m = min(H, W)
    # A smooth background upsampled with NEAREST is unchanged by the final
    # LANCZOS downsampling, and far cheaper than computing it at full size.
    image = _background(rng, grid).resize((W, H), Image.Resampling.NEAREST)

    # Head: an ellipse of random size, aspect, position, tilt and skin tone.
    r = m * u(0.29, 0.40)
    rx, ry = r * u(0.82, 1.0), r * u(0.95, 1.12)
    cx, cy = W / 2 + m * u(-0.09, 0.09), H / 2 + m * u(-0.09, 0.09)
    pen = _Pen(image, (cx, cy), u(-18, 18))
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    outline = _color(rng, skin * u(0.3, 0.6), 10) if rng.random() < 0.6 else None
    pen.ellipse(cx, cy, rx, ry, _color(rng, skin, 18), outline, max(1, round(m * u(0.012, 0.03))))

    # Eyes: solid dots or white eyes with pupils, optional eyebrows.
    eye_y, eye_dx = cy - ry * u(0.12, 0.32), rx * u(0.30, 0.45)
    er = r * u(0.07, 0.13)
    eh = er * u(0.8, 1.4)
    dark = _color(rng, (35, 25, 20), 30)
    white_eyes = rng.random() < 0.5
    gx, gy = u(-0.35, 0.35) * er, u(-0.3, 0.3) * er
    brows = rng.random() < 0.5 or (not happy and rng.random() < 0.3)
    slant = math.radians(u(12, 30) if not happy else u(-3, 8))  # > 0: inner end up
    brow_w = max(1, round(m * u(0.02, 0.035)))
    for side in (-1, 1):
        ex = cx + side * eye_dx
        if white_eyes:
            pen.ellipse(ex, eye_y, er * 1.3, eh * 1.3, (250, 250, 250), dark, max(1, ss))
            pen.ellipse(ex + gx, eye_y + gy, er * 0.6, eh * 0.6, dark)
        else:
            pen.ellipse(ex, eye_y, er, eh, dark)
        if brows:  # the inner end is the one nearer the face centre
            by, half = eye_y - eh * u(1.8, 2.4), er * 1.4
            dy = half * math.tan(slant)
            pen.line([(ex + side * half, by + dy), (ex - side * half, by - dy)], dark, brow_w)
    if not happy and rng.random() < 0.25:  # a tear under one eye
        tx = cx + rng.choice([-1, 1]) * eye_dx
        ty, tr = eye_y + eh * u(1.8, 2.6), er * u(0.5, 0.8)
        pen.polygon([(tx, ty - 2.2 * tr), (tx - tr, ty), (tx + tr, ty)], (80, 160, 240))
        pen.ellipse(tx, ty, tr, tr, (80, 160, 240))
    if rng.random() < 0.5:  # nose
        nr = r * u(0.04, 0.08)
        pen.ellipse(cx, cy + ry * u(0.0, 0.15), nr, nr, _color(rng, skin * 0.7, 10))
    if rng.random() < 0.3:  # pink cheeks
        cr = r * u(0.1, 0.16)
        blush = _color(rng, 0.6 * skin + 0.4 * np.array([240, 90, 110]), 5)
        for side in (-1, 1):
            pen.ellipse(cx + side * rx * 0.55, cy + ry * 0.15, cr, cr * 0.7, blush)

    # Mouth: a parabola whose ends go up (happy) or down (sad), never flat.
    mx, my = cx + rx * u(-0.06, 0.06), cy + ry * u(0.35, 0.55)
    mw = rx * u(0.35, 0.6)
    depth = mw * u(0.35, 0.8) * (1 if happy else -1)  # > 0: middle lower than ends
    tilt = u(-0.12, 0.12)
    lw = max(1, round(m * u(0.03, 0.055)))
    mouth_c = _color(rng, (110, 20, 30) if rng.random() < 0.5 else (30, 20, 20), 25)
    xs = np.linspace(-1, 1, 24)

    def curve(d: float) -> np.ndarray:  # every curve shares the same two ends
        return np.column_stack([mx + xs * mw, my + d * (1 - xs**2) - depth / 2 + tilt * xs * mw])

    if rng.random() < 0.3:  # open mouth, filled between a deep and a shallow curve
        shape = np.vstack([curve(depth), curve(depth * u(0.0, 0.3))[::-1]])
        pen.polygon(shape, mouth_c)
        half = 0.5
    else:
        shape = curve(depth)
        pen.line(shape, mouth_c, lw)
        half = lw / 2 + 0.5
    if mouths is not None:  # rotated as drawn, grown by the stroke, in output pixels
        xy = np.asarray(pen._xy(shape)).reshape(-1, 2)
        low, high = (xy.min(axis=0) - half) / ss, (xy.max(axis=0) + half) / ss
        mouths.append((*low, *high))

    if rng.random() < occlusion:
        mouth_top = my - abs(depth) / 2 - abs(tilt) * mw - lw
        _occlude(rng, pen, cx, cy, rx, ry, mx, mouth_top, eye_y, eh)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _occlude(
    rng: np.random.Generator,
    pen: _Pen,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    mx: float,
    mouth_top: float,
    eye_y: float,
    eh: float,
) -> None:
    """Cover part of the face with a rectangle, but at most half of the mouth."""
    u = rng.uniform
    fill = tuple(int(v) for v in rng.integers(0, 256, 3))
    kind = rng.integers(3)
    if kind == 0:  # a bar across the eyes, stopping above the mouth
        y0, y1 = eye_y - eh * u(1.2, 2.5), min(eye_y + eh * u(1.2, 2.5), mouth_top)
        x0, x1 = cx - rx * u(0.9, 1.3), cx + rx * u(0.9, 1.3)
    elif kind == 1:  # a block from one side, reaching at most the mouth centre
        reach = u(0.1, 0.9)
        y0, y1 = cy - ry * u(0.2, 1.3), cy + ry * u(0.2, 1.3)
        if rng.random() < 0.5:
            x0, x1 = cx - rx * 1.4, cx - rx + reach * (mx - (cx - rx))
        else:
            x0, x1 = cx + rx - reach * (cx + rx - mx), cx + rx * 1.4
    else:  # a rectangle somewhere above the mouth
        w, h = rx * u(0.3, 0.9), ry * u(0.2, 0.6)
        x0 = cx + u(-1.0, 1.0) * rx - w / 2
        y1 = min(cy + u(-1.0, 0.3) * ry + h / 2, mouth_top)
        x1, y0 = x0 + w, y1 - h
    if y1 > y0 and x1 > x0:
        pen.rectangle(x0, y0, x1, y1, fill)
