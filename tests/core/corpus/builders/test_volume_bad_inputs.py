"""Volume builder: NaN/Inf scans, 4D scans and header bombs are named bad inputs."""

from pathlib import Path

import numpy as np
import pytest
from hostile_files import nifti_header_bomb

from vitp_core.corpus.builders.volume import build_volume_corpus, find_volume_pairs
from vitp_core.corpus.class_map import ClassMap
from vitp_core.corpus.records import BadRecordError

from ..conftest import read_jsonl

nib = pytest.importorskip("nibabel")
CLASSES = ClassMap.from_names({0: "background", 1: "tumour"})


def _labels(shape=(8, 8, 6)) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.uint8)
    labels[2:5, 2:5, 2:4] = 1
    return labels


def _save(folder: Path, sub: str, stem: str, array: np.ndarray) -> Path:
    (folder / sub).mkdir(parents=True, exist_ok=True)
    path = folder / sub / f"{stem}.nii.gz"
    nib.save(nib.Nifti1Image(array, np.eye(4)), path)
    return path


def test_nan_and_inf_scans_are_skipped_by_name(tmp_path: Path, data_root: Path) -> None:
    image = np.full((8, 8, 6), 100.0, dtype=np.float32)
    image[0, 0, :3] = np.nan
    image[1, 1, 1] = -np.inf
    _save(data_root, "images", "nan_case", image)
    _save(data_root, "labels", "nan_case", _labels())
    _save(data_root, "images", "good", np.full((8, 8, 6), 100.0, dtype=np.float32))
    _save(data_root, "labels", "good", _labels())
    items = find_volume_pairs(data_root)
    report = build_volume_corpus(items, tmp_path / "out", CLASSES, data_roots=[data_root])
    assert report.records == 4  # only the good scan: 3 slices + whole volume
    assert len(report.skipped) == 1
    assert "nan_case.nii.gz: 4 non-finite voxel value(s) (NaN/Inf)" in report.skipped[0]
    with pytest.raises(BadRecordError, match=r"nan_case\.nii\.gz: 4 non-finite"):
        build_volume_corpus(items, tmp_path / "out2", CLASSES, on_bad_record="raise")


def test_4d_scans_need_a_named_volume(tmp_path: Path, data_root: Path) -> None:
    series = np.stack(
        [np.full((8, 8, 6), 10.0 * (t + 1), dtype=np.float32) for t in range(3)], axis=-1
    )
    series[2:5, 2:5, 2:4, :] += 100.0  # the tumour is bright in every volume
    series[:, :, :, 1] += np.linspace(0, 50, 8)[:, None, None]  # volume 1 has a gradient
    _save(data_root, "images", "dwi", series)
    _save(data_root, "labels", "dwi", _labels())
    items = find_volume_pairs(data_root)
    report = build_volume_corpus(items, tmp_path / "a", CLASSES)
    assert report.records == 0
    assert "dwi.nii.gz: 4D scan of shape (8, 8, 6, 3)" in report.skipped[0]
    assert "volume_index" in report.skipped[0]
    picked = build_volume_corpus(items, tmp_path / "b", CLASSES, volume_index=1)
    assert picked.records == 4 and not picked.skipped
    records = read_jsonl(tmp_path / "b" / "corpus.jsonl")
    assert {r["meta"]["volume_index"] for r in records} == {1}
    out_of_range = build_volume_corpus(items, tmp_path / "c", CLASSES, volume_index=3)
    assert out_of_range.records == 0
    assert "volume_index 3 is out of range" in out_of_range.skipped[0]


def test_volume_header_bomb_is_refused_before_reading(tmp_path: Path, data_root: Path) -> None:
    (data_root / "images").mkdir(parents=True)
    nifti_header_bomb(data_root / "images" / "bomb.nii")  # declares 4096^3 voxels, 352 bytes
    _save(data_root, "labels", "bomb", _labels())
    report = build_volume_corpus(find_volume_pairs(data_root), tmp_path / "out", CLASSES)
    assert report.records == 0
    assert "bomb.nii: scan declares 4096x4096x4096 voxels" in report.skipped[0]
    assert "max_voxels" in report.skipped[0]
