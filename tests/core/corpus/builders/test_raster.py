from pathlib import Path

import numpy as np
import pytest

from vitp_core.corpus.builders.raster import build_raster_corpus
from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.images import load_image

from ..conftest import read_jsonl

rasterio = pytest.importorskip("rasterio")


def write_raster(
    path: Path, data: np.ndarray, names: tuple[str, ...] | None, crs: str = "EPSG:32633"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    transform = rasterio.transform.from_origin(500000.0, 4650000.0, 10.0, 10.0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=str(data.dtype),
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(data)
        if names:
            dst.descriptions = names
    return path


def test_chips_keep_crs_bands_and_get_spectral_questions(tmp_path: Path, data_root: Path) -> None:
    data = np.full((5, 100, 150), 800, dtype=np.uint16)
    data[3, :, :75] = 4000  # nir high on the left half: vegetation
    raster = write_raster(data_root / "s2.tif", data, ("blue", "green", "red", "nir", "swir1"))
    report = build_raster_corpus(
        [raster], tmp_path / "out", chip_size=64, n_questions=3, data_roots=[data_root]
    )
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert report.records == 6  # 2 rows x 3 columns, the last ones flush with the edge
    windows = sorted(tuple(r["meta"]["window"]) for r in records)
    assert windows[0] == (0, 0, 64, 64) and windows[-1] == (86, 36, 64, 64)
    first = records[0]
    assert (
        first["meta"]["bands"] == ["blue", "green", "red", "nir", "swir1"]
        and first["meta"]["gsd"] == 10.0
    )
    chip = tmp_path / "out" / first["image"]
    with rasterio.open(chip) as src:
        assert src.crs.to_string() == "EPSG:32633" and src.count == 5
        assert src.transform.c == 500000.0
    assert load_image(chip, bands=["nir"]).shape == (1, 64, 64)
    answers = {a for r in records for a in (t["value"] for t in r["conversations"][1::2])}
    assert "About 100% of the image." in answers or "None of it." in answers


def test_label_raster_gives_mask_questions(tmp_path: Path, data_root: Path) -> None:
    raster = write_raster(data_root / "rgb.tif", np.zeros((3, 32, 32), dtype=np.uint8), None)
    labels = np.zeros((1, 32, 32), dtype=np.uint8)
    labels[0, :16] = 1
    label_raster = write_raster(data_root / "lc.tif", labels, None)
    report = build_raster_corpus(
        [raster],
        tmp_path / "out",
        chip_size=32,
        label_rasters=[label_raster],
        class_map=ClassMap.from_names(["background", "cropland"]),
        n_questions=5,
    )
    record = read_jsonl(tmp_path / "out" / "corpus.jsonl")[0]
    assert report.records == 1 and record["meta"]["bands"] == ["band1", "band2", "band3"]
    assert any("cropland" in t["value"] for t in record["conversations"][1::2])


def test_chips_with_non_finite_pixels_are_skipped_by_window(
    tmp_path: Path, data_root: Path
) -> None:
    data = np.full((2, 64, 128), 0.25, dtype=np.float32)
    data[1, 5:9, 70:74] = np.nan  # 16 NaN pixels in the right-hand chip
    raster = write_raster(data_root / "f.tif", data, ("red", "nir"))
    report = build_raster_corpus([raster], tmp_path / "out", chip_size=64, data_roots=[data_root])
    assert report.records == 1
    assert "f.tif: the chip at row 0, column 64 has 16 non-finite" in report.skipped[0]
    for record in read_jsonl(tmp_path / "out" / "corpus.jsonl"):
        assert np.isfinite(load_image(tmp_path / "out" / record["image"])).all()
