from pathlib import Path

import numpy as np
import pytest
from vitp_monai_helpers import write_medmnist

from vitp_monai.data import medmnist_datalist


@pytest.mark.parametrize(
    ("spatial", "shape"),
    [((28, 28), (1, 28, 28)), ((28, 28, 28), (1, 28, 28, 28)), ((28, 28, 3), (3, 28, 28))],
)
def test_medmnist_records(tmp_path: Path, spatial: tuple, shape: tuple) -> None:
    path = write_medmnist(tmp_path / "x.npz", spatial=spatial, n=6)
    records = medmnist_datalist(path, "val", max_items=4)
    assert len(records) == 4
    assert records[0]["image"].shape == shape and records[0]["image"].dtype == np.float32
    assert [r["label"] for r in records] == [0, 0, 1, 1]  # indices 0, 2, 3, 5 of 6


def test_medmnist_cap_keeps_both_classes_of_sorted_file(tmp_path: Path) -> None:
    path = write_medmnist(tmp_path / "x.npz", n=10)
    with np.load(path) as arrays:
        arrays = dict(arrays)
    arrays["train_labels"] = np.sort(arrays["train_labels"], axis=0)
    np.savez(path, **arrays)
    labels = [r["label"] for r in medmnist_datalist(path, "train", max_items=4)]
    assert labels == [0, 0, 1, 1]


def test_medmnist_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MedMNIST file"):
        medmnist_datalist(tmp_path / "missing.npz")
    path = write_medmnist(tmp_path / "x.npz")
    with pytest.raises(KeyError, match="holds"):
        medmnist_datalist(path, "holdout")  # type: ignore[arg-type]
