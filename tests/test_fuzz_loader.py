"""Property-based tests: whatever bytes a file holds, the loader returns a correct
array or raises the documented ImageReadError, never anything else."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from skmood import ImageReadError
from skmood._image import read_image

_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
_DIR = Path(tempfile.mkdtemp(prefix="skmood-fuzz-"))


def _check(data: bytes, suffix: str, color_mode: str):
    path = _DIR / f"case{suffix}"
    path.write_bytes(data)
    try:
        img = read_image(path, color_mode=color_mode)
    except ImageReadError as exc:
        assert str(path) in str(exc)
        return None
    assert img.dtype == np.uint8 and img.ndim == 3
    assert img.shape[2] == (3 if color_mode == "rgb" else 1)
    assert img.shape[0] >= 1 and img.shape[1] >= 1
    return img


@_SETTINGS
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".jpg", ".png", ".gif", ""]),
       color_mode=st.sampled_from(["rgb", "grayscale"]))
def test_random_bytes(data, suffix, color_mode):
    _check(data, suffix, color_mode)


_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "F", "I;16"]
_FORMATS = {"PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
            "JPEG": ("L", "RGB", "CMYK"), "BMP": ("1", "L", "P", "RGB"),
            "TIFF": tuple(_MODES), "GIF": ("L", "P"), "WEBP": ("RGB", "RGBA")}


@_SETTINGS
@given(
    fmt=st.sampled_from(sorted(_FORMATS)),
    mode_index=st.integers(0, 20),
    width=st.integers(1, 24),
    height=st.integers(1, 24),
    seed=st.integers(0, 2**16),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    color_mode=st.sampled_from(["rgb", "grayscale"]),
)
def test_random_small_images_whole_or_truncated(fmt, mode_index, width, height, seed, cut,
                                                color_mode):
    modes = _FORMATS[fmt]
    mode = modes[mode_index % len(modes)]
    rng = np.random.default_rng(seed)
    img = Image.frombytes("RGB", (width, height),
                          rng.integers(0, 256, width * height * 3, dtype=np.uint8).tobytes())
    img = img.convert(mode) if mode not in ("I;16",) else img.convert("L").convert("I;16")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    if cut is not None:
        data = data[: int(len(data) * cut)]
    out = _check(data, "." + fmt.lower(), color_mode)
    if cut is None:  # a whole file always loads, at its own size
        assert out is not None
        assert out.shape[:2] == (height, width)
