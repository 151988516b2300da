from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from vitp_torchgeo_helpers import write_rsscn7

from vitp_torchgeo.datasets import RSSCN7


def test_splits_from_the_listing(tmp_path: Path) -> None:
    root = write_rsscn7(tmp_path / "rsscn7", per_class=40)
    sizes = {split: len(RSSCN7(root, split)) for split in RSSCN7.splits}
    assert sizes == {"train": 7 * 18, "val": 7 * 2, "test": 7 * 20}
    sample = RSSCN7(root, "val")[0]
    assert sample["image"].shape == (3, 32, 32) and sample["image"].dtype == torch.float32
    assert sample["label"].dtype == torch.long
    figure = RSSCN7(root, "test").plot({**sample, "prediction": sample["label"]})
    plt.close(figure)


def test_root_from_vitp_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_rsscn7(tmp_path / "rs" / "rsscn7", per_class=2)
    monkeypatch.setenv("VITP_DATA", str(tmp_path))
    assert len(RSSCN7(split="test")) == 7


def test_missing_root_and_bad_records_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VITP_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="VITP_DATA"):
        RSSCN7()
    root = write_rsscn7(tmp_path / "rsscn7", per_class=1)
    with (root / "labels.jsonl").open("a") as listing:
        listing.write('{"image": "x.jpg", "label": "desert", "split": "train"}\n')
    with pytest.raises(ValueError, match=r"labels.jsonl:8"):
        RSSCN7(root)


@pytest.mark.data
def test_real_rsscn7(vitp_data: Path) -> None:
    sizes = {split: len(RSSCN7(vitp_data / "rs" / "rsscn7", split)) for split in RSSCN7.splits}
    assert sizes == {"train": 1260, "val": 140, "test": 1400}
    assert RSSCN7(vitp_data / "rs" / "rsscn7", "test")[0]["image"].shape == (3, 128, 128)
