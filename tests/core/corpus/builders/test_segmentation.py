import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.builders.segmentation import (
    build_segmentation_corpus,
    build_segmentation_from_dataset,
    find_image_mask_pairs,
)
from vitp_core.corpus.class_map import ClassMap, load_class_map
from vitp_core.corpus.grounding import parse_boxes
from vitp_core.corpus.records import BadRecordError

from ..conftest import answers_of, questions_of, read_jsonl, save_rgb

CLASSES = {
    "classes": [
        {"name": "building", "color": "#3C1098"},
        {"name": "water", "color": "#E2A929"},
        {"name": "unlabeled", "color": "#9B9B9B", "ignore": True},
    ]
}


def _colour_mask(path: Path, building: tuple, water: tuple | None, stray: bool = False) -> None:
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[:] = (155, 155, 155)
    rgb[building[0] : building[1], building[2] : building[3]] = (60, 16, 152)
    if water:
        rgb[water[0] : water[1], water[2] : water[3]] = (226, 169, 41)
    if stray:
        rgb[0, 0] = (1, 2, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def test_colour_masks_nested_tiles(tmp_path: Path, data_root: Path) -> None:
    (data_root / "classes.json").write_text(json.dumps(CLASSES))
    for tile in ("tile_1", "tile_2"):
        save_rgb(data_root / tile / "images" / "a.jpg", (100, 100, 100), (60, 40))
        _colour_mask(data_root / tile / "masks" / "a.png", (0, 20, 0, 30), (20, 40, 30, 60))
    save_rgb(data_root / "tile_2" / "images" / "b.jpg", (100, 100, 100), (60, 40))  # no mask
    save_rgb(data_root / "tile_2" / "images" / "c.jpg", (100, 100, 100), (60, 40))
    _colour_mask(data_root / "tile_2" / "masks" / "c.png", (0, 5, 0, 5), None, stray=True)
    save_rgb(data_root / "tile_2" / "images" / "d.jpg", (100, 100, 100), (30, 40))  # size mismatch
    _colour_mask(data_root / "tile_2" / "masks" / "d.png", (0, 5, 0, 5), None)
    pairs = find_image_mask_pairs(data_root)
    assert len(pairs) == 5
    report = build_segmentation_corpus(
        pairs,
        tmp_path / "out",
        load_class_map(data_root / "classes.json"),
        name="toy",
        n_questions=7,
        data_roots=[data_root],
    )
    assert report.records == 2 and len(report.skipped) == 3
    skipped = "\n".join(report.skipped)
    assert "b.jpg: no mask with the same file name" in skipped
    assert "c.png: mask colours not in the class map" in skipped and "#010203" in skipped
    assert "d.png: mask is 60x40 but image is 30x40" in skipped
    for record in read_jsonl(tmp_path / "out" / "corpus.jsonl"):
        assert sorted(record["meta"]["classes"]) == ["building", "water"]  # unlabeled ignored
        for question, answer in zip(questions_of(record), answers_of(record), strict=True):
            assert "unlabeled" not in answer
            if question.startswith(
                (
                    "Where is the building",
                    "Locate every building",
                    "Give the bounding boxes of the building",
                )
            ):
                assert parse_boxes(answer) == [[0, 0, 500, 500]]
            if "water" in question and "%" in answer:
                assert "about 25%" in answer.lower()
    with pytest.raises(BadRecordError, match=r"b\.jpg"):
        build_segmentation_corpus(
            pairs,
            tmp_path / "o2",
            load_class_map(data_root / "classes.json"),
            on_bad_record="raise",
        )


class _ToyTorchGeoSegmentation:
    """Stands for a TorchGeo NonGeoDataset: samples with image (C,H,W) and mask (H,W)."""

    classes = ("background", "building", "road")

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> dict:
        mask = np.zeros((32, 32), dtype=np.int64)
        mask[: 8 * (index + 1), :16] = 1
        return {"image": np.random.default_rng(index).random((4, 32, 32)), "mask": mask}


def test_torchgeo_style_dataset(tmp_path: Path) -> None:
    report = build_segmentation_from_dataset(
        _ToyTorchGeoSegmentation(), tmp_path / "out", name="toy", limit=2
    )
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert report.records == 2 and records[0]["meta"]["classes"] == ["building"]
    assert Image.open(tmp_path / "out" / records[0]["image"]).size == (32, 32)


@pytest.mark.data
def test_dubai_real_data(tmp_path: Path, vitp_data: Path) -> None:
    repo = Path(__file__).resolve().parents[4]
    pairs = find_image_mask_pairs(vitp_data / "rs" / "dubai")
    assert len(pairs) == 72
    class_map = load_class_map(repo / "examples" / "corpora" / "dubai_classes.json")
    report = build_segmentation_corpus(
        pairs[:4], tmp_path / "dubai", class_map, name="dubai", data_roots=[vitp_data]
    )
    assert report.records == 4 and not report.skipped
    # The dataset's own classes.json lists other colours than its masks use: a clear error.
    wrong = build_segmentation_corpus(
        pairs[:1], tmp_path / "wrong", load_class_map(vitp_data / "rs" / "dubai" / "classes.json")
    )
    assert wrong.records == 0 and "mask colours not in the class map" in wrong.skipped[0]


def test_index_mask_class_map_from_names(tmp_path: Path) -> None:
    save_rgb(tmp_path / "d" / "images" / "x.png", (0, 0, 0), (10, 10))
    (tmp_path / "d" / "masks").mkdir()
    Image.fromarray(np.pad(np.ones((5, 10), dtype=np.uint8), ((0, 5), (0, 0)))).save(
        tmp_path / "d" / "masks" / "x.png"
    )
    report = build_segmentation_corpus(
        find_image_mask_pairs(tmp_path / "d"),
        tmp_path / "out",
        ClassMap.from_names(["background", "crop"]),
    )
    assert report.records == 1
