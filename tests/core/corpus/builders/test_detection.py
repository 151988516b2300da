import json
from pathlib import Path

import numpy as np

from vitp_core.corpus.builders.detection import (
    build_detection_corpus,
    build_detection_from_dataset,
    items_from_coco,
)
from vitp_core.corpus.grounding import parse_boxes

from ..conftest import answers_of, questions_of, read_jsonl, save_rgb


def test_coco_boxes_and_out_of_image_box(tmp_path: Path, data_root: Path) -> None:
    save_rgb(data_root / "a.png", (90, 90, 90), (200, 100))
    save_rgb(data_root / "b.png", (90, 90, 90), (50, 50))
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "categories": [{"id": 5, "name": "Airplane"}, {"id": 6, "name": "ship"}],
        "annotations": [
            {"image_id": 1, "category_id": 5, "bbox": [0, 0, 20, 10]},
            {"image_id": 1, "category_id": 5, "bbox": [100, 50, 40, 40]},
            {"image_id": 1, "category_id": 6, "bbox": [160, 0, 40, 20]},
            {"image_id": 2, "category_id": 6, "bbox": [40, 40, 30, 30]},  # past the 50 px edge
        ],
    }
    (data_root / "coco.json").write_text(json.dumps(coco))
    report = build_detection_corpus(
        items_from_coco(data_root / "coco.json"),
        tmp_path / "out",
        n_questions=7,
        data_roots=[data_root],
    )
    assert report.records == 1
    assert "b.png: box [40, 40, 70, 70] lies outside the 50x50 image" in report.skipped[0]
    record = read_jsonl(tmp_path / "out" / "corpus.jsonl")[0]
    assert record["meta"]["objects"] == {"airplane": 2, "ship": 1}
    for question, answer in zip(questions_of(record), answers_of(record), strict=True):
        if question.startswith(
            (
                "Where is the airplane",
                "Locate all airplanes",
                "Give the bounding boxes of every airplane",
            )
        ):
            assert parse_boxes(answer) == [[500, 500, 700, 900], [0, 0, 100, 100]]
        if "How many airplanes" in question or "Count the airplanes" in question:
            assert answer == "There are 2 airplanes."


class _ToyDetection:
    classes = ("background", "car")

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict:
        return {
            "image": np.random.default_rng(index).random((3, 40, 40)),
            "bbox_xyxy": np.array([[0.0, 0.0, 10.0, 10.0]] * (index + 1)),
            "label": np.ones(index + 1, dtype=np.int64),
        }


def test_torchgeo_style_detection_dataset(tmp_path: Path) -> None:
    report = build_detection_from_dataset(_ToyDetection(), tmp_path / "out", name="toy")
    assert report.records == 2
    assert [r["meta"]["objects"] for r in read_jsonl(tmp_path / "out" / "corpus.jsonl")] == [
        {"car": 1},
        {"car": 2},
    ]
