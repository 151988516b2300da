import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitp_core.corpus.builders.volume import (
    build_volume_corpus,
    find_volume_pairs,
    window_intensity,
)
from vitp_core.corpus.class_map import ClassMap

from ..conftest import answers_of, questions_of, read_jsonl

nib = pytest.importorskip("nibabel")
CLASSES = ClassMap.from_names({0: "background", 1: "right kidney", 2: "left kidney"})


def _write_pair(folder: Path, stem: str, labels: np.ndarray, spacing=(1.0, 1.0, 2.0)) -> None:
    affine = np.diag([*spacing, 1.0])
    image = np.where(labels == 1, 250, 50).astype(np.float32)  # only the right kidney bright
    for sub, array in (("images", image), ("labels", labels.astype(np.uint8))):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(array, affine), folder / sub / f"{stem}.nii.gz")


def test_slices_orientation_and_answers(tmp_path: Path, data_root: Path) -> None:
    labels = np.zeros((20, 16, 10), dtype=np.int32)
    labels[14:18, 4:8, 2:6] = 1  # high x = patient's right (RAS+)
    labels[2:6, 4:8, 3:5] = 2
    _write_pair(data_root, "case_001", labels)
    _write_pair(data_root, "case_002", labels[..., :9])
    (data_root / "labels" / "case_002.nii.gz").unlink()
    report = build_volume_corpus(
        find_volume_pairs(data_root),
        tmp_path / "out",
        CLASSES,
        n_questions=4,
        data_roots=[data_root],
    )
    assert report.records == 4  # 3 planes + 1 whole volume
    assert "case_002.nii.gz: no label map" in report.skipped[0]
    records = read_jsonl(tmp_path / "out" / "corpus.jsonl")
    axial = next(r for r in records if r["meta"].get("plane") == "axial")
    picture = np.asarray(Image.open(tmp_path / "out" / axial["image"]).convert("L"))
    assert picture.shape[0] >= 128  # upsampled for display
    columns = picture.mean(axis=0)
    # Radiological display: the patient's right kidney appears on the image's left.
    assert columns[: len(columns) // 3].max() > columns[2 * len(columns) // 3 :].max()
    for record in records:
        for question, answer in zip(questions_of(record), answers_of(record), strict=True):
            if question.startswith("Which plane") or "axial, coronal or sagittal" in question:
                assert record["meta"]["plane"] in answer
            if "size of the right kidney" in question:
                assert answer.startswith(
                    "About 0.1 mL, spanning 4 mm left-right, 4 mm front-back and 8 mm"
                )
    volume = next(r for r in records if r["meta"]["task"] == "volume")
    assert len(volume["image"]) == 3


def test_unknown_label_values_are_bad_input(tmp_path: Path, data_root: Path) -> None:
    labels = np.zeros((8, 8, 4), dtype=np.int32)
    labels[2:4, 2:4, 1:3] = 7
    _write_pair(data_root, "odd", labels)
    report = build_volume_corpus(find_volume_pairs(data_root), tmp_path / "out", CLASSES)
    assert report.records == 0 and "label values [7] are not in the class map" in report.skipped[0]


def test_ct_window() -> None:
    hu = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0])
    assert window_intensity(hu, "CT").tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_decathlon_datalist_through_monai(tmp_path: Path, data_root: Path) -> None:
    pytest.importorskip("monai")
    from vitp_core.corpus.builders.volume import items_from_datalist

    labels = np.zeros((12, 12, 6), dtype=np.int32)
    labels[2:6, 2:6, 1:4] = 1
    _write_pair(data_root, "liver_0", labels)
    datalist = {
        "labels": {"0": "background", "1": "liver"},
        "modality": {"0": "CT"},
        "training": [{"image": "./images/liver_0.nii.gz", "label": "./labels/liver_0.nii.gz"}],
        "test": ["./images/liver_0.nii.gz"],
    }
    (data_root / "dataset.json").write_text(json.dumps(datalist))
    items, class_map, modality = items_from_datalist(data_root / "dataset.json")
    assert modality == "CT" and class_map.names == {0: "background", 1: "liver"}
    report = build_volume_corpus(
        items, tmp_path / "out", class_map, modality=modality, planes=["axial"], whole_volume=False
    )
    assert report.records == 1


@pytest.mark.data
def test_hippocampus_real_data(tmp_path: Path, vitp_data: Path) -> None:
    items = find_volume_pairs(vitp_data / "med" / "hippocampus")
    assert len(items) == 260
    names = ClassMap.from_names(
        {0: "background", 1: "anterior hippocampus", 2: "posterior hippocampus"}
    )
    report = build_volume_corpus(
        items[:3], tmp_path / "hippo", names, name="hippocampus", data_roots=[vitp_data]
    )
    assert report.records == 12 and not report.skipped
