from pathlib import Path

import numpy as np
import pytest

from vitp_core.corpus.builders.vector import build_vector_corpus
from vitp_core.corpus.grounding import parse_boxes

from ..conftest import answers_of, questions_of, read_jsonl
from .test_raster import write_raster

gpd = pytest.importorskip("geopandas")
shapely_geometry = pytest.importorskip("shapely.geometry")


def _frame_in_lonlat(features: list[tuple[str, object]]):
    """Features drawn in the raster's UTM coordinates, stored in EPSG:4326 (reprojected back)."""
    frame = gpd.GeoDataFrame(
        {"kind": [k for k, _ in features]}, geometry=[g for _, g in features], crs="EPSG:32633"
    )
    return frame.to_crs("EPSG:4326")


def test_polygons_and_points_reprojected_clipped_and_boxed(tmp_path: Path, data_root: Path) -> None:
    box, point = shapely_geometry.box, shapely_geometry.Point
    x0, y0 = 500000.0, 4650000.0  # raster upper-left corner, 10 m pixels, 64 x 64
    features = [
        ("building", box(x0 + 100, y0 - 200, x0 + 200, y0 - 100)),  # pixels 10-20, rows 10-20
        ("building", box(x0 + 300, y0 - 250, x0 + 350, y0 - 210)),  # pixels 30-35, rows 21-25
        ("water", box(x0, y0 - 640, x0 + 640, y0 - 400)),  # bottom rows 40-64
        ("tree", point(x0 + 505, y0 - 105)),  # a point, buffered
        ("volcano", box(x0, y0 - 10, x0 + 10, y0)),  # not in the class list
    ]
    vectors = data_root / "labels.geojson"
    _frame_in_lonlat(features).to_file(vectors, driver="GeoJSON")
    raster = write_raster(
        data_root / "scene.tif", np.zeros((3, 64, 64), dtype=np.uint8), ("red", "green", "blue")
    )
    report = build_vector_corpus(
        raster,
        vectors,
        tmp_path / "out",
        class_column="kind",
        classes=["water", "tree", "building"],
        object_classes=["building", "tree"],
        chip_size=64,
        n_questions=7,
        data_roots=[data_root],
    )
    assert report.records == 1
    assert "1 feature(s) of classes ['volcano'] not in the class list" in report.skipped[0]
    record = read_jsonl(tmp_path / "out" / "corpus.jsonl")[0]
    assert record["meta"]["objects"] == {"building": 2, "tree": 1}
    assert record["meta"]["crs"] == "EPSG:32633"
    for question, answer in zip(questions_of(record), answers_of(record), strict=True):
        if "How many buildings" in question or "Count the buildings" in question:
            assert answer == "There are 2 buildings."
        if question.startswith(
            (
                "Where is the building",
                "Locate all buildings",
                "Give the bounding boxes of every building",
            )
        ):
            boxes = parse_boxes(answer)
            assert len(boxes) == 2
            assert all(abs(a - b) <= 3 for a, b in zip(boxes[0], [156, 156, 313, 313], strict=True))
        if "water" in question and "%" in answer:
            assert "about 38%" in answer.lower()  # rows 40-64 of 64
