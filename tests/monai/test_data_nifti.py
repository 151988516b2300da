from pathlib import Path

import pytest
from vitp_monai_helpers import write_nifti_dataset

from vitp_monai.data import paired_nifti_datalist, split_cases


def test_split_cases_is_deterministic_and_disjoint() -> None:
    cases = list(range(10))
    train, val = split_cases(cases, "train", 0.2), split_cases(cases, "val", 0.2)
    assert val == [8, 9] and train == list(range(8))
    assert split_cases(cases, "all", 0.2) == cases
    assert split_cases(cases, "val", 0.0) == []


def test_paired_datalist(tmp_path: Path) -> None:
    root = write_nifti_dataset(tmp_path / "data", num_cases=5)
    train = paired_nifti_datalist(root, "train", val_fraction=0.2)
    val = paired_nifti_datalist(root, "val", val_fraction=0.2)
    assert len(train) == 4 and len(val) == 1
    assert Path(val[0]["image"]).name == Path(val[0]["label"]).name == "case_004.nii.gz"
    assert len(paired_nifti_datalist(root, "train", max_cases=2)) == 2


def test_paired_datalist_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No images"):
        paired_nifti_datalist(tmp_path)
    root = write_nifti_dataset(tmp_path / "data", num_cases=2)
    (root / "labels" / "case_001.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="has no label"):
        paired_nifti_datalist(root, "all")
