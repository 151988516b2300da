import json
from pathlib import Path

import numpy as np
import pytest

from vitp_core.corpus.builders.classification import (
    build_classification_corpus,
    build_classification_from_dataset,
    images_from_class_folders,
    images_from_label_file,
)
from vitp_core.corpus.records import BadRecordError

from ..conftest import answers_of, questions_of, read_jsonl, save_rgb

COLOURS = {"forest": (30, 120, 40), "river_lake": (30, 60, 160), "industry": (150, 150, 150)}


def _check_answers_agree(record: dict) -> None:
    label = record["meta"]["label"]
    for question, answer in zip(questions_of(record), answers_of(record), strict=True):
        if "Answer with the letter" in question:
            assert answer.endswith(f". {label}") and f"{answer[0]}. {label}" in question
        elif question.startswith(("Is this", "Does this image show")):
            assert (answer == "Yes.") == (f" {label} scene" in question)
        else:
            assert label in answer.lower()


def test_class_folders(tmp_path: Path, data_root: Path) -> None:
    for name, colour in COLOURS.items():
        for i in range(3):
            save_rgb(data_root / "scenes" / name / f"{i}.jpg", colour)
    report = build_classification_corpus(
        images_from_class_folders(data_root / "scenes"),
        tmp_path / "out",
        name="toy",
        seed=3,
        data_roots=[data_root],
    )
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert report.records == 9 and {r["meta"]["label"] for r in records} == {
        "forest",
        "river lake",
        "industry",
    }
    for record in records:
        assert Path(record["image"]).parent.name.replace("_", " ") == record["meta"]["label"]
        _check_answers_agree(record)


def test_label_file_splits_and_bad_rows(tmp_path: Path, data_root: Path) -> None:
    rows = []
    for i, (name, colour) in enumerate(COLOURS.items()):
        save_rgb(data_root / "img" / f"{i}.png", colour)
        rows.append({"image": f"img/{i}.png", "label": name, "split": "train" if i < 2 else "test"})
    rows.append({"image": "img/missing.png", "label": "forest", "split": "train"})
    lines = [json.dumps(r) for r in rows] + ['{"image": "img/0.png"}', "{broken"]
    (data_root / "labels.jsonl").write_text("\n".join(lines) + "\n")
    items, problems = images_from_label_file(data_root / "labels.jsonl")
    report = build_classification_corpus(
        items, tmp_path / "out", problems=problems, data_roots=[data_root]
    )
    assert report.records == 2 and report.extra["held_out_split_items"] == 1  # test row left out
    skipped = "\n".join(report.skipped)
    assert (
        f"{data_root / 'labels.jsonl'}:4: {data_root / 'img' / 'missing.png'}: file not found."
        in skipped
    )
    assert "labels.jsonl:5: needs non-empty 'image' and 'label'" in skipped
    assert "labels.jsonl:6: not valid JSON" in skipped
    with pytest.raises(BadRecordError, match=r"labels\.jsonl:5"):
        build_classification_corpus(
            items, tmp_path / "o2", problems=problems, on_bad_record="raise"
        )


@pytest.mark.data
def test_rsscn7_real_data(tmp_path: Path, vitp_data: Path) -> None:
    items, problems = images_from_label_file(vitp_data / "rs" / "rsscn7" / "labels.jsonl")
    report = build_classification_corpus(
        items, tmp_path / "rsscn7", name="rsscn7", problems=problems, data_roots=[vitp_data]
    )
    assert report.records == 1400 and not report.skipped  # the 1,400 train images; test held out
    records = read_jsonl(tmp_path / "rsscn7" / "corpus.jsonl")
    assert all(r["meta"]["split"] == "train" for r in records)
    assert len(report.extra["classes"]) == 7
    for record in records[::50]:
        _check_answers_agree(record)


class _ToyTorchGeoClassification:
    """Stands for a TorchGeo NonGeoDataset such as EuroSAT: image (C,H,W) and an int label."""

    classes = ("AnnualCrop", "Forest", "SeaLake")

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> dict:
        return {"image": np.random.default_rng(index).random((13, 16, 16)), "label": index % 3}


def test_torchgeo_style_dataset(tmp_path: Path) -> None:
    report = build_classification_from_dataset(
        _ToyTorchGeoClassification(), tmp_path / "out", name="eurosat", rgb_bands=(3, 2, 1)
    )
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    assert report.records == 6
    assert [r["meta"]["label"] for r in records[:3]] == ["annualcrop", "forest", "sealake"]
    for record in records:
        _check_answers_agree(record)
