"""Messy image files: each loads correctly or raises ImageReadError naming the file.

Every file is generated here with Pillow or raw bytes; none is committed.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from skmood import ImageLoader, ImageReadError
from skmood._image import read_image


def _save(img: Image.Image, path, **kwargs) -> str:
    img.save(path, **kwargs)
    return str(path)


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------ unreadable files


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.jpg", b"", "not a recognised image format"),
        ("text.jpg", b"this is not a picture\n" * 10, "not a recognised image format"),
        ("noise.png", bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)),
         "not a recognised image format"),
    ],
    ids=["zero-bytes", "text", "random-bytes"],
)
def test_non_images_are_refused_by_name(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=rf"{name}.*{reason}"):
        read_image(path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(tmp_path, fmt):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match=r"cut\..*(truncated|corrupt)"):
        read_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match=r"missing\.png.*file not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="it is a directory"):
        read_image(tmp_path)


def test_permission_denied_is_reported(tmp_path, monkeypatch):
    # Tests may run as root, who can read anything: simulate the OS refusal.
    path = _save(Image.new("RGB", (4, 4)), tmp_path / "secret.png")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageReadError, match=r"secret\.png.*permission denied"):
        read_image(path)


def test_decompression_bomb_keeps_pillows_guard(tmp_path):
    # A valid 1x1 PNG whose header claims 100,000 x 100,000 pixels.
    data = bytearray(_png_bytes(Image.new("L", (1, 1))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 100_000, 100_000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"bomb\.png.*decompression bomb"):
        read_image(path)


def test_image_read_error_is_a_value_error():
    assert issubclass(ImageReadError, ValueError)


# ------------------------------------------------------------ odd but valid files


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 2)], ids=["1x1", "tall", "wide"])
def test_tiny_and_elongated_images_load(tmp_path, size):
    path = _save(Image.new("RGB", size, (10, 20, 30)), tmp_path / "odd.png")
    img = read_image(path)
    assert img.shape == (size[1], size[0], 3)
    assert tuple(img[0, 0]) == (10, 20, 30)


@pytest.mark.parametrize(
    "mode, colour, expected_rgb",
    [
        ("L", 128, (128, 128, 128)),
        ("LA", (100, 255), (100, 100, 100)),
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white
    ],
    ids=["L", "LA", "RGBA-opaque", "RGBA-transparent"],
)
def test_colour_modes_become_rgb(tmp_path, mode, colour, expected_rgb):
    path = _save(Image.new(mode, (3, 3), colour), tmp_path / f"{mode}.png")
    assert tuple(read_image(path)[1, 1]) == expected_rgb


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    img.info["transparency"] = 0
    path = _save(img, tmp_path / "palette.png", transparency=0)
    assert tuple(read_image(path)[0, 0]) == (255, 255, 255)  # transparent index -> white


def test_cmyk_jpeg(tmp_path):
    path = _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    r, g, b = read_image(path)[4, 4]
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 1, 1, 0) is red


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    arr = np.full((4, 4), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    path = _save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    img = read_image(path, color_mode="grayscale")
    assert img[0, 0, 0] == 0 and img[1, 1, 0] == 255


def test_float_tiff_is_scaled_to_8_bits(tmp_path):
    arr = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    path = _save(Image.fromarray(arr), tmp_path / "float.tif")
    assert Image.open(path).mode == "F"
    img = read_image(path, color_mode="grayscale")
    assert img[0, 0, 0] == 0 and img[3, 3, 0] == 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_files_give_their_first_frame(tmp_path, fmt):
    frames = [Image.new("RGB", (6, 6), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100,
                   loop=0, **({"lossless": True} if fmt == "WEBP" else {}))
    assert getattr(Image.open(path), "n_frames", 1) == 2
    r, g, b = read_image(path)[3, 3]
    assert r > 200 and b < 60  # red: the first frame


@pytest.mark.parametrize("fmt, ext", [("BMP", "bmp"), ("TIFF", "tiff"), ("WEBP", "webp"),
                                      ("PNG", "PNG"), ("JPEG", "JPG")])
def test_other_formats_and_upper_case_extensions(tmp_path, fmt, ext):
    path = _save(Image.new("RGB", (5, 7), (0, 200, 0)), tmp_path / f"img.{ext}", format=fmt)
    img = read_image(path)
    assert img.shape == (7, 5, 3)
    assert img[3, 2, 1] > 150


def test_exif_rotated_jpeg_is_upright(tmp_path):
    img = Image.new("RGB", (30, 10), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 5, 10))
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 CCW to display: the red left stripe goes to the bottom
    path = _save(img, tmp_path / "exif.jpg", exif=exif, quality=95)
    loaded = read_image(path)
    assert loaded.shape == (30, 10, 3)
    assert loaded[-1, :, 0].mean() > 200 and loaded[-1, :, 1].mean() < 60


def test_non_ascii_names_spaces_and_symlinks(tmp_path):
    path = _save(Image.new("RGB", (4, 4), (1, 2, 3)), tmp_path / "visage heureux é😀.png")
    link = tmp_path / "link.png"
    os.symlink(path, link)
    images = ImageLoader().transform([path, str(link)])
    assert all(tuple(img[0, 0]) == (1, 2, 3) for img in images)
