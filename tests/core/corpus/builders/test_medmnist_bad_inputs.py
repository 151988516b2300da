"""MedMNIST builder: oversized declared shapes and NaN images are named bad inputs."""

from pathlib import Path

import numpy as np
import pytest
from hostile_files import npz_header_bomb

from vitp_core.corpus.builders.medmnist import build_medmnist_corpus
from vitp_core.corpus.records import BadRecordError


def test_npz_declaring_huge_images_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = npz_header_bomb(tmp_path / "pneumoniamnist.npz", splits=("train", "val"))
    report = build_medmnist_corpus(bomb, tmp_path / "out")
    assert report.records == 0
    assert len(report.skipped) == 2
    assert "train_images declares images of 100000x100000" in report.skipped[0]
    assert "max_image_pixels" in report.skipped[0]
    with pytest.raises(BadRecordError, match="train_images declares"):
        build_medmnist_corpus(bomb, tmp_path / "out2", on_bad_record="raise")


def test_float_images_with_nan_are_skipped_by_index(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    images[2, 3, 3] = np.nan
    labels = (np.arange(4) % 2).reshape(4, 1).astype(np.uint8)
    path = tmp_path / "breastmnist.npz"
    np.savez(path, train_images=images, train_labels=labels)
    report = build_medmnist_corpus(path, tmp_path / "out", splits=("train",))
    assert report.records == 3
    assert "train_images[2]: 1 non-finite value(s) (NaN/Inf)" in report.skipped[0]
