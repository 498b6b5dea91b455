"""Tests of :func:`skmood.decode_image`, the decoder of the server's uploads.

It must decode exactly as :class:`skmood.ImageLoader` does from a file, and
on hostile bytes raise only :class:`skmood.ImageReadError` (a ``ValueError``),
which the server turns into a 422 answer.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from skmood import ImageLoader, ImageReadError, decode_image

FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def sample(mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (12, 17, 4), dtype=np.uint8), "RGBA")
    return rgba if mode == "RGBA" else rgba.convert(mode)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_decodes_like_image_loader_reads_the_file(tmp_path, fmt, color_mode):
    data = encode(sample(), fmt)
    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(data)
    expected = ImageLoader(color_mode=color_mode).transform([path])[0]
    np.testing.assert_array_equal(decode_image(data, color_mode=color_mode), expected)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "CMYK", "1"])
def test_modes_are_converted_like_files(tmp_path, mode):
    image = sample("RGBA" if mode == "RGBA" else "RGB")
    if mode != "RGBA":
        image = image.convert(mode) if mode != "I;16" else Image.fromarray(
            np.asarray(image.convert("L"), np.uint16) * 257)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    data = encode(image, fmt)
    (tmp_path / "x").write_bytes(data)
    np.testing.assert_array_equal(decode_image(data),
                                  ImageLoader().transform([tmp_path / "x"])[0])


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 8  # rotated 90 degrees
    data = encode(sample(), "JPEG", exif=exif)
    assert decode_image(data).shape == (17, 12, 3)


@pytest.mark.parametrize("data, match", [
    (b"", "it is empty"),
    (b"hello world", "not a recognised image format"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a recognised"),  # EPS
])
def test_refusals_name_the_upload(data, match):
    with pytest.raises(ImageReadError, match=match) as info:
        decode_image(data, name="upload.bin")
    assert "'upload.bin'" in str(info.value)


def test_formats_outside_the_list_are_not_parsed():
    for fmt in ["ICO", "PPM", "TGA"]:
        with pytest.raises(ImageReadError, match="not a recognised image format"):
            decode_image(encode(sample(), fmt))


def test_max_pixels_is_checked_before_decoding():
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    assert decode_image(data, max_pixels=60_000).shape == (200, 300, 3)
    with pytest.raises(ImageReadError, match="300x200 pixels, more than the limit of 59999"):
        decode_image(data, max_pixels=59_999)


def test_bad_arguments():
    with pytest.raises(TypeError, match="bytes"):
        decode_image("a.png")
    with pytest.raises(ValueError, match="color_mode"):
        decode_image(b"x", color_mode="cmyk")


VALID = [encode(sample(), fmt) for fmt in FORMATS]


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on damaged EXIF
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(VALID) - 1), cut=st.integers(0, 10_000),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_damaged_images_raise_only_image_read_error(which, cut, flips):
    data = bytearray(VALID[which])
    for position, value in flips:
        data[position % len(data)] = value
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    try:
        image = decode_image(data, max_pixels=1_000_000)
    except ImageReadError:
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
