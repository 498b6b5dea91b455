"""ImageLoader, ImageResizer and PixelNormalizer: stateless preprocessing steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags

from skmood import ImageLoader, ImageReadError, ImageResizer, PixelNormalizer


@pytest.fixture
def mixed_sizes(tmp_path):
    """Three RGB images of different sizes with known colours."""
    paths = []
    for i, (size, colour) in enumerate([((20, 10), (255, 0, 0)), ((8, 8), (0, 255, 0)),
                                        ((5, 30), (0, 0, 255))]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", size, colour).save(path)
        paths.append(str(path))
    return np.array(paths, dtype=object)


# ------------------------------------------------------------------ ImageLoader


def test_loader_decodes_each_file_at_its_own_size(mixed_sizes):
    images = ImageLoader().transform(mixed_sizes)
    assert images.dtype == object and images.shape == (3,)
    assert [img.shape for img in images] == [(10, 20, 3), (8, 8, 3), (30, 5, 3)]
    assert tuple(images[0][0, 0]) == (255, 0, 0)


def test_loader_accepts_a_column_of_paths(mixed_sizes):
    flat = ImageLoader().transform(mixed_sizes)
    column = ImageLoader().transform(mixed_sizes.reshape(-1, 1))
    for a, b in zip(flat, column):
        np.testing.assert_array_equal(a, b)


def test_loader_grayscale_uses_luma(mixed_sizes):
    images = ImageLoader(color_mode="grayscale").transform(mixed_sizes)
    assert images[0].shape == (10, 20, 1)
    assert int(images[0][0, 0, 0]) == 76  # 0.299 * 255 (Pillow's rounding)


def test_loader_applies_exif_orientation(tmp_path):
    img = Image.new("RGB", (30, 10), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 5, 10))  # red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    (loaded,) = ImageLoader().transform([str(path)])
    assert loaded.shape == (30, 10, 3)  # displayed upright: portrait
    assert loaded[0, :, 0].mean() > 200 and loaded[0, :, 1].mean() < 60  # red on top


def test_loader_composites_transparency_onto_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path)
    (loaded,) = ImageLoader().transform([str(path)])
    assert (loaded == 255).all()


def test_loader_names_the_unreadable_file(tmp_path):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageReadError, match=r"not_an_image\.jpg.*not a recognised image"):
        ImageLoader().transform([str(bad)])
    with pytest.raises(ImageReadError, match="file not found"):
        ImageLoader().transform([str(tmp_path / "missing.png")])


def test_loader_is_stateless_and_takes_strings():
    tags = get_tags(ImageLoader())
    assert not tags.requires_fit
    assert tags.input_tags.string


def test_loader_rejects_a_single_path_string(mixed_sizes):
    with pytest.raises(TypeError, match="wrap it in a list"):
        ImageLoader().transform(mixed_sizes[0])


def test_loader_rejects_bad_color_mode(mixed_sizes):
    with pytest.raises(ValueError, match="color_mode"):
        ImageLoader(color_mode="cmyk").fit(mixed_sizes)


# ------------------------------------------------------------------ ImageResizer


def test_resizer_gives_one_uint8_array(mixed_sizes):
    images = ImageLoader().transform(mixed_sizes)
    out = ImageResizer(image_size=(12, 16)).transform(images)
    assert out.shape == (3, 12, 16, 3) and out.dtype == np.uint8
    assert tuple(out[1, 6, 8]) == (0, 255, 0)  # flat colours survive resizing


def test_resizer_default_is_the_recipe_size():
    assert ImageResizer().image_size == (128, 128)
    out = ImageResizer().transform([np.zeros((10, 10, 3), np.uint8)])
    assert out.shape == (1, 128, 128, 3)


def test_resizer_passes_right_sized_arrays_through():
    X = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ImageResizer(image_size=(8, 8)).transform(X), X)


def test_resizer_is_invariant_to_sample_order_and_subsets(mixed_sizes):
    images = ImageLoader().transform(mixed_sizes)
    resizer = ImageResizer(image_size=(9, 7))
    full = resizer.transform(images)
    np.testing.assert_array_equal(resizer.transform(images[::-1]), full[::-1])
    np.testing.assert_array_equal(resizer.transform(images[1:2]), full[1:2])


@pytest.mark.parametrize(
    "X, error, match",
    [
        (["a.png"], TypeError, "put an ImageLoader step before ImageResizer"),
        ([np.zeros((4, 4, 3), np.float32)], TypeError, "resize before PixelNormalizer"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 1), np.uint8)], ValueError,
         "mixed channel counts"),
    ],
    ids=["paths", "floats", "mixed-channels"],
)
def test_resizer_input_errors(X, error, match):
    with pytest.raises(error, match=match):
        ImageResizer(image_size=(4, 4)).transform(X)


def test_resizer_rejects_bad_image_size():
    with pytest.raises(ValueError, match=r"image_size must be a pair of positive ints.*\(0, 48\)"):
        ImageResizer(image_size=(0, 48)).transform([np.zeros((4, 4, 3), np.uint8)])


# ---------------------------------------------------------------- PixelNormalizer


def test_normalizer_scales_to_unit_interval():
    X = np.array([0, 51, 255], np.uint8).reshape(1, 1, 3, 1)
    out = PixelNormalizer().transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 0.2, 1.0])


def test_normalizer_refuses_to_normalise_twice():
    X = PixelNormalizer().transform(np.full((1, 2, 2, 3), 255, np.uint8))
    with pytest.raises(TypeError, match="normalised already"):
        PixelNormalizer().transform(X)


def test_normalizer_checks_the_scale():
    X = np.full((1, 2, 2, 1), 4095, np.uint16)  # 12-bit data
    with pytest.raises(ValueError, match=r"must lie in \[0, 255\].*4095"):
        PixelNormalizer().transform(X)
    assert PixelNormalizer(max_value=4095).transform(X).max() == 1.0


# ------------------------------------------------------------------ together


def test_three_steps_make_network_ready_pixels(mixed_sizes):
    pipe = make_pipeline(ImageLoader(), ImageResizer(image_size=(8, 8)), PixelNormalizer())
    out = pipe.fit_transform(mixed_sizes)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.float32
    # Flat red, green and blue images: every pixel of each is its colour over 255.
    np.testing.assert_array_equal(out, np.broadcast_to(np.eye(3, dtype=np.float32)[:, None, None],
                                                       (3, 8, 8, 3)))


@pytest.mark.parametrize("step", [ImageLoader(), ImageResizer(), PixelNormalizer()])
def test_clone_and_params_round_trip(step):
    copy = clone(step)
    assert copy.get_params() == step.get_params()
    assert not get_tags(copy).requires_fit
