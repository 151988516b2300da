"""Declared-size limits and non-finite pixels: checked before (size) and after (values) decoding."""

from pathlib import Path

import numpy as np
import pytest
from hostile_files import float_geotiff, geotiff_bomb, npy_header_bomb, png_bomb
from PIL import Image

from vitp_core.corpus.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_IMAGE_PIXELS_ENV,
    ImageReadError,
    ImageTooLargeError,
    NonFiniteImageError,
    check_image,
    check_image_array,
    declared_shape,
    image_pixel_limit,
    image_size,
    load_image,
    max_image_pixels,
)


def test_default_limit_is_between_100_and_200_megapixels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MAX_IMAGE_PIXELS_ENV, raising=False)
    assert 100_000_000 <= DEFAULT_MAX_IMAGE_PIXELS <= 200_000_000
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS


def test_400_megapixel_png_is_named_and_never_decoded(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png")  # 20000 x 20000, a few hundred bytes
    assert bomb.stat().st_size < 48_000
    for read in (load_image, check_image, image_size, declared_shape):
        # PIL refuses it inside Image.open, from the header: its message gives the pixel count
        with pytest.raises(ImageTooLargeError, match=r"bomb\.png: .*400000000 pixels.*not decoded"):
            read(bomb)
    # ImageTooLargeError is an ImageReadError: every caller that skips bad images skips it
    assert issubclass(ImageTooLargeError, ImageReadError)


def test_pil_decompression_bomb_error_becomes_a_named_image_error(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png")
    # our own limit raised above PIL's: PIL's DecompressionBombError still becomes ours
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: .*PIL.Image.MAX_IMAGE_PIXELS"):
        load_image(bomb, max_pixels=10**12)
    # below PIL's own limit, ours decides, from the header
    medium = png_bomb(tmp_path / "medium.png", width=12_000, height=10_000)
    with pytest.raises(ImageTooLargeError, match=r"medium\.png: declares 12000x10000 pixels"):
        check_image(medium, max_pixels=100_000_000)


def test_limit_is_configurable_by_argument_context_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 50, 3), dtype=np.uint8)).save(path)
    assert load_image(path).shape == (3, 40, 50)
    with pytest.raises(ImageTooLargeError, match=r"50x40 .* limit of 0\.001 megapixels"):
        load_image(path, max_pixels=1000)
    with image_pixel_limit(1000), pytest.raises(ImageTooLargeError):
        check_image(path)
    with image_pixel_limit(1000):
        assert load_image(path, max_pixels=5000).shape == (3, 40, 50)  # the argument wins
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "1000")
    assert max_image_pixels() == 1000
    with pytest.raises(ImageTooLargeError, match=MAX_IMAGE_PIXELS_ENV):
        load_image(path)
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=rf"{MAX_IMAGE_PIXELS_ENV}='lots'.*whole number"):
        max_image_pixels()


def test_geotiff_declaring_100000_squared_by_3_is_refused_from_its_header(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    bomb = geotiff_bomb(tmp_path / "bomb.tif")
    assert bomb.stat().st_size < 300_000
    assert declared_shape(bomb, max_pixels=10**12) == (3, 100_000, 100_000)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.tif: .*100000x100000"):
        load_image(bomb)
    with pytest.raises(ImageTooLargeError):
        check_image(bomb)


def test_npy_header_is_checked_before_loading(tmp_path: Path) -> None:
    bomb = npy_header_bomb(tmp_path / "bomb.npy")
    with pytest.raises(ImageTooLargeError, match=r"bomb\.npy: .*100000x100000"):
        load_image(bomb)
    with pytest.raises(ImageTooLargeError):
        image_size(bomb)


def test_nan_and_inf_pixels_make_an_image_unusable(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    values = np.ones((2, 4, 4), dtype=np.float32)
    values[1, :2, :2] = np.nan
    values[1, 3, 3] = np.inf
    path = float_geotiff(tmp_path / "nan.tif", values, ("red", "nir"))
    with pytest.raises(NonFiniteImageError, match=r"nan\.tif: 5 non-finite .*band 2 \(nir\)"):
        load_image(path)
    with pytest.raises(NonFiniteImageError):
        check_image(path)
    assert load_image(path, bands=["red"]).shape == (1, 4, 4)  # the finite band alone is fine
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf]], dtype=np.float64))
    with pytest.raises(NonFiniteImageError, match=r"inf\.npy: 1 non-finite"):
        load_image(tmp_path / "inf.npy")
    # float64 values beyond float32's range become Inf when scaled: refused as well
    np.save(tmp_path / "huge.npy", np.array([[1.0, 1e300]]))
    with pytest.raises(NonFiniteImageError):
        load_image(tmp_path / "huge.npy")


def test_check_image_array_for_arrays_from_elsewhere(tmp_path: Path) -> None:
    good = np.zeros((3, 8, 8), dtype=np.float32)
    assert check_image_array(good, tmp_path / "x.tif") is good
    bad = good.copy()
    bad[0, 1, 1] = np.nan
    with pytest.raises(NonFiniteImageError, match=r"x\.tif: 1 non-finite .*band 1"):
        check_image_array(bad, tmp_path / "x.tif")
    with pytest.raises(ImageTooLargeError, match="8x8"):
        check_image_array(good, tmp_path / "x.tif", max_pixels=10)
