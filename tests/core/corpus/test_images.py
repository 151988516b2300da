from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.images import (
    ImageReadError,
    band_names_of,
    check_image,
    image_size,
    load_image,
    save_png,
    to_display_uint8,
)


def test_png_rgb_and_grey_scaled_to_unit_range(tmp_path: Path) -> None:
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    save_png(rgb, tmp_path / "rgb.png")
    save_png(np.full((4, 6), 51, dtype=np.uint8), tmp_path / "grey.png")
    image = load_image(tmp_path / "rgb.png")
    assert image.shape == (3, 4, 6) and image.dtype == np.float32
    assert image[0].max() == 1.0 and image[1].max() == 0.0
    grey = load_image(tmp_path / "grey.png")
    assert grey.shape == (1, 4, 6)
    assert np.allclose(grey, 0.2)
    assert image_size(tmp_path / "rgb.png") == (6, 4)


def test_band_selection_by_name_and_one_based_index(tmp_path: Path) -> None:
    rgb = np.stack([np.full((2, 2), v, dtype=np.uint8) for v in (10, 20, 30)], axis=-1)
    save_png(rgb, tmp_path / "x.png")
    picked = load_image(tmp_path / "x.png", bands=["blue", 1])
    assert np.allclose(picked[:, 0, 0] * 255, [30, 10])
    with pytest.raises(ImageReadError, match="no band named 'nir'"):
        load_image(tmp_path / "x.png", bands=["nir"])
    with pytest.raises(ImageReadError, match="1-based"):
        load_image(tmp_path / "x.png", bands=[0])


def test_geotiff_bands_by_description(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    data = np.stack([np.full((5, 7), v, dtype=np.uint16) for v in (100, 200, 300, 4000)])
    path = tmp_path / "ms.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=7,
        height=5,
        count=4,
        dtype="uint16",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(0, 0, 10, 10),
    ) as dst:
        dst.write(data)
        dst.descriptions = ("red", "green", "blue", "nir")
    assert band_names_of(path) == ["red", "green", "blue", "nir"]
    nir_red = load_image(path, bands=["nir", "red"])
    assert nir_red.shape == (2, 5, 7)
    assert nir_red[0, 0, 0] == 4000 and nir_red[1, 0, 0] == 100  # non-8-bit kept as stored
    assert image_size(path) == (7, 5)


def test_npy_images(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.full((3, 4), 255, dtype=np.uint8))
    assert load_image(tmp_path / "a.npy").shape == (1, 3, 4)
    assert load_image(tmp_path / "a.npy").max() == 1.0
    np.save(tmp_path / "b.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ImageReadError, match="shape"):
        load_image(tmp_path / "b.npy")


def test_missing_and_corrupt_files_raise_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"missing\.png: file not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ImageReadError, match=r"junk\.jpg"):
        load_image(tmp_path / "junk.jpg")
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg"):
        check_image(tmp_path / "cut.jpg")


def test_display_stretch_shapes() -> None:
    image = np.random.default_rng(0).normal(size=(4, 8, 8))
    assert to_display_uint8(image).shape == (8, 8, 3)
    assert to_display_uint8(image[:1]).shape == (8, 8)
