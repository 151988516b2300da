"""Raster reading: bands by number or name, validity, co-registration, band statistics."""

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from vitp_torchgeo_helpers import write_raster

from vitp_torchgeo.bands import common_band_names, normalize_band_name
from vitp_torchgeo.datasets.rasters import (
    MisregisteredPairError,
    RasterInputError,
    check_coregistered,
    compute_band_statistics,
    open_raster,
    read_window,
    resolve_band_indexes,
)

LANDSAT = ["blue", "green", "red", "nir", "swir16", "swir22"]


@pytest.fixture
def six_band(tmp_path: Path) -> Path:
    data = np.arange(6 * 20 * 30, dtype=np.uint16).reshape(6, 20, 30) + 1
    data[:, :3, :] = 0  # nodata rows
    return write_raster(tmp_path / "six.tif", data, nodata=0, descriptions=LANDSAT)


def test_bands_by_number_and_by_name(six_band: Path) -> None:
    with open_raster(six_band) as src:
        assert resolve_band_indexes(six_band, src, [3, 2, 1]) == [3, 2, 1]
        assert resolve_band_indexes(six_band, src, ["red", "Green", "B"]) == [3, 2, 1]
        assert resolve_band_indexes(six_band, src, ["landsat8:B5", "sentinel2:B11"]) == [4, 5]
        assert resolve_band_indexes(six_band, src, ["swir1", "SWIR2"]) == [5, 6]
        names = [f"band{i}" for i in range(1, 7)]
        assert resolve_band_indexes(six_band, src, ["band4"], band_names=names) == [4]
        with pytest.raises(RasterInputError, match=r"six\.tif: no band named 'coastal'"):
            resolve_band_indexes(six_band, src, ["coastal"])
        with pytest.raises(RasterInputError, match=r"band 7 does not exist.*1-based"):
            resolve_band_indexes(six_band, src, [7])


def test_sensor_band_tables() -> None:
    assert normalize_band_name("sentinel2:B04") == normalize_band_name("landsat8:B4") == "RED"
    assert normalize_band_name("landsat5:B4") == normalize_band_name("s2:B8") == "NIR"
    assert normalize_band_name("B04") == "B4"  # a bare ID is not mapped across sensors
    assert common_band_names("landsat8", ["B2", "B3", "B4", "B5", "B6", "B7"]) == LANDSAT
    with pytest.raises(ValueError, match="Unknown sensor"):
        normalize_band_name("modis:B1")


def test_read_window_marks_nodata_and_outside_invalid(six_band: Path) -> None:
    with open_raster(six_band) as src:
        data, valid = read_window(src, [1, 2], Window(-2, 0, 8, 8))
    assert data.shape == (2, 8, 8) and data.dtype == np.float32
    assert not valid[:, :2].any()  # left of the raster
    assert not valid[:3].any()  # nodata rows
    assert valid[3:, 2:].all()
    assert (data[:, ~valid] == 0).all()


def test_misregistered_rasters_give_one_clear_line(tmp_path: Path, six_band: Path) -> None:
    other = write_raster(tmp_path / "other.tif", np.ones((6, 20, 31), dtype=np.uint16))
    shifted = write_raster(
        tmp_path / "shifted.tif",
        np.ones((6, 20, 30), dtype=np.uint16),
        transform=(10.0, 0.0, 500_100.0, 0.0, -10.0, 4_600_000.0),
    )
    with open_raster(six_band) as a, open_raster(other) as b, open_raster(shifted) as c:
        with pytest.raises(MisregisteredPairError) as err:
            check_coregistered(six_band, a, other, b)
        message = str(err.value)
        assert "six.tif" in message and "other.tif" in message
        assert "size 30x20 vs 31x20 px" in message and "gdalwarp" in message
        assert "\n" not in message
        with pytest.raises(MisregisteredPairError, match="transform"):
            check_coregistered(six_band, a, shifted, c)


def test_band_statistics_skip_nodata(six_band: Path) -> None:
    stats = compute_band_statistics([six_band, six_band], ["red", "nir"])
    with rasterio.open(six_band) as src:
        values = src.read([3, 4]).astype(np.float64)[:, 3:, :].reshape(2, -1)
    np.testing.assert_allclose(stats.mean, values.mean(axis=1))
    np.testing.assert_allclose(stats.std, values.std(axis=1))
    assert stats.pixels == 2 * values.shape[1]


def test_unreadable_raster_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    with pytest.raises(RasterInputError, match=r"bad\.tif is not a readable raster"):
        open_raster(bad)
    with pytest.raises(RasterInputError, match="does not exist"):
        open_raster(tmp_path / "missing.tif")


def test_envi_header_found_under_torchgeo_cli_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TorchGeo's CLI sets GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR for the whole process."""
    data = np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10)
    # Writing ENVI needs directory reading too; after an in-process `torchgeo predict` in the
    # same pytest session GDAL can keep EMPTY_DIR as an option (not understood yet).
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="FALSE"):
        envi = write_raster(tmp_path / "scene.img", data, descriptions=LANDSAT, driver="ENVI")
    assert (tmp_path / "scene.hdr").is_file()
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    with open_raster(envi) as src:  # without the .hdr GDAL would not know the format
        assert src.driver == "ENVI" and src.descriptions == tuple(LANDSAT)
        assert resolve_band_indexes(envi, src, ["nir"]) == [4]
    assert os.environ["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"  # lifted for the open only
