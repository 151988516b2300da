from pathlib import Path

import pytest
import torch
from vitp_torchgeo_helpers import write_levircd

from vitp_torchgeo.datasets import LEVIRCDSamples


def test_splits_by_prefix_and_unlabelled_pairs_skipped(tmp_path: Path) -> None:
    root = write_levircd(tmp_path / "levir")
    assert [len(LEVIRCDSamples(root, s)) for s in ("train", "val", "test")] == [2, 1, 2]
    sample = LEVIRCDSamples(root, "test")[0]
    assert sample["image"].shape == (2, 3, 32, 32)
    assert sample["mask"].shape == (1, 32, 32)
    assert set(sample["mask"].unique().tolist()) <= {0, 1} and sample["mask"].dtype == torch.long


def test_empty_split_is_an_error(tmp_path: Path) -> None:
    root = write_levircd(tmp_path / "levir")
    for path in (root / "A").glob("val_*"):
        path.unlink()
    with pytest.raises(FileNotFoundError, match="No labelled val pairs"):
        LEVIRCDSamples(root, "val")


@pytest.mark.data
def test_real_levircd_samples(vitp_data: Path) -> None:
    root = vitp_data / "rs" / "levir_cd_samples"
    assert [len(LEVIRCDSamples(root, s)) for s in ("train", "val", "test")] == [3, 1, 7]
    assert LEVIRCDSamples(root, "test")[0]["image"].shape == (2, 3, 256, 256)
